//! The checks benchmark: what running checks costs a node. The agent's probe code
//! (`bosun_agent::checks::probe::run`) runs in a process of its own, scheduled as the agent
//! schedules checks (one task per check, its interval, at most 10 at once), against the
//! real engine: 100 http checks every 10 s against a server in this process, then 10
//! script checks every 30 s in sandbox containers; its CPU (% of one core) and RSS over the
//! window, and the engine's CPU beside. Debian's `prometheus-blackbox-exporter` probing the
//! same 100 URLs every 10 s is the peer for the http checks. Then the start-to-result time
//! of one script check, beside `docker run --rm` of the same image timed the same way.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bosun_agent::checks::probe::{self, ProbeContext};
use bosun_agent::upstream::{EngineAddr, UpstreamPool};
use bosun_serve::checks::{Check, Probe, Status};
use bytes::Bytes;
use http_body_util::Full;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::process::Command;

use crate::client::Dial;
use crate::procs::{self, Scratch, Service};

const USAGE: &str = "\
usage: bosun-bench checks [--window SECS] [--http N] [--scripts N] [--latency-runs N] [--markdown]

Runs the agent's check probes in a process of their own against the real engine, scheduled as
the agent does (a task per check, at most 10 at once): N http checks (default 100) every 10 s
against a server in this process, then N script checks (default 10) every 30 s in sandbox
containers of bosun-test:latest; each for WINDOW seconds (default 60) after a warm-up, reporting
the process's CPU (% of one core), its RSS and the engine's CPU. Debian's
prometheus-blackbox-exporter probing the same URLs at the same rate is the http checks' peer.
Then the start-to-result time of a script check (median and p90 of --latency-runs, default 10)
beside `docker run --rm bosun-test:latest true` timed the same way.";

const IMAGE: &str = "bosun-test:latest";
const CONCURRENCY: usize = 10;
const HTTP_INTERVAL: u64 = 10;
const SCRIPT_INTERVAL: u64 = 30;
/// Before measuring: every check has run at least once.
const WARMUP: Duration = Duration::from_secs(12);

struct Options {
    window: Duration,
    http: usize,
    scripts: usize,
    latency_runs: usize,
    markdown: bool,
}

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut args = args.into_iter();
    let mut opts = Options {
        window: Duration::from_secs(60),
        http: 100,
        scripts: 10,
        latency_runs: 10,
        markdown: false,
    };
    while let Some(arg) = args.next() {
        let mut number = |flag: &str| -> Result<u64> {
            args.next()
                .with_context(|| format!("{flag} needs a number"))?
                .parse()
                .with_context(|| format!("{flag} needs a number"))
        };
        match arg.as_str() {
            "--runner" => {
                let spec = args.next().context("--runner needs a file")?;
                return runner(Path::new(&spec)).await;
            }
            "--window" => opts.window = Duration::from_secs(number(&arg)?),
            "--http" => opts.http = number(&arg)? as usize,
            "--scripts" => opts.scripts = number(&arg)? as usize,
            "--latency-runs" => opts.latency_runs = number(&arg)?.max(1) as usize,
            "--markdown" => opts.markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    bosun_agent::tls::install_crypto_provider();
    let image = Command::new("docker")
        .args(["image", "inspect", IMAGE])
        .env_remove("DOCKER_HOST")
        .output()
        .await
        .context("running docker")?;
    ensure!(
        image.status.success(),
        "{IMAGE} is not on the engine: run scripts/build-test-image.sh"
    );
    run(&opts).await
}

/// What the runner process is asked to do.
#[derive(serde::Serialize, serde::Deserialize)]
struct RunnerSpec {
    agent_id: String,
    checks: Vec<Check>,
    /// How long to run before writing the counts to `out` and exiting.
    seconds: u64,
    out: PathBuf,
}

/// Runs by how they ended, and the output of one that was not ok.
type Runs = (BTreeMap<String, u64>, Option<String>);

/// What one measured configuration cost over the window.
struct Cost {
    label: String,
    cpu_ms: u64,
    engine_ms: Option<u64>,
    rss_mean: f64,
    rss_peak: u64,
    /// Runs by status (or probe outcome), over the whole run.
    runs: BTreeMap<String, u64>,
    /// One output of a run that was not ok, to show what went wrong.
    failure: Option<String>,
}

async fn run(opts: &Options) -> Result<()> {
    let target = Target::start().await?;
    let window = opts.window;
    let http_checks: Vec<Check> = (0..opts.http)
        .map(|i| {
            make_check(
                &format!("web-{i}"),
                HTTP_INTERVAL,
                5,
                json!({"kind": "http", "url": format!("http://127.0.0.1:{}/c{i}", target.addr.port()),
                       "body_pattern": "^ok$"}),
            )
        })
        .collect::<Result<_>>()?;
    let script_checks: Vec<Check> = (0..opts.scripts)
        .map(|i| {
            make_check(
                &format!("script-{i}"),
                SCRIPT_INTERVAL,
                20,
                json!({"kind": "script", "image": IMAGE, "script": "echo ok"}),
            )
        })
        .collect::<Result<_>>()?;

    let mut costs = Vec::new();
    eprintln!(
        "{} http checks every {HTTP_INTERVAL} s: warm-up {WARMUP:?}, then {window:?}",
        opts.http
    );
    costs.push(
        runner_cost(
            &format!(
                "probes process, {} http checks every {HTTP_INTERVAL} s",
                opts.http
            ),
            http_checks,
            window,
        )
        .await?,
    );
    eprintln!("blackbox exporter on the same {} URLs", opts.http);
    let blackbox = blackbox_cost(opts, &target, window).await?;
    eprintln!(
        "{} script checks every {SCRIPT_INTERVAL} s: warm-up {WARMUP:?}, then {window:?}",
        opts.scripts
    );
    costs.push(
        runner_cost(
            &format!(
                "probes process, {} script checks every {SCRIPT_INTERVAL} s",
                opts.scripts
            ),
            script_checks,
            window,
        )
        .await?,
    );
    eprintln!("script check latency, {} runs each", opts.latency_runs);
    let (ours, docker_run) = latency(opts.latency_runs).await?;
    report(
        opts,
        &costs,
        blackbox.as_ref(),
        &ours,
        &docker_run,
        target.served(),
    );
    Ok(())
}

fn make_check(id: &str, interval: u64, timeout: u64, probe: Value) -> Result<Check> {
    let check = Check {
        id: id.to_owned(),
        name: id.to_owned(),
        interval_secs: interval,
        timeout_secs: timeout,
        retries: 0,
        probe: serde_json::from_value::<Probe>(probe)?,
    };
    check.validate().map_err(anyhow::Error::msg)?;
    Ok(check)
}

fn agent_id() -> String {
    format!("bench{:x}-{}", std::process::id(), rand_suffix())
}

fn rand_suffix() -> u32 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0)
}

/// Starts a runner process with `checks`, measures it over `window` after the warm-up, and
/// reads its counts when it is done.
async fn runner_cost(label: &str, checks: Vec<Check>, window: Duration) -> Result<Cost> {
    let scratch = Scratch::new()?;
    let spec = RunnerSpec {
        agent_id: agent_id(),
        checks,
        seconds: (WARMUP + window).as_secs() + 2,
        out: scratch.path().join("runs.json"),
    };
    let spec_path = scratch.path().join("spec.json");
    std::fs::write(&spec_path, serde_json::to_vec(&spec)?)?;
    let exe = std::env::current_exe().context("the benchmark's own path")?;
    let mut service = Service::spawn(
        "check runner",
        Command::new(exe)
            .arg("checks")
            .arg("--runner")
            .arg(&spec_path),
        scratch.path().join("runner.log"),
    )?;
    let pid = service.pid()?;
    tokio::time::sleep(WARMUP).await;
    let cost = measure(label, pid, window).await;
    let out = spec.out.clone();
    service
        .wait_ready(|| {
            let out = out.clone();
            async move {
                ensure!(out.is_file(), "not done yet");
                Ok(())
            }
        })
        .await?;
    let (runs, failure): Runs =
        serde_json::from_slice(&std::fs::read(&out)?).context("the runner's counts")?;
    service.stop().await?;
    let cx = context(spec.agent_id);
    probe::remove_leftovers(&cx).await;
    let mut cost = cost?;
    cost.runs = runs;
    cost.failure = failure;
    Ok(cost)
}

/// CPU and RSS (sampled every second) of `pid`, and the engine's CPU, over `window`.
async fn measure(label: &str, pid: u32, window: Duration) -> Result<Cost> {
    let engine: Vec<String> = ["dockerd", "containerd"]
        .iter()
        .filter_map(|name| procs::find_process(name).map(|p| p.to_string()))
        .collect();
    let engine_cpu = || -> Option<u64> {
        engine
            .iter()
            .map(|p| procs::cpu_millis(p))
            .sum::<Option<u64>>()
    };
    let pid_text = pid.to_string();
    let cpu = |p: &str| procs::cpu_millis(p).with_context(|| format!("CPU time of {p}"));
    let before = cpu(&pid_text)?;
    let engine_before = engine_cpu();
    let started = Instant::now();
    let mut samples = Vec::new();
    while started.elapsed() < window {
        tokio::time::sleep(Duration::from_secs(1)).await;
        samples.push(procs::memory(pid)?.rss);
    }
    let after = cpu(&pid_text)?;
    let engine_after = engine_cpu();
    Ok(Cost {
        label: label.to_owned(),
        cpu_ms: after - before,
        engine_ms: engine_before.zip(engine_after).map(|(b, a)| a - b),
        rss_mean: samples.iter().sum::<u64>() as f64 / samples.len().max(1) as f64,
        rss_peak: samples.iter().copied().max().unwrap_or(0),
        runs: BTreeMap::new(),
        failure: None,
    })
}

fn context(agent_id: String) -> ProbeContext {
    ProbeContext {
        engine: UpstreamPool::new(EngineAddr::Unix(crate::ENGINE_SOCKET.into())),
        agent_id,
        node: "bench".into(),
    }
}

/// The runner process: runs the checks as the agent schedules them, for the time asked,
/// then writes how the runs ended.
async fn runner(spec_path: &Path) -> Result<()> {
    bosun_agent::tls::install_crypto_provider();
    let spec: RunnerSpec = serde_json::from_slice(&std::fs::read(spec_path)?)?;
    let cx = Arc::new(context(spec.agent_id.clone()));
    let permits = Arc::new(tokio::sync::Semaphore::new(CONCURRENCY));
    let runs: Arc<Mutex<Runs>> = Arc::default();
    let mut by_interval: BTreeMap<u64, usize> = BTreeMap::new();
    for check in &spec.checks {
        *by_interval.entry(check.interval_secs).or_default() += 1;
    }
    let mut placed: BTreeMap<u64, usize> = BTreeMap::new();
    let mut tasks = Vec::new();
    for check in spec.checks {
        let interval = Duration::from_secs(check.interval_secs);
        let slot = placed.entry(check.interval_secs).or_default();
        // Spread over the interval, as a scheduler starting them at once would not.
        let offset = interval.mul_f64(*slot as f64 / by_interval[&check.interval_secs] as f64);
        *slot += 1;
        let (cx, permits, runs) = (cx.clone(), permits.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(tokio::time::Instant::now() + offset, interval);
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            let mut seq = 0;
            loop {
                tick.tick().await;
                seq += 1;
                let Ok(_permit) = permits.acquire().await else {
                    return;
                };
                let outcome = probe::run(&check, seq, &cx).await;
                let mut runs = runs.lock().unwrap_or_else(|p| p.into_inner());
                *runs
                    .0
                    .entry(outcome.status.as_str().to_owned())
                    .or_default() += 1;
                if outcome.status != Status::Ok && runs.1.is_none() {
                    runs.1 = Some(outcome.output);
                }
            }
        }));
    }
    tokio::time::sleep(Duration::from_secs(spec.seconds)).await;
    for task in &tasks {
        task.abort();
    }
    let counts = runs.lock().unwrap_or_else(|p| p.into_inner()).clone();
    let tmp = spec.out.with_extension("tmp");
    std::fs::write(&tmp, serde_json::to_vec(&counts)?)?;
    std::fs::rename(&tmp, &spec.out)?;
    // Stay until stopped, so the parent reads the counts of a live process.
    std::future::pending::<()>().await;
    Ok(())
}

/// The http checks' target: `/c<i>` answers 200 `ok`; counts what it served.
struct Target {
    addr: SocketAddr,
    served: Arc<std::sync::atomic::AtomicU64>,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Target {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Target {
    async fn start() -> Result<Self> {
        let listener = tokio::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).await?;
        let addr = listener.local_addr()?;
        let served = Arc::new(std::sync::atomic::AtomicU64::new(0));
        let count = served.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let count = count.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                        async {
                            Ok::<_, Infallible>(hyper::Response::new(Full::new(
                                Bytes::from_static(b"ok"),
                            )))
                        }
                    });
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tcp), service)
                        .await;
                });
            }
        });
        Ok(Self { addr, served, task })
    }

    fn served(&self) -> u64 {
        self.served.load(std::sync::atomic::Ordering::Relaxed)
    }
}

/// Debian's blackbox exporter probing the same URLs at the same rate (each `/probe`
/// asked by this process), with the same body pattern; `None` when it is not installed.
async fn blackbox_cost(opts: &Options, target: &Target, window: Duration) -> Result<Option<Cost>> {
    let Some(bin) = ["prometheus-blackbox-exporter", "blackbox_exporter"]
        .iter()
        .find_map(|b| which(b))
    else {
        eprintln!("prometheus-blackbox-exporter is not installed (scripts/bench.sh installs it): its row is left out");
        return Ok(None);
    };
    let scratch = Scratch::new()?;
    let config = scratch.path().join("blackbox.yml");
    std::fs::write(
        &config,
        "modules:\n  http_ok:\n    prober: http\n    timeout: 5s\n    http:\n      fail_if_body_not_matches_regexp: [\"^ok$\"]\n",
    )?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let mut service = Service::spawn(
        "blackbox exporter",
        Command::new(&bin)
            .arg(format!("--config.file={}", config.display()))
            .arg(format!("--web.listen-address={addr}")),
        scratch.path().join("blackbox.log"),
    )?;
    let dial = Dial::Tcp(addr);
    service
        .wait_ready(|| async { dial.connect().await?.get_ok("/metrics").await.map(drop) })
        .await?;
    let pid = service.pid()?;
    let runs: Arc<Mutex<Runs>> = Arc::default();
    let mut tasks = Vec::new();
    for i in 0..opts.http {
        let offset = Duration::from_secs(HTTP_INTERVAL).mul_f64(i as f64 / opts.http as f64);
        let path = format!(
            "/probe?module=http_ok&target=http%3A%2F%2F127.0.0.1%3A{}%2Fc{i}",
            target.addr.port()
        );
        let (dial, runs) = (dial.clone(), runs.clone());
        tasks.push(tokio::spawn(async move {
            let mut tick = tokio::time::interval_at(
                tokio::time::Instant::now() + offset,
                Duration::from_secs(HTTP_INTERVAL),
            );
            tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
            loop {
                tick.tick().await;
                let answer = match dial.connect().await {
                    Ok(mut conn) => conn.get_ok(&path).await,
                    Err(e) => Err(e),
                };
                let ok = answer
                    .as_ref()
                    .map(|body| String::from_utf8_lossy(body).contains("\nprobe_success 1"))
                    .unwrap_or(false);
                let mut runs = runs.lock().unwrap_or_else(|p| p.into_inner());
                *runs
                    .0
                    .entry(if ok { "ok" } else { "failed" }.to_owned())
                    .or_default() += 1;
                if !ok && runs.1.is_none() {
                    runs.1 = Some(match answer {
                        Ok(body) => String::from_utf8_lossy(&body).chars().take(300).collect(),
                        Err(e) => format!("{e:#}"),
                    });
                }
            }
        }));
    }
    tokio::time::sleep(WARMUP).await;
    let cost = measure(
        &format!(
            "blackbox exporter, {} http probes every {HTTP_INTERVAL} s",
            opts.http
        ),
        pid,
        window,
    )
    .await;
    for task in &tasks {
        task.abort();
    }
    service.stop().await?;
    let mut cost = cost?;
    let (counts, failure) = runs.lock().unwrap_or_else(|p| p.into_inner()).clone();
    cost.runs = counts;
    cost.failure = failure;
    Ok(Some(cost))
}

/// Start-to-result times of a script check through the probe, and of `docker run --rm`
/// of the same image, in milliseconds, each sorted.
async fn latency(runs: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let cx = context(agent_id());
    let check = make_check(
        "latency",
        SCRIPT_INTERVAL,
        30,
        json!({"kind": "script", "image": IMAGE, "script": "true"}),
    )?;
    // One run each first, so that neither pays for a cold cache.
    let first = probe::run(&check, 0, &cx).await;
    ensure!(first.status == Status::Ok, "the script check: {first:?}");
    docker_run().await?;
    let mut ours = Vec::with_capacity(runs);
    let mut theirs = Vec::with_capacity(runs);
    for seq in 1..=runs as u64 {
        let started = Instant::now();
        let outcome = probe::run(&check, seq, &cx).await;
        ours.push(started.elapsed().as_secs_f64() * 1e3);
        ensure!(
            outcome.status == Status::Ok,
            "the script check: {outcome:?}"
        );
        let started = Instant::now();
        docker_run().await?;
        theirs.push(started.elapsed().as_secs_f64() * 1e3);
    }
    ours.sort_by(f64::total_cmp);
    theirs.sort_by(f64::total_cmp);
    Ok((ours, theirs))
}

async fn docker_run() -> Result<()> {
    let out = Command::new("docker")
        .args(["run", "--rm", IMAGE, "true"])
        .env_remove("DOCKER_HOST")
        .output()
        .await
        .context("running docker run")?;
    ensure!(
        out.status.success(),
        "docker run --rm {IMAGE} true: {}",
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(())
}

fn percentile(sorted: &[f64], p: f64) -> f64 {
    if sorted.is_empty() {
        return f64::NAN;
    }
    let rank = ((p * sorted.len() as f64).ceil() as usize).clamp(1, sorted.len());
    sorted[rank - 1]
}

fn report(
    opts: &Options,
    costs: &[Cost],
    blackbox: Option<&Cost>,
    ours: &[f64],
    docker_run: &[f64],
    served: u64,
) {
    let window_ms = opts.window.as_secs_f64() * 1e3;
    let pct = |ms: u64| ms as f64 / window_ms * 100.0;
    let mut lines = vec![
        format!(
            "| configuration ({} s window after {} s warm-up) | CPU, % of one core | RSS mean (MB) | RSS peak (MB) | dockerd + containerd CPU, % of one core | runs |",
            opts.window.as_secs(),
            WARMUP.as_secs()
        ),
        "|---|---:|---:|---:|---:|---|".to_owned(),
    ];
    // The http checks, their peer, then the rest.
    let ordered: Vec<&Cost> = costs
        .iter()
        .take(1)
        .chain(blackbox)
        .chain(costs.iter().skip(1))
        .collect();
    for c in &ordered {
        let runs = c
            .runs
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        lines.push(format!(
            "| {} | {:.2} | {:.1} | {:.1} | {} | {runs} |",
            c.label,
            pct(c.cpu_ms),
            c.rss_mean / 1e6,
            c.rss_peak as f64 / 1e6,
            c.engine_ms.map_or("–".into(), |e| format!("{:.2}", pct(e))),
        ));
    }
    let mut text = lines.join("\n");
    if let (Some(b), Some(ours)) = (blackbox, costs.first()) {
        text.push_str(&format!(
            "\n\nhttp checks, probes process / blackbox exporter: CPU {:.2}x, RSS {:.2}x",
            ours.cpu_ms as f64 / b.cpu_ms.max(1) as f64,
            ours.rss_mean / b.rss_mean.max(1.0)
        ));
    }
    let (p50, p90) = (percentile(ours, 0.5), percentile(ours, 0.9));
    let (d50, d90) = (percentile(docker_run, 0.5), percentile(docker_run, 0.9));
    text.push_str(&format!(
        "\n\n| script start to result, {} runs | median (ms) | p90 (ms) |\n|---|---:|---:|\n\
         | script check (create, start, wait, inspect, logs, remove) | {p50:.0} | {p90:.0} |\n\
         | docker run --rm {IMAGE} true (the CLI's create, attach, start, wait, remove) | {d50:.0} | {d90:.0} |\n\
         | ratio | {:.2}x | {:.2}x |",
        ours.len(),
        p50 / d50,
        p90 / d90
    ));
    text.push_str(&format!("\n\nThe http target served {served} requests."));
    for c in &ordered {
        if let Some(f) = &c.failure {
            text.push_str(&format!(
                "\nnote: {}: a run that was not ok said: {f}",
                c.label
            ));
        }
    }
    println!("{text}");
    if opts.markdown {
        println!(
            "\n```\nscripts/bench.sh checks --window {} --http {} --scripts {} --latency-runs {}\n```",
            opts.window.as_secs(),
            opts.http,
            opts.scripts,
            opts.latency_runs
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
