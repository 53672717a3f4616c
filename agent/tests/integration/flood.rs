//! The agent under floods, bounded in count and time and on loopback only, its memory
//! measured: 10,000 idle connections from 127.0.0.2 and 1,000 stalled TLS handshakes from
//! 127.0.0.3 while an authenticated client on 127.0.0.1 keeps being served; and 40
//! parallel 4 MB manager operations through a worker, which holds no more than its body
//! budget. Each runs alone, so that other tests neither slow it nor count in its memory.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use serde_json::json;

use crate::access::{as_token, exchange};
use crate::harness::*;
use bosun_testkit::https::*;

const IDLE: usize = 10_000;
const STALLED: usize = 1_000;
/// What the agent may use at the height of the flood.
const CEILING_KB: u64 = 64 * 1024;
/// How far above its idle level the agent may stay once the flood is over.
const SETTLED_KB: u64 = 5 * 1024;
/// Authenticated connections made before the idle level is measured.
const WARM_UP: usize = 1200;

fn rss_kb(pid: u32) -> u64 {
    let status =
        std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the agent's status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

fn open_files_limit() -> u64 {
    let limits = std::fs::read_to_string("/proc/self/limits").expect("limits");
    limits
        .lines()
        .find(|l| l.starts_with("Max open files"))
        .and_then(|l| l.split_whitespace().nth(3))
        .and_then(|v| v.parse().ok())
        .unwrap_or(0)
}

/// Opens `count` connections from `source` to `target`, `wave` at a time; each gets
/// `first_bytes` written, then is held open.
async fn open_many(
    source: IpAddr,
    target: SocketAddr,
    count: usize,
    first_bytes: &'static [u8],
) -> Vec<TcpStream> {
    let mut held = Vec::with_capacity(count);
    let mut left = count;
    while left > 0 {
        let wave = left.min(250);
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..wave {
            tasks.spawn(async move {
                let socket = TcpSocket::new_v4().ok()?;
                socket.bind(SocketAddr::new(source, 0)).ok()?;
                let mut stream =
                    tokio::time::timeout(Duration::from_secs(5), socket.connect(target))
                        .await
                        .ok()?
                        .ok()?;
                if !first_bytes.is_empty() {
                    let _ = stream.write_all(first_bytes).await;
                }
                Some(stream)
            });
        }
        while let Some(done) = tasks.join_next().await {
            if let Ok(Some(stream)) = done {
                held.push(stream);
            }
        }
        left -= wave;
    }
    held
}

/// An authenticated `GET /_ping` on a new connection.
async fn ping(pki: &Pki, addr: SocketAddr) -> u16 {
    let mut sender = connect(pki, addr, true).await;
    let (parts, _) = roundtrip(&mut sender, empty(request("GET", "/v1.41/_ping"))).await;
    parts.status.as_u16()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_flood_of_idle_connections_and_stalled_handshakes_leaves_the_agent_serving() {
    let limit = open_files_limit();
    assert!(
        limit >= (IDLE + STALLED + 1000) as u64,
        "this test holds {} sockets; the open-files limit is {limit} (raise it with ulimit -n)",
        IDLE + STALLED
    );
    let pki = Pki::by_commands();
    let fake = FakeEngine::start(FakeEngineSpec::new("fake-flood"))
        .await
        .expect("fake engine");
    let agent = blocking(|| {
        let mut args = pki.run_args();
        args.extend(["--docker-host".to_owned(), fake.docker_host()]);
        Agent::start_with(&args)
    });
    // The idle level is that of an agent that has served: TLS session caches filled by as
    // many connections as the authenticated client makes during the flood.
    for _ in 0..WARM_UP {
        assert_eq!(ping(&pki, agent.addr).await, 200);
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    let before = rss_kb(agent.pid());

    let started = Instant::now();
    let addr = agent.addr;
    let flood = tokio::spawn(async move {
        let idle = open_many([127, 0, 0, 2].into(), addr, IDLE, b"").await;
        // The first bytes of a TLS record, and then nothing.
        let stalled = open_many(
            [127, 0, 0, 3].into(),
            addr,
            STALLED,
            &[0x16, 0x03, 0x01, 0x02, 0x00],
        )
        .await;
        (idle, stalled)
    });
    // An authenticated client, on a new connection each time, all through the flood.
    let mut served = 0;
    let mut peak = before;
    while !flood.is_finished() || started.elapsed() < Duration::from_secs(4) {
        assert!(
            started.elapsed() < Duration::from_secs(90),
            "the flood did not end in 90 s"
        );
        let status = tokio::time::timeout(LIVENESS, ping(&pki, addr))
            .await
            .expect("the authenticated client is answered during the flood");
        assert_eq!(status, 200);
        served += 1;
        peak = peak.max(rss_kb(agent.pid()));
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    let (idle, stalled) = flood.await.expect("the flood");
    peak = peak.max(rss_kb(agent.pid()));
    let opened = idle.len() + stalled.len();
    drop(idle);
    drop(stalled);

    // Once the flood is gone, memory settles back.
    let mut after = rss_kb(agent.pid());
    let settle = Instant::now();
    while after > before + SETTLED_KB && settle.elapsed() < Duration::from_secs(15) {
        tokio::time::sleep(Duration::from_millis(500)).await;
        after = rss_kb(agent.pid());
    }
    assert_eq!(ping(&pki, addr).await, 200);
    println!(
        "flood: {opened} connections opened by the client, {served} authenticated pings served; agent RSS {before} kB before, {peak} kB peak, {after} kB after"
    );
    assert!(served >= 10, "only {served} pings in the flood");
    assert!(
        peak < CEILING_KB,
        "peak RSS {peak} kB over the {CEILING_KB} kB ceiling"
    );
    assert!(
        after <= before + SETTLED_KB,
        "RSS {after} kB after the flood, {before} kB before"
    );
    let log = agent.log();
    assert!(
        log.contains("connections refused: a connection cap is reached"),
        "the refusals are logged"
    );
    let pings = fake
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("_ping"))
        .count();
    assert_eq!(
        pings,
        WARM_UP + served + 1,
        "only the authenticated client's pings reach the engine"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_worker_holds_no_more_manager_bodies_than_its_budget() {
    use bosun_fake_engine::SwarmRole;
    let pki = Pki::by_commands();
    let mut spec = FakeEngineSpec::new("fake-bw");
    spec.swarm = Some(SwarmRole::Worker);
    let w = FakeEngine::start(spec).await.expect("worker");
    let mut spec = FakeEngineSpec::new("fake-bm");
    spec.swarm = Some(SwarmRole::Manager { leader: true });
    let m = FakeEngine::start(spec).await.expect("manager");
    let agent = |host: String, join: Option<std::net::SocketAddr>| {
        let mut args = pki.run_args();
        args.extend(
            [
                "--gossip-listen",
                "127.0.0.1:0",
                "--discovery-interval",
                "500ms",
            ]
            .map(String::from),
        );
        args.extend(["--docker-host".to_owned(), host]);
        if let Some(j) = join {
            args.extend(["--join".to_owned(), j.to_string()]);
        }
        Agent::start_with(&args)
    };
    let am = blocking(|| agent(m.docker_host(), None));
    let aw = blocking(|| agent(w.docker_host(), am.gossip));
    let admin = blocking(|| pki.token("root", "admin"));
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = as_token(&pki, &aw, &admin, "GET", "/agent/v1/members", &[], None).await;
        if code == 200
            && body.contains("fake-bm")
            && body.contains("fake-bw")
            && body.contains("\"Leader\":true")
        {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the worker never saw the leader: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The manager is slow to answer, so the worker holds every body at once.
    m.set_latency(Duration::from_millis(1500));
    let before = rss_kb(aw.pid());
    let data = "A".repeat(4_000_000);
    let mut requests = Vec::new();
    for i in 0..40 {
        let body = serde_json::to_vec(&json!({"Name": format!("bosun-it-cfg-{i}"), "Data": data}))
            .expect("json");
        let head = format!(
            "POST /v1.41/configs/create HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {admin}\r\nContent-Type: application/json\r\nContent-Length: {}\r\n\r\n",
            body.len()
        );
        requests.push(exchange(&pki, &aw, head, body));
    }
    let all = futures_util::future::join_all(requests);
    tokio::pin!(all);
    let mut peak = before;
    let answers = loop {
        tokio::select! {
            answers = &mut all => break answers,
            _ = tokio::time::sleep(Duration::from_millis(50)) => peak = peak.max(rss_kb(aw.pid())),
        }
    };
    let (mut created, mut busy) = (0, 0);
    for (code, message) in &answers {
        match code {
            201 => created += 1,
            503 if message.contains("already holds") || message.contains("its share") => busy += 1,
            other => panic!("unexpected {other}: {message}"),
        }
    }
    println!("manager bodies: {created} created, {busy} refused as over budget; worker RSS {before} kB before, {peak} kB peak");
    assert!(created >= 1 && busy >= 1, "{created} created, {busy} busy");
    assert!(
        peak < before + 80 * 1024,
        "the worker grew from {before} kB to {peak} kB"
    );
}
