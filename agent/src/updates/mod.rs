//! Image update checks: this node's containers' (and, on a Swarm manager, services')
//! images against their registries, on a schedule and on demand.
//!
//! | part | file |
//! | --- | --- |
//! | what to check: containers, services, their digests and labels | [`targets`] |
//! | image names taken apart: registry, repository, tag, digest | [`reference`] |
//! | watch labels (What's Up Docker's and Bosun's) | [`labels`] |
//! | versions in tags, newer tags, link templates | [`version`] |
//! | registry credentials: the console's and the Docker config's | [`credentials`] |
//! | the registry protocol, one request per distinct image and tag | [`registry`] |
//! | one check | [`check`] |
//! | the answer's shape | [`report`] |

pub mod check;
pub mod credentials;
pub mod labels;
pub mod reference;
pub mod registry;
pub mod report;
pub mod targets;
pub mod version;

use std::hash::{Hash, Hasher};
use std::path::PathBuf;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio_util::sync::CancellationToken;

use crate::upstream::UpstreamPool;
use credentials::Credential;
use registry::{Counters, Platform, Session};
use report::NodeUpdates;

/// Default time between scheduled checks.
pub const DEFAULT_INTERVAL: Duration = Duration::from_secs(6 * 3600);
/// The first scheduled check waits at least this long after start, plus a part of
/// [`FIRST_CHECK_SPREAD`] derived from the node's name.
const FIRST_CHECK_AFTER: Duration = Duration::from_secs(60);
const FIRST_CHECK_SPREAD: Duration = Duration::from_secs(600);
/// How long the engine has to say the node's platform and Swarm role.
const INFO_TIMEOUT: Duration = Duration::from_secs(10);

/// How checks run.
#[derive(Debug, Clone)]
pub struct UpdatesConfig {
    /// Time between scheduled checks; zero: only on demand.
    pub interval: Duration,
    /// The Docker config file whose `auths` are used; `None`: none.
    pub docker_config: Option<PathBuf>,
}

impl Default for UpdatesConfig {
    fn default() -> Self {
        Self {
            interval: DEFAULT_INTERVAL,
            docker_config: credentials::default_docker_config(),
        }
    }
}

/// The node's update checks: the latest result, the console's credentials, the schedule.
pub struct Updates {
    config: UpdatesConfig,
    engine: UpstreamPool,
    node: String,
    latest: Mutex<NodeUpdates>,
    console_credentials: Mutex<Vec<Credential>>,
    /// One check at a time; a second waits and then checks anew.
    running: tokio::sync::Mutex<()>,
    checking: AtomicBool,
    next_check_at: AtomicU64,
    counters: Arc<Counters>,
}

fn unix_now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_secs())
}

/// The delay before a node's first scheduled check: the same for a node each time, and
/// spread over nodes so a cluster does not ask a registry at once.
pub fn first_delay(node: &str, interval: Duration) -> Duration {
    let mut hasher = std::collections::hash_map::DefaultHasher::new();
    node.hash(&mut hasher);
    let spread = FIRST_CHECK_SPREAD.min(interval).as_secs().max(1);
    FIRST_CHECK_AFTER.min(interval) + Duration::from_secs(hasher.finish() % spread)
}

impl Updates {
    /// Starts the schedule (unless the interval is zero) until `stop`.
    pub fn start(
        config: UpdatesConfig,
        engine: UpstreamPool,
        node: String,
        stop: CancellationToken,
    ) -> Arc<Self> {
        let updates = Arc::new(Self {
            latest: Mutex::new(NodeUpdates {
                node: node.clone(),
                checked_at: None,
                next_check_at: None,
                checking: false,
                items: Vec::new(),
            }),
            config,
            engine,
            node,
            console_credentials: Mutex::new(Vec::new()),
            running: tokio::sync::Mutex::new(()),
            checking: AtomicBool::new(false),
            next_check_at: AtomicU64::new(0),
            counters: Arc::new(Counters::default()),
        });
        if !updates.config.interval.is_zero() {
            tokio::spawn(schedule(Arc::clone(&updates), stop));
        }
        updates
    }

    /// The checks' counts, for `/metrics`.
    pub fn counters(&self) -> Arc<Counters> {
        Arc::clone(&self.counters)
    }

    /// The latest check's answer.
    pub fn latest(&self) -> NodeUpdates {
        let mut latest = self
            .latest
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        latest.checking = self.checking.load(Ordering::Relaxed);
        latest.next_check_at = match self.next_check_at.load(Ordering::Relaxed) {
            0 => None,
            t => Some(t),
        };
        latest
    }

    /// Replaces the credentials the console gave.
    pub fn set_credentials(&self, credentials: Vec<Credential>) {
        *self
            .console_credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner()) = credentials;
    }

    /// Checks now and answers the result.
    pub async fn check(&self) -> NodeUpdates {
        let _one = self.running.lock().await;
        self.checking.store(true, Ordering::Relaxed);
        let result = self.check_once().await;
        self.checking.store(false, Ordering::Relaxed);
        self.counters.checks.fetch_add(1, Ordering::Relaxed);
        *self.latest.lock().unwrap_or_else(|p| p.into_inner()) = result;
        self.latest()
    }

    async fn check_once(&self) -> NodeUpdates {
        let now = unix_now();
        let info = self.engine.get_json("/info", INFO_TIMEOUT).await.ok();
        let platform = Platform::from_engine(
            info.as_ref()
                .and_then(|i| i["OSType"].as_str())
                .unwrap_or("linux"),
            info.as_ref()
                .and_then(|i| i["Architecture"].as_str())
                .unwrap_or(std::env::consts::ARCH),
        );
        let manager = info
            .as_ref()
            .is_some_and(|i| i["Swarm"]["ControlAvailable"].as_bool() == Some(true));
        let mut targets = Vec::new();
        let mut failures = Vec::new();
        match targets::containers(&self.engine).await {
            Ok(t) => targets.extend(t),
            Err(e) => failures.push(e.to_string()),
        }
        if manager {
            match targets::services(&self.engine).await {
                Ok(t) => targets.extend(t),
                Err(e) => failures.push(e.to_string()),
            }
        }
        for failure in &failures {
            tracing::warn!(error = %failure, "update check");
        }
        let docker_config = match &self.config.docker_config {
            Some(path) => credentials::read_docker_config(path).unwrap_or_else(|e| {
                tracing::warn!(error = %e, "update check: the Docker config's credentials are not used");
                Vec::new()
            }),
            None => Vec::new(),
        };
        let console = self
            .console_credentials
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone();
        let session = Session::new(
            &check::registries(&targets),
            &console,
            &docker_config,
            platform,
            Arc::clone(&self.counters),
        );
        let items = check::run(&session, targets, now).await;
        tracing::info!(
            items = items.len(),
            updates = items.iter().filter(|i| i.update.is_some()).count(),
            errors = items.iter().filter(|i| i.error.is_some()).count(),
            "update check done"
        );
        NodeUpdates {
            node: self.node.clone(),
            checked_at: Some(now),
            next_check_at: None,
            checking: false,
            items,
        }
    }
}

/// Checks after the node's first delay, then every interval, until `stop`.
async fn schedule(updates: Arc<Updates>, stop: CancellationToken) {
    let interval = updates.config.interval;
    let mut wait = first_delay(&updates.node, interval);
    loop {
        updates
            .next_check_at
            .store(unix_now() + wait.as_secs(), Ordering::Relaxed);
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(wait) => {}
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = updates.check() => {}
        }
        wait = interval;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn first_checks_are_spread_over_nodes_and_stable() {
        let six_hours = DEFAULT_INTERVAL;
        let a = first_delay("node-a", six_hours);
        assert_eq!(a, first_delay("node-a", six_hours));
        let delays: std::collections::BTreeSet<Duration> = (0..20)
            .map(|i| first_delay(&format!("node-{i}"), six_hours))
            .collect();
        assert!(delays.len() > 10, "{delays:?}");
        assert!(delays
            .iter()
            .all(|d| *d >= FIRST_CHECK_AFTER && *d < FIRST_CHECK_AFTER + FIRST_CHECK_SPREAD));
        assert!(first_delay("n", Duration::from_secs(5)) <= Duration::from_secs(10));
    }
}
