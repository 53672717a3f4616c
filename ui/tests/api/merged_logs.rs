//! Several containers' logs as one, across two nodes: an agent in front of this machine's
//! engine and a second agent of the same cluster in front of a fake engine (one real
//! engine cannot be two nodes), both containers of one Compose project.

use std::net::SocketAddr;
use std::time::Duration;

use bosun_agent::cluster::{ClusterConfig, Discovery};
use bosun_agent::upstream::EngineAddr;
use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use serde_json::Value;

use super::logs::{read_events, Event};
use crate::common::*;

/// The node the real engine's agent calls itself.
const REAL_NODE: &str = "bosun-it-real-node";

/// An agent of `pki`'s cluster gossiping on loopback, in front of `engine`, joining `join`;
/// its API and gossip addresses.
async fn cluster_agent(
    pki: &Pki,
    engine: EngineAddr,
    node: Option<&str>,
    join: Option<SocketAddr>,
    data: &std::path::Path,
) -> (SocketAddr, SocketAddr) {
    let mut config = pki.agent_config("127.0.0.1:0".parse().expect("addr"));
    config.engine = engine;
    config.data_dir = data.to_path_buf();
    config.node_name = node.map(str::to_owned);
    config.fanout_deadline = Duration::from_secs(3);
    config.cluster = Some(ClusterConfig {
        gossip_listen: "127.0.0.1:0".parse().expect("addr"),
        advertise: None,
        discovery: Discovery {
            join: join.map(|j| vec![j.to_string()]).unwrap_or_default(),
            interval: Duration::from_millis(500),
            ..Discovery::default()
        },
    });
    let agent = bosun_agent::server::Agent::bind(config)
        .await
        .expect("the agent starts");
    let api = agent.local_addr().expect("addr");
    let gossip = agent.gossip_addr().expect("gossip");
    tokio::spawn(agent.run(tokio_util::sync::CancellationToken::new()));
    (api, gossip)
}

/// The merged lines: (time, container, node, line).
fn lines_of(events: &[Event]) -> Vec<(i128, String, String, String)> {
    events
        .iter()
        .filter(|e| e.kind.is_none())
        .map(|e| {
            let v: Value = serde_json::from_str(&e.data).expect("a JSON line");
            let t = v["t"].as_str().expect("a time");
            let at = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
                .expect("RFC 3339")
                .unix_timestamp_nanos();
            let text = |k: &str| v[k].as_str().unwrap_or_default().to_owned();
            (at, text("container"), text("node"), text("line"))
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projects_logs_on_two_nodes_come_as_one_stream_in_time_order() {
    let pki = Pki::new();
    let project = Name::new("ui-merged").0.clone();
    let dirs = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (real_agent, gossip) = cluster_agent(
        &pki,
        EngineAddr::Unix(bosun_testkit::https::ENGINE_SOCKET.into()),
        Some(REAL_NODE),
        None,
        dirs.0.path(),
    )
    .await;
    let mut spec = FakeEngineSpec::new(&format!("{project}-fake"));
    spec.containers = 1;
    spec.labels = vec![("com.docker.compose.project".into(), project.clone())];
    let fake = FakeEngine::start(spec).await.expect("the fake engine");
    cluster_agent(
        &pki,
        EngineAddr::Tcp(fake.addr().to_string()),
        None,
        Some(gossip),
        dirs.1.path(),
    )
    .await;

    // The real container writes a line every 130 ms, the fake one every 200 ms.
    let real = Name::new("ui-merged-real");
    ensure_image();
    engine_ok(&[
        "run",
        "-d",
        "--name",
        real.as_str(),
        "--label",
        &format!("com.docker.compose.project={project}"),
        IMAGE,
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo real-$i; sleep 0.13; done",
    ]);
    let fake_container = format!("{project}-fake-c0");
    let fake_node = format!("{project}-fake");

    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &pki, real_agent);
    let console = start_console(&args).await;
    let admin = Client::logged_in(console, ADMIN, ADMIN_PASSWORD).await;
    let id = super::local_endpoint(&admin.get("/api/endpoints").await.json());
    let path = format!("/api/endpoints/{id}/logs?project={project}&tail=all");

    // Both nodes' containers are found once the cluster has formed.
    eventually("both containers in the merged history", SETTLE, || async {
        let events = read_events(&admin, &path, ANSWER, |_| false).await;
        let lines = lines_of(&events);
        let both =
            lines.iter().any(|l| l.1 == fake_container) && lines.iter().any(|l| l.1 == real.0);
        if both {
            Ok(())
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;

    let events = read_events(&admin, &format!("{path}&follow=1"), SETTLE, |e| {
        let lines = lines_of(e);
        let live = |who: &str| lines.iter().filter(|l| l.1 == who).count();
        live(&real.0) >= 25 && live(&fake_container) >= 15
    })
    .await;
    let lines = lines_of(&events);
    assert!(
        !events.iter().any(|e| e.kind.as_deref() == Some("notice")),
        "no notice: {events:?}"
    );

    // One stream in timestamp order, each line tagged with its container and node.
    for pair in lines.windows(2) {
        assert!(pair[0].0 <= pair[1].0, "in time order: {pair:?}");
    }
    for (_, container, node, line) in &lines {
        if *container == real.0 {
            assert_eq!(node, REAL_NODE);
            assert!(line.starts_with("real-"), "{line}");
        } else {
            assert_eq!(*container, fake_container);
            assert_eq!(*node, fake_node);
            assert!(line.ends_with(&format!("from {fake_container}")), "{line}");
        }
    }
    // Each container's lines once each and in order, history and followed part alike.
    let numbered = |who: &str, number: fn(&str) -> Option<u64>| -> Vec<u64> {
        lines
            .iter()
            .filter(|l| l.1 == who)
            .filter_map(|l| number(&l.3))
            .collect()
    };
    let real_lines = numbered(&real.0, |l| l.strip_prefix("real-")?.parse().ok());
    assert_eq!(
        real_lines,
        (1..=real_lines.len() as u64).collect::<Vec<_>>()
    );
    let fake_lines = numbered(&fake_container, |l| {
        l.strip_prefix("log line ")?.split(' ').next()?.parse().ok()
    });
    assert_eq!(
        fake_lines,
        (1..=fake_lines.len() as u64).collect::<Vec<_>>()
    );
    // The live lines of the two nodes interleave.
    let recent: Vec<&String> = lines.iter().rev().take(30).map(|l| &l.1).collect();
    let switches = recent.windows(2).filter(|w| w[0] != w[1]).count();
    assert!(
        switches >= 8,
        "interleaved: {:?}",
        &lines[lines.len().saturating_sub(30)..]
    );

    // A selector is needed, and one that finds nothing says so.
    let none = admin.get(&format!("/api/endpoints/{id}/logs")).await;
    assert_eq!(none.status, http::StatusCode::BAD_REQUEST);
    let nothing = admin
        .get(&format!(
            "/api/endpoints/{id}/logs?project=bosun-it-no-such-project"
        ))
        .await;
    assert_eq!(
        nothing.status,
        http::StatusCode::NOT_FOUND,
        "{}",
        nothing.text()
    );
    assert_eq!(nothing.message(), "no container matches");
}
