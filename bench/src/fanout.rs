//! The fan-out microbenchmark: the CPU time and latency of one merging agent answering
//! `GET /containers/json?all=1` for clusters of 1, 10, 50 and 200 simulated nodes.
//!
//! The merging agent is the only process under test. The other nodes are simulated inside
//! the benchmark's process: each is an in-process agent (the agent library, in front of a
//! fake engine that answers from memory at once). They have to be agents rather than bare
//! fake engines because an agent reaches its peers only through membership (sealed gossip
//! carrying each peer's API address and certificate fingerprint) and only over TLS pinned
//! to that fingerprint; a peer without TLS cannot be named to it. The merging agent's CPU
//! is read from its own `/proc/PID/stat`, the simulation's from the benchmark's, so the two
//! are told apart even though they share the machine's cores.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use tokio_util::sync::CancellationToken;

use crate::client::Conn;
use crate::cluster::{grow, start_process, until_all_see, Creds};
use crate::procs::{cpu_millis, memory, Scratch};

const DEFAULT_NODES: [usize; 4] = [1, 10, 50, 200];
const DEFAULT_CONTAINERS: usize = 100;
const PATH: &str = "/v1.41/containers/json?all=1";
const WARMUP: usize = 3;
/// Share of one core the whole cluster may use with no request running before measuring.
const SETTLED: f64 = 0.10;
const SETTLED_PER_NODE: f64 = 0.003;
const SETTLE_BUDGET: Duration = Duration::from_secs(60);
/// At least this many timed requests per size, however long they take.
const MIN_REQUESTS: usize = 5;
/// A safety cap on requests per size; far above what a window holds.
const MAX_REQUESTS: usize = 100_000;

const USAGE: &str = "\
usage: bosun-bench fanout [--agent-bin PATH] [--nodes LIST] [--containers N] [--quick] [--markdown]

Measures one agent (its own process, the release build) merging GET /containers/json?all=1
over clusters of simulated nodes: for each size, the merging agent's CPU time per request and
the request's latency, next to the CPU time the simulated nodes (in-process agents in front of
fake engines answering at once, inside this process) spent per request.

  --agent-bin PATH  the merging agent (default target/release/bosun-agent)
  --nodes LIST      cluster sizes, comma-separated and ascending (default 1,10,50,200)
  --containers N    containers per node (default 100)
  --quick           1 s windows instead of 5 s: a smoke run
  --markdown        also print the table as Markdown";

struct Options {
    bin: PathBuf,
    nodes: Vec<usize>,
    containers: usize,
    quick: bool,
    markdown: bool,
}

impl Options {
    fn parse(args: Vec<String>) -> Result<Option<Self>> {
        let mut opts = Options {
            bin: PathBuf::from("target/release/bosun-agent"),
            nodes: DEFAULT_NODES.to_vec(),
            containers: DEFAULT_CONTAINERS,
            quick: false,
            markdown: false,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--agent-bin" => opts.bin = args.next().context("--agent-bin needs a path")?.into(),
                "--nodes" => {
                    let list = args.next().context("--nodes needs a list")?;
                    opts.nodes = parse_sizes(&list)?;
                }
                "--containers" => {
                    let n = args.next().context("--containers needs a number")?;
                    opts.containers =
                        n.parse().ok().filter(|n| *n > 0).with_context(|| {
                            format!("--containers {n:?} is not a positive number")
                        })?;
                }
                "--quick" => opts.quick = true,
                "--markdown" => opts.markdown = true,
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        Ok(Some(opts))
    }

    /// How long requests are timed per size, and how long the idle reading lasts.
    fn windows(&self) -> (Duration, Duration) {
        if self.quick {
            (Duration::from_secs(1), Duration::from_secs(1))
        } else {
            (Duration::from_secs(5), Duration::from_secs(3))
        }
    }
}

/// `1,10,50` into ascending sizes of at least one node.
fn parse_sizes(list: &str) -> Result<Vec<usize>> {
    let sizes = list
        .split(',')
        .map(|s| {
            s.trim()
                .parse::<usize>()
                .ok()
                .filter(|n| *n > 0)
                .with_context(|| format!("{s:?} is not a cluster size"))
        })
        .collect::<Result<Vec<_>>>()?;
    ensure!(
        !sizes.is_empty() && sizes.windows(2).all(|w| w[0] < w[1]),
        "--nodes wants ascending sizes, such as 1,10,50,200"
    );
    Ok(sizes)
}

/// One cluster size's measurement.
struct Sample {
    nodes: usize,
    containers: usize,
    body_bytes: usize,
    requests: usize,
    p50: Duration,
    p99: Duration,
    /// CPU milliseconds per request while requests ran, idle share included.
    agent_ms: f64,
    /// The share of `agent_ms` the merging agent spends when no request runs (gossip, timers).
    agent_idle_ms: f64,
    /// The benchmark process (simulated nodes and the client) per request, idle share included.
    simulation_ms: f64,
    simulation_idle_ms: f64,
    agent_rss: u64,
}

impl Sample {
    /// The merging agent's CPU per request, its idle share taken off.
    fn agent_net_ms(&self) -> f64 {
        (self.agent_ms - self.agent_idle_ms).max(0.0)
    }
}

/// CPU milliseconds of the merging agent and of this process.
fn cpu(pid: &str) -> Result<(u64, u64)> {
    let agent = cpu_millis(pid).context("the merging agent has exited")?;
    let me = cpu_millis("self").context("reading this process's CPU time")?;
    Ok((agent, me))
}

async fn run(opts: &Options, scratch: &Path) -> Result<Vec<Sample>> {
    let creds = Creds::new(scratch)?;
    let stop = CancellationToken::new();
    // Stops the in-process nodes however this function ends.
    let _stopping = stop.clone().drop_guard();
    let largest = opts.nodes.last().copied().unwrap_or(1);
    let mut engines = Vec::with_capacity(largest);
    for i in 0..largest {
        let mut spec = FakeEngineSpec::new(&format!("node-{i:03}"));
        spec.containers = opts.containers;
        engines.push(FakeEngine::start(spec).await?);
    }
    let mut entry = start_process(&opts.bin, &creds, &engines[0], None).await?;
    let pid = entry
        .child
        .id()
        .context("the merging agent has exited")?
        .to_string();
    let dial = creds.dial(entry.api)?;
    let (window, idle) = opts.windows();

    let mut samples = Vec::new();
    let mut running = 1;
    for &size in &opts.nodes {
        eprintln!("fan-out over {size} nodes: starting the simulated nodes");
        grow(&creds, &engines[running..size], entry.gossip, &stop).await?;
        running = size;
        until_all_see(std::slice::from_ref(&dial), size).await?;

        settle(&pid, size).await?;
        // Connected after settling: the agent closes a connection idle for 30 s.
        let expected = size * opts.containers;
        let mut conn = dial.connect().await?;
        let mut body_bytes = 0;
        for _ in 0..WARMUP {
            body_bytes = checked_list(&mut conn, expected).await?;
        }
        eprintln!("fan-out over {size} nodes: idle reading");
        let (a0, s0) = cpu(&pid)?;
        let idle_started = Instant::now();
        tokio::time::sleep(idle).await;
        let (a1, s1) = cpu(&pid)?;
        let idle_secs = idle_started.elapsed().as_secs_f64();
        let agent_idle_rate = a1.saturating_sub(a0) as f64 / idle_secs;
        let simulation_idle_rate = s1.saturating_sub(s0) as f64 / idle_secs;

        eprintln!("fan-out over {size} nodes: timing requests");
        let mut latencies = Vec::new();
        let (a0, s0) = cpu(&pid)?;
        let started = Instant::now();
        while latencies.len() < MAX_REQUESTS
            && (latencies.len() < MIN_REQUESTS || started.elapsed() < window)
        {
            let sent = Instant::now();
            checked_list(&mut conn, expected).await?;
            latencies.push(sent.elapsed());
        }
        let busy_secs = started.elapsed().as_secs_f64();
        let (a1, s1) = cpu(&pid)?;
        latencies.sort_unstable();
        let n = latencies.len() as f64;
        samples.push(Sample {
            nodes: size,
            containers: expected,
            body_bytes,
            requests: latencies.len(),
            p50: percentile(&latencies, 0.50),
            p99: percentile(&latencies, 0.99),
            agent_ms: a1.saturating_sub(a0) as f64 / n,
            agent_idle_ms: agent_idle_rate * busy_secs / n,
            simulation_ms: s1.saturating_sub(s0) as f64 / n,
            simulation_idle_ms: simulation_idle_rate * busy_secs / n,
            agent_rss: memory(entry.child.id().context("the merging agent has exited")?)?.rss,
        });
    }
    let _ = entry.child.start_kill();
    let _ = entry.child.wait().await;
    stop.cancel();
    for engine in &engines {
        engine.stop();
    }
    Ok(samples)
}

/// Waits, up to [`SETTLE_BUDGET`], for the gossip of newly joined nodes to die down: the
/// simulated nodes and the merging agent together using at most [`SETTLED`] of one core,
/// plus [`SETTLED_PER_NODE`] for each node (membership keeps a steady cost that grows
/// with the cluster: about a third of a core for 200 agents in one process).
async fn settle(pid: &str, size: usize) -> Result<()> {
    let limit = SETTLED + SETTLED_PER_NODE * size as f64;
    let started = Instant::now();
    loop {
        let (a0, s0) = cpu(pid)?;
        let then = Instant::now();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let (a1, s1) = cpu(pid)?;
        let used = (a1 + s1).saturating_sub(a0 + s0) as f64 / 1e3 / then.elapsed().as_secs_f64();
        eprintln!(
            "fan-out over {size} nodes: {:.0} % of a core used idle",
            used * 100.0
        );
        if used <= limit || started.elapsed() >= SETTLE_BUDGET {
            return Ok(());
        }
    }
}

/// One merged list that must hold every simulated container; its size in bytes.
async fn checked_list(conn: &mut Conn, expected: usize) -> Result<usize> {
    let body = conn.get_ok(PATH).await?;
    let items = serde_json::from_slice::<serde_json::Value>(&body)
        .context("the merged list is not JSON")?
        .as_array()
        .map_or(0, Vec::len);
    ensure!(
        items == expected,
        "the merged list holds {items} containers, not {expected}: a node was left out"
    );
    Ok(body.len())
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted
        .get(rank.clamp(1, sorted.len().max(1)) - 1)
        .copied()
        .unwrap_or_default()
}

const HEADERS: [&str; 12] = [
    "nodes",
    "containers",
    "body (kB)",
    "requests",
    "p50 (ms)",
    "p99 (ms)",
    "agent CPU/req (ms)",
    "of which idle (ms)",
    "agent CPU/req net (ms)",
    "net per 1k containers (ms)",
    "simulation CPU/req (ms)",
    "of which idle (ms)",
];

fn cells(s: &Sample) -> [String; 12] {
    let ms = |d: Duration| d.as_secs_f64() * 1e3;
    [
        s.nodes.to_string(),
        s.containers.to_string(),
        format!("{:.0}", s.body_bytes as f64 / 1e3),
        s.requests.to_string(),
        format!("{:.2}", ms(s.p50)),
        format!("{:.2}", ms(s.p99)),
        format!("{:.2}", s.agent_ms),
        format!("{:.2}", s.agent_idle_ms),
        format!("{:.2}", s.agent_net_ms()),
        format!("{:.2}", s.agent_net_ms() / (s.containers as f64 / 1e3)),
        format!("{:.2}", s.simulation_ms),
        format!("{:.2}", s.simulation_idle_ms),
    ]
}

/// Each size against the smallest: how the merge's cost and latency grow with the cluster.
fn growth(samples: &[Sample]) -> Vec<[String; 4]> {
    let Some(base) = samples.first() else {
        return Vec::new();
    };
    let ratio = |a: f64, b: f64| {
        if b > 0.0 {
            format!("{:.2}x", a / b)
        } else {
            "n/m".to_owned()
        }
    };
    samples
        .iter()
        .map(|s| {
            [
                s.nodes.to_string(),
                ratio(s.p50.as_secs_f64(), base.p50.as_secs_f64()),
                ratio(s.agent_net_ms(), base.agent_net_ms()),
                format!(
                    "{:.1} %",
                    100.0 * s.agent_ms / (s.agent_ms + s.simulation_ms).max(1e-9)
                ),
            ]
        })
        .collect()
}

const GROWTH_HEADERS: [&str; 4] = [
    "nodes",
    "p50 / smallest",
    "agent net CPU / smallest",
    "merging agent's share of all CPU",
];

fn context(opts: &Options, samples: &[Sample]) -> Vec<String> {
    let (window, idle) = opts.windows();
    let mut lines = vec![
        format!(
            "Machine: {} CPUs; the merging agent is {} (its own process); {} containers per node, \
             fake engines answering from memory without delay",
            std::thread::available_parallelism().map_or(0, |n| n.get()),
            opts.bin.display(),
            opts.containers
        ),
        format!(
            "GET {PATH} on one kept-alive TLS connection (client certificate): {WARMUP} warm-up requests, \
             then sequential requests for {} s (at least {MIN_REQUESTS}); idle CPU read for {} s before",
            window.as_secs_f64(),
            idle.as_secs_f64()
        ),
        "CPU: user + system time from /proc; agent = the merging agent's process, \
         simulation = this process (the other nodes' agents and fake engines, and the client); \
         idle = the process's CPU rate with no request running, times the requests' duration"
            .to_owned(),
    ];
    if let Some(last) = samples.last() {
        lines.push(format!(
            "Merging agent RSS after the last size: {:.1} MB",
            last.agent_rss as f64 / 1e6
        ));
    }
    lines
}

fn text(opts: &Options, samples: &[Sample]) -> String {
    let mut out = context(opts, samples).join("\n");
    out.push_str("\n\n");
    let table = |out: &mut String, headers: &[&str], rows: Vec<Vec<String>>| {
        let widths: Vec<usize> = headers
            .iter()
            .enumerate()
            .map(|(i, h)| rows.iter().map(|r| r[i].len()).fold(h.len(), usize::max))
            .collect();
        let line = |cols: Vec<String>| {
            cols.iter()
                .zip(&widths)
                .map(|(c, w)| format!("{c:>w$}"))
                .collect::<Vec<_>>()
                .join("  ")
        };
        out.push_str(&line(headers.iter().map(|h| (*h).to_owned()).collect()));
        out.push('\n');
        for row in rows {
            out.push_str(&line(row));
            out.push('\n');
        }
    };
    table(
        &mut out,
        &HEADERS,
        samples.iter().map(|s| cells(s).to_vec()).collect(),
    );
    out.push('\n');
    table(
        &mut out,
        &GROWTH_HEADERS,
        growth(samples).into_iter().map(|r| r.to_vec()).collect(),
    );
    out
}

fn markdown(opts: &Options, samples: &[Sample]) -> String {
    let mut out = String::new();
    for line in context(opts, samples) {
        out.push_str(&format!("- {line}\n"));
    }
    let table = |out: &mut String, headers: &[&str], rows: Vec<Vec<String>>| {
        out.push_str(&format!("\n| {} |\n", headers.join(" | ")));
        out.push_str(&format!("|{}\n", "---:|".repeat(headers.len())));
        for row in rows {
            out.push_str(&format!("| {} |\n", row.join(" | ")));
        }
    };
    table(
        &mut out,
        &HEADERS,
        samples.iter().map(|s| cells(s).to_vec()).collect(),
    );
    table(
        &mut out,
        &GROWTH_HEADERS,
        growth(samples).into_iter().map(|r| r.to_vec()).collect(),
    );
    out
}

/// `bosun-bench fanout ...`.
pub async fn main(args: Vec<String>) -> Result<()> {
    let Some(opts) = Options::parse(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    ensure!(
        opts.bin.is_file(),
        "{} not found: build it with `cargo build --release -p bosun-agent` or pass --agent-bin",
        opts.bin.display()
    );
    bosun_agent::tls::install_crypto_provider();
    let scratch = Scratch::new()?;
    let samples = tokio::select! {
        samples = run(&opts, scratch.path()) => samples?,
        _ = tokio::signal::ctrl_c() => bail!("interrupted"),
    };
    println!("{}", text(&opts, &samples));
    if opts.markdown {
        println!("{}", markdown(&opts, &samples));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_must_ascend() {
        assert_eq!(parse_sizes("1,10, 50,200").ok(), Some(vec![1, 10, 50, 200]));
        assert!(parse_sizes("10,1").is_err());
        assert!(parse_sizes("0,1").is_err());
        assert!(parse_sizes("1,x").is_err());
        assert!(parse_sizes("").is_err());
    }

    #[test]
    fn percentile_of_nothing_is_zero() {
        assert_eq!(percentile(&[], 0.5), Duration::ZERO);
        let samples: Vec<_> = (1..=10).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.5), Duration::from_millis(5));
    }
}
