//! What one sample of a node's usage holds, as `GET /agent/v1/metrics` returns it and the
//! console stores it. Bytes are bytes, rates are per second, percentages run from 0 to 100;
//! a figure the host does not expose, or a rate without a previous sample, is `null`.

use std::collections::BTreeMap;
use std::sync::Arc;

use serde::{Deserialize, Serialize};

/// The node's usage at one instant.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Sample {
    /// Unix seconds.
    pub time: u64,
    pub host: Host,
    pub containers: Vec<ContainerUsage>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Host {
    pub cpu: Cpu,
    /// Load average over 1, 5 and 15 minutes.
    pub load: Option<[f64; 3]>,
    pub memory: Memory,
    pub filesystems: Vec<Filesystem>,
    pub disks: Vec<Disk>,
    pub network: Vec<Interface>,
    pub uptime_secs: Option<u64>,
    pub temperatures: Vec<Temperature>,
}

/// Shares of all cores' time since the previous sample (100: every core busy).
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Cpu {
    pub cores: usize,
    pub percent: Option<f64>,
    pub user: Option<f64>,
    pub system: Option<f64>,
    pub iowait: Option<f64>,
    pub steal: Option<f64>,
    pub per_core: Vec<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Memory {
    pub total: u64,
    /// Total less available: what page cache and reclaimable memory do not explain.
    pub used: u64,
    pub available: u64,
    pub cached: u64,
    pub swap_total: u64,
    pub swap_used: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Filesystem {
    /// Where the host mounts it.
    pub mount: String,
    pub device: String,
    pub fstype: String,
    pub total: u64,
    pub used: u64,
    pub inodes_total: u64,
    pub inodes_used: u64,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Disk {
    pub device: String,
    pub read_bytes: u64,
    pub write_bytes: u64,
    /// Reads and writes completed.
    pub reads: u64,
    pub writes: u64,
    pub read_bytes_per_sec: Option<f64>,
    pub write_bytes_per_sec: Option<f64>,
    pub read_iops: Option<f64>,
    pub write_iops: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Interface {
    pub interface: String,
    pub rx_bytes: u64,
    pub tx_bytes: u64,
    pub rx_packets: u64,
    pub tx_packets: u64,
    pub rx_errors: u64,
    pub tx_errors: u64,
    pub rx_bytes_per_sec: Option<f64>,
    pub tx_bytes_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct Temperature {
    /// The hardware monitor's name and the sensor's label: `coretemp/Package id 0`.
    pub sensor: String,
    pub celsius: f64,
}

/// One container's usage, as `docker stats` reckons it.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct ContainerUsage {
    /// What the engine lists about it; the same `Arc` from sample to sample while it does
    /// not change, so that an hour of samples holds it once.
    #[serde(flatten)]
    pub container: Arc<Container>,
    pub restarts: Option<u64>,
    #[serde(flatten)]
    pub figures: Figures,
}

/// A container as the engine lists it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    /// `com.docker.compose.project`.
    pub project: Option<String>,
    /// `com.docker.swarm.service.name` and `com.docker.swarm.task.name`.
    pub service: Option<String>,
    pub task: Option<String>,
    pub state: String,
    /// `healthy`, `unhealthy` or `starting`; `None` without a health check.
    pub health: Option<String>,
    /// The container's labels, kept to answer a client with a label scope only with the
    /// containers in it; not sent.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
}

/// A container's usage, the same from either source.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Figures {
    /// 100: one core busy.
    pub cpu_percent: Option<f64>,
    /// Without page cache.
    pub memory_used: Option<u64>,
    pub memory_limit: Option<u64>,
    pub net_rx_bytes: Option<u64>,
    pub net_tx_bytes: Option<u64>,
    pub net_rx_bytes_per_sec: Option<f64>,
    pub net_tx_bytes_per_sec: Option<f64>,
    pub block_read_bytes: Option<u64>,
    pub block_write_bytes: Option<u64>,
    pub pids: Option<u64>,
}

impl ContainerUsage {
    /// Whether the container carries every one of `labels` with its value.
    pub fn in_scope(&self, labels: &BTreeMap<String, String>) -> bool {
        labels
            .iter()
            .all(|(k, v)| self.container.labels.get(k) == Some(v))
    }
}

impl Sample {
    /// This sample with only the containers in `labels`' scope; itself when there is none.
    pub fn scoped(sample: &Arc<Sample>, labels: &BTreeMap<String, String>) -> Arc<Sample> {
        if labels.is_empty() {
            return Arc::clone(sample);
        }
        Arc::new(Sample {
            time: sample.time,
            host: sample.host.clone(),
            containers: sample
                .containers
                .iter()
                .filter(|c| c.in_scope(labels))
                .cloned()
                .collect(),
        })
    }
}

/// The per-second rate of a counter between two samples `secs` apart; `None` when it
/// went backwards (a reset) or no time passed.
pub fn rate(before: u64, now: u64, secs: f64) -> Option<f64> {
    (now >= before && secs > 0.0).then(|| (now - before) as f64 / secs)
}
