//! Benchmarks the agent against the engine's socket and HAProxy as a plain socket proxy, in one run, side by side.

mod client;
mod engine;
mod measure;
mod procs;
mod report;

use std::path::{Path, PathBuf};
use std::time::Duration;

use anyhow::{bail, ensure, Context, Result};
use serde_json::Value;

use client::Dial;
use engine::{short, Engine};
use measure::{LogRead, Rate};
use procs::{memory, Memory, RssSampler, Scratch};
use report::{Goal, Report, Row, Target, Unit, AGENT, COLUMNS, DIRECT, HAPROXY};

const ENGINE_SOCKET: &str = "/var/run/docker.sock";
const CONTAINERS: usize = 50;
/// 500 MiB: "at least 500 MB" of log.
const LOG_BYTES: u64 = 500 * 1024 * 1024;
const CONCURRENCY: usize = 64;
const LATENCY_BUDGET: Duration = Duration::from_secs(60);
const LOGS_BUDGET: Duration = Duration::from_secs(300);
const MB: f64 = 1e6;

const USAGE: &str = "\
usage: bosun-bench [--agent-bin PATH] [--haproxy-bin PATH] [--skip-agent] [--keep] [--markdown] [--quick]

Measures, side by side, the engine's socket, HAProxy in front of it, and bosun-agent (TLS + client
certificate): latency of GET /_ping and GET /containers/json, requests per second at 64 connections,
docker logs throughput, and the agent's memory. Run it through scripts/bench.sh.

  --agent-bin PATH    agent binary (default target/release/bosun-agent)
  --haproxy-bin PATH  haproxy binary (default haproxy)
  --skip-agent        measure only the engine and HAProxy; the agent column reads n/m
  --keep              keep the benchmark containers for the next run
  --markdown          also print the results as Markdown
  --quick             fewer requests and shorter windows, for a smoke run";

struct Options {
    agent_bin: PathBuf,
    haproxy_bin: String,
    skip_agent: bool,
    keep: bool,
    markdown: bool,
    quick: bool,
}

impl Options {
    fn parse(mut args: impl Iterator<Item = String>) -> Result<Option<Self>> {
        let mut opts = Options {
            agent_bin: PathBuf::from("target/release/bosun-agent"),
            haproxy_bin: "haproxy".to_owned(),
            skip_agent: false,
            keep: false,
            markdown: false,
            quick: false,
        };
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--agent-bin" => opts.agent_bin = value(&mut args, &arg)?.into(),
                "--haproxy-bin" => opts.haproxy_bin = value(&mut args, &arg)?,
                "--skip-agent" => opts.skip_agent = true,
                "--keep" => opts.keep = true,
                "--markdown" => opts.markdown = true,
                "--quick" => opts.quick = true,
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        Ok(Some(opts))
    }

    fn plan(&self) -> Plan {
        if self.quick {
            Plan {
                warmup: 20,
                ping_requests: 200,
                list_requests: 30,
                window: Duration::from_secs(1),
                log_rounds: 1,
            }
        } else {
            Plan {
                warmup: 50,
                ping_requests: 2000,
                list_requests: 300,
                window: Duration::from_secs(5),
                log_rounds: 3,
            }
        }
    }
}

fn value(args: &mut impl Iterator<Item = String>, flag: &str) -> Result<String> {
    args.next().with_context(|| format!("{flag} needs a value"))
}

struct Plan {
    warmup: usize,
    ping_requests: usize,
    list_requests: usize,
    window: Duration,
    log_rounds: usize,
}

#[tokio::main]
async fn main() -> Result<()> {
    let Some(opts) = Options::parse(std::env::args().skip(1))? else {
        println!("{USAGE}");
        return Ok(());
    };
    // Dropping the run on Ctrl-C kills the children and removes the scratch directory.
    tokio::select! {
        result = run(&opts) => result,
        _ = tokio::signal::ctrl_c() => bail!("interrupted; containers labelled bosun.bench are kept for the next run"),
    }
}

async fn run(opts: &Options) -> Result<()> {
    if !opts.skip_agent && !opts.agent_bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p bosun-agent`, pass --agent-bin, or --skip-agent",
            opts.agent_bin.display()
        );
    }
    let engine = Engine::new(Dial::Unix(ENGINE_SOCKET.into()));
    let versions = engine
        .versions()
        .await
        .with_context(|| format!("is the engine running at {ENGINE_SOCKET}?"))?;
    let result = bench(opts, &engine, &versions).await;
    if !opts.keep {
        match engine.remove_all().await {
            Ok(n) => eprintln!("removed {n} benchmark containers (--keep keeps them)"),
            Err(e) => eprintln!("warning: removing benchmark containers: {e:#}"),
        }
    }
    result
}

async fn bench(opts: &Options, engine: &Engine, versions: &engine::Versions) -> Result<()> {
    let plan = opts.plan();
    engine.ensure_image().await?;
    engine.ensure_sleepers(CONTAINERS).await?;
    let logs_id = engine.ensure_logs(LOG_BYTES).await?;

    let scratch = Scratch::new()?;
    let haproxy =
        procs::start_haproxy(&opts.haproxy_bin, scratch.path(), Path::new(ENGINE_SOCKET)).await?;
    let agent = if opts.skip_agent {
        None
    } else {
        Some(procs::start_agent(&opts.agent_bin, scratch.path()).await?)
    };

    // Idle: ready, a moment to settle, and nothing sent yet except the readiness probes.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let haproxy_pid = haproxy.service.pid()?;
    let agent_pid = agent.as_ref().map(|a| a.service.pid()).transpose()?;
    let mut idle: [Option<Memory>; 3] = [None; 3];
    idle[HAPROXY] = Some(memory(haproxy_pid)?);
    if let Some(pid) = agent_pid {
        idle[AGENT] = Some(memory(pid)?);
    }
    let mut samplers: [Option<RssSampler>; 3] = [None, None, None];
    samplers[HAPROXY] = Some(RssSampler::start(haproxy_pid));
    samplers[AGENT] = agent_pid.map(RssSampler::start);

    let dials: [Option<Dial>; 3] = [
        Some(Dial::Unix(ENGINE_SOCKET.into())),
        Some(haproxy.dial.clone()),
        agent.as_ref().map(|a| a.dial.clone()),
    ];
    let (listed, list_bytes) = count_listed(&dials[DIRECT]).await?;
    let mut rows = measure_all(&plan, &dials, &logs_id).await?;

    let mut peak = [None; 3];
    let mut after: [Option<Memory>; 3] = [None; 3];
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (i, pid) in [(HAPROXY, Some(haproxy_pid)), (AGENT, agent_pid)] {
        if let (Some(pid), Some(sampler)) = (pid, samplers[i].take()) {
            peak[i] = Some(sampler.peak());
            after[i] = Some(memory(pid)?);
        }
    }
    if let Some(agent) = agent {
        agent.service.stop().await?;
    }
    haproxy.service.stop().await?;

    let mb = |m: Option<u64>| m.map(|bytes| bytes as f64 / MB);
    let mut memory_row = |label: &str, pick: &dyn Fn(usize) -> Option<u64>| {
        let mut row = Row::new(label, Unit::Megabytes);
        for i in 0..COLUMNS.len() {
            row.values[i] = mb(pick(i));
        }
        rows.push(row);
    };
    memory_row("RSS idle (MB)", &|i| idle[i].map(|m| m.rss));
    memory_row("RSS peak under load, sampled (MB)", &|i| peak[i]);
    memory_row("RSS after load (MB)", &|i| after[i].map(|m| m.rss));
    memory_row("VmHWM at end (MB)", &|i| after[i].map(|m| m.hwm));

    let find = |prefix: &str| rows.iter().find(|r| r.label.starts_with(prefix));
    let targets = vec![
        Target {
            label: "GET /containers/json p50, agent/direct",
            measured: find("GET /containers/json p50").and_then(|r| r.ratio(AGENT, DIRECT)),
            goal: Goal::AtMost(1.3),
            unit: "x",
        },
        Target {
            label: "GET /_ping req/s, agent/haproxy",
            measured: find("GET /_ping req/s").and_then(|r| r.ratio(AGENT, HAPROXY)),
            goal: Goal::AtLeast(1.0),
            unit: "x",
        },
        Target {
            label: "GET /containers/json req/s, agent/haproxy",
            measured: find("GET /containers/json req/s").and_then(|r| r.ratio(AGENT, HAPROXY)),
            goal: Goal::AtLeast(1.0),
            unit: "x",
        },
        Target {
            label: "docker logs MB/s, agent/direct",
            measured: find("docker logs").and_then(|r| r.ratio(AGENT, DIRECT)),
            goal: Goal::AtLeast(0.8),
            unit: "x",
        },
        Target {
            label: "agent RSS idle",
            measured: mb(idle[AGENT].map(|m| m.rss)),
            goal: Goal::AtMost(15.0),
            unit: " MB",
        },
    ];

    let mut notes = Vec::new();
    if agent_pid.is_none() {
        notes.push(
            "the agent was not run (--skip-agent): its column and the targets are not measured"
                .to_owned(),
        );
    }
    let report = Report {
        context: vec![
            format!(
                "Machine: {} CPUs ({}), Linux {}",
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                cpu_model(),
                kernel()
            ),
            format!(
                "Docker Engine {} (API {}), HAProxy {}, json-file logging",
                versions.engine, versions.api, haproxy.version
            ),
            format!(
                "{listed} containers in GET /containers/json ({list_bytes} bytes); log of {} MB ({} bytes) from container {}",
                LOG_BYTES as f64 / MB,
                LOG_BYTES,
                short(&logs_id)
            ),
            format!(
                "Latency: {} x /_ping and {} x /containers/json on one kept-alive connection after {} warm-up requests; \
                 req/s: {CONCURRENCY} kept-alive connections for {} s; logs: median of {} full read(s); MB = 10^6 bytes",
                plan.ping_requests,
                plan.list_requests,
                plan.warmup,
                plan.window.as_secs_f64(),
                plan.log_rounds
            ),
        ],
        rows,
        targets,
        notes,
    };
    println!("{}", report.text());
    if opts.markdown {
        println!("{}", report.markdown());
    }
    Ok(())
}

async fn count_listed(dial: &Option<Dial>) -> Result<(usize, usize)> {
    let Some(dial) = dial else { return Ok((0, 0)) };
    let body = dial.connect().await?.get_ok("/containers/json").await?;
    match serde_json::from_slice(&body).context("GET /containers/json is not JSON")? {
        Value::Array(list) => Ok((list.len(), body.len())),
        _ => bail!("GET /containers/json is not an array"),
    }
}

/// Runs each measurement on every target before the next measurement, so drift on the machine
/// (page cache, engine state) affects the columns alike.
async fn measure_all(plan: &Plan, dials: &[Option<Dial>; 3], logs_id: &str) -> Result<Vec<Row>> {
    let mut rows = Vec::new();

    for (path, count) in [
        ("/_ping", plan.ping_requests),
        ("/containers/json", plan.list_requests),
    ] {
        let mut p50 = Row::new(format!("GET {path} p50 (ms)"), Unit::Millis);
        let mut p99 = Row::new(format!("GET {path} p99 (ms)"), Unit::Millis);
        for (i, dial) in enumerate(dials) {
            progress(&format!("latency GET {path}"), i);
            let l = measure::latency(dial, path, plan.warmup, count, LATENCY_BUDGET).await?;
            if l.samples < count {
                eprintln!(
                    "  only {} of {count} requests within {LATENCY_BUDGET:?}",
                    l.samples
                );
            }
            p50.values[i] = Some(l.p50.as_secs_f64() * 1e3);
            p99.values[i] = Some(l.p99.as_secs_f64() * 1e3);
        }
        rows.push(p50);
        rows.push(p99);
    }

    for path in ["/_ping", "/containers/json"] {
        let mut row = Row::new(
            format!("GET {path} req/s, {CONCURRENCY} conns"),
            Unit::PerSecond,
        );
        for (i, dial) in enumerate(dials) {
            progress(&format!("req/s GET {path}"), i);
            let Rate {
                per_second,
                completed,
                errors,
            } = measure::rate(dial, path, CONCURRENCY, plan.window).await?;
            if errors > 0 {
                eprintln!("  {errors} failed requests ({completed} succeeded)");
            }
            row.values[i] = Some(per_second);
        }
        rows.push(row);
    }

    let mut reads: [Vec<LogRead>; 3] = [Vec::new(), Vec::new(), Vec::new()];
    for round in 0..plan.log_rounds {
        for (i, dial) in enumerate(dials) {
            progress(
                &format!("docker logs, read {}/{}", round + 1, plan.log_rounds),
                i,
            );
            let read = measure::logs(dial, logs_id, LOGS_BUDGET).await?;
            ensure!(
                read.payload == LOG_BYTES,
                "{}: the log stream carried {} bytes of {LOG_BYTES} ({} on the wire)",
                COLUMNS[i],
                read.payload,
                read.wire
            );
            eprintln!("  {:.1} MB/s", read.mb_per_second());
            reads[i].push(read);
        }
    }
    let mut row = Row::new("docker logs (MB/s)", Unit::MegabytesPerSecond);
    for (i, r) in reads.iter_mut().enumerate() {
        r.sort_by(|a, b| a.mb_per_second().total_cmp(&b.mb_per_second()));
        row.values[i] = r.get(r.len() / 2).map(LogRead::mb_per_second);
    }
    rows.push(row);
    Ok(rows)
}

fn enumerate(dials: &[Option<Dial>; 3]) -> impl Iterator<Item = (usize, &Dial)> {
    dials
        .iter()
        .enumerate()
        .filter_map(|(i, d)| d.as_ref().map(|d| (i, d)))
}

fn progress(what: &str, column: usize) {
    eprintln!("{what}: {}", COLUMNS[column]);
}

fn cpu_model() -> String {
    std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|s| {
            s.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split(':').nth(1))
                .map(|m| m.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".to_owned())
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
