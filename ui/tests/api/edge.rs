//! Edge endpoints: an agent the console cannot reach dials out to it with an enrol token,
//! and the console reaches its engine through that tunnel; revoking the agent ends a
//! followed log at once and keeps it out; unknown, revoked and used tokens are refused
//! (an expired one: `bosun_ui::edge::admit`'s unit tests).

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::{Duration, Instant};

use bosun_agent::edge::{ConsoleUrl, EdgeConfig};
use bosun_serve::tunnel;
use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{json, Value};
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// A console serving a certificate of `pki`'s CA, with no endpoint of its own.
async fn console(pki: &Pki, data: &std::path::Path) -> SocketAddr {
    console_on(
        pki,
        data,
        "127.0.0.1:0".parse().unwrap(),
        CancellationToken::new(),
    )
    .await
}

/// [`console`] on `listen`, until `stop`.
pub(crate) async fn console_on(
    pki: &Pki,
    data: &std::path::Path,
    listen: SocketAddr,
    stop: CancellationToken,
) -> SocketAddr {
    let mut args = console_args(data, pki, "127.0.0.1:1".parse().unwrap());
    args.endpoint_url = None;
    args.listen = listen;
    let app = bosun_ui::cli::prepare(&args).expect("the console prepares");
    let (cert, key) = console_certificate(pki, data, listen);
    let (chain, key) = bosun_ui::server::certificate(Some((&cert, &key)), data)
        .expect("the console's certificate");
    let console = bosun_ui::server::Console::bind(args.listen, chain, key, Arc::new(app))
        .await
        .expect("the console binds");
    let addr = console.local_addr().expect("addr");
    tokio::spawn(console.run_until(stop));
    addr
}

/// A certificate of `pki`'s CA for a console on `listen`, written into `dir`: the
/// certificate's and the key's files.
fn console_certificate(
    pki: &Pki,
    dir: &std::path::Path,
    listen: SocketAddr,
) -> (std::path::PathBuf, std::path::PathBuf) {
    let ca = bosun_serve::pki::Ca::load(
        &pki.ca_cert(),
        &pki.ca_dir.join(bosun_serve::pki::CA_KEY_FILE),
    )
    .expect("the CA");
    let issued = ca
        .issue_server(
            "localhost",
            &["localhost".to_owned()],
            &console_ips(listen),
            30,
        )
        .expect("a console certificate");
    let (cert, key) = (dir.join("console-cert.pem"), dir.join("console-key.pem"));
    std::fs::write(&cert, &issued.cert_pem).expect("the certificate written");
    std::fs::write(&key, &issued.key_pem).expect("the key written");
    (cert, key)
}

/// The addresses a test console's certificate names: loopback, and the one it listens on.
fn console_ips(listen: SocketAddr) -> Vec<std::net::IpAddr> {
    let mut ips = vec![std::net::IpAddr::from([127, 0, 0, 1])];
    if !listen.ip().is_unspecified() && !ips.contains(&listen.ip()) {
        ips.push(listen.ip());
    }
    ips
}

/// An agent of `pki`'s cluster, in its own data directory, dialling `console` with `token`.
pub(crate) async fn edge_agent(
    pki: &Pki,
    console: SocketAddr,
    token: Option<&str>,
    stop: &CancellationToken,
) -> tempfile::TempDir {
    edge_agent_with(pki, console, token, stop, |_| {}).await
}

/// [`edge_agent`], its configuration changed by `change` first.
pub(crate) async fn edge_agent_with(
    pki: &Pki,
    console: SocketAddr,
    token: Option<&str>,
    stop: &CancellationToken,
    change: impl FnOnce(&mut bosun_agent::config::AgentConfig),
) -> tempfile::TempDir {
    edge_agent_running(pki, console, token, stop, change)
        .await
        .0
}

/// [`edge_agent_with`], with the task that runs the agent, which ends once it has stopped.
pub(crate) async fn edge_agent_running(
    pki: &Pki,
    console: SocketAddr,
    token: Option<&str>,
    stop: &CancellationToken,
    change: impl FnOnce(&mut bosun_agent::config::AgentConfig),
) -> (tempfile::TempDir, tokio::task::JoinHandle<()>) {
    let data = tempfile::tempdir().expect("tempdir");
    let mut config = pki.agent_config("127.0.0.1:0".parse().unwrap());
    config.data_dir = data.path().to_path_buf();
    config.edge = Some(EdgeConfig {
        console: ConsoleUrl::parse(&format!("https://localhost:{}", console.port())).unwrap(),
        enrol_token: token.map(str::to_owned),
        console_ca: Some(pki.ca_cert()),
        https_proxy: None,
        no_proxy: None,
    });
    change(&mut config);
    let agent = bosun_agent::server::Agent::bind(config)
        .await
        .expect("the agent starts");
    let running = tokio::spawn(agent.run(stop.clone()));
    (data, running)
}

pub(crate) async fn agents(admin: &Client) -> Vec<Value> {
    let answer = admin.get("/api/edge/agents").await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json().as_array().cloned().unwrap_or_default()
}

/// A console of its own with an admin signed in: the CA, the data, the address, the client.
pub(crate) async fn scene() -> (Pki, tempfile::TempDir, SocketAddr, Client) {
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("tempdir");
    let addr = console(&pki, data.path()).await;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    (pki, data, addr, admin)
}

/// Makes an enrol token: the answer, with the token.
pub(crate) async fn enrol_token(admin: &Client, body: Value) -> Value {
    let made = admin.post("/api/edge/tokens", &body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    made.json()
}

/// Waits until `n` agents are connected.
pub(crate) async fn until_connected(admin: &Client, n: usize, limit: Duration) {
    until(&format!("{n} agent(s) connected"), limit, async || {
        let agents = agents(admin).await;
        agents
            .iter()
            .filter(|a| a["connected"] == json!(true))
            .count()
            == n
    })
    .await;
}

pub(crate) async fn until(what: &str, limit: Duration, mut done: impl AsyncFnMut() -> bool) {
    let start = Instant::now();
    while !done().await {
        assert!(start.elapsed() < limit, "{what}: not within {limit:?}");
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_agent_enrols_serves_through_its_tunnel_and_revocation_cuts_it_off() {
    let (pki, _data, addr, admin) = scene().await;
    let made = enrol_token(&admin, json!({"endpoint": "site-a", "max_uses": 1})).await;
    let token = made["token"].as_str().unwrap().to_owned();

    let stop = CancellationToken::new();
    let _agent = edge_agent(&pki, addr, Some(&token), &stop).await;
    until_connected(&admin, 1, SETTLE).await;
    let enrolled = agents(&admin).await;
    let agent_id = enrolled[0]["agent_id"].as_str().unwrap().to_owned();
    let endpoint = crate::docker_api::endpoint_id(&admin, "site-a").await;

    // The console reaches the engine through the tunnel: the containers, and a followed log.
    let box_ = container("edge");
    let list = admin
        .get(&format!("/api/endpoints/{endpoint}/containers"))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    assert!(
        list.text().contains(&box_.0),
        "the container is listed through the tunnel: {}",
        list.text()
    );
    let logs = format!(
        "/api/endpoints/{endpoint}/containers/{}/logs?follow=1&tail=all",
        box_.0
    );
    let resp = admin.stream(&logs).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut seen = String::new();
    while !seen.contains("console-test-line") {
        let frame = tokio::time::timeout(SETTLE, body.frame())
            .await
            .expect("a log line through the tunnel")
            .expect("the stream is open")
            .expect("a frame");
        if let Some(data) = frame.data_ref() {
            seen.push_str(&String::from_utf8_lossy(data));
        }
    }

    // A second use of a single-use token, and a token nobody made: refused.
    let stop_others = CancellationToken::new();
    let _reused = edge_agent(&pki, addr, Some(&token), &stop_others).await;
    let _wrong = edge_agent(&pki, addr, Some("not-a-token"), &stop_others).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        agents(&admin).await.len(),
        1,
        "only the first agent enrolled"
    );
    let tokens = admin.get("/api/edge/tokens").await.json();
    assert_eq!(tokens[0]["uses"], 1);
    stop_others.cancel();

    // Revoked: the followed log ends at once, and the agent stays out.
    let revoked_at = Instant::now();
    let answer = admin.delete(&format!("/api/edge/agents/{agent_id}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    assert_eq!(answer.json()["closed_tunnel"], true);
    loop {
        match tokio::time::timeout(Duration::from_secs(5), body.frame()).await {
            Ok(Some(Ok(_))) => continue,
            Ok(_) => break,
            Err(_) => panic!("the followed log still runs 5 s after the revocation"),
        }
    }
    let ended_in = revoked_at.elapsed();
    assert!(
        ended_in < Duration::from_secs(2),
        "the log ended after {ended_in:?}"
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    let after = agents(&admin).await;
    assert_eq!(after[0]["revoked"], true);
    assert_eq!(
        after[0]["connected"], false,
        "a revoked agent cannot dial in again"
    );
    let list = admin
        .get(&format!("/api/endpoints/{endpoint}/containers"))
        .await;
    assert_ne!(
        list.status,
        StatusCode::OK,
        "nothing reaches the revoked agent"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_revoked_token_enrols_nobody_and_a_viewer_makes_none() {
    let (pki, _data, addr, admin) = scene().await;
    let made = enrol_token(&admin, json!({"endpoint": "site-b", "max_uses": 5})).await;
    let token = made["token"].as_str().unwrap().to_owned();
    let id = made["enrol_token"]["id"].as_i64().unwrap();
    let answer = admin.delete(&format!("/api/edge/tokens/{id}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let stop = CancellationToken::new();
    let _agent = edge_agent(&pki, addr, Some(&token), &stop).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert!(
        agents(&admin).await.is_empty(),
        "a revoked token enrols nobody"
    );
    // A viewer may not make tokens.
    admin.add_user("viewer", "viewer").await;
    let viewer = Client::logged_in(addr, "viewer", "password-123").await;
    let refused = viewer
        .post("/api/edge/tokens", &json!({"endpoint": "site-b"}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_idle_tunnel_stays_up_and_comes_back_within_10_s_of_the_console_restarting() {
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("tempdir");
    let first = CancellationToken::new();
    let addr = console_on(
        &pki,
        data.path(),
        "127.0.0.1:0".parse().unwrap(),
        first.clone(),
    )
    .await;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let token = enrol_token(&admin, json!({"endpoint": "site-c"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let stop = CancellationToken::new();
    let _agent = edge_agent(&pki, addr, Some(&token), &stop).await;
    until_connected(&admin, 1, SETTLE).await;
    // Idle past the agent's 15 s of silence: the heartbeats keep the same tunnel up.
    let since = agents(&admin).await[0]["connected_since"].clone();
    tokio::time::sleep(bosun_serve::tunnel::SILENCE + Duration::from_secs(3)).await;
    let idle = agents(&admin).await;
    assert_eq!(idle[0]["connected"], true, "an idle tunnel stays up");
    assert_eq!(
        idle[0]["connected_since"], since,
        "the same tunnel: {idle:?}"
    );

    // The console goes away for 12 s: the agent backs off meanwhile, and comes back with its
    // key (the single-use token is spent) within 10 s of the console's return.
    first.cancel();
    tokio::time::sleep(Duration::from_secs(12)).await;
    let _again = console_on(&pki, data.path(), addr, CancellationToken::new()).await;
    let back = Instant::now();
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    until_connected(&admin, 1, Duration::from_secs(10)).await;
    eprintln!("the agent was back {:?} after the console", back.elapsed());
    let endpoint = admin.get("/api/endpoints").await.json()[0]["id"]
        .as_i64()
        .unwrap();
    let list = admin
        .get(&format!("/api/endpoints/{endpoint}/containers"))
        .await;
    assert_eq!(list.status, StatusCode::OK, "{}", list.text());
    stop.cancel();
}

/// A small HTTP proxy on loopback that only does `CONNECT`, counting the tunnels it made.
async fn connect_proxy() -> (SocketAddr, Arc<std::sync::atomic::AtomicUsize>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let made = Arc::new(std::sync::atomic::AtomicUsize::new(0));
    let counted = Arc::clone(&made);
    tokio::spawn(async move {
        while let Ok((mut client, _)) = listener.accept().await {
            let counted = Arc::clone(&counted);
            tokio::spawn(async move {
                let mut head = Vec::new();
                let mut byte = [0u8; 1];
                while !head.ends_with(b"\r\n\r\n") {
                    if client.read(&mut byte).await.unwrap_or(0) == 0 {
                        return;
                    }
                    head.push(byte[0]);
                }
                let head = String::from_utf8_lossy(&head).into_owned();
                let Some(target) = head
                    .strip_prefix("CONNECT ")
                    .and_then(|r| r.split(' ').next())
                else {
                    let _ = client
                        .write_all(b"HTTP/1.1 405 Method Not Allowed\r\n\r\n")
                        .await;
                    return;
                };
                let target = target.replace("localhost", "127.0.0.1");
                let Ok(mut upstream) = tokio::net::TcpStream::connect(&target).await else {
                    let _ = client.write_all(b"HTTP/1.1 502 Bad Gateway\r\n\r\n").await;
                    return;
                };
                counted.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
                let _ = client
                    .write_all(b"HTTP/1.1 200 Connection established\r\n\r\n")
                    .await;
                let _ = tokio::io::copy_bidirectional(&mut client, &mut upstream).await;
            });
        }
    });
    (addr, made)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_edge_agent_dials_through_an_http_proxy() {
    let (pki, _data, addr, admin) = scene().await;
    let token = enrol_token(&admin, json!({"endpoint": "behind-proxy"})).await["token"]
        .as_str()
        .unwrap()
        .to_owned();
    let (proxy, tunnels) = connect_proxy().await;
    let stop = CancellationToken::new();
    let _agent = edge_agent_with(&pki, addr, Some(&token), &stop, |c| {
        let edge = c.edge.as_mut().unwrap();
        edge.https_proxy = Some(format!("http://{proxy}"));
        edge.no_proxy = Some("example.com,.internal".into());
    })
    .await;
    until_connected(&admin, 1, SETTLE).await;
    assert_eq!(
        tunnels.load(std::sync::atomic::Ordering::SeqCst),
        1,
        "it came through the proxy"
    );
    let endpoint = admin.get("/api/endpoints").await.json()[0]["id"]
        .as_i64()
        .unwrap();
    let info = admin.get(&format!("/api/endpoints/{endpoint}/nodes")).await;
    assert_eq!(info.status, StatusCode::OK, "{}", info.text());
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn twenty_edge_agents_connect_to_one_console() {
    use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
    // The console as its own process, so that its memory per connected agent is its own.
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("tempdir");
    let (cert, key) = console_certificate(&pki, data.path(), "127.0.0.1:0".parse().unwrap());
    let console = ConsoleProcess::start(
        data.path(),
        &[
            "--tls-cert".to_owned(),
            cert.display().to_string(),
            "--tls-key".to_owned(),
            key.display().to_string(),
        ],
    )
    .await;
    let addr = console.addr;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let stop = CancellationToken::new();
    let mut tokens = Vec::new();
    for n in 0..20 {
        let token = admin
            .post(
                "/api/edge/tokens",
                &json!({"endpoint": format!("site-{n:02}")}),
            )
            .await
            .json()["token"]
            .as_str()
            .unwrap()
            .to_owned();
        tokens.push(token);
    }
    let before_kb = rss_kb(console.pid());
    let mut kept = Vec::new();
    for (n, token) in tokens.iter().enumerate() {
        let engine = FakeEngine::start(FakeEngineSpec::new(&format!("edge-node-{n:02}")))
            .await
            .expect("a stand-in engine");
        let docker_host = engine.docker_host();
        let data = edge_agent_with(&pki, addr, Some(token), &stop, |c| {
            c.engine = bosun_agent::upstream::EngineAddr::parse(&docker_host).unwrap();
            c.node_name = Some(format!("edge-node-{n:02}"));
        })
        .await;
        kept.push((engine, data));
    }
    until_connected(&admin, 20, Duration::from_secs(60)).await;
    // Each endpoint answers from its own node, through its own tunnel.
    let endpoints = admin.get("/api/endpoints").await.json();
    let endpoints = endpoints.as_array().unwrap();
    assert_eq!(endpoints.len(), 20);
    for e in endpoints {
        let id = e["id"].as_i64().unwrap();
        let name = e["name"].as_str().unwrap().replace("site-", "edge-node-");
        let list = admin.get(&format!("/api/endpoints/{id}/containers")).await;
        assert_eq!(list.status, StatusCode::OK, "{}", list.text());
        assert!(list.text().contains(&name), "{name}: {}", list.text());
    }
    // Settled, then measured: the console's memory with the 20 tunnels, over its memory
    // before (the tokens made, no agent yet).
    tokio::time::sleep(Duration::from_secs(6)).await;
    let after_kb = rss_kb(console.pid());
    let per_agent = after_kb.saturating_sub(before_kb) as f64 / 20.0;
    eprintln!(
        "console memory: {before_kb} kB before, {after_kb} kB with 20 edge agents connected \
         and each endpoint listed once: {per_agent:.0} kB per connected agent"
    );
    stop.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_key_is_rotated_with_the_tunnel_up_and_the_old_key_opens_nothing_after() {
    let (pki, _data, addr, admin) = scene().await;
    let made = enrol_token(&admin, json!({"endpoint": "site-r"})).await;
    let stop = CancellationToken::new();
    let data = edge_agent(&pki, addr, made["token"].as_str(), &stop).await;
    until_connected(&admin, 1, SETTLE).await;
    let before = agents(&admin).await[0].clone();
    let agent_id = before["agent_id"].as_str().unwrap().to_owned();
    // The agent's data as it was, old key included.
    let old = tempfile::tempdir().expect("tempdir");
    let copied = std::process::Command::new("cp")
        .arg("-a")
        .arg(format!("{}/.", data.path().display()))
        .arg(old.path())
        .status()
        .expect("cp");
    assert!(copied.success());

    // A followed log runs across the rotation.
    let box_ = container("rotate");
    let endpoint = crate::docker_api::endpoint_id(&admin, "site-r").await;
    let resp = admin
        .stream(&format!(
            "/api/endpoints/{endpoint}/containers/{}/logs?follow=1&tail=all",
            box_.0
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    tokio::time::timeout(SETTLE, body.frame())
        .await
        .expect("the log's first line")
        .expect("open")
        .expect("a frame");

    let rotated = admin
        .post(&format!("/api/edge/agents/{agent_id}/key"), &json!({}))
        .await;
    assert_eq!(rotated.status, StatusCode::OK, "{}", rotated.text());
    let new_key = rotated.json()["public_key"].as_str().unwrap().to_owned();
    assert_ne!(json!(new_key), before["public_key"]);
    let after = agents(&admin).await[0].clone();
    assert_eq!(after["public_key"], json!(new_key), "the new key is pinned");
    assert_eq!(
        after["connected_since"], before["connected_since"],
        "the same tunnel throughout"
    );
    assert!(
        tokio::time::timeout(Duration::from_secs(1), body.frame())
            .await
            .is_err(),
        "the followed log is still open"
    );
    let rows = crate::audit_rows(&admin, "action=edge.agent.rotate_key").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["result"], "ok", "{rows:?}");

    // Started again on its data, the agent proves its new key.
    stop.cancel();
    until("the agent gone", SETTLE, async || {
        agents(&admin).await[0]["connected"] == json!(false)
    })
    .await;
    let again = CancellationToken::new();
    let dir = data.path().to_path_buf();
    let _unused = edge_agent_with(&pki, addr, None, &again, |c| c.data_dir = dir).await;
    until_connected(&admin, 1, SETTLE).await;
    again.cancel();
    until("the agent gone again", SETTLE, async || {
        agents(&admin).await[0]["connected"] == json!(false)
    })
    .await;

    // The same agent with its old key: refused.
    let stale = CancellationToken::new();
    let dir = old.path().to_path_buf();
    let _unused = edge_agent_with(&pki, addr, None, &stale, |c| c.data_dir = dir).await;
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        agents(&admin).await[0]["connected"],
        json!(false),
        "the old key opens nothing"
    );
    stale.cancel();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_clusters_agents_enrol_with_one_token_and_any_of_them_reaches_every_node() {
    use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
    let (pki, _data, addr, admin) = scene().await;
    // One token for the whole cluster, as a global service's tasks share a Docker secret.
    let made = enrol_token(&admin, json!({"endpoint": "swarm-a", "max_uses": 3})).await;
    let token = made["token"].as_str().unwrap().to_owned();
    let mut engines = Vec::new();
    let mut kept = Vec::new();
    let mut stops = Vec::new();
    let mut seed = None;
    for n in 0..3 {
        let mut spec = FakeEngineSpec::new(&format!("edge-swarm-{n}"));
        spec.containers = 1;
        let engine = FakeEngine::start(spec).await.expect("a stand-in engine");
        let data = tempfile::tempdir().expect("tempdir");
        let mut config = pki.agent_config("127.0.0.1:0".parse().unwrap());
        config.engine = bosun_agent::upstream::EngineAddr::Tcp(engine.addr().to_string());
        config.data_dir = data.path().to_path_buf();
        config.fanout_deadline = Duration::from_secs(3);
        config.edge = Some(EdgeConfig {
            console: ConsoleUrl::parse(&format!("https://localhost:{}", addr.port())).unwrap(),
            enrol_token: Some(token.clone()),
            console_ca: Some(pki.ca_cert()),
            https_proxy: None,
            no_proxy: None,
        });
        let stop = CancellationToken::new();
        let (_api, gossip) = gossiping_agent(config, seed, stop.clone()).await;
        seed.get_or_insert(gossip);
        engines.push(engine);
        kept.push(data);
        stops.push(stop);
        // One at a time, a second apart: the newest tunnel, the one the console goes
        // through, is then the one connected last.
        until_connected(&admin, n + 1, SETTLE).await;
        tokio::time::sleep(Duration::from_millis(1100)).await;
    }
    let enrolled = agents(&admin).await;
    let ids: std::collections::BTreeSet<&str> = enrolled
        .iter()
        .filter_map(|a| a["agent_id"].as_str())
        .collect();
    assert_eq!(
        ids.len(),
        3,
        "each enrolled with its own identity: {enrolled:?}"
    );
    assert!(
        enrolled
            .iter()
            .all(|a| a["endpoint"] == enrolled[0]["endpoint"]),
        "one endpoint for the cluster: {enrolled:?}"
    );
    let endpoint = crate::docker_api::endpoint_id(&admin, "swarm-a").await;
    let every_node = async |what: &str| {
        let names: Vec<String> = engines.iter().flat_map(|e| e.container_names()).collect();
        eventually(what, SETTLE, || async {
            let list = admin
                .get(&format!("/api/endpoints/{endpoint}/containers"))
                .await;
            let text = list.text();
            match names.iter().find(|n| !text.contains(n.as_str())) {
                None if list.status == StatusCode::OK => Ok(()),
                missing => Err(format!("{} {missing:?}: {text}", list.status)),
            }
        })
        .await;
    };
    every_node("every node's container, through the cluster's tunnels").await;

    // The agent the console goes through (the newest tunnel) is revoked: the others still
    // reach every node, that one's included (its agent still serves its cluster).
    let newest = enrolled
        .iter()
        .max_by_key(|a| a["connected_since"].as_u64())
        .and_then(|a| a["agent_id"].as_str())
        .unwrap()
        .to_owned();
    let answer = admin.delete(&format!("/api/edge/agents/{newest}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    until_connected(&admin, 2, SETTLE).await;
    every_node("every node's container, through the two tunnels left").await;
    for stop in stops {
        stop.cancel();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_stopping_edge_agent_finishes_what_is_in_flight_and_takes_nothing_new() {
    let (pki, _data, addr, admin) = scene().await;
    let made = enrol_token(&admin, json!({"endpoint": "site-drain", "max_uses": 1})).await;
    let stop = CancellationToken::new();
    let grace = Duration::from_secs(30);
    let (_dir, running) = edge_agent_running(&pki, addr, made["token"].as_str(), &stop, |c| {
        // Only the tunnel serves, as with `--listen none`.
        c.no_listener = true;
        c.shutdown_grace = grace;
    })
    .await;
    until_connected(&admin, 1, SETTLE).await;
    let endpoint = crate::docker_api::endpoint_id(&admin, "site-drain").await;

    // In flight: a followed log, which ends when its container does.
    let name = Name::new("ui-drain");
    name.run(&[
        "sh",
        "-c",
        "echo drain-first; trap 'echo drain-last; exit 0' TERM; while true; do sleep 1; done",
    ]);
    let resp = admin
        .stream(&format!(
            "/api/endpoints/{endpoint}/containers/{}/logs?follow=1&tail=all",
            name.as_str()
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut seen = String::new();
    let mut ended = false;
    let mut read_until = async |seen: &mut String, ended: &mut bool, line: &str| {
        while !seen.contains(line) && !*ended {
            match tokio::time::timeout(SETTLE, body.frame()).await {
                Err(_) => panic!("no {line:?} within {SETTLE:?}; so far: {seen:?}"),
                Ok(Some(Ok(frame))) => {
                    if let Some(data) = frame.data_ref() {
                        seen.push_str(&String::from_utf8_lossy(data));
                    }
                }
                Ok(_) => *ended = true,
            }
        }
    };
    read_until(&mut seen, &mut ended, "drain-first").await;

    let stopped_at = Instant::now();
    stop.cancel();
    // Nothing new reaches the engine through a stopping agent: it says it is stopping...
    let version = format!("/api/endpoints/{endpoint}/containers");
    let mut refused = None;
    until(
        "a request to the stopping agent refused",
        SETTLE,
        async || {
            let answer = admin.get(&version).await;
            let done = answer.status != StatusCode::OK;
            refused = Some(answer);
            done
        },
    )
    .await;
    let refused = refused.expect("an answer");
    assert_eq!(
        refused.status,
        StatusCode::SERVICE_UNAVAILABLE,
        "{}",
        refused.text()
    );
    assert!(
        refused.json()["message"]
            .as_str()
            .is_some_and(|m| m.contains("stopping")),
        "{}",
        refused.text()
    );
    // ...and answers the console's heartbeat (every 5 s) meanwhile, so that the tunnel
    // stays up for the log in flight...
    tokio::time::sleep(tunnel::HEARTBEAT + Duration::from_secs(2)).await;
    assert!(
        !running.is_finished(),
        "the agent left with a log in flight"
    );

    // ...which runs on to its end.
    engine_ok(&["stop", "-t", "10", name.as_str()]);
    read_until(&mut seen, &mut ended, "drain-last").await;
    assert!(
        seen.contains("drain-last"),
        "the followed log was cut before its container's last line: {seen:?}"
    );
    tokio::time::timeout(Duration::from_secs(10), running)
        .await
        .expect("the agent stops within 10 s of its last request ending")
        .expect("the agent's task");
    assert!(
        stopped_at.elapsed() < grace,
        "the agent waited out its whole grace period ({:?})",
        stopped_at.elapsed()
    );
}
