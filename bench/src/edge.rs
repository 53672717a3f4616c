//! The edge tunnel's benchmark: one real agent (the release binary), which both listens and
//! dials out to a console, reached by the console's own pooled client directly and through
//! the tunnel, in one run: `/_ping` and `/containers/json` p50, `/_ping` per second at 16
//! concurrent requests, and a 100 MB `docker logs` read, with the console's CPU per MB.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, Context, Result};
use http_body_util::BodyExt;
use tokio_util::sync::CancellationToken;

use bosun_ui::agent::{AgentClient, Call, Caller};
use bosun_ui::store::Endpoint;

use crate::client::Dial;
use crate::engine::Engine;
use crate::procs::{cpu_millis, helper, start_agent_with, Scratch};

const USAGE: &str = "\
usage: bosun-bench edge [--agent-bin PATH] [--keep] [--quick] [--markdown]

Starts the console in this process and a release agent that listens and also dials out to
it with an enrol token, then asks the agent the same questions through the console's client
directly and through the tunnel, alternating: GET /_ping and /containers/json latency,
GET /_ping per second at 16 concurrent requests, and the logs of a container that wrote
100 MB, with this process's (the console's) CPU per MB read. The log container is removed at
the end unless --keep.";

const CONCURRENCY: usize = 16;
const LOG_BYTES: u64 = 100 * 1024 * 1024;
const MB: f64 = 1e6;

struct Plan {
    pings: usize,
    lists: usize,
    window: Duration,
    log_rounds: usize,
}

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut agent_bin = PathBuf::from("target/release/bosun-agent");
    let mut quick = false;
    let mut keep = false;
    let mut markdown = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--agent-bin" => agent_bin = it.next().context("--agent-bin PATH")?.into(),
            "--quick" => quick = true,
            "--keep" => keep = true,
            "--markdown" => markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    let plan = if quick {
        Plan {
            pings: 200,
            lists: 30,
            window: Duration::from_secs(2),
            log_rounds: 1,
        }
    } else {
        Plan {
            pings: 2000,
            lists: 200,
            window: Duration::from_secs(5),
            log_rounds: 3,
        }
    };
    bosun_serve::tls::install_crypto_provider();
    let scratch = Scratch::new()?;
    let engine = Engine::new(Dial::Unix(crate::ENGINE_SOCKET.into()));
    engine.ensure_image().await?;
    let logs_id = engine
        .ensure_logs(LOG_BYTES)
        .await
        .context("the log container")?;

    // The console, with a certificate of its own CA.
    let console_ca = scratch.path().join("console-ca");
    helper(
        tokio::process::Command::new(&agent_bin)
            .args(["certs", "init", "--dir"])
            .arg(&console_ca),
    )
    .await?;
    let ca = bosun_serve::pki::Ca::load(
        &console_ca.join(bosun_serve::pki::CA_CERT_FILE),
        &console_ca.join(bosun_serve::pki::CA_KEY_FILE),
    )?;
    let issued = ca.issue_server(
        "localhost",
        &["localhost".to_owned()],
        &[Ipv4Addr::LOCALHOST.into()],
        1,
    )?;
    use rustls_pki_types::pem::PemObject;
    let chain = vec![rustls_pki_types::CertificateDer::from_pem_slice(
        issued.cert_pem.as_bytes(),
    )?];
    let key = rustls_pki_types::PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())?;
    let data = scratch.path().join("console");
    std::fs::create_dir_all(&data)?;
    let password = data.join("password");
    std::fs::write(&password, "bench-password\n")?;
    let args = bosun_ui::cli::Args {
        listen: (Ipv4Addr::LOCALHOST, 0).into(),
        data_dir: data.clone(),
        admin_password_file: Some(password),
        admin_user: "admin".into(),
        tls_cert: None,
        tls_key: None,
        endpoint_url: None,
        endpoint_name: "local".into(),
        endpoint_ca: None,
        endpoint_secret_file: None,
        log_level: "warn".into(),
        usage: Default::default(),
        access: Default::default(),
        updates: Default::default(),
        checks: Default::default(),
    };
    let app = Arc::new(bosun_ui::cli::prepare(&args).map_err(anyhow::Error::msg)?);
    let console =
        bosun_ui::server::Console::bind(args.listen, chain, key, Arc::clone(&app)).await?;
    let console_addr: SocketAddr = console.local_addr()?;
    tokio::spawn(console.run_until(CancellationToken::new()));
    let token = bosun_ui::auth::random_token();
    let hash = bosun_ui::auth::token_hash(&token);
    app.db
        .run(move |s| {
            s.create_enrol_token(
                &hash,
                "edge",
                bosun_serve::clock::now_secs() + 3600,
                1,
                "bench",
            )
        })
        .await?;

    // The agent: listening, and dialling the console.
    let agent = start_agent_with(
        &agent_bin,
        scratch.path(),
        &[
            "--console-url".into(),
            format!("https://localhost:{}", console_addr.port()).into(),
            "--enrol-token".into(),
            token.into(),
            "--console-ca".into(),
            console_ca
                .join(bosun_serve::pki::CA_CERT_FILE)
                .into_os_string(),
        ],
    )
    .await
    .context("the agent")?;
    let started = Instant::now();
    let edge_id = loop {
        if let Some(live) = app.edge.list().first() {
            break live.endpoint;
        }
        if started.elapsed() > Duration::from_secs(30) {
            bail!(
                "the agent did not connect within 30 s; see {}",
                scratch.path().join("agent.log").display()
            );
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    };
    let edge_endpoint = app.db.run(move |s| s.endpoint(edge_id)).await?;
    let direct_endpoint = Endpoint {
        id: -1,
        name: "direct".into(),
        url: format!("https://localhost:{}", agent.addr.port()),
        ca_pem: std::fs::read_to_string(
            scratch
                .path()
                .join("ca")
                .join(bosun_serve::pki::CA_CERT_FILE),
        )?,
        auth: "secret".into(),
        secret: Some(
            std::fs::read_to_string(scratch.path().join("secret"))?
                .trim()
                .to_owned(),
        ),
        profiles: Default::default(),
    };
    let clients = [
        (
            "direct",
            Arc::new(AgentClient::new(&direct_endpoint, &app.key, &app.edge)?),
        ),
        ("tunnel", app.agents.get(&edge_endpoint)?),
    ];
    let me = std::process::id().to_string();

    let mut rows: Vec<(String, [f64; 2])> = Vec::new();
    for (path, count) in [("/_ping", plan.pings), ("/containers/json", plan.lists)] {
        let mut p50 = [0.0; 2];
        for (i, (_, client)) in clients.iter().enumerate() {
            let mut times = Vec::with_capacity(count);
            for n in 0..count + 20 {
                let t = Instant::now();
                client
                    .call(Caller::CONSOLE, Call::get(path), Duration::from_secs(30))
                    .await
                    .with_context(|| format!("GET {path}, {}", clients[i].0))?;
                if n >= 20 {
                    times.push(t.elapsed());
                }
            }
            times.sort();
            p50[i] = times[times.len() / 2].as_secs_f64() * 1e3;
        }
        rows.push((format!("GET {path} p50 (ms)"), p50));
    }
    let mut rate = [0.0; 2];
    let mut ping_cpu = [0.0; 2];
    for (i, (_, client)) in clients.iter().enumerate() {
        let cpu0 = cpu_millis(&me).unwrap_or(0);
        let deadline = Instant::now() + plan.window;
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..CONCURRENCY {
            let client = Arc::clone(client);
            tasks.spawn(async move {
                let mut done = 0u64;
                while Instant::now() < deadline {
                    if client
                        .call(
                            Caller::CONSOLE,
                            Call::get("/_ping"),
                            Duration::from_secs(30),
                        )
                        .await
                        .is_ok()
                    {
                        done += 1;
                    }
                }
                done
            });
        }
        let mut done = 0;
        while let Some(n) = tasks.join_next().await {
            done += n?;
        }
        rate[i] = done as f64 / plan.window.as_secs_f64();
        ping_cpu[i] = (cpu_millis(&me).unwrap_or(0) - cpu0) as f64 / (done as f64 / 1e3);
    }
    rows.push((format!("GET /_ping req/s, {CONCURRENCY} concurrent"), rate));
    rows.push(("console CPU per 1k /_ping (ms)".into(), ping_cpu));
    let mut speeds = [Vec::new(), Vec::new()];
    let mut cpu_per_mb = [0.0; 2];
    for _ in 0..plan.log_rounds {
        for (i, (_, client)) in clients.iter().enumerate() {
            let cpu0 = cpu_millis(&me).unwrap_or(0);
            let t = Instant::now();
            let resp = client
                .open(
                    Caller::CONSOLE,
                    Call::get(format!("/containers/{logs_id}/logs?stdout=1")),
                )
                .await?;
            let mut body = resp.into_body();
            let mut bytes = 0u64;
            while let Some(frame) = body.frame().await {
                let frame = match frame {
                    Ok(f) => f,
                    Err(e) => {
                        let log = std::fs::read_to_string(scratch.path().join("agent.log"))
                            .unwrap_or_default();
                        bail!(
                            "the logs, {}, after {bytes} bytes in {:?}: {e}\nagent log:\n{log}",
                            clients[i].0,
                            t.elapsed()
                        );
                    }
                };
                if let Some(data) = frame.data_ref() {
                    bytes += data.len() as u64;
                }
            }
            let secs = t.elapsed().as_secs_f64();
            speeds[i].push(bytes as f64 / MB / secs);
            cpu_per_mb[i] = (cpu_millis(&me).unwrap_or(0) - cpu0) as f64 / (bytes as f64 / MB);
        }
    }
    let median = |v: &mut Vec<f64>| {
        v.sort_by(f64::total_cmp);
        v[v.len() / 2]
    };
    rows.push((
        "docker logs (MB/s)".into(),
        [median(&mut speeds[0]), median(&mut speeds[1])],
    ));
    rows.push(("console CPU per MB of logs (ms)".into(), cpu_per_mb));
    let rss = crate::procs::memory(std::process::id())?.rss as f64 / MB;

    println!("\nOne agent, reached by the console's client directly and through its tunnel (console in this process, RSS {rss:.1} MB):\n");
    if markdown {
        println!("| | direct | tunnel | tunnel/direct |\n|---|---:|---:|---:|");
    }
    for (label, [d, t]) in &rows {
        if markdown {
            println!("| {label} | {d:.3} | {t:.3} | {:.2}x |", t / d);
        } else {
            println!("{label:<40} {d:>12.3} {t:>12.3} {:>8.2}x", t / d);
        }
    }
    agent.service.stop().await?;
    if !keep {
        let removed = engine.remove_all().await?;
        eprintln!("removed {removed} benchmark container(s) (--keep keeps them)");
    }
    Ok(())
}
