//! Benchmarks the agent against the engine's socket, HAProxy as a plain socket proxy and HAProxy
//! terminating TLS with client certificates, in one run, side by side.

mod alerts;
mod bare;
mod checks;
mod client;
mod cluster;
mod console;
mod edge;
mod engine;
mod fanout;
mod history;
mod logs;
mod measure;
mod ping;
mod policy;
mod procs;
mod report;
mod updates;
mod usage;

use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::time::Duration;

use anyhow::{anyhow, bail, ensure, Context, Result};
use serde_json::Value;

use client::Dial;
use engine::{short, Engine};
use logs::LogRead;
use measure::Rate;
use procs::{memory, HaproxyTls, Memory, RssSampler, Scratch};
use report::{
    Goal, Report, Row, Target, Unit, AGENT, COLUMNS, DIRECT, HAPROXY, HAPROXY_TLS, WIDTH,
};

const ENGINE_SOCKET: &str = "/var/run/docker.sock";
const CONTAINERS: usize = 50;
/// 500 MiB: "at least 500 MB" of log.
const LOG_BYTES: u64 = 500 * 1024 * 1024;
const CONCURRENCY: usize = 64;
const LATENCY_BUDGET: Duration = Duration::from_secs(60);
const LOGS_BUDGET: Duration = Duration::from_secs(300);
const MB: f64 = 1e6;
/// CPU use while everything under test idles; above this, something else is competing for the cores.
const BUSY_BEFORE: f64 = 0.15;
/// Share of the CPU time while measuring that may go to other processes (kernel threads and
/// the engine's helpers included) before the run is called disturbed.
const FOREIGN_LIMIT: f64 = 0.10;
/// How long to wait for other work on the machine to finish before measuring anyway.
const QUIET_WAIT: Duration = Duration::from_secs(180);

const USAGE: &str = "\
usage: bosun-bench cluster [--agent-bin PATH] [--quick] [--markdown]   (see bosun-bench cluster --help)
       bosun-bench console [--ui-bin PATH] [--quick] [--markdown]     (see bosun-bench console --help)
       bosun-bench policy [--agent-bin PATH] [--connections N] [--keep] [--quick] [--markdown]   (see bosun-bench policy --help)
       bosun-bench usage [--agent-bin PATH] [--window SECS] [--interval SECS] [--keep] [--markdown]   (see bosun-bench usage --help)
       bosun-bench history [--markdown]   (see bosun-bench history --help)
       bosun-bench updates [--containers N] [--images N] [--rounds N] [--markdown]   (see bosun-bench updates --help)
       bosun-bench alerts [--rounds N] [--markdown]   (see bosun-bench alerts --help)
       bosun-bench checks [--agent-bin PATH] [--window SECS] [--http N] [--scripts N] [--latency-runs N] [--markdown]   (see bosun-bench checks --help)
       bosun-bench edge [--agent-bin PATH] [--keep] [--quick] [--markdown]   (see bosun-bench edge --help)
       bosun-bench ping [--agent-bin PATH]... [--rounds N] [--window SECS] [--markdown]   (see bosun-bench ping --help)
       bosun-bench fanout [--agent-bin PATH] [--nodes LIST] [--containers N] [--quick] [--markdown]   (see bosun-bench fanout --help)
       bosun-bench [--agent-bin PATH] [--haproxy-bin PATH] [--skip-agent] [--keep] [--markdown] [--quick]

Measures, side by side, the engine's socket, HAProxy in front of it as a plain HTTP proxy, HAProxy
terminating TLS 1.3 with client certificates from the cluster CA, and bosun-agent (TLS 1.3 + client
certificate): latency of GET /_ping and GET /containers/json, requests per second at 64 connections,
docker logs throughput, CPU per unit of work and the proxies' memory. Run it through scripts/bench.sh.

  --agent-bin PATH    agent binary (default target/release/bosun-agent)
  --haproxy-bin PATH  haproxy binary (default haproxy)
  --skip-agent        measure only the engine and the two HAProxy columns; the agent column reads n/m
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
async fn main() -> ExitCode {
    let mut args = std::env::args().skip(1).peekable();
    if args.peek().map(String::as_str) == Some("console") {
        return match console::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("edge") {
        return match edge::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("cluster") {
        return match cluster::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("fanout") {
        return match fanout::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("alerts") {
        return match alerts::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("checks") {
        return match checks::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("history") {
        return match history::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("updates") {
        return match updates::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("usage") {
        return match usage::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("bare-relay") {
        return match bare::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("ping") {
        return match ping::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    if args.peek().map(String::as_str) == Some("policy") {
        return match policy::main(args.skip(1).collect()).await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => fail(&e),
        };
    }
    let opts = match Options::parse(std::env::args().skip(1)) {
        Ok(Some(opts)) => opts,
        Ok(None) => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Err(e) => return fail(&e),
    };
    // Dropping the run on Ctrl-C kills the children and removes the scratch directory.
    let result = tokio::select! {
        result = run(&opts) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted; containers labelled bosun.bench are kept for the next run")),
    };
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => fail(&e),
    }
}

/// The error and its causes on one line each, without a backtrace: these are operational errors.
fn fail(e: &anyhow::Error) -> ExitCode {
    eprintln!("bosun-bench: {e:#}");
    ExitCode::FAILURE
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
    let socket = Path::new(ENGINE_SOCKET);
    let haproxy = procs::start_haproxy(&opts.haproxy_bin, scratch.path(), socket, None).await?;
    let agent = if opts.skip_agent {
        None
    } else {
        Some(procs::start_agent(&opts.agent_bin, scratch.path()).await?)
    };
    // After the agent, so that HAProxy's certificate comes from the agent's CA and the
    // benchmark presents the same client certificate to both.
    let tls_files = HaproxyTls::issue(scratch.path())?;
    let haproxy_tls =
        procs::start_haproxy(&opts.haproxy_bin, scratch.path(), socket, Some(&tls_files)).await?;

    // Idle: ready and settled, with nothing sent yet but the readiness probes and one TLS handshake.
    let busy_before = wait_quiet().await;
    let mut pids: [Option<u32>; WIDTH] = [None; WIDTH];
    pids[HAPROXY] = Some(haproxy.service.pid()?);
    pids[HAPROXY_TLS] = Some(haproxy_tls.service.pid()?);
    pids[AGENT] = agent.as_ref().map(|a| a.service.pid()).transpose()?;
    let agent_pid = pids[AGENT];
    let agent_tls = agent.as_ref().map(|a| a.tls.clone());
    let mut idle: [Option<Memory>; WIDTH] = [None; WIDTH];
    let mut samplers: [Option<RssSampler>; WIDTH] = [None, None, None, None];
    for (i, pid) in pids.iter().enumerate() {
        if let Some(pid) = *pid {
            idle[i] = Some(memory(pid)?);
            samplers[i] = Some(RssSampler::start(pid));
        }
    }

    let mut dials: [Option<Dial>; WIDTH] = [None, None, None, None];
    dials[DIRECT] = Some(Dial::Unix(ENGINE_SOCKET.into()));
    dials[HAPROXY] = Some(haproxy.dial.clone());
    dials[HAPROXY_TLS] = Some(haproxy_tls.dial.clone());
    dials[AGENT] = agent.as_ref().map(|a| a.dial.clone());
    let (listed, list_bytes) = count_listed(&dials[DIRECT]).await?;
    let cpu = CpuParties {
        engine: procs::find_process("dockerd"),
        proxies: pids,
    };
    let (mut rows, foreign) = measure_all(&plan, &dials, &cpu, &logs_id).await?;

    let mut peak = [None; WIDTH];
    let mut after: [Option<Memory>; WIDTH] = [None; WIDTH];
    tokio::time::sleep(Duration::from_secs(1)).await;
    for (i, pid) in pids.iter().enumerate() {
        if let (Some(pid), Some(sampler)) = (*pid, samplers[i].take()) {
            peak[i] = Some(sampler.peak());
            after[i] = Some(memory(pid)?);
        }
    }
    // Idle upstream connections are closed after 5 s; what is left after that stays.
    let mut settled: [Option<Memory>; WIDTH] = [None; WIDTH];
    tokio::time::sleep(Duration::from_secs(9)).await;
    for (i, pid) in pids.iter().enumerate() {
        if let Some(pid) = *pid {
            settled[i] = Some(memory(pid)?);
        }
    }
    if let Some(agent) = agent {
        agent.service.stop().await?;
    }
    haproxy_tls.service.stop().await?;
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
    memory_row("RSS 10 s after load (MB)", &|i| settled[i].map(|m| m.rss));
    memory_row("VmHWM at end (MB)", &|i| after[i].map(|m| m.hwm));

    let find = |prefix: &str| rows.iter().find(|r| r.label.starts_with(prefix));
    let targets = vec![
        Target {
            label: "GET /containers/json p50, agent/direct",
            measured: find("GET /containers/json p50").and_then(|r| r.ratio(AGENT, DIRECT)),
            goal: Goal::AtMost(1.05),
            unit: "x",
        },
        Target {
            label: "GET /_ping req/s, agent/haproxy-tls",
            measured: find("GET /_ping req/s").and_then(|r| r.ratio(AGENT, HAPROXY_TLS)),
            goal: Goal::AtLeast(1.0),
            unit: "x",
        },
        Target {
            label: "proxy CPU per 1k /_ping, agent/haproxy-tls",
            measured: find("proxy CPU per 1k /_ping").and_then(|r| r.ratio(AGENT, HAPROXY_TLS)),
            goal: Goal::AtMost(1.0),
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
            label: "docker logs MB/s, agent/haproxy-tls",
            measured: find("docker logs").and_then(|r| r.ratio(AGENT, HAPROXY_TLS)),
            goal: Goal::AtLeast(1.0),
            unit: "x",
        },
        Target {
            label: "docker logs MB/s, agent/direct",
            measured: find("docker logs").and_then(|r| r.ratio(AGENT, DIRECT)),
            goal: Goal::AtLeast(0.95),
            unit: "x",
        },
        Target {
            label: "proxy CPU per 100 MB of logs, agent/haproxy-tls",
            measured: find("proxy CPU per 100 MB").and_then(|r| r.ratio(AGENT, HAPROXY_TLS)),
            goal: Goal::AtMost(1.0),
            unit: "x",
        },
        Target {
            label: "agent RSS idle",
            measured: mb(idle[AGENT].map(|m| m.rss)),
            goal: Goal::AtMost(15.0),
            unit: " MB",
        },
        Target {
            label: "agent RSS 10 s after load / idle",
            measured: match (settled[AGENT], idle[AGENT]) {
                (Some(after), Some(idle)) if idle.rss > 0 => {
                    Some(after.rss as f64 / idle.rss as f64)
                }
                _ => None,
            },
            goal: Goal::AtMost(1.5),
            unit: "x",
        },
    ];

    let mut notes = Vec::new();
    // Every process here shares the same cores; a compile next to the run skews all columns unevenly.
    if busy_before > BUSY_BEFORE {
        notes.push(format!(
            "the CPUs were still {:.0} % busy after waiting {QUIET_WAIT:?} for other work to finish: rerun on a quiet machine",
            busy_before * 100.0
        ));
    }
    if foreign > FOREIGN_LIMIT {
        notes.push(format!(
            "other processes used {:.0} % of the CPU time while measuring: rerun on a quiet machine",
            foreign * 100.0
        ));
    }
    if agent_pid.is_none() {
        notes.push(
            "the agent was not run (--skip-agent): its column and the targets are not measured"
                .to_owned(),
        );
    }
    let report = Report {
        context: vec![
            format!(
                "Machine: {} CPUs ({}), Linux {}; {:.0} % CPU busy just before measuring, \
                 {:.0} % of the CPU time while measuring used by other processes",
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                cpu_model(),
                kernel(),
                busy_before * 100.0,
                foreign * 100.0
            ),
            format!(
                "Docker Engine {} (API {}), HAProxy {}, json-file logging; haproxy-tls over {}, agent over {}, \
                 both verifying the same client certificate against the same CA",
                versions.engine,
                versions.api,
                haproxy.version,
                haproxy_tls.tls.as_deref().unwrap_or("n/m"),
                agent_tls.as_deref().unwrap_or("n/m")
            ),
            format!(
                "{listed} containers in GET /containers/json ({list_bytes} bytes); log of {:.0} MB ({LOG_BYTES} bytes) from container {}",
                LOG_BYTES as f64 / MB,
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
async fn measure_all(
    plan: &Plan,
    dials: &[Option<Dial>; WIDTH],
    cpu: &CpuParties,
    logs_id: &str,
) -> Result<(Vec<Row>, f64)> {
    let mut rows = Vec::new();
    let mut ping_cpu = CpuRows::new("per 1k /_ping at 64 conns (ms)");
    let mut logs_cpu = CpuRows::new("per 100 MB of logs (ms)");
    let mut foreign = Foreign::default();

    for (path, count) in [
        ("/_ping", plan.ping_requests),
        ("/containers/json", plan.list_requests),
    ] {
        let mut p50 = Row::new(format!("GET {path} p50 (ms)"), Unit::Millis);
        let mut p99 = Row::new(format!("GET {path} p99 (ms)"), Unit::Millis);
        for (i, dial) in enumerate(dials) {
            progress(&format!("latency GET {path}"), i);
            let before = cpu.read(i);
            let l = measure::latency(dial, path, plan.warmup, count, LATENCY_BUDGET).await?;
            foreign.add(&before, &cpu.read(i));
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
            let before = cpu.read(i);
            let Rate {
                per_second,
                completed,
                errors,
            } = measure::rate(dial, path, CONCURRENCY, plan.window).await?;
            if errors > 0 {
                eprintln!("  {errors} failed requests ({completed} succeeded)");
            }
            row.values[i] = Some(per_second);
            let after = cpu.read(i);
            foreign.add(&before, &after);
            if path == "/_ping" {
                ping_cpu.add(i, &before, &after, completed as f64 / 1e3);
            }
        }
        rows.push(row);
    }

    let mut reads: [Vec<LogRead>; WIDTH] = Default::default();
    for round in 0..plan.log_rounds {
        for (i, dial) in enumerate(dials) {
            progress(
                &format!("docker logs, read {}/{}", round + 1, plan.log_rounds),
                i,
            );
            let before = cpu.read(i);
            let read = logs::read(dial, logs_id, LOGS_BUDGET).await?;
            let after = cpu.read(i);
            foreign.add(&before, &after);
            logs_cpu.add(i, &before, &after, read.payload as f64 / 1e8);
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
    rows.extend(ping_cpu.finish());
    rows.extend(logs_cpu.finish());
    Ok((rows, foreign.share()))
}

/// The processes whose CPU time is charged to a measurement: the engine, the proxy of the
/// column (none for direct), and this client.
struct CpuParties {
    engine: Option<u32>,
    proxies: [Option<u32>; WIDTH],
}

/// CPU milliseconds used so far by each party (engine, proxy, client) and by all processes.
struct CpuSnapshot {
    parties: [Option<u64>; 3],
    machine: Option<u64>,
}

impl CpuParties {
    fn read(&self, column: usize) -> CpuSnapshot {
        CpuSnapshot {
            parties: [
                self.engine
                    .and_then(|pid| procs::cpu_millis(&pid.to_string())),
                self.proxies[column].and_then(|pid| procs::cpu_millis(&pid.to_string())),
                procs::cpu_millis("self"),
            ],
            machine: CpuTimes::read().map(|t| t.process_millis),
        }
    }
}

/// CPU time that processes other than the engine, the proxy and the client used while
/// measuring: a compile or a test run next to the benchmark shows up here.
#[derive(Default)]
struct Foreign {
    machine: u64,
    ours: u64,
}

impl Foreign {
    fn add(&mut self, before: &CpuSnapshot, after: &CpuSnapshot) {
        let (Some(m0), Some(m1)) = (before.machine, after.machine) else {
            return;
        };
        let ours: u64 = before
            .parties
            .iter()
            .zip(&after.parties)
            .filter_map(|(a, b)| Some(b.as_ref()?.saturating_sub(*a.as_ref()?)))
            .sum();
        self.machine += m1.saturating_sub(m0);
        self.ours += ours;
    }

    /// Share of the processes' CPU time that went to others.
    fn share(&self) -> f64 {
        if self.machine == 0 {
            return 0.0;
        }
        self.machine.saturating_sub(self.ours) as f64 / self.machine as f64
    }
}

/// CPU milliseconds per unit of work, summed over a measurement's runs, one row per party.
struct CpuRows {
    rows: [Row; 3],
    /// By party, then by column.
    spent: [[u64; WIDTH]; 3],
    work: [f64; WIDTH],
}

impl CpuRows {
    fn new(per: &str) -> Self {
        Self {
            rows: ["engine", "proxy", "client"]
                .map(|party| Row::new(format!("{party} CPU {per}"), Unit::CpuMillis)),
            spent: [[0; WIDTH]; 3],
            work: [0.0; WIDTH],
        }
    }

    fn add(&mut self, column: usize, before: &CpuSnapshot, after: &CpuSnapshot, work: f64) {
        self.work[column] += work;
        for party in 0..3 {
            if let (Some(a), Some(b)) = (before.parties[party], after.parties[party]) {
                self.spent[party][column] += b.saturating_sub(a);
                let per = self.spent[party][column] as f64 / self.work[column];
                self.rows[party].values[column] = Some(per).filter(|v| v.is_finite());
            }
        }
    }

    fn finish(self) -> [Row; 3] {
        self.rows
    }
}

fn enumerate(dials: &[Option<Dial>; WIDTH]) -> impl Iterator<Item = (usize, &Dial)> {
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

/// Waits, up to [`QUIET_WAIT`], for a second in which the CPUs are mostly idle; returns the last
/// second's busy share. The services under test are idle meanwhile, so this also settles them.
async fn wait_quiet() -> f64 {
    let deadline = tokio::time::Instant::now() + QUIET_WAIT;
    let mut said = false;
    loop {
        let then = CpuTimes::read();
        tokio::time::sleep(Duration::from_secs(1)).await;
        let busy = busy_share(then, CpuTimes::read());
        if busy <= BUSY_BEFORE || tokio::time::Instant::now() >= deadline {
            return busy;
        }
        if !said {
            eprintln!(
                "waiting up to {QUIET_WAIT:?} for the machine to go quiet ({:.0} % busy)",
                busy * 100.0
            );
            said = true;
        }
    }
}

/// Aggregate CPU time from /proc/stat, to tell whether something else is using the machine.
struct CpuTimes {
    busy: u64,
    total: u64,
    /// User and system time of all processes, in milliseconds; interrupts are left out because
    /// they are not charged to any process.
    process_millis: u64,
}

impl CpuTimes {
    fn read() -> Option<Self> {
        let stat = std::fs::read_to_string("/proc/stat").ok()?;
        let fields: Vec<u64> = stat
            .lines()
            .next()?
            .split_whitespace()
            .skip(1)
            .take(8)
            .map(|v| v.parse().ok())
            .collect::<Option<_>>()?;
        let [user, nice, system, idle, iowait, irq, softirq, steal] = fields[..] else {
            return None;
        };
        Some(Self {
            busy: user + nice + system + irq + softirq + steal,
            total: user + nice + system + idle + iowait + irq + softirq + steal,
            // USER_HZ ticks, fixed at 100 per second for user space.
            process_millis: (user + nice + system) * 10,
        })
    }
}

/// Share of CPU time spent busy between two readings, 0 when unknown.
fn busy_share(then: Option<CpuTimes>, now: Option<CpuTimes>) -> f64 {
    match (then, now) {
        (Some(then), Some(now)) if now.total > then.total => {
            now.busy.saturating_sub(then.busy) as f64 / (now.total - then.total) as f64
        }
        _ => 0.0,
    }
}

fn kernel() -> String {
    std::fs::read_to_string("/proc/sys/kernel/osrelease")
        .map(|s| s.trim().to_owned())
        .unwrap_or_else(|_| "unknown".to_owned())
}
