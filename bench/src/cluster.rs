//! The cluster benchmark: one agent fanning `GET /containers/json` out to 1, 3, 10 and 50
//! simulated nodes, membership convergence of 50 agents, the time to mark a killed agent
//! down, and the fanning agent's memory with 50 peers.
//!
//! The agent that is measured runs as its own process (so that its memory is its own);
//! the other agents run inside this process, each in front of a fake engine that answers
//! after 20 ms with 100 containers.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use bosun_agent::cluster::{ClusterConfig, Discovery};
use bosun_agent::config::AgentConfig;
use bosun_agent::secret::Secret;
use bosun_agent::tls::pki::{self, Ca};
use bosun_agent::upstream::EngineAddr;
use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use rustls_pki_types::ServerName;
use tokio::process::{Child, Command};
use tokio_util::sync::CancellationToken;

use crate::client::{tls_connector, Dial};
use crate::measure::latency;
use crate::procs::memory;

pub(crate) const CONTAINERS_PER_NODE: usize = 100;
pub(crate) const NODE_LATENCY: Duration = Duration::from_millis(20);
const SIZES: [usize; 4] = [1, 3, 10, 50];
/// Bounds on waiting for a cluster to agree, so that a broken one ends the run.
const AGREE_BUDGET: Duration = Duration::from_secs(60);
const POLL: Duration = Duration::from_millis(50);

/// Credentials of the benchmark's cluster.
pub(crate) struct Creds {
    pub(crate) dir: PathBuf,
    pub(crate) secret: Secret,
}

impl Creds {
    pub(crate) fn new(scratch: &Path) -> Result<Self> {
        let dir = scratch.join("cluster");
        let ca = Ca::init_dir(&dir.join("ca"))?;
        let secret = Secret::generate()?;
        secret.write_new(&dir.join("secret"))?;
        let client = ca.issue_client(
            "bosun-bench",
            "admin",
            std::time::Duration::from_secs(86_400),
        )?;
        pki::write_client_bundle(&dir.join("client"), &ca, &client)?;
        Ok(Self { dir, secret })
    }

    pub(crate) fn dial(&self, addr: SocketAddr) -> Result<Dial> {
        Ok(Dial::Tls {
            addr,
            connector: tls_connector(&self.dir.join("client"))?,
            name: ServerName::try_from("localhost")?,
        })
    }
}

/// An agent inside this process.
pub(crate) struct InProcess {
    pub(crate) api: SocketAddr,
    pub(crate) gossip: SocketAddr,
}

pub(crate) async fn start_in_process(
    creds: &Creds,
    engine: &FakeEngine,
    join: Option<SocketAddr>,
    stop: &CancellationToken,
) -> Result<InProcess> {
    let mut config = AgentConfig::new(
        SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        EngineAddr::Tcp(engine.addr().to_string()),
        creds.dir.join("data"),
    );
    config.ca = Some(bosun_agent::config::CaFiles::in_dir(&creds.dir.join("ca")));
    config.secret = Some(creds.secret.clone());
    config.cluster = Some(ClusterConfig {
        gossip_listen: SocketAddr::from((Ipv4Addr::LOCALHOST, 0)),
        advertise: None,
        discovery: Discovery {
            join: join.map(|j| vec![j.to_string()]).unwrap_or_default(),
            interval: Duration::from_millis(500),
            ..Discovery::default()
        },
    });
    let agent = bosun_agent::server::Agent::bind(config).await?;
    let api = agent.local_addr()?;
    let gossip = agent
        .gossip_addr()
        .context("an in-process agent without gossip")?;
    tokio::spawn(agent.run(stop.child_token()));
    Ok(InProcess { api, gossip })
}

/// The measured agent, as its own process.
pub(crate) struct Process {
    pub(crate) child: Child,
    pub(crate) api: SocketAddr,
    pub(crate) gossip: SocketAddr,
}

pub(crate) fn free_port() -> Result<u16> {
    let socket = std::net::UdpSocket::bind((Ipv4Addr::LOCALHOST, 0))?;
    let tcp = std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, socket.local_addr()?.port()));
    match tcp {
        Ok(listener) => Ok(listener.local_addr()?.port()),
        Err(_) => Ok(std::net::TcpListener::bind((Ipv4Addr::LOCALHOST, 0))?
            .local_addr()?
            .port()),
    }
}

pub(crate) async fn start_process(
    bin: &Path,
    creds: &Creds,
    engine: &FakeEngine,
    join: Option<SocketAddr>,
) -> Result<Process> {
    let api = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let gossip = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let mut command = Command::new(bin);
    command
        .arg("run")
        .args([
            "--listen",
            &api.to_string(),
            "--gossip-listen",
            &gossip.to_string(),
        ])
        .args(["--docker-host", &format!("tcp://{}", engine.addr())])
        .arg("--tls-dir")
        .arg(creds.dir.join("ca"))
        .arg("--secret-file")
        .arg(creds.dir.join("secret"))
        .arg("--data-dir")
        .arg(creds.dir.join("data"))
        .args(["--discovery-interval", "500ms", "--log-level", "warn"]);
    if let Some(join) = join {
        command.args(["--join", &join.to_string()]);
    }
    let child = command
        .stdin(Stdio::null())
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let process = Process { child, api, gossip };
    let dial = creds.dial(api)?;
    let deadline = Instant::now() + AGREE_BUDGET;
    loop {
        if let Ok(mut conn) = dial.connect().await {
            if conn.get_ok("/agent/v1/health").await.is_ok() {
                return Ok(process);
            }
        }
        if Instant::now() > deadline {
            bail!("the agent at {api} did not become healthy");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Names of the members `dial`'s agent sees in `state`.
async fn members(dial: &Dial, state: &str) -> Result<Vec<String>> {
    let body = dial.connect().await?.get_ok("/agent/v1/members").await?;
    let v: serde_json::Value = serde_json::from_slice(&body)?;
    Ok(v["Members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .filter(|m| m["State"] == state)
                .filter_map(|m| m["NodeName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// Waits until every agent in `dials` sees `count` alive members; the time it took.
pub(crate) async fn until_all_see(dials: &[Dial], count: usize) -> Result<Duration> {
    let started = Instant::now();
    loop {
        let mut agreed = true;
        for dial in dials {
            if members(dial, "alive").await?.len() != count {
                agreed = false;
                break;
            }
        }
        if agreed {
            return Ok(started.elapsed());
        }
        if started.elapsed() > AGREE_BUDGET {
            bail!("the cluster did not agree on {count} members within {AGREE_BUDGET:?}");
        }
        tokio::time::sleep(POLL).await;
    }
}

/// Starts an in-process agent in front of each of `engines`, all joining `join`, and
/// waits until every one has started.
pub(crate) async fn grow(
    creds: &Creds,
    engines: &[FakeEngine],
    join: SocketAddr,
    stop: &CancellationToken,
) -> Result<()> {
    let mut starting = tokio::task::JoinSet::new();
    for engine in engines {
        let engine = engine.clone();
        let stop = stop.clone();
        let creds = Creds {
            dir: creds.dir.clone(),
            secret: creds.secret.clone(),
        };
        starting.spawn(async move { start_in_process(&creds, &engine, Some(join), &stop).await });
    }
    while let Some(agent) = starting.join_next().await {
        agent??;
    }
    Ok(())
}

pub(crate) async fn fakes(prefix: &str, from: usize, to: usize) -> Result<Vec<FakeEngine>> {
    let mut out = Vec::new();
    for i in from..to {
        let mut spec = FakeEngineSpec::new(&format!("{prefix}-{i:02}"));
        spec.containers = CONTAINERS_PER_NODE;
        spec.latency = NODE_LATENCY;
        out.push(FakeEngine::start(spec).await?);
    }
    Ok(out)
}

pub struct Results {
    /// (nodes, p50, p99) of `GET /containers/json?all=1`.
    pub fanout: Vec<(usize, Duration, Duration)>,
    pub convergence: Duration,
    pub marked_down: Duration,
    pub rss_with_peers: u64,
    pub hwm_with_peers: u64,
}

pub async fn run(bin: &Path, scratch: &Path, quick: bool) -> Result<Results> {
    let creds = Creds::new(scratch)?;
    let stop = CancellationToken::new();
    let samples = if quick { 10 } else { 50 };

    // Convergence: 50 agents started at once, all joining the first.
    let engines = fakes("conv", 0, 50).await?;
    let seed = start_in_process(&creds, &engines[0], None, &stop).await?;
    let started = Instant::now();
    let mut starting = tokio::task::JoinSet::new();
    for engine in engines.iter().skip(1) {
        let engine = engine.clone();
        let stop = stop.clone();
        let creds = Creds {
            dir: creds.dir.clone(),
            secret: creds.secret.clone(),
        };
        let join = seed.gossip;
        starting.spawn(async move { start_in_process(&creds, &engine, Some(join), &stop).await });
    }
    let mut dials = vec![creds.dial(seed.api)?];
    while let Some(agent) = starting.join_next().await {
        dials.push(creds.dial(agent??.api)?);
    }
    until_all_see(&dials, 50).await?;
    let convergence = started.elapsed();
    let conv_stop = stop.clone();
    conv_stop.cancel();
    for engine in &engines {
        engine.stop();
    }

    // Fan-out: the measured agent in front of node 00, the cluster grown to each size.
    let stop = CancellationToken::new();
    let engines = fakes("node", 0, 50).await?;
    let mut entry = start_process(bin, &creds, &engines[0], None).await?;
    let entry_dial = creds.dial(entry.api)?;
    let mut fanout = Vec::new();
    let mut running = 1;
    for size in SIZES {
        grow(&creds, &engines[running..size], entry.gossip, &stop).await?;
        running = size;
        until_all_see(std::slice::from_ref(&entry_dial), size).await?;
        let measured = latency(
            &entry_dial,
            "/v1.41/containers/json?all=1",
            3,
            samples,
            Duration::from_secs(120),
        )
        .await?;
        let body = entry_dial
            .connect()
            .await?
            .get_ok("/v1.41/containers/json?all=1")
            .await?;
        let items = serde_json::from_slice::<serde_json::Value>(&body)?
            .as_array()
            .map_or(0, Vec::len);
        if items != size * CONTAINERS_PER_NODE {
            bail!(
                "{size} nodes listed {items} containers, not {}",
                size * CONTAINERS_PER_NODE
            );
        }
        fanout.push((size, measured.p50, measured.p99));
    }
    let pid = entry.child.id().context("the measured agent has exited")?;
    let mem = memory(pid)?;

    // A killed agent: SIGKILL, then the time until the measured agent marks it down.
    let victim_engine = fakes("victim", 0, 1).await?;
    let mut victim = start_process(bin, &creds, &victim_engine[0], Some(entry.gossip)).await?;
    let victim_name = victim_engine[0].name();
    let deadline = Instant::now() + AGREE_BUDGET;
    while !members(&entry_dial, "alive").await?.contains(&victim_name) {
        if Instant::now() > deadline {
            bail!("the victim agent never joined");
        }
        tokio::time::sleep(POLL).await;
    }
    victim.child.start_kill()?;
    let killed = Instant::now();
    let marked_down = loop {
        if members(&entry_dial, "down").await?.contains(&victim_name) {
            break killed.elapsed();
        }
        if killed.elapsed() > AGREE_BUDGET {
            bail!("the killed agent was not marked down within {AGREE_BUDGET:?}");
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    };
    let _ = victim.child.wait().await;
    let _ = entry.child.start_kill();
    let _ = entry.child.wait().await;
    stop.cancel();
    Ok(Results {
        fanout,
        convergence,
        marked_down,
        rss_with_peers: mem.rss,
        hwm_with_peers: mem.hwm,
    })
}

const CLUSTER_USAGE: &str = "\
usage: bosun-bench cluster [--agent-bin PATH] [--quick] [--markdown]

Measures GET /containers/json through one agent over 1, 3, 10 and 50 simulated nodes of
100 containers each (every node answering after 20 ms), the convergence of 50 agents, the
time to mark a killed agent down, and the measuring agent's memory with 50 peers.";

/// `bosun-bench cluster ...`.
pub async fn main(args: Vec<String>) -> Result<()> {
    let mut bin = PathBuf::from("target/release/bosun-agent");
    let (mut quick, mut markdown) = (false, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--agent-bin" => bin = PathBuf::from(args.next().context("--agent-bin needs a path")?),
            "--quick" => quick = true,
            "--markdown" => markdown = true,
            "-h" | "--help" => {
                println!("{CLUSTER_USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{CLUSTER_USAGE}"),
        }
    }
    bosun_agent::tls::install_crypto_provider();
    let scratch = crate::procs::Scratch::new()?;
    let results = run(&bin, scratch.path(), quick).await?;
    let base = results.fanout.first().map(|r| r.1).unwrap_or_default();
    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let mut rows = vec![(
        "nodes".to_owned(),
        "containers".to_owned(),
        "p50 (ms)".to_owned(),
        "p99 (ms)".to_owned(),
        "p50 / 1 node".to_owned(),
    )];
    for (nodes, p50, p99) in &results.fanout {
        rows.push((
            nodes.to_string(),
            (nodes * CONTAINERS_PER_NODE).to_string(),
            format!("{:.1}", ms(*p50)),
            format!("{:.1}", ms(*p99)),
            format!("{:.2}x", p50.as_secs_f64() / base.as_secs_f64().max(1e-9)),
        ));
    }
    println!(
        "GET /containers/json?all=1 through one agent, every node answering after {} ms:",
        NODE_LATENCY.as_millis()
    );
    for r in &rows {
        println!("  {:>6} {:>11} {:>9} {:>9} {:>13}", r.0, r.1, r.2, r.3, r.4);
    }
    let at_50 = results
        .fanout
        .last()
        .map(|r| r.1.as_secs_f64() / base.as_secs_f64().max(1e-9))
        .unwrap_or(0.0);
    let mb = |b: u64| b as f64 / 1e6;
    let verdict = |ok: bool| if ok { "met" } else { "NOT MET" };
    let lines = [
        (
            "p50 at 50 nodes / 1 node",
            format!("{at_50:.2}x"),
            "<= 1.50x",
            verdict(at_50 <= 1.5),
        ),
        (
            "membership convergence, 50 agents",
            format!("{:.2} s", results.convergence.as_secs_f64()),
            "<= 3 s",
            verdict(results.convergence <= Duration::from_secs(3)),
        ),
        (
            "killed agent marked down",
            format!("{:.2} s", results.marked_down.as_secs_f64()),
            "<= 5 s",
            verdict(results.marked_down <= Duration::from_secs(5)),
        ),
        (
            "agent RSS with 50 peers (peak)",
            format!(
                "{:.1} MB ({:.1} MB)",
                mb(results.rss_with_peers),
                mb(results.hwm_with_peers)
            ),
            "",
            "",
        ),
    ];
    println!("\nTargets");
    for (what, measured, goal, result) in &lines {
        println!("  {what:<36} {measured:>18} {goal:>9}  {result}");
    }
    if markdown {
        println!("\n| nodes | containers | p50 (ms) | p99 (ms) | p50 / 1 node |\n|---:|---:|---:|---:|---:|");
        for r in rows.iter().skip(1) {
            println!("| {} | {} | {} | {} | {} |", r.0, r.1, r.2, r.3, r.4);
        }
        println!("\n| measure | measured | target | result |\n|---|---:|---:|---|");
        for (what, measured, goal, result) in &lines {
            println!("| {what} | {measured} | {goal} | {result} |");
        }
    }
    Ok(())
}
