//! The policy benchmark: what enforcing an access profile costs on the request path. One
//! agent in front of the local engine, two bearer tokens side by side, their requests
//! interleaved: the built-in `admin` profile (the agent's fast path) and a 20-rule profile
//! from a policy file.

use std::ffi::OsString;
use std::hint::black_box;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use bosun_agent::access::routes::classify;
use bosun_agent::access::{Operation, Policy, Profile};
use hyper::{Method, StatusCode};
use rustls_pki_types::ServerName;
use serde_json::Value;
use tokio::process::Command;

use crate::client::{snippet, tls_connector_without_certificate, Dial};
use crate::engine::{Engine, Versions};
use crate::measure::{self, Latency, Rate};
use crate::procs::{self, Scratch};
use crate::report::{self, Goal, Target, Unit};
use crate::{CpuSnapshot, CpuTimes, Foreign};

/// The profile under test, defined by [`policy_file`].
const PROFILE: &str = "bench20";
/// The agent's node name, last in the profile's node list so that every entry is compared.
const NODE: &str = "bosun-bench-node";
/// A section the profile leaves out: asking for it proves that the profile is enforced.
const REFUSED_PATH: &str = "/plugins";
/// "Within 3 %" of the fast path.
const TOLERANCE: f64 = 0.03;
const TOKEN_TTL: &str = "1h";

/// Columns, in the order of the dials.
const COLUMNS: [&str; 2] = ["admin", "profile"];
const ADMIN: usize = 0;
const PROFILED: usize = 1;

const USAGE: &str = "\
usage: bosun-bench policy [--agent-bin PATH] [--connections N] [--keep] [--quick] [--markdown]

Measures what enforcing an access profile costs: one bosun-agent in front of the local engine,
started with a policy file that defines a 20-rule profile (sections with levels, nodes, create
rules; no label scope), and two bearer tokens from `bosun-agent token`: `--scope admin` (the
unrestricted fast path) and `--profile bench20`. Latency of GET /_ping and GET /containers/json
with the two tokens' requests alternating, and GET /_ping req/s at 64 connections in alternating
windows; the ratio profile/admin.

  --agent-bin PATH  agent binary (default target/release/bosun-agent)
  --connections N   connections per token for req/s (default 64)
  --keep            keep the 50 idle benchmark containers for the next run
  --markdown        also print the results as Markdown
  --quick           fewer requests and rounds, for a smoke run";

struct Options {
    agent_bin: PathBuf,
    keep: bool,
    markdown: bool,
    quick: bool,
    connections: usize,
}

struct Plan {
    warmup: usize,
    /// Timed requests per token.
    ping_requests: usize,
    list_requests: usize,
    /// Windows per token for req/s.
    rounds: usize,
    window: Duration,
}

impl Options {
    fn parse(args: Vec<String>) -> Result<Option<Self>> {
        let mut opts = Options {
            agent_bin: PathBuf::from("target/release/bosun-agent"),
            keep: false,
            markdown: false,
            quick: false,
            connections: crate::CONCURRENCY,
        };
        let mut args = args.into_iter();
        while let Some(arg) = args.next() {
            match arg.as_str() {
                "--agent-bin" => {
                    opts.agent_bin = args.next().context("--agent-bin needs a path")?.into();
                }
                "--keep" => opts.keep = true,
                "--markdown" => opts.markdown = true,
                "--quick" => opts.quick = true,
                "--connections" => {
                    let n = args.next().context("--connections needs a number")?;
                    opts.connections = n
                        .parse()
                        .ok()
                        .filter(|n| (1..=256).contains(n))
                        .with_context(|| format!("--connections {n:?}: a number from 1 to 256"))?;
                }
                "-h" | "--help" => return Ok(None),
                other => bail!("unknown argument {other:?}\n\n{USAGE}"),
            }
        }
        Ok(Some(opts))
    }

    fn plan(&self) -> Plan {
        if self.quick {
            Plan {
                warmup: 10,
                ping_requests: 200,
                list_requests: 30,
                rounds: 6,
                window: Duration::from_millis(200),
            }
        } else {
            Plan {
                warmup: 50,
                ping_requests: 2000,
                list_requests: 500,
                rounds: 50,
                window: Duration::from_millis(200),
            }
        }
    }
}

/// The policy file the agent runs with. 20 rules: 9 section levels, 5 nodes, 4 bind-mount
/// paths and 2 capabilities. No label scope: a scope rewrites list queries and filters the
/// answers, so the engine would be asked a different question and the comparison would
/// measure the engine, not the policy.
pub fn policy_file() -> String {
    format!(
        r#"# bosun-bench policy: a 20-rule profile without a label scope.
[profiles.{PROFILE}]
allow = {{ containers = "write", images = "read", networks = "read", volumes = "write", exec = "write", services = "read", tasks = "read", system = "read", agent = "read" }}
nodes = ["node-a", "node-b", "node-c", "node-d", "{NODE}"]

[profiles.{PROFILE}.create]
bind_mounts = ["/srv/app", "/srv/data", "/var/lib/app", "/opt/app"]
capabilities = ["NET_BIND_SERVICE", "CHOWN"]
"#
    )
}

/// `bosun-bench policy ...`.
pub async fn main(args: Vec<String>) -> Result<()> {
    let Some(opts) = Options::parse(args)? else {
        println!("{USAGE}");
        return Ok(());
    };
    if !opts.agent_bin.is_file() {
        bail!(
            "{} not found: build it with `cargo build --release -p bosun-agent`, or pass --agent-bin",
            opts.agent_bin.display()
        );
    }
    let engine = Engine::new(Dial::Unix(crate::ENGINE_SOCKET.into()));
    let versions = engine
        .versions()
        .await
        .with_context(|| format!("is the engine running at {}?", crate::ENGINE_SOCKET))?;
    // Dropping the run on Ctrl-C kills the agent and removes the scratch directory.
    let result = tokio::select! {
        result = bench(&opts, &engine, &versions) => result,
        _ = tokio::signal::ctrl_c() => Err(anyhow!("interrupted")),
    };
    if !opts.keep {
        match engine.remove_sleepers().await {
            Ok(n) => eprintln!("removed {n} idle benchmark containers (--keep keeps them)"),
            Err(e) => eprintln!("warning: removing benchmark containers: {e:#}"),
        }
    }
    result
}

async fn bench(opts: &Options, engine: &Engine, versions: &Versions) -> Result<()> {
    let plan = opts.plan();
    engine.ensure_image().await?;
    engine.ensure_sleepers(crate::CONTAINERS).await?;

    let scratch = Scratch::new()?;
    let policy_path = scratch.path().join("policy.toml");
    std::fs::write(&policy_path, policy_file())
        .with_context(|| format!("writing {}", policy_path.display()))?;
    let agent = procs::start_agent_with(
        &opts.agent_bin,
        scratch.path(),
        &[
            "--policy".into(),
            policy_path.into_os_string(),
            "--node-name".into(),
            NODE.into(),
            // Both tokens' req/s connections are open at once, from one address.
            "--max-connections-per-client".into(),
            "1000".into(),
        ],
    )
    .await?;
    let agent_pid = agent.service.pid()?;

    // Token clients present no certificate: the token alone says who they are.
    let transport = Dial::Tls {
        addr: agent.addr,
        connector: tls_connector_without_certificate(&scratch.path().join("ca").join("ca.pem"))?,
        name: ServerName::try_from("localhost")?,
    };
    let secret = scratch.path().join("secret");
    let admin = mint(
        &opts.agent_bin,
        &secret,
        "bench-admin",
        &["--scope", "admin"],
    )
    .await?;
    let profiled = mint(
        &opts.agent_bin,
        &secret,
        "bench-profile",
        &["--profile", PROFILE],
    )
    .await?;
    let dials = [
        transport.with_bearer(&admin)?,
        transport.with_bearer(&profiled)?,
    ];
    let (listed, list_bytes) = check_tokens(&dials).await?;

    let busy_before = crate::wait_quiet().await;
    let engine_pid = procs::find_process("dockerd");
    let cpu = move || snapshot(engine_pid, agent_pid);
    let mut foreign = Foreign::default();
    let mut rows = latency_rows(&plan, &dials, &cpu, &mut foreign).await?;
    let Rates {
        rows: rate_rows,
        spread,
        errors,
    } = rates(&plan, opts.connections, &dials, &cpu, &mut foreign).await?;
    rows.extend(rate_rows);
    agent.service.stop().await?;
    rows.push(checks_row()?);

    let find = |prefix: &str| rows.iter().find(|r| r.label.starts_with(prefix));
    let targets = vec![
        Target {
            label: "GET /containers/json p50, profile/admin",
            measured: find("GET /containers/json p50").and_then(Row::ratio),
            goal: Goal::AtMost(1.0 + TOLERANCE),
            unit: "x",
        },
        Target {
            label: "GET /_ping req/s, profile/admin",
            measured: find("GET /_ping req/s").and_then(Row::ratio),
            goal: Goal::AtLeast(1.0 - TOLERANCE),
            unit: "x",
        },
    ];

    let foreign = foreign.share();
    let mut notes = Vec::new();
    if busy_before > crate::BUSY_BEFORE {
        notes.push(format!(
            "the CPUs were still {:.0} % busy after waiting {:?} for other work to finish: rerun on a quiet machine",
            busy_before * 100.0,
            crate::QUIET_WAIT
        ));
    }
    if foreign > crate::FOREIGN_LIMIT {
        notes.push(format!(
            "other processes used {:.0} % of the CPU time while measuring: rerun on a quiet machine",
            foreign * 100.0
        ));
    }
    if errors > 0 {
        notes.push(format!("{errors} requests failed during the req/s windows"));
    }
    let report = Report {
        spread: spread.into_iter().collect(),
        context: vec![
            format!(
                "Machine: {} CPUs ({}), Linux {}; {:.0} % CPU busy just before measuring, \
                 {:.0} % of the CPU time while measuring used by other processes",
                std::thread::available_parallelism().map(|n| n.get()).unwrap_or(0),
                crate::cpu_model(),
                crate::kernel(),
                busy_before * 100.0,
                foreign * 100.0
            ),
            format!(
                "Docker Engine {} (API {}); one bosun-agent over {}, clients without a certificate, \
                 each request with a bearer token from `bosun-agent token`",
                versions.engine, versions.api, agent.tls
            ),
            format!(
                "admin: --scope admin (built-in, unrestricted: the fast path); profile: --profile {PROFILE}, \
                 20 rules (9 section levels, 5 nodes with this one last, 4 bind-mount paths, 2 capabilities), \
                 no label scope; {REFUSED_PATH} checked to be refused to it"
            ),
            format!(
                "{listed} containers in GET /containers/json ({list_bytes} bytes), the same for both tokens"
            ),
            format!(
                "Latency: {} x /_ping and {} x /containers/json per token after {} warm-up requests, \
                 one kept-alive connection per token, the two tokens' requests alternating; \
                 req/s: {} kept-alive connections per token, open throughout, {} rounds of one {} s window per token, \
                 the order alternating",
                plan.ping_requests,
                plan.list_requests,
                plan.warmup,
                opts.connections,
                plan.rounds,
                plan.window.as_secs_f64()
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

/// Latency rows: both tokens' requests alternating on one connection each.
async fn latency_rows(
    plan: &Plan,
    dials: &[Dial; 2],
    cpu: &impl Fn() -> CpuSnapshot,
    foreign: &mut Foreign,
) -> Result<Vec<Row>> {
    let mut rows = Vec::new();
    for (path, count) in [
        ("/_ping", plan.ping_requests),
        ("/containers/json", plan.list_requests),
    ] {
        eprintln!("latency GET {path}: admin and profile alternating");
        let before = cpu();
        let measured =
            measure::latency_interleaved(dials, path, plan.warmup, count, crate::LATENCY_BUDGET)
                .await?;
        foreign.add(&before, &cpu());
        let pick = |f: fn(&Latency) -> Duration| -> [Option<f64>; 2] {
            [ADMIN, PROFILED].map(|i| measured.get(i).map(|l| f(l).as_secs_f64() * 1e3))
        };
        if let Some(l) = measured.iter().find(|l| l.samples < count) {
            eprintln!(
                "  only {} of {count} requests per token within {:?}",
                l.samples,
                crate::LATENCY_BUDGET
            );
        }
        rows.push(Row::new(
            format!("GET {path} p50 (ms)"),
            Unit::Millis,
            pick(|l| l.p50),
        ));
        rows.push(Row::new(
            format!("GET {path} p99 (ms)"),
            Unit::Millis,
            pick(|l| l.p99),
        ));
    }
    Ok(rows)
}

struct Rates {
    /// req/s, and the agent's CPU per request.
    rows: Vec<Row>,
    /// The req/s ratio's confidence interval, when there are rounds.
    spread: Option<String>,
    errors: u64,
}

/// GET /_ping req/s: rounds of one window per token, the order alternating, on
/// connections that stay open throughout, so that there are no handshakes between windows.
async fn rates(
    plan: &Plan,
    connections: usize,
    dials: &[Dial; 2],
    cpu: &impl Fn() -> CpuSnapshot,
    foreign: &mut Foreign,
) -> Result<Rates> {
    let mut pools = Vec::with_capacity(dials.len());
    for dial in dials {
        pools.push(measure::open(dial, "/_ping", connections).await?);
    }
    let mut completed = [0u64; 2];
    let mut windows: [Vec<f64>; 2] = [Vec::new(), Vec::new()];
    let mut agent_millis = [0u64; 2];
    let mut errors = 0;
    for round in 0..plan.rounds {
        for i in measure::turn(round, dials.len()) {
            let before = cpu();
            let Rate {
                per_second,
                completed: done,
                errors: failed,
            } = measure::rate_on(&mut pools[i], &dials[i], "/_ping", plan.window).await?;
            let after = cpu();
            foreign.add(&before, &after);
            eprintln!(
                "req/s GET /_ping, window {}/{}, {}: {per_second:.0}",
                round + 1,
                plan.rounds,
                COLUMNS[i]
            );
            completed[i] += done;
            windows[i].push(per_second);
            errors += failed;
            if let (Some(a), Some(b)) = (before.parties[1], after.parties[1]) {
                agent_millis[i] += b.saturating_sub(a);
            }
        }
    }
    drop(pools);

    // Throughput on two cores shared by the engine, the agent and the client moves by a
    // fifth from one window to the next and drifts over seconds: far more than the
    // difference sought. The two windows of a round are adjacent in time, so their ratio
    // cancels the drift, and the median of those ratios ignores the rounds that a burst
    // of other work fell into.
    let seconds = plan.window.as_secs_f64() * plan.rounds as f64;
    let mut rate = Row::new(
        format!("GET /_ping req/s, {connections} conns"),
        Unit::PerSecond,
        [ADMIN, PROFILED].map(|i| Some(completed[i] as f64 / seconds)),
    );
    let pairs: Vec<f64> = windows[ADMIN]
        .iter()
        .zip(&windows[PROFILED])
        .filter(|(admin, _)| **admin > 0.0)
        .map(|(admin, profiled)| profiled / admin)
        .collect();
    let spread = median_interval(pairs.clone()).map(|(low, high)| {
        format!(
            "GET /_ping req/s, profile/admin: median of {} rounds' ratios, 95 % interval {low:.3}x to {high:.3}x",
            pairs.len()
        )
    });
    rate.ratio = median(pairs);
    let cpu_row = Row::new(
        format!("agent CPU per 1k /_ping at {connections} conns (ms)"),
        Unit::CpuMillis,
        [ADMIN, PROFILED].map(|i| {
            Some(agent_millis[i] as f64 / (completed[i] as f64 / 1e3)).filter(|v| v.is_finite())
        }),
    );
    Ok(Rates {
        rows: vec![rate, cpu_row],
        spread,
        errors,
    })
}

/// Iterations of the in-process checks per token and block; blocks alternate.
const CHECK_ITERATIONS: u32 = 200_000;
const CHECK_BLOCKS: usize = 10;

/// The checks the agent makes on a GET under each profile, in this process, on the same
/// policy text: what the end-to-end rows cannot resolve below their noise.
fn checks_row() -> Result<Row> {
    let policy = Policy::parse(&policy_file(), "policy.toml").context("the benchmark's policy")?;
    let profiles = [
        policy
            .profile("admin")
            .context("no built-in admin profile")?,
        policy.profile(PROFILE).context("the benchmark's profile")?,
    ];
    let ops = ["/_ping", "/containers/json"].map(|path| (classify(&Method::GET, path), path));
    let mut spent = [Duration::ZERO; 2];
    for block in 0..CHECK_BLOCKS {
        for i in measure::turn(block, profiles.len()) {
            let profile = &profiles[i];
            let start = Instant::now();
            for n in 0..CHECK_ITERATIONS {
                let (op, what) = &ops[(n % 2) as usize];
                black_box(checks(black_box(profile), op, what));
            }
            spent[i] += start.elapsed();
        }
    }
    let per =
        |d: Duration| d.as_secs_f64() * 1e9 / f64::from(CHECK_ITERATIONS) / CHECK_BLOCKS as f64;
    Ok(Row::new(
        "policy checks per GET, in-process (ns)".to_owned(),
        Unit::Nanos,
        spent.map(|d| Some(per(d))),
    ))
}

/// What the proxy asks of a profile for a GET that it runs locally: the section, the fast
/// path, the scope and create rules (which a GET skips), and the local node.
fn checks(profile: &Profile, op: &Operation, what: &str) -> bool {
    if profile.permits(op, what).is_err() {
        return false;
    }
    if !profile.is_unrestricted() {
        let narrows = profile.is_scoped() && op.lists.is_some();
        let specifies = op.creates.is_some();
        if narrows || specifies {
            return false;
        }
    }
    profile.check_node(NODE).is_ok()
}

/// A token from the agent's own `token` command.
async fn mint(bin: &Path, secret: &Path, subject: &str, profile: &[&str]) -> Result<String> {
    let out = procs::helper(
        Command::new(bin)
            .arg("token")
            .arg("--secret-file")
            .arg(secret)
            .args(["--subject", subject, "--ttl", TOKEN_TTL])
            .args(profile.iter().map(OsString::from)),
    )
    .await?;
    let token = out.trim();
    ensure!(!token.is_empty(), "bosun-agent token printed nothing");
    Ok(token.to_owned())
}

/// Both tokens list the same containers, and the profile is in force: a section it leaves
/// out is refused to it and allowed to admin. Returns the list's length and size.
async fn check_tokens(dials: &[Dial; 2]) -> Result<(usize, usize)> {
    let mut lists = Vec::new();
    for (i, dial) in dials.iter().enumerate() {
        let body = dial
            .connect()
            .await?
            .get_ok("/containers/json")
            .await
            .with_context(|| format!("GET /containers/json with the {} token", COLUMNS[i]))?;
        let ids = match serde_json::from_slice(&body).context("GET /containers/json is not JSON")? {
            Value::Array(list) => list
                .iter()
                .map(|c| c.get("Id").and_then(Value::as_str).map(str::to_owned))
                .collect::<Option<Vec<_>>>()
                .context("a listed container has no Id")?,
            _ => bail!("GET /containers/json is not an array"),
        };
        lists.push((ids, body.len()));
    }
    ensure!(
        lists[ADMIN].0 == lists[PROFILED].0,
        "the tokens list different containers ({} and {}): the profile must not narrow the list",
        lists[ADMIN].0.len(),
        lists[PROFILED].0.len()
    );
    ensure!(
        lists[ADMIN].0.len() >= crate::CONTAINERS,
        "GET /containers/json lists {} containers, fewer than the {} idle ones",
        lists[ADMIN].0.len(),
        crate::CONTAINERS
    );

    let (status, body) = dials[PROFILED]
        .connect()
        .await?
        .call(Method::GET, REFUSED_PATH, None)
        .await?;
    ensure!(
        status == StatusCode::FORBIDDEN && String::from_utf8_lossy(&body).contains(PROFILE),
        "GET {REFUSED_PATH} with the {PROFILE} token answered {status}, not 403 naming the profile: \
         is the policy in force? {}",
        snippet(&body)
    );
    dials[ADMIN]
        .connect()
        .await?
        .get_ok(REFUSED_PATH)
        .await
        .context("the admin token")?;
    Ok((lists[ADMIN].0.len(), lists[ADMIN].1))
}

/// The middle value (the mean of the two middle ones for an even count).
fn median(mut values: Vec<f64>) -> Option<f64> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    match n {
        0 => None,
        _ if n % 2 == 1 => values.get(n / 2).copied(),
        _ => Some((values[n / 2 - 1] + values[n / 2]) / 2.0),
    }
}

/// A 95 % confidence interval for the median, from the order statistics alone (no
/// assumption about the distribution): the values of ranks n/2 ∓ 0.98·√n.
fn median_interval(mut values: Vec<f64>) -> Option<(f64, f64)> {
    values.sort_by(f64::total_cmp);
    let n = values.len();
    if n == 0 {
        return None;
    }
    let half = 0.98 * (n as f64).sqrt();
    // 1-based ranks, clamped to the sample.
    let low = ((n as f64 / 2.0 - half).floor() as usize).clamp(1, n);
    let high = ((n as f64 / 2.0 + 1.0 + half).ceil() as usize).clamp(1, n);
    Some((*values.get(low - 1)?, *values.get(high - 1)?))
}

/// CPU milliseconds so far: the engine, the agent, this client, and all processes.
fn snapshot(engine: Option<u32>, agent: u32) -> CpuSnapshot {
    CpuSnapshot {
        parties: [
            engine.and_then(|pid| procs::cpu_millis(&pid.to_string())),
            procs::cpu_millis(&agent.to_string()),
            procs::cpu_millis("self"),
        ],
        machine: CpuTimes::read().map(|t| t.process_millis),
    }
}

struct Row {
    label: String,
    unit: Unit,
    values: [Option<f64>; 2],
    /// profile/admin.
    ratio: Option<f64>,
}

impl Row {
    /// A row whose ratio is that of its values.
    fn new(label: String, unit: Unit, values: [Option<f64>; 2]) -> Self {
        let ratio = match values {
            [Some(admin), Some(profiled)] if admin > 0.0 => Some(profiled / admin),
            _ => None,
        };
        Self {
            label,
            unit,
            values,
            ratio,
        }
    }

    fn ratio(&self) -> Option<f64> {
        self.ratio
    }

    fn cells(&self) -> [String; 3] {
        let [a, p] = self
            .values
            .map(|v| v.map_or_else(|| "n/m".to_owned(), |v| self.unit.format(v)));
        // Three places: the target is a few percent.
        let r = self
            .ratio()
            .map_or_else(|| "n/m".to_owned(), |r| format!("{r:.3}x"));
        [a, p, r]
    }
}

const RATIO: &str = "profile/admin";
const LEGEND: &str = "Ratios above 1 mean more for the profile: slower for latency and checks, \
faster for req/s, more CPU. req/s is the mean over all windows; its ratio is the median of \
the ratios of the two windows of each round, which are adjacent in time.";

struct Report {
    context: Vec<String>,
    /// How far the ratios could be off, printed under the table.
    spread: Vec<String>,
    rows: Vec<Row>,
    targets: Vec<Target>,
    notes: Vec<String>,
}

impl Report {
    fn text(&self) -> String {
        let mut out = self.context.join("\n");
        let width = self.rows.iter().map(|r| r.label.len()).max().unwrap_or(0);
        out.push_str(&format!(
            "\n\n{:<width$} {:>10} {:>10} {RATIO:>14}\n",
            "", COLUMNS[ADMIN], COLUMNS[PROFILED]
        ));
        for row in &self.rows {
            let [a, p, r] = row.cells();
            out.push_str(&format!("{:<width$} {a:>10} {p:>10} {r:>14}\n", row.label));
        }
        out.push_str(&format!("\n{LEGEND}\n"));
        for line in &self.spread {
            out.push_str(&format!("{line}\n"));
        }
        out.push('\n');
        out.push_str(&report::targets_text(&self.targets));
        for note in &self.notes {
            out.push_str(&format!("\nnote: {note}"));
        }
        out
    }

    fn markdown(&self) -> String {
        let mut out: String = self.context.iter().map(|l| format!("- {l}\n")).collect();
        out.push_str(&format!(
            "\n| | {} | {} | {RATIO} |\n|---|---:|---:|---:|\n",
            COLUMNS[ADMIN], COLUMNS[PROFILED]
        ));
        for row in &self.rows {
            let [a, p, r] = row.cells();
            out.push_str(&format!("| {} | {a} | {p} | {r} |\n", row.label));
        }
        out.push_str(&format!("\n{LEGEND}\n"));
        for line in &self.spread {
            out.push_str(&format!("\n{line}\n"));
        }
        out.push('\n');
        out.push_str(&report::targets_markdown(&self.targets));
        for note in &self.notes {
            out.push_str(&format!("\nNote: {note}\n"));
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_agent::access::Section;

    #[test]
    fn both_profiles_pass_the_checks_that_are_timed() {
        let policy = Policy::parse(&policy_file(), "policy.toml").expect("a valid policy");
        for name in ["admin", PROFILE] {
            let p = policy.profile(name).expect("the profile");
            for path in ["/_ping", "/containers/json"] {
                assert!(
                    checks(&p, &classify(&Method::GET, path), path),
                    "{name} {path}"
                );
            }
        }
    }

    #[test]
    fn median_of_odd_and_even_counts() {
        assert_eq!(median(vec![]), None);
        assert_eq!(median(vec![3.0, 1.0, 2.0]), Some(2.0));
        assert_eq!(median(vec![4.0, 1.0, 3.0, 2.0]), Some(2.5));
    }

    #[test]
    fn the_median_interval_widens_with_few_values() {
        assert_eq!(median_interval(vec![]), None);
        assert_eq!(median_interval(vec![2.0, 1.0, 3.0]), Some((1.0, 3.0)));
        let hundred: Vec<f64> = (1..=100).map(f64::from).collect();
        // Ranks 40 and 61: the textbook interval for n = 100.
        assert_eq!(median_interval(hundred), Some((40.0, 61.0)));
    }

    #[test]
    fn the_profile_has_twenty_rules_and_no_scope() {
        let policy = Policy::parse(&policy_file(), "policy.toml").expect("a valid policy");
        let p = policy.profile(PROFILE).expect("the profile");
        let rules = p.sections.len()
            + p.nodes.as_ref().map_or(0, Vec::len)
            + p.create.bind_mounts.len()
            + p.create.capabilities.len();
        assert_eq!(rules, 20);
        assert!(p.default.is_none());
        assert!(
            !p.is_scoped(),
            "a label scope changes what the engine is asked"
        );
        assert!(!p.is_unrestricted(), "the profile must leave the fast path");
        assert_eq!(
            p.nodes.as_ref().and_then(|n| n.last()).map(String::as_str),
            Some(NODE)
        );
        assert!(p.reaches(NODE));
    }

    #[test]
    fn the_profile_allows_what_is_measured_and_refuses_the_probe() {
        let policy = Policy::parse(&policy_file(), "policy.toml").expect("a valid policy");
        let p = policy.profile(PROFILE).expect("the profile");
        for path in ["/_ping", "/containers/json"] {
            let op = classify(&Method::GET, path);
            assert!(p.permits(&op, path).is_ok(), "{path}");
        }
        let probe = classify(&Method::GET, REFUSED_PATH);
        assert_eq!(probe.section, Some(Section::Plugins));
        assert!(p.permits(&probe, REFUSED_PATH).is_err());
        let admin = policy.profile("admin").expect("built in");
        assert!(admin.is_unrestricted());
    }
}
