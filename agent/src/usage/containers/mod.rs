//! Every container of the node: what the engine lists (name, image, labels, state,
//! health), restarts from an inspect now and then, and usage from one of two sources:
//! the engine's one-shot stats ([`engine`]) or the cgroup files ([`cgroup`]).
//! `docs/operations.md` says which is the default and why, with the figures.

pub mod cgroup;
pub mod engine;

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;

use crate::upstream::UpstreamPool;

use super::sample::{Container, ContainerUsage, Figures};

const LIST_TIMEOUT: Duration = Duration::from_secs(10);
const INSPECT_TIMEOUT: Duration = Duration::from_secs(5);
/// Restart counts and main processes are asked again this often (in samples), and at
/// once for a container seen for the first time or in a new state.
const INSPECT_EVERY: u64 = 6;

/// How the sampler's requests name themselves to the engine, so that they can be told
/// apart from clients' in its logs.
pub const USER_AGENT: &str = concat!("bosun-agent-usage/", env!("CARGO_PKG_VERSION"));

/// `GET path` on the engine, as the sampler, read as JSON.
async fn ask(
    engine: &UpstreamPool,
    path: &str,
    timeout: Duration,
) -> Result<Value, crate::upstream::UpstreamError> {
    let req = http::Request::get(path)
        .header(http::header::HOST, "docker")
        .header(http::header::USER_AGENT, USER_AGENT)
        .body(crate::body::empty())
        .map_err(|e| crate::upstream::UpstreamError::Json {
            addr: engine.label().to_owned(),
            reason: e.to_string(),
        })?;
    let bytes = engine.read_answer(req, timeout).await?;
    serde_json::from_slice(&bytes).map_err(|e| crate::upstream::UpstreamError::Json {
        addr: engine.label().to_owned(),
        reason: e.to_string(),
    })
}

/// Where container usage comes from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum Source {
    /// `GET /containers/{id}/stats?stream=false&one-shot=true`, per running container.
    Engine,
    /// The container's cgroup files (v1 or v2) and its process's `/proc/PID/net/dev`,
    /// under the host root.
    Cgroup,
}

/// What an inspect says, kept between inspects.
#[derive(Clone)]
struct Inspected {
    restarts: u64,
    pid: u32,
    state: String,
    at_sample: u64,
}

/// Samples the node's containers; keeps what the next sample needs.
pub struct ContainerReader {
    engine: UpstreamPool,
    source: Source,
    by_engine: engine::EngineStats,
    by_cgroup: cgroup::CgroupStats,
    inspected: HashMap<String, Inspected>,
    known: Known,
    samples: u64,
}

impl ContainerReader {
    pub fn new(
        engine: UpstreamPool,
        source: Source,
        host_root: &std::path::Path,
        host_memory: u64,
    ) -> Self {
        Self {
            by_engine: engine::EngineStats::new(engine.clone()),
            by_cgroup: cgroup::CgroupStats::new(host_root, host_memory),
            engine,
            source,
            inspected: HashMap::new(),
            known: Known::default(),
            samples: 0,
        }
    }

    pub async fn read(&mut self) -> Result<Vec<ContainerUsage>, crate::upstream::UpstreamError> {
        self.samples += 1;
        let list = ask(&self.engine, "/containers/json?all=1", LIST_TIMEOUT).await?;
        let mut out: Vec<ContainerUsage> = list
            .as_array()
            .map(Vec::as_slice)
            .unwrap_or_default()
            .iter()
            .filter_map(listed)
            .map(|c| ContainerUsage {
                container: self.known.share(c),
                ..ContainerUsage::default()
            })
            .collect();
        self.inspect(&out).await;
        for c in &mut out {
            if let Some(i) = self.inspected.get(&c.container.id) {
                c.restarts = Some(i.restarts);
            }
        }
        let running: Vec<(String, u32)> = out
            .iter()
            .map(|c| &*c.container)
            .filter(|c| c.state == "running")
            .map(|c| (c.id.clone(), self.inspected.get(&c.id).map_or(0, |i| i.pid)))
            .collect();
        let mut usage = match self.source {
            Source::Engine => self.by_engine.read(&running).await,
            Source::Cgroup => self.by_cgroup.read(&running).await,
        };
        for c in &mut out {
            if let Some(u) = usage.remove(&c.container.id) {
                c.figures = u;
            }
        }
        let present: std::collections::HashSet<&str> =
            out.iter().map(|c| c.container.id.as_str()).collect();
        self.inspected.retain(|id, _| present.contains(id.as_str()));
        self.known.keep(&present);
        Ok(out)
    }

    /// Inspects containers new to the reader, changed in state, or not inspected for
    /// [`INSPECT_EVERY`] samples.
    async fn inspect(&mut self, listed: &[ContainerUsage]) {
        let due: Vec<&Container> = listed
            .iter()
            .map(|c| &*c.container)
            .filter(|c| match self.inspected.get(&c.id) {
                None => true,
                Some(i) => i.state != c.state || self.samples - i.at_sample >= INSPECT_EVERY,
            })
            .collect();
        for c in due {
            let path = format!("/containers/{}/json", c.id);
            match ask(&self.engine, &path, INSPECT_TIMEOUT).await {
                Ok(v) => {
                    self.inspected.insert(
                        c.id.clone(),
                        Inspected {
                            restarts: v["RestartCount"].as_u64().unwrap_or(0),
                            pid: v["State"]["Pid"].as_u64().unwrap_or(0) as u32,
                            state: c.state.clone(),
                            at_sample: self.samples,
                        },
                    );
                }
                Err(e) => {
                    tracing::debug!(container = %c.id, error = %e, "inspect for usage failed")
                }
            }
        }
    }
}

/// Each container as last listed, shared by every sample that lists it the same: an
/// hour of samples holds a container's names and labels once, not 360 times.
#[derive(Default)]
struct Known(HashMap<String, Arc<Container>>);

impl Known {
    /// The container as listed: the `Arc` of the last sample when nothing changed.
    fn share(&mut self, listed: Container) -> Arc<Container> {
        match self.0.get(&listed.id) {
            Some(known) if **known == listed => Arc::clone(known),
            _ => {
                let shared = Arc::new(listed);
                self.0.insert(shared.id.clone(), Arc::clone(&shared));
                shared
            }
        }
    }

    /// Forgets the containers no longer listed.
    fn keep(&mut self, present: &std::collections::HashSet<&str>) {
        self.0.retain(|id, _| present.contains(id.as_str()));
    }
}

/// A container as `GET /containers/json` lists it, without usage yet.
fn listed(v: &Value) -> Option<Container> {
    let label = |k: &str| v["Labels"][k].as_str().map(str::to_owned);
    Some(Container {
        id: v["Id"].as_str()?.to_owned(),
        name: v["Names"][0]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned(),
        image: v["Image"].as_str().unwrap_or_default().to_owned(),
        project: label("com.docker.compose.project"),
        service: label("com.docker.swarm.service.name"),
        task: label("com.docker.swarm.task.name"),
        state: v["State"].as_str().unwrap_or_default().to_owned(),
        health: health(v["Status"].as_str().unwrap_or_default()),
        labels: v["Labels"]
            .as_object()
            .map(|l| {
                l.iter()
                    .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                    .collect()
            })
            .unwrap_or_default(),
    })
}

/// The health the engine writes into a container's status: `Up 2 minutes (healthy)`.
fn health(status: &str) -> Option<String> {
    if status.contains("(healthy)") {
        Some("healthy".into())
    } else if status.contains("(unhealthy)") {
        Some("unhealthy".into())
    } else if status.contains("(health: starting)") {
        Some("starting".into())
    } else {
        None
    }
}

/// Network rates between two readings of a container's byte counters.
fn net_rates(
    u: &mut Figures,
    before: Option<(std::time::Instant, &Figures)>,
    now: std::time::Instant,
) {
    let Some((at, b)) = before else { return };
    let secs = (now - at).as_secs_f64();
    if let (Some(b), Some(n)) = (b.net_rx_bytes, u.net_rx_bytes) {
        u.net_rx_bytes_per_sec = super::sample::rate(b, n, secs);
    }
    if let (Some(b), Some(n)) = (b.net_tx_bytes, u.net_tx_bytes) {
        u.net_tx_bytes_per_sec = super::sample::rate(b, n, secs);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn health_is_read_from_the_status() {
        assert_eq!(health("Up 2 minutes (healthy)").as_deref(), Some("healthy"));
        assert_eq!(
            health("Up 1 second (health: starting)").as_deref(),
            Some("starting")
        );
        assert_eq!(
            health("Up 5 hours (unhealthy)").as_deref(),
            Some("unhealthy")
        );
        assert_eq!(health("Exited (0) 3 minutes ago"), None);
    }

    #[test]
    fn a_listed_container_keeps_its_compose_and_swarm_names() {
        let v = serde_json::json!({
            "Id": "abc", "Names": ["/shop-web-1"], "Image": "nginx", "State": "running",
            "Status": "Up 1 minute",
            "Labels": {"com.docker.compose.project": "shop", "com.docker.swarm.service.name": "svc"}
        });
        let c = listed(&v).unwrap();
        assert_eq!(c.name, "shop-web-1");
        assert_eq!(c.project.as_deref(), Some("shop"));
        assert_eq!(c.service.as_deref(), Some("svc"));
        assert_eq!(c.task, None);
    }

    #[test]
    fn samples_share_a_container_until_its_listing_changes() {
        let v = serde_json::json!({
            "Id": "abc", "Names": ["/web"], "Image": "nginx", "State": "running",
            "Status": "Up 1 minute", "Labels": {"tier": "front"}
        });
        let mut known = Known::default();
        let first = known.share(listed(&v).unwrap());
        let second = known.share(listed(&v).unwrap());
        assert!(Arc::ptr_eq(&first, &second), "listed the same: held once");
        let mut stopped = v.clone();
        stopped["State"] = "exited".into();
        let third = known.share(listed(&stopped).unwrap());
        assert!(!Arc::ptr_eq(&second, &third));
        assert_eq!(third.state, "exited");
        assert!(Arc::ptr_eq(&third, &known.share(listed(&stopped).unwrap())));

        // The answer's JSON is flat, as before: the listing beside the figures.
        let usage = ContainerUsage {
            container: third,
            restarts: Some(2),
            figures: Figures {
                cpu_percent: Some(1.5),
                ..Figures::default()
            },
        };
        let json = serde_json::to_value(&usage).unwrap();
        assert_eq!(json["id"], "abc");
        assert_eq!(json["state"], "exited");
        assert_eq!(json["restarts"], 2);
        assert_eq!(json["cpu_percent"], 1.5);
        assert!(json.get("container").is_none() && json.get("labels").is_none());
    }
}
