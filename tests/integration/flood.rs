//! The agent under a flood from one unauthenticated client, bounded in count and time and
//! on loopback only: 10,000 idle connections from 127.0.0.2 and 1,000 stalled TLS
//! handshakes from 127.0.0.3, while an authenticated client on 127.0.0.1 keeps being
//! served. The agent's memory stays under a ceiling and returns to its idle level.

use std::net::{IpAddr, SocketAddr};
use std::time::{Duration, Instant};

use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpSocket, TcpStream};

use crate::harness::*;
use crate::raw::*;

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
    let pki = Pki::new();
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
