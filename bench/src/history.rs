//! The console's usage history: what it stores per node and per container per day, and
//! how long the data of a 30-day chart of 10 nodes takes to read. The console's own store
//! (`bosun_ui::usage::UsageStore`) in a temporary file, filled with samples shaped as the
//! agents send them.

use std::path::Path;
use std::time::Instant;

use anyhow::{bail, Context, Result};
use bosun_ui::usage::range::{plan, Range};
use bosun_ui::usage::sample::ClusterAnswer;
use bosun_ui::usage::series::{Kind, Tier};
use bosun_ui::usage::{Retention, UsageStore};
use serde_json::{json, Value};

const USAGE: &str = "\
usage: bosun-bench history [--markdown]

Fills the console's usage store in a temporary directory with samples every 10 s, as the
agents send them, and measures: the database's growth per node per day (host and one
filesystem) and per container per day, all tiers; and the time to read a 30-day chart
(and a 24-hour one) for each of 10 nodes, median of 20.";

const INTERVAL: i64 = 10;
const DAY: i64 = 86_400;
const NODES: usize = 10;
const CONTAINERS: usize = 10;
const ROUNDS: usize = 20;

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut markdown = false;
    for arg in &args {
        match arg.as_str() {
            "--markdown" => markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    tokio::task::spawn_blocking(move || run(markdown)).await?
}

fn run(markdown: bool) -> Result<()> {
    let dir = tempfile::tempdir()?;
    let now = bosun_serve::clock::now_secs() as i64;
    let now = now - now.rem_euclid(3600);

    let node_only = day_of_storage(&dir.path().join("node.db"), now, 0)?;
    let with_containers = day_of_storage(&dir.path().join("containers.db"), now, CONTAINERS)?;
    let per_node = node_only;
    let per_container = (with_containers.saturating_sub(node_only)) / CONTAINERS as u64;

    let (month_ms, day_ms, points) = chart_times(&dir.path().join("chart.db"), now)?;
    let rows = [
        ("stored per node per day (host and one filesystem; raw, minute and hour tiers)".to_owned(), format!("{:.2} MB", per_node as f64 / 1e6)),
        ("stored per container per day (all tiers)".to_owned(), format!("{:.2} MB", per_container as f64 / 1e6)),
        (format!("30-day chart of {NODES} nodes: the points of every node's host series ({points} each)"), format!("{month_ms:.1} ms")),
        (format!("24-hour chart of {NODES} nodes"), format!("{day_ms:.1} ms")),
    ];
    println!("Console usage history, samples every {INTERVAL} s (target: a 30-day chart of 10 nodes under 100 ms)\n");
    for (what, value) in &rows {
        println!("{what:<90} {value}");
    }
    if markdown {
        println!("\n| measure | value |\n|---|---|");
        for (what, value) in &rows {
            println!("| {what} | {value} |");
        }
    }
    Ok(())
}

/// The database's size after a day of one node with `containers` containers, every
/// [`INTERVAL`], all tiers rolled up; in bytes.
fn day_of_storage(path: &Path, now: i64, containers: usize) -> Result<u64> {
    let store = UsageStore::open(path).context("opening the usage store")?;
    let start = now - DAY;
    let mut t = start;
    while t < now {
        let batch: Vec<Value> = (0..360)
            .map(|i| sample(t + i * INTERVAL, 0, containers))
            .take_while(|s| s["time"].as_i64().unwrap_or(0) < now)
            .collect();
        store.ingest(1, &answer(&[("node-0", batch)])?)?;
        t += 360 * INTERVAL;
    }
    store.roll_up(1, Tier::Hour, start, now)?;
    drop(store);
    let size = std::fs::metadata(path)?.len()
        + std::fs::metadata(path.with_extension("db-wal")).map_or(0, |m| m.len());
    Ok(size)
}

/// The store of a 10-node cluster over 30 days: every sample of the last day, one an hour
/// before that (enough for every minute and hour bucket a 30-day chart reads); then the
/// median time to read every node's host series for 30 days and for 24 hours.
fn chart_times(path: &Path, now: i64) -> Result<(f64, f64, usize)> {
    let store = UsageStore::open(path)?;
    let names: Vec<String> = (0..NODES).map(|n| format!("node-{n}")).collect();
    let hourly: Vec<(&str, Vec<Value>)> = names
        .iter()
        .enumerate()
        .map(|(n, name)| {
            let samples = (1..30 * 24)
                .rev()
                .map(|h| sample(now - DAY - h * 3600, n, 0))
                .collect();
            (name.as_str(), samples)
        })
        .collect();
    store.ingest(1, &answer(&hourly)?)?;
    let mut t = now - DAY;
    while t < now {
        let batch: Vec<(&str, Vec<Value>)> = names
            .iter()
            .enumerate()
            .map(|(n, name)| {
                (
                    name.as_str(),
                    (0..360).map(|i| sample(t + i * INTERVAL, n, 0)).collect(),
                )
            })
            .collect();
        store.ingest(1, &answer(&batch)?)?;
        t += 360 * INTERVAL;
    }
    store.roll_up(1, Tier::Hour, now - 30 * DAY, now)?;
    let hosts = store.series(1, Kind::Host, None)?;
    if hosts.len() != NODES {
        bail!("{} host series stored, not {NODES}", hosts.len());
    }
    let keep = Retention::default();
    let read = |range: Range| -> Result<(f64, usize)> {
        let mut times = Vec::with_capacity(ROUNDS);
        let mut points = 0;
        for _ in 0..ROUNDS {
            let started = Instant::now();
            for host in &hosts {
                let p = store.points(Kind::Host, host.id, &plan(range, now, INTERVAL, &keep))?;
                let json = p.to_json();
                points = json["times"].as_array().map_or(0, Vec::len);
                std::hint::black_box(json);
            }
            times.push(started.elapsed().as_secs_f64() * 1e3);
        }
        times.sort_by(f64::total_cmp);
        Ok((times[times.len() / 2], points))
    };
    let (month, points) = read(Range::Month)?;
    let (day, _) = read(Range::Day)?;
    Ok((month, day, points))
}

/// One sample as an agent sends it, its figures moving with time and node.
fn sample(time: i64, node: usize, containers: usize) -> Value {
    let wave = ((time / 60) % 100) as f64 + node as f64;
    json!({
        "time": time,
        "host": {
            "cpu": {"cores": 4, "percent": wave % 100.0},
            "load": [wave / 50.0, wave / 60.0, wave / 70.0],
            "memory": {"total": 16_000_000_000u64, "used": 4_000_000_000u64 + (wave as u64) * 10_000_000,
                       "available": 12_000_000_000u64, "cached": 2_000_000_000u64, "swap_total": 0, "swap_used": 0},
            "filesystems": [{"mount": "/", "device": "/dev/vda1", "fstype": "ext4",
                             "total": 100_000_000_000u64, "used": 40_000_000_000u64 + time as u64,
                             "inodes_total": 6_000_000, "inodes_used": 300_000}],
            "disks": [{"device": "vda", "read_bytes": time as u64 * 1000, "write_bytes": time as u64 * 2000,
                       "reads": time, "writes": time, "read_bytes_per_sec": 1000.0, "write_bytes_per_sec": 2000.0,
                       "read_iops": 1.0, "write_iops": 1.0}],
            "network": [{"interface": "eth0", "rx_bytes": time as u64 * 500, "tx_bytes": time as u64 * 300,
                         "rx_packets": time, "tx_packets": time, "rx_errors": 0, "tx_errors": 0,
                         "rx_bytes_per_sec": 500.0 + wave, "tx_bytes_per_sec": 300.0 + wave}],
            "uptime_secs": time,
            "temperatures": []
        },
        "containers": (0..containers).map(|c| json!({
            "id": format!("{:064x}", c + 1), "name": format!("app-{c}"), "image": "app:1",
            "project": "shop", "service": null, "task": null, "state": "running", "health": null,
            "restarts": 0, "cpu_percent": (wave + c as f64) % 100.0,
            "memory_used": 100_000_000u64 + c as u64, "memory_limit": 1_000_000_000u64,
            "net_rx_bytes": time as u64 * 10, "net_tx_bytes": time as u64 * 20,
            "net_rx_bytes_per_sec": 10.0, "net_tx_bytes_per_sec": 20.0,
            "block_read_bytes": time as u64, "block_write_bytes": time as u64 * 2, "pids": 4
        })).collect::<Vec<_>>()
    })
}

fn answer(nodes: &[(&str, Vec<Value>)]) -> Result<ClusterAnswer> {
    let value = json!({
        "nodes": nodes.iter().map(|(name, samples)| json!({
            "node": name, "interval_secs": INTERVAL, "samples": samples
        })).collect::<Vec<_>>(),
        "missing": []
    });
    Ok(serde_json::from_value(value)?)
}
