//! Container usage from the engine's own stats, one-shot, one request per running
//! container, a few at a time. CPU is reckoned as `docker stats` does it, between this
//! sample's reading and the previous one.

use std::collections::HashMap;
use std::time::{Duration, Instant};

use futures_util::stream::{self, StreamExt};
use serde_json::Value;

use crate::upstream::UpstreamPool;

use super::{net_rates, Figures};

const STATS_TIMEOUT: Duration = Duration::from_secs(10);
/// Requests in flight to the engine at once. The engine answers each at its stats
/// collector's next round (up to a second away), and one round serves them all: asked
/// one after another, 50 containers would take most of a minute.
const CONCURRENCY: usize = 64;

/// The figures a CPU share is reckoned from.
#[derive(Clone, Copy)]
struct CpuReading {
    container: u64,
    system: u64,
    online: u64,
}

pub struct EngineStats {
    engine: UpstreamPool,
    previous: HashMap<String, (CpuReading, Instant, Figures)>,
}

impl EngineStats {
    pub fn new(engine: UpstreamPool) -> Self {
        Self {
            engine,
            previous: HashMap::new(),
        }
    }

    pub async fn read(&mut self, running: &[(String, u32)]) -> HashMap<String, Figures> {
        let asks: Vec<_> = running
            .iter()
            .map(|(id, _)| stats_of(self.engine.clone(), id.clone()))
            .collect();
        let answers: Vec<(String, Option<Value>)> = stream::iter(asks)
            .buffer_unordered(CONCURRENCY)
            .collect()
            .await;
        let now = Instant::now();
        let mut out = HashMap::new();
        let mut previous = HashMap::new();
        for (id, stats) in answers {
            let Some(stats) = stats else { continue };
            let (mut usage, cpu) = from_stats(&stats);
            let before = self.previous.get(&id);
            if let (Some(cpu), Some((b, _, _))) = (cpu, before) {
                usage.cpu_percent = cpu_percent(b, &cpu);
            }
            net_rates(&mut usage, before.map(|(_, at, u)| (*at, u)), now);
            if let Some(cpu) = cpu {
                previous.insert(id.clone(), (cpu, now, usage.clone()));
            }
            out.insert(id, usage);
        }
        self.previous = previous;
        out
    }
}

async fn stats_of(engine: UpstreamPool, id: String) -> (String, Option<Value>) {
    let path = format!("/containers/{id}/stats?stream=false&one-shot=true");
    let v = super::ask(&engine, &path, STATS_TIMEOUT).await;
    if let Err(e) = &v {
        tracing::debug!(container = %id, error = %e, "stats for usage failed");
    }
    (id, v.ok())
}

/// `docker stats`' CPU share: the container's time over the whole machine's, times the
/// number of CPUs (100 is one core).
fn cpu_percent(before: &CpuReading, now: &CpuReading) -> Option<f64> {
    let container = now.container.checked_sub(before.container)?;
    let system = now.system.checked_sub(before.system)?;
    (system > 0).then(|| container as f64 / system as f64 * now.online as f64 * 100.0)
}

/// Figures from one stats answer, cgroup v1 or v2; the CPU reading for the next sample.
fn from_stats(s: &Value) -> (Figures, Option<CpuReading>) {
    let cpu = &s["cpu_stats"];
    let reading = cpu["cpu_usage"]["total_usage"]
        .as_u64()
        .map(|container| CpuReading {
            container,
            system: cpu["system_cpu_usage"].as_u64().unwrap_or(0),
            online: cpu["online_cpus"]
                .as_u64()
                .filter(|n| *n > 0)
                .unwrap_or_else(|| {
                    cpu["cpu_usage"]["percpu_usage"]
                        .as_array()
                        .map_or(1, |a| a.len() as u64)
                }),
        });
    let memory = &s["memory_stats"];
    // As the CLI reckons it: less the inactive page cache (v1 names it total_inactive_file).
    let inactive = memory["stats"]["total_inactive_file"]
        .as_u64()
        .or_else(|| memory["stats"]["inactive_file"].as_u64())
        .unwrap_or(0);
    let (mut rx, mut tx, mut any_net) = (0, 0, false);
    if let Some(nets) = s["networks"].as_object() {
        for n in nets.values() {
            rx += n["rx_bytes"].as_u64().unwrap_or(0);
            tx += n["tx_bytes"].as_u64().unwrap_or(0);
            any_net = true;
        }
    }
    let (mut read, mut write, mut any_io) = (0, 0, false);
    if let Some(entries) = s["blkio_stats"]["io_service_bytes_recursive"].as_array() {
        for e in entries {
            let value = e["value"].as_u64().unwrap_or(0);
            match e["op"].as_str().map(str::to_ascii_lowercase).as_deref() {
                Some("read") => read += value,
                Some("write") => write += value,
                _ => continue,
            }
            any_io = true;
        }
    }
    let usage = Figures {
        memory_used: memory["usage"].as_u64().map(|u| u.saturating_sub(inactive)),
        memory_limit: memory["limit"].as_u64(),
        net_rx_bytes: any_net.then_some(rx),
        net_tx_bytes: any_net.then_some(tx),
        block_read_bytes: any_io.then_some(read),
        block_write_bytes: any_io.then_some(write),
        pids: s["pids_stats"]["current"].as_u64(),
        ..Figures::default()
    };
    (usage, reading)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn stats_read_as_the_cli_reads_them() {
        let before = json!({"cpu_stats": {"cpu_usage": {"total_usage": 1_000_000_000u64}, "system_cpu_usage": 10_000_000_000u64, "online_cpus": 2}});
        let now = json!({
            "cpu_stats": {"cpu_usage": {"total_usage": 2_000_000_000u64}, "system_cpu_usage": 12_000_000_000u64, "online_cpus": 2},
            "memory_stats": {"usage": 300, "limit": 1000, "stats": {"total_inactive_file": 100}},
            "networks": {"eth0": {"rx_bytes": 10, "tx_bytes": 20}, "eth1": {"rx_bytes": 1, "tx_bytes": 2}},
            "blkio_stats": {"io_service_bytes_recursive": [
                {"major": 8, "minor": 0, "op": "Read", "value": 4096},
                {"major": 8, "minor": 0, "op": "Write", "value": 8192},
                {"major": 8, "minor": 0, "op": "Total", "value": 12288}
            ]},
            "pids_stats": {"current": 3}
        });
        let (_, b) = from_stats(&before);
        let (u, n) = from_stats(&now);
        // One second of container time in two seconds of two CPUs' time: one core busy.
        assert_eq!(cpu_percent(&b.unwrap(), &n.unwrap()), Some(100.0));
        assert_eq!(u.memory_used, Some(200));
        assert_eq!(u.memory_limit, Some(1000));
        assert_eq!((u.net_rx_bytes, u.net_tx_bytes), (Some(11), Some(22)));
        assert_eq!(
            (u.block_read_bytes, u.block_write_bytes),
            (Some(4096), Some(8192))
        );
        assert_eq!(u.pids, Some(3));
    }
}
