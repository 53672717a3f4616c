//! Node down with real agents: two agents of one cluster in this process (one in front
//! of the real engine, one of a fake engine); the second stops, and the console fires node
//! down after the rule's `for`, then resolves it when an agent of that node joins again.

use std::net::SocketAddr;
use std::time::Duration;

use bosun_agent::upstream::EngineAddr;
use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use bosun_ui::watch::NoticeState;
use http::StatusCode;
use serde_json::json;
use tokio_util::sync::CancellationToken;

use super::{pair, transitions, until_alert, watched_console};
use crate::common::*;

/// An agent of `pki`'s cluster in front of `engine`, gossiping on loopback, which the
/// test can stop.
async fn cluster_agent(
    pki: &Pki,
    engine: EngineAddr,
    node: Option<&str>,
    join: Option<SocketAddr>,
    data: &std::path::Path,
) -> (SocketAddr, SocketAddr, CancellationToken) {
    let mut config = pki.agent_config("127.0.0.1:0".parse().expect("addr"));
    config.engine = engine;
    config.data_dir = data.to_path_buf();
    config.node_name = node.map(str::to_owned);
    config.fanout_deadline = Duration::from_secs(3);
    let stop = CancellationToken::new();
    let (api, gossip) = gossiping_agent(config, join, stop.clone()).await;
    (api, gossip, stop)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_stopped_agent_fires_node_down_after_its_for_and_resolves_when_back() {
    let pki = Pki::new();
    let dirs = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (agent, gossip, first_stop) = cluster_agent(
        &pki,
        EngineAddr::Unix(bosun_testkit::https::ENGINE_SOCKET.into()),
        Some("bosun-it-al-real"),
        None,
        dirs.0.path(),
    )
    .await;
    let fake_node = Name::new("al-fake").0.clone();
    let fake = FakeEngine::start(FakeEngineSpec::new(&fake_node))
        .await
        .expect("the fake engine");
    let (_, _, second_stop) = cluster_agent(
        &pki,
        EngineAddr::Tcp(fake.addr().to_string()),
        Some(&fake_node),
        Some(gossip),
        dirs.1.path(),
    )
    .await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &pki, agent);
    let mut console = watched_console(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let rules = admin.get("/api/alert-rules").await.json();
    let node_down = rules
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["kind"] == "node_down")
        .and_then(|r| r["id"].as_i64())
        .unwrap_or_else(|| panic!("a default node-down rule: {rules}"));
    let changed = admin
        .patch(&format!("/api/alert-rules/{node_down}"), &json!({"for": 4}))
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());

    second_stop.cancel();
    let firing = until_alert(&admin, "node_down", &fake_node, "firing").await;
    assert_eq!(firing["severity"], "critical");
    assert_eq!(
        transitions(&admin, &firing).await,
        vec![pair("inactive", "pending"), pair("pending", "firing")]
    );
    let notice = console.notice_about(&fake_node).await;
    assert_eq!(notice.state, NoticeState::Firing);

    // The node's agent comes back (a new agent of the same name joins).
    let (_, _, back_stop) = cluster_agent(
        &pki,
        EngineAddr::Tcp(fake.addr().to_string()),
        Some(&fake_node),
        Some(gossip),
        dirs.1.path(),
    )
    .await;
    let resolved = until_alert(&admin, "node_down", &fake_node, "resolved").await;
    assert_eq!(resolved["id"], firing["id"]);
    let notice = console.notice_about(&fake_node).await;
    assert_eq!(notice.state, NoticeState::Resolved);
    console.stop().await;
    back_stop.cancel();
    first_stop.cancel();
}
