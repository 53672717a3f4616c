//! Usage: what the node's host and containers use, sampled every `--metrics-interval`,
//! kept for an hour, and served as JSON (`/agent/v1/metrics`) and to Prometheus
//! (`/metrics`, see [`crate::metrics`]).
//!
//! | file | what it holds |
//! | --- | --- |
//! | [`sample`] | what a sample is: the JSON both the agent and the console speak |
//! | [`host`] | the host's CPU, load, memory, filesystems, disks, network, temperatures: one file per measure |
//! | [`containers`] | each container's usage, from the engine's stats or from cgroup files |
//! | [`ring`] | the last hour |

pub mod containers;
pub mod host;
pub mod ring;
pub mod sample;

use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::upstream::UpstreamPool;

use self::containers::{ContainerReader, Source};
use self::host::{HostReader, MountFilter};
use self::ring::Ring;
use self::sample::Sample;

/// How usage is sampled; from the command line.
#[derive(Debug, Clone)]
pub struct UsageConfig {
    pub interval: Duration,
    /// Where the host's `/` is seen from the agent.
    pub host_root: PathBuf,
    pub mounts: MountFilter,
    /// Containers' veth ends and the loopback too.
    pub all_interfaces: bool,
    pub containers: Source,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            host_root: PathBuf::from("/"),
            mounts: MountFilter::default(),
            all_interfaces: false,
            containers: Source::Cgroup,
        }
    }
}

/// The node's samples; shared by the sampler and whoever serves them.
pub struct Usage {
    interval: Duration,
    ring: Mutex<Ring>,
}

impl Usage {
    /// Starts sampling until `stop` is cancelled; the first sample is taken at once.
    pub fn start(config: UsageConfig, engine: UpstreamPool, stop: CancellationToken) -> Arc<Self> {
        let usage = Arc::new(Self {
            interval: config.interval,
            ring: Mutex::new(Ring::new(config.interval)),
        });
        tokio::spawn(sample_until(Arc::clone(&usage), config, engine, stop));
        usage
    }

    pub fn interval(&self) -> Duration {
        self.interval
    }

    pub fn latest(&self) -> Option<Arc<Sample>> {
        self.ring().latest()
    }

    /// Samples taken after `time` (Unix seconds), at most an hour's.
    pub fn since(&self, time: u64) -> Vec<Arc<Sample>> {
        self.ring().since(time)
    }

    fn ring(&self) -> std::sync::MutexGuard<'_, Ring> {
        self.ring.lock().unwrap_or_else(|p| p.into_inner())
    }
}

async fn sample_until(
    usage: Arc<Usage>,
    config: UsageConfig,
    engine: UpstreamPool,
    stop: CancellationToken,
) {
    let mut host = Some(HostReader::new(
        &config.host_root,
        config.mounts.clone(),
        config.all_interfaces,
    ));
    let mut containers: Option<ContainerReader> = None;
    let mut containers_failed = false;
    let mut tick = tokio::time::interval(config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let Some(mut reader) = host.take() else {
            return;
        };
        let Ok((reader, host_usage)) = tokio::task::spawn_blocking(move || {
            let h = reader.read();
            (reader, h)
        })
        .await
        else {
            tracing::warn!("host usage sampling stopped");
            return;
        };
        host = Some(reader);
        let containers = containers.get_or_insert_with(|| {
            ContainerReader::new(
                engine.clone(),
                config.containers,
                &config.host_root,
                host_usage.memory.total,
            )
        });
        let container_usage = match containers.read().await {
            Ok(c) => {
                containers_failed = false;
                c
            }
            Err(e) => {
                if !containers_failed {
                    tracing::warn!(error = %e, "cannot sample containers' usage");
                }
                containers_failed = true;
                Vec::new()
            }
        };
        usage.ring().push(Arc::new(Sample {
            time: bosun_serve::clock::now_secs(),
            host: host_usage,
            containers: container_usage,
        }));
    }
}
