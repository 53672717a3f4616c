//! The checks benchmark: what running checks costs a node. A real `bosun-agent` (the release
//! binary) in front of the machine's engine, trusting an Ed25519 key the benchmark made,
//! is measured idle (no policy, the baseline), then with a signed policy of 100 http
//! checks every 10 s against a server in this process, then with a newer policy of 10
//! script checks every 30 s in sandbox containers: over each window, after a warm-up, the
//! agent's CPU (% of one core) and RSS, and the engine's CPU beside; the results the agent
//! recorded in the window are read back from `GET /agent/v1/checks`, and a count short of
//! the schedule fails the run. Debian's `prometheus-blackbox-exporter` probing the same 100
//! URLs every 10 s is the peer for the http checks. Then the start-to-result time of one
//! script check through the agent's probe code, beside `docker run --rm` of the same image
//! timed the same way.

use std::collections::BTreeMap;
use std::convert::Infallible;
use std::ffi::OsString;
use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use anyhow::{bail, ensure, Context, Result};
use bosun_agent::checks::probe::{self, ProbeContext};
use bosun_agent::upstream::{EngineAddr, UpstreamPool};
use bosun_serve::checks::{
    Check, CheckResult, NodeChecks, Policy, Probe, PushAnswer, PushOutcomeKind, Status,
    DEFAULT_CONCURRENCY, POLICY_KIND,
};
use bosun_ui::agent::ConsoleKey;
use bytes::Bytes;
use http_body_util::Full;
use hyper::{Method, StatusCode};
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::client::{snippet, Dial};
use crate::procs::{self, Scratch, Service};

const USAGE: &str = "\
usage: bosun-bench checks [--agent-bin PATH] [--window SECS] [--http N] [--scripts N] [--latency-runs N] [--markdown]

Starts the release bosun-agent in front of the engine, trusting a policy key made for the run,
and measures it for WINDOW seconds (default 60) after a warm-up: idle (no policy), then with a
signed policy of N http checks (default 100) every 10 s against a server in this process, then
with a newer policy of N script checks (default 10) every 30 s in sandbox containers of
bosun-test:latest; the agent's CPU (% of one core), its RSS and the engine's CPU. The results the
agent recorded in each window are read from GET /agent/v1/checks; fewer than the schedule makes
fail the run. Debian's prometheus-blackbox-exporter probing the same URLs at the same rate is
the http checks' peer. Then the start-to-result time of a script check (median and p90 of
--latency-runs, default 10) beside `docker run --rm bosun-test:latest true` timed the same way.

  --agent-bin PATH  agent binary (default target/release/bosun-agent)";

const IMAGE: &str = "bosun-test:latest";
const HTTP_INTERVAL: u64 = 10;
const SCRIPT_INTERVAL: u64 = 30;
/// Before measuring: every check has run at least once (the agent starts each within half
/// a second of the policy).
const WARMUP: Duration = Duration::from_secs(12);
/// The agent's results ring: larger than the whole run makes, so nothing is lost before
/// the benchmark reads it.
const RESULTS_RING: &str = "100000";
/// Results read per `GET /agent/v1/checks` (the route's maximum).
const PAGE: usize = 5000;

struct Options {
    agent_bin: PathBuf,
    window: Duration,
    http: usize,
    scripts: usize,
    latency_runs: usize,
    markdown: bool,
}

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut args = args.into_iter();
    let mut opts = Options {
        agent_bin: PathBuf::from("target/release/bosun-agent"),
        window: Duration::from_secs(60),
        http: 100,
        scripts: 10,
        latency_runs: 10,
        markdown: false,
    };
    while let Some(arg) = args.next() {
        let mut value = || args.next().with_context(|| format!("{arg} needs a value"));
        let number = |text: String| -> Result<u64> {
            let n: u64 = text
                .parse()
                .with_context(|| format!("{arg} needs a number, not {text:?}"))?;
            Ok(n.max(1))
        };
        match arg.as_str() {
            "--agent-bin" => opts.agent_bin = value()?.into(),
            "--window" => opts.window = Duration::from_secs(number(value()?)?),
            "--http" => opts.http = number(value()?)? as usize,
            "--scripts" => opts.scripts = number(value()?)? as usize,
            "--latency-runs" => opts.latency_runs = number(value()?)? as usize,
            "--markdown" => opts.markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(
        opts.agent_bin.is_file(),
        "no agent binary at {} (cargo build --release -p bosun-agent, or --agent-bin PATH)",
        opts.agent_bin.display()
    );
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

/// Runs by how they ended, and the output of one that was not ok.
type Runs = (BTreeMap<String, u64>, Option<String>);

/// What one measured configuration cost over the window.
struct Cost {
    label: String,
    cpu_ms: u64,
    engine_ms: Option<u64>,
    rss_mean: f64,
    rss_peak: u64,
    /// Runs that ended in the window, by status.
    runs: BTreeMap<String, u64>,
    /// One output of a run that was not ok, to show what went wrong.
    failure: Option<String>,
    /// The agent-reported `duration_ms` of the window's results, sorted.
    durations: Vec<f64>,
}

async fn run(opts: &Options) -> Result<()> {
    let target = Target::start().await?;
    let scratch = Scratch::new()?;
    let key = ConsoleKey::from_pkcs8(&ConsoleKey::generate().map_err(anyhow::Error::msg)?)
        .map_err(anyhow::Error::msg)?;
    let key_file = scratch.path().join("policy-key.pem");
    std::fs::write(&key_file, key.public_pem())?;
    let extra: Vec<OsString> = [
        "--policy-public-key".into(),
        key_file.into_os_string(),
        "--check-results".into(),
        RESULTS_RING.into(),
        // Only the checks: no registry requests, usage sampled once an hour.
        "--update-check-interval".into(),
        "0".into(),
        "--metrics-interval".into(),
        "1h".into(),
    ]
    .into_iter()
    .collect();
    let agent = procs::start_agent_with(&opts.agent_bin, scratch.path(), &extra).await?;
    let pid = agent.service.pid()?;
    let node = read_results(&agent.dial, 0).await?.node;
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
    eprintln!("agent {pid} on node {node:?}, no policy: warm-up {WARMUP:?}, then {window:?}");
    tokio::time::sleep(WARMUP).await;
    costs.push(measure("agent, no policy (baseline)", pid, window).await?);

    eprintln!("blackbox exporter on the same {} URLs", opts.http);
    let blackbox = blackbox_cost(opts, &target, scratch.path(), window).await?;

    let mut cursor = 0;
    for (version, checks, interval) in [
        (1, http_checks, HTTP_INTERVAL),
        (2, script_checks, SCRIPT_INTERVAL),
    ] {
        let (count, kind) = (checks.len(), checks[0].probe.kind());
        let label = format!("agent, {count} {kind} checks every {interval} s");
        eprintln!("{label}: policy version {version}, warm-up {WARMUP:?}, then {window:?}");
        let ids: Vec<String> = checks.iter().map(|c| c.id.clone()).collect();
        push(&agent.dial, &key, &node, version, checks).await?;
        tokio::time::sleep(WARMUP).await;
        let from_ms = now_ms();
        let mut cost = measure(&label, pid, window).await?;
        let to_ms = now_ms();
        let (results, next) = all_results(&agent.dial, cursor).await?;
        cursor = next;
        let in_window: Vec<&CheckResult> = results
            .iter()
            .filter(|r| ids.contains(&r.check) && (from_ms..=to_ms).contains(&r.at_ms))
            .collect();
        expect_schedule(&label, &in_window, &ids, interval, window)?;
        for r in &in_window {
            *cost.runs.entry(r.status.as_str().to_owned()).or_default() += 1;
            if r.status != Status::Ok && cost.failure.is_none() {
                cost.failure = Some(r.output.clone());
            }
        }
        cost.durations = in_window.iter().map(|r| r.duration_ms as f64).collect();
        cost.durations.sort_by(f64::total_cmp);
        costs.push(cost);
    }
    // On SIGTERM the agent removes the sandbox containers of runs still going.
    agent.service.stop().await?;

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

fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// Signs `checks` as `node`'s policy at `version` and pushes it to the agent, which must
/// apply it.
async fn push(
    dial: &Dial,
    key: &ConsoleKey,
    node: &str,
    version: u64,
    checks: Vec<Check>,
) -> Result<()> {
    let policy = Policy {
        kind: POLICY_KIND.to_owned(),
        node: node.to_owned(),
        version,
        issued_at: now_ms() / 1000,
        concurrency: DEFAULT_CONCURRENCY,
        checks,
    };
    let signed = key.sign_policy(&policy).map_err(anyhow::Error::msg)?;
    let body = serde_json::to_vec(&json!({"policies": {node: signed}}))?;
    let (status, answer) = dial
        .connect()
        .await?
        .call(Method::PUT, "/agent/v1/checks/policies", Some(body.into()))
        .await?;
    ensure!(
        status == StatusCode::OK,
        "PUT /agent/v1/checks/policies: {status}: {}",
        snippet(&answer)
    );
    let answer: PushAnswer =
        serde_json::from_slice(&answer).context("the agent's answer to the push")?;
    match answer.nodes.as_slice() {
        [one] if one.node == node && one.outcome == PushOutcomeKind::Applied => Ok(()),
        other => bail!("the agent did not apply policy version {version}: {other:?}"),
    }
}

/// `GET /agent/v1/checks` after `cursor`: one page.
async fn read_results(dial: &Dial, cursor: u64) -> Result<NodeChecks> {
    let path = format!("/agent/v1/checks?cursor={cursor}&limit={PAGE}");
    let body = dial.connect().await?.get_ok(&path).await?;
    serde_json::from_slice(&body).with_context(|| format!("the answer to GET {path}"))
}

/// Every result after `cursor`, page by page, and the cursor after them; a result the agent
/// lost fails the run.
async fn all_results(dial: &Dial, mut cursor: u64) -> Result<(Vec<CheckResult>, u64)> {
    let mut all = Vec::new();
    loop {
        let page = read_results(dial, cursor).await?;
        ensure!(
            page.lost == 0,
            "the agent lost {} results before they were read",
            page.lost
        );
        let Some(last) = page.results.last() else {
            return Ok((all, cursor));
        };
        cursor = last.seq;
        all.extend(page.results);
    }
}

/// Fails unless the window holds the results the schedule makes: at least one for each
/// check, and (within a tenth) `window / interval` for each check in all.
fn expect_schedule(
    label: &str,
    results: &[&CheckResult],
    ids: &[String],
    interval: u64,
    window: Duration,
) -> Result<()> {
    let mut per_check: BTreeMap<&str, usize> = ids.iter().map(|id| (id.as_str(), 0)).collect();
    for r in results {
        *per_check.entry(&r.check).or_default() += 1;
    }
    let silent: Vec<&str> = per_check
        .iter()
        .filter(|(_, n)| **n == 0)
        .map(|(id, _)| *id)
        .collect();
    let expected = ids.len() as f64 * window.as_secs_f64() / interval as f64;
    // A run's end moves with its duration: one more per check may fall in the window.
    let most = ids.len() as f64 * ((window.as_secs_f64() / interval as f64).ceil() + 1.0);
    let got = results.len() as f64;
    if (expected >= ids.len() as f64 && !silent.is_empty()) || got < expected * 0.9 || got > most {
        bail!(
            "{label}: {} results in the {} s window, {expected:.0} expected (at most {most:.0}); \
             checks without one: {silent:?}",
            results.len(),
            window.as_secs()
        );
    }
    Ok(())
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
        durations: Vec::new(),
    })
}

/// The http checks' target: `/c<i>` answers 200 `ok`; counts what it served.
struct Target {
    addr: SocketAddr,
    served: Arc<AtomicU64>,
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
        let served = Arc::new(AtomicU64::new(0));
        let count = served.clone();
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let count = count.clone();
                tokio::spawn(async move {
                    let service = hyper::service::service_fn(move |_req| {
                        count.fetch_add(1, Ordering::Relaxed);
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
        self.served.load(Ordering::Relaxed)
    }
}

/// Debian's blackbox exporter probing the same URLs at the same rate (each `/probe`
/// asked by this process), with the same body pattern; its runs are those that ended in
/// the window. `None` when it is not installed.
async fn blackbox_cost(
    opts: &Options,
    target: &Target,
    scratch: &Path,
    window: Duration,
) -> Result<Option<Cost>> {
    let Some(bin) = ["prometheus-blackbox-exporter", "blackbox_exporter"]
        .iter()
        .find_map(|b| which(b))
    else {
        eprintln!("prometheus-blackbox-exporter is not installed (scripts/bench.sh installs it): its row is left out");
        return Ok(None);
    };
    let config = scratch.join("blackbox.yml");
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
        scratch.join("blackbox.log"),
    )?;
    let dial = Dial::Tcp(addr);
    service
        .wait_ready(|| async { dial.connect().await?.get_ok("/metrics").await.map(drop) })
        .await?;
    let pid = service.pid()?;
    let runs: Arc<Mutex<Runs>> = Arc::default();
    let counting = Arc::new(AtomicBool::new(false));
    let mut tasks = Vec::new();
    for i in 0..opts.http {
        let offset = Duration::from_secs(HTTP_INTERVAL).mul_f64(i as f64 / opts.http as f64);
        let path = format!(
            "/probe?module=http_ok&target=http%3A%2F%2F127.0.0.1%3A{}%2Fc{i}",
            target.addr.port()
        );
        let (dial, runs, counting) = (dial.clone(), runs.clone(), counting.clone());
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
                if !counting.load(Ordering::Relaxed) {
                    continue;
                }
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
    counting.store(true, Ordering::Relaxed);
    let cost = measure(
        &format!(
            "blackbox exporter, {} http probes every {HTTP_INTERVAL} s",
            opts.http
        ),
        pid,
        window,
    )
    .await;
    counting.store(false, Ordering::Relaxed);
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

/// Start-to-result times of a script check through the agent's probe code (what the
/// agent's scheduler calls), run in this process, and of `docker run --rm` of the same
/// image, in milliseconds, each sorted.
async fn latency(runs: usize) -> Result<(Vec<f64>, Vec<f64>)> {
    let cx = ProbeContext {
        engine: UpstreamPool::new(EngineAddr::Unix(crate::ENGINE_SOCKET.into())),
        agent_id: format!("bench{:x}-{}", std::process::id(), now_ms()),
        node: "bench".into(),
        stop: CancellationToken::new(),
    };
    let check = make_check(
        "latency",
        SCRIPT_INTERVAL,
        30,
        json!({"kind": "script", "image": IMAGE, "script": "true"}),
    )?;
    let timed = async {
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
    .await;
    let removed = probe::remove_sandboxes(&cx).await;
    let timings = timed?;
    removed.context("removing the script checks' containers")?;
    Ok(timings)
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
            "| configuration ({} s window after {} s warm-up) | CPU, % of one core | RSS mean (MB) | RSS peak (MB) | dockerd + containerd CPU, % of one core | runs in the window | run duration median / p90 (ms) |",
            opts.window.as_secs(),
            WARMUP.as_secs()
        ),
        "|---|---:|---:|---:|---:|---|---:|".to_owned(),
    ];
    // The baseline, the http checks, their peer, then the rest.
    let ordered: Vec<&Cost> = costs
        .iter()
        .take(2)
        .chain(blackbox)
        .chain(costs.iter().skip(2))
        .collect();
    for c in &ordered {
        let runs = c
            .runs
            .iter()
            .map(|(k, v)| format!("{k} {v}"))
            .collect::<Vec<_>>()
            .join(", ");
        let durations = if c.durations.is_empty() {
            "–".to_owned()
        } else {
            format!(
                "{:.0} / {:.0}",
                percentile(&c.durations, 0.5),
                percentile(&c.durations, 0.9)
            )
        };
        lines.push(format!(
            "| {} | {:.2} | {:.1} | {:.1} | {} | {} | {durations} |",
            c.label,
            pct(c.cpu_ms),
            c.rss_mean / 1e6,
            c.rss_peak as f64 / 1e6,
            c.engine_ms.map_or("–".into(), |e| format!("{:.2}", pct(e))),
            if runs.is_empty() { "–".into() } else { runs },
        ));
    }
    let mut text = lines.join("\n");
    if let (Some(b), Some(ours)) = (blackbox, costs.get(1)) {
        text.push_str(&format!(
            "\n\nhttp checks, agent / blackbox exporter: CPU {:.2}x, RSS {:.2}x",
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
