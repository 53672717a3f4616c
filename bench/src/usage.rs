//! The usage benchmark: what sampling a node costs. One agent at a time in front of the
//! local engine with 50 idle containers: sampling once an hour (the baseline), every
//! interval from cgroup files, and every interval from the engine's one-shot stats; the
//! agent's CPU and memory, and the engine's extra CPU, over the same window. Beside them,
//! Debian's `prometheus-node-exporter` scraped at the same interval, as the reference for
//! host collection; and the time to serve a `/metrics` scrape, the agent's and the
//! exporter's.

use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use tokio::process::Command;

use crate::client::Dial;
use crate::engine::Engine;
use crate::procs::{self, Scratch, Service};

const CONTAINERS: usize = 50;
const SCRAPES: usize = 30;

const USAGE: &str = "\
usage: bosun-bench usage [--agent-bin PATH] [--window SECS] [--interval SECS] [--keep] [--markdown]

Measures the cost of sampling usage with 50 idle containers: a bosun-agent sampling once an hour
(baseline), every INTERVAL from cgroup files, every INTERVAL from the engine's one-shot stats,
each alone for WINDOW seconds; the agent's CPU and RSS and dockerd's CPU. Beside them, Debian's
prometheus-node-exporter scraped every INTERVAL. Then the time to serve one /metrics scrape.

  --agent-bin PATH  agent binary (default target/release/bosun-agent)
  --window SECS     how long each configuration is measured (default 120)
  --interval SECS   the sampling and scrape interval (default 10)
  --keep            keep the 50 idle benchmark containers for the next run
  --markdown        also print the results as Markdown";

struct Options {
    agent_bin: PathBuf,
    window: Duration,
    interval: Duration,
    keep: bool,
    markdown: bool,
}

fn parse(args: Vec<String>) -> Result<Option<Options>> {
    let mut opts = Options {
        agent_bin: PathBuf::from("target/release/bosun-agent"),
        window: Duration::from_secs(120),
        interval: Duration::from_secs(10),
        keep: false,
        markdown: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut value = |flag: &str| args.next().with_context(|| format!("{flag} needs a value"));
        match arg.as_str() {
            "--agent-bin" => opts.agent_bin = value(&arg)?.into(),
            "--window" => opts.window = Duration::from_secs(value(&arg)?.parse()?),
            "--interval" => opts.interval = Duration::from_secs(value(&arg)?.parse()?),
            "--keep" => opts.keep = true,
            "--markdown" => opts.markdown = true,
            "-h" | "--help" => return Ok(None),
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    Ok(Some(opts))
}

/// What one configuration cost over the window.
struct Cost {
    label: String,
    /// CPU of the sampler (agent or exporter), milliseconds.
    cpu_ms: u64,
    /// dockerd's CPU over the same window, milliseconds.
    engine_ms: Option<u64>,
    rss: u64,
}

pub async fn main(args: Vec<String>) -> Result<()> {
    let Some(opts) = parse(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    let engine = Engine::new(Dial::Unix(crate::ENGINE_SOCKET.into()));
    engine.ensure_image().await?;
    engine.ensure_sleepers(CONTAINERS).await?;
    let result = run(&opts).await;
    if !opts.keep {
        engine.remove_sleepers().await?;
    }
    result
}

async fn run(opts: &Options) -> Result<()> {
    let secs = opts.interval.as_secs().to_string();
    let configs: [(&str, Vec<&str>); 3] = [
        (
            "agent, sampling hourly (baseline)",
            vec!["--metrics-interval", "3600s"],
        ),
        (
            "agent, cgroup files",
            vec![
                "--metrics-interval",
                &secs,
                "--metrics-containers",
                "cgroup",
            ],
        ),
        (
            "agent, engine stats",
            vec![
                "--metrics-interval",
                &secs,
                "--metrics-containers",
                "engine",
            ],
        ),
    ];
    let mut costs = Vec::new();
    let mut scrape_ms = None;
    for (label, args) in &configs {
        let scratch = Scratch::new()?;
        let extra: Vec<OsString> = args.iter().map(OsString::from).collect();
        let agent = procs::start_agent_with(&opts.agent_bin, scratch.path(), &extra).await?;
        let pid = agent.service.pid()?;
        // Two intervals to settle: the first samples, the container list, inspects.
        tokio::time::sleep(opts.interval * 2).await;
        let cost = measure(label, pid, opts.window, true).await?;
        eprintln!("{label}: {} ms of CPU", cost.cpu_ms);
        costs.push(cost);
        if label.contains("cgroup") {
            scrape_ms = Some(scrape_time(&agent.dial, "/metrics").await?);
        }
        agent.service.stop().await?;
    }
    let (exporter, exporter_scrape) = node_exporter(opts).await?;
    report(opts, &costs, exporter.as_ref(), scrape_ms, exporter_scrape);
    Ok(())
}

/// CPU and memory of `pid` (and dockerd's CPU) over `window`.
async fn measure(label: &str, pid: u32, window: Duration, with_engine: bool) -> Result<Cost> {
    let engine = procs::find_process("dockerd").map(|p| p.to_string());
    let pid_text = pid.to_string();
    let cpu = |p: &str| procs::cpu_millis(p).with_context(|| format!("CPU time of {p}"));
    let before = cpu(&pid_text)?;
    let engine_before = engine.as_deref().and_then(procs::cpu_millis);
    tokio::time::sleep(window).await;
    let after = cpu(&pid_text)?;
    let engine_after = engine.as_deref().and_then(procs::cpu_millis);
    Ok(Cost {
        label: label.to_owned(),
        cpu_ms: after - before,
        engine_ms: match (with_engine, engine_before, engine_after) {
            (true, Some(b), Some(a)) => Some(a - b),
            _ => None,
        },
        rss: procs::memory(pid)?.rss,
    })
}

/// The median time to fetch `path` whole, in milliseconds, over [`SCRAPES`] scrapes.
async fn scrape_time(dial: &Dial, path: &str) -> Result<f64> {
    let mut conn = dial.connect().await?;
    conn.get_ok(path).await?;
    let mut times = Vec::with_capacity(SCRAPES);
    for _ in 0..SCRAPES {
        let started = Instant::now();
        conn.get_ok(path).await?;
        times.push(started.elapsed().as_secs_f64() * 1e3);
    }
    times.sort_by(f64::total_cmp);
    Ok(times[times.len() / 2])
}

/// Debian's node exporter on loopback, scraped every interval for the window; `None` when
/// it is not installed (scripts/bench.sh installs it).
async fn node_exporter(opts: &Options) -> Result<(Option<Cost>, Option<f64>)> {
    let Some(bin) = ["prometheus-node-exporter", "node_exporter"]
        .iter()
        .find_map(|b| which(b))
    else {
        eprintln!("prometheus-node-exporter is not installed (scripts/bench.sh installs it): its column is left out");
        return Ok((None, None));
    };
    let scratch = Scratch::new()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let mut service = Service::spawn(
        "node-exporter",
        Command::new(&bin).arg(format!("--web.listen-address={addr}")),
        scratch.path().join("node-exporter.log"),
    )?;
    let dial = Dial::Tcp(addr);
    service
        .wait_ready(|| async { dial.connect().await?.get_ok("/metrics").await.map(drop) })
        .await?;
    let pid = service.pid()?;
    let scraping = {
        let dial = dial.clone();
        let interval = opts.interval;
        tokio::spawn(async move {
            let mut tick = tokio::time::interval(interval);
            loop {
                tick.tick().await;
                if let Ok(mut c) = dial.connect().await {
                    let _ = c.get_ok("/metrics").await;
                }
            }
        })
    };
    let cost = measure(
        "node-exporter, scraped every interval",
        pid,
        opts.window,
        false,
    )
    .await;
    scraping.abort();
    let scrape = scrape_time(&dial, "/metrics").await.ok();
    service.stop().await?;
    Ok((Some(cost?), scrape))
}

fn report(
    opts: &Options,
    costs: &[Cost],
    exporter: Option<&Cost>,
    agent_scrape: Option<f64>,
    exporter_scrape: Option<f64>,
) {
    let window_ms = opts.window.as_secs_f64() * 1e3;
    let base = &costs[0];
    let mut rows = vec![format!(
        "| configuration ({} s window, {} containers, every {} s) | CPU, % of one core | extra over baseline | RSS (MB) | extra RSS (MB) | engine CPU, % of one core | engine extra |",
        opts.window.as_secs(),
        CONTAINERS,
        opts.interval.as_secs()
    )];
    rows.push("|---|---|---|---|---|---|---|".into());
    let pct = |ms: u64| ms as f64 / window_ms * 100.0;
    for c in costs.iter().chain(exporter) {
        let is_agent = c.label.starts_with("agent");
        rows.push(format!(
            "| {} | {:.3} | {} | {:.1} | {} | {} | {} |",
            c.label,
            pct(c.cpu_ms),
            if is_agent {
                format!("{:.3}", pct(c.cpu_ms) - pct(base.cpu_ms))
            } else {
                "–".into()
            },
            c.rss as f64 / 1e6,
            if is_agent {
                format!("{:.1}", (c.rss as f64 - base.rss as f64) / 1e6)
            } else {
                "–".into()
            },
            c.engine_ms.map_or("–".into(), |e| format!("{:.3}", pct(e))),
            match (c.engine_ms, base.engine_ms) {
                (Some(e), Some(b)) if is_agent => format!("{:.3}", pct(e) - pct(b)),
                _ => "–".into(),
            },
        ));
    }
    let scrape = |v: Option<f64>| v.map_or("–".into(), |ms| format!("{ms:.2} ms"));
    let text = format!(
        "{}\n\nOne /metrics scrape, median of {SCRAPES}: agent (cgroup source, {CONTAINERS} containers, over TLS) {}; node-exporter (plain HTTP) {}\nTargets: sampling under 0.5 % of one core and under 5 MB of extra RSS; a scrape under 20 ms.",
        rows.join("\n"),
        scrape(agent_scrape),
        scrape(exporter_scrape)
    );
    println!("{text}");
    if opts.markdown {
        println!(
            "\n```\nscripts/bench.sh usage --window {} --interval {}\n```",
            opts.window.as_secs(),
            opts.interval.as_secs()
        );
    }
}

fn which(program: &str) -> Option<PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn free_port() -> Result<u16> {
    let listener = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?;
    Ok(listener.local_addr()?.port())
}
