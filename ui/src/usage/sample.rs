//! The agent's usage samples as `GET /agent/v1/metrics` sends them (the contract in the
//! agent's `usage/sample.rs`), read leniently: a figure the agent leaves out or sends as
//! `null` is `None`, and fields the console does not store are not read.

use serde::Deserialize;

/// The answer to `GET /agent/v1/metrics?scope=cluster`.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct ClusterAnswer {
    pub nodes: Vec<NodeAnswer>,
    pub missing: Vec<Missing>,
}

/// One node's samples, oldest first.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct NodeAnswer {
    pub node: String,
    pub interval_secs: Option<u64>,
    pub samples: Vec<Sample>,
}

/// A node the agent could not ask, and why.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Missing {
    pub node: String,
    pub reason: String,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Sample {
    /// Unix seconds, by the node's clock.
    pub time: i64,
    pub host: Host,
    pub containers: Vec<Container>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Host {
    pub cpu: Cpu,
    pub load: Option<[Option<f64>; 3]>,
    pub memory: Memory,
    pub filesystems: Vec<Filesystem>,
    pub disks: Vec<Disk>,
    pub network: Vec<Interface>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Cpu {
    pub cores: Option<u64>,
    /// Share of all cores, 0 to 100.
    pub percent: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Memory {
    pub total: Option<u64>,
    pub used: Option<u64>,
    pub swap_total: Option<u64>,
    pub swap_used: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Filesystem {
    pub mount: String,
    pub device: String,
    pub fstype: String,
    pub total: Option<u64>,
    pub used: Option<u64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Disk {
    pub device: String,
    pub read_bytes_per_sec: Option<f64>,
    pub write_bytes_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Interface {
    pub interface: String,
    pub rx_bytes_per_sec: Option<f64>,
    pub tx_bytes_per_sec: Option<f64>,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default)]
pub struct Container {
    pub id: String,
    pub name: String,
    pub image: String,
    pub project: Option<String>,
    pub service: Option<String>,
    pub state: Option<String>,
    /// 100: one core busy, as `docker stats` shows it.
    pub cpu_percent: Option<f64>,
    pub memory_used: Option<u64>,
    pub memory_limit: Option<u64>,
    pub net_rx_bytes_per_sec: Option<f64>,
    pub net_tx_bytes_per_sec: Option<f64>,
    /// Counters since the container started; the console works out their rates.
    pub block_read_bytes: Option<u64>,
    pub block_write_bytes: Option<u64>,
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_contracts_example_reads_and_missing_figures_are_none() {
        let answer: ClusterAnswer = serde_json::from_value(serde_json::json!({
            "nodes": [{"node": "node-1", "interval_secs": 10, "samples": [{
                "time": 1764712345,
                "host": {
                    "cpu": {"cores": 2, "percent": 37.5, "user": 20.1, "per_core": [40.0, 35.0]},
                    "load": [0.52, 0.41, 0.30],
                    "memory": {"total": 100, "used": 40, "available": 60, "cached": 1,
                               "swap_total": 0, "swap_used": 0},
                    "filesystems": [{"mount": "/", "device": "/dev/vda1", "fstype": "ext4",
                                     "total": 10, "used": 5, "inodes_total": 1, "inodes_used": 1}],
                    "disks": [{"device": "vda", "read_bytes_per_sec": null, "write_bytes_per_sec": 2.5}],
                    "network": [{"interface": "eth0", "rx_bytes_per_sec": 1.0, "tx_bytes_per_sec": 2.0}],
                    "uptime_secs": 12345,
                    "temperatures": []
                },
                "containers": [{"id": "ab", "name": "web-1", "image": "nginx", "service": null,
                                "cpu_percent": 95.2, "memory_used": 3, "pids": 3}]
            }]}],
            "missing": [{"node": "node-3", "reason": "timed out"}]
        }))
        .expect("the contract's shape");
        let sample = &answer.nodes[0].samples[0];
        assert_eq!(sample.time, 1_764_712_345);
        assert_eq!(sample.host.cpu.percent, Some(37.5));
        assert_eq!(sample.host.load, Some([Some(0.52), Some(0.41), Some(0.30)]));
        assert_eq!(sample.host.disks[0].read_bytes_per_sec, None);
        let c = &sample.containers[0];
        assert_eq!((c.cpu_percent, c.memory_limit), (Some(95.2), None));
        assert_eq!(answer.missing[0].node, "node-3");
    }
}
