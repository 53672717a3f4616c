//! Two nodes of one cluster for the merged logs: an agent in front of this machine's engine
//! and a second agent, gossiping with it, in front of a fake engine (one real engine cannot
//! be two nodes); on each a container of the same Compose project that keeps writing.

use std::net::SocketAddr;
use std::time::Duration;

use bosun_agent::upstream::EngineAddr;
use bosun_fake_engine::{FakeEngine, FakeEngineSpec};

use crate::common::gossiping_agent;
use bosun_testkit::*;

/// The node the real engine's agent calls itself.
pub const REAL_NODE: &str = "bosun-it-real-node";

/// The two nodes and their containers; the real container is removed when dropped.
pub struct TwoNodes {
    pub pki: Pki,
    /// The agent in front of the real engine: the console's endpoint.
    pub agent: SocketAddr,
    pub project: String,
    /// The real engine's container: writes `real-N` every 130 ms.
    pub real: Name,
    /// The fake engine's container and node: `log line N from NAME` every 200 ms.
    pub fake_container: String,
    pub fake_node: String,
    _fake: FakeEngine,
    _dirs: (tempfile::TempDir, tempfile::TempDir),
}

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
    let (api, gossip) =
        gossiping_agent(config, join, tokio_util::sync::CancellationToken::new()).await;
    (api, gossip)
}

/// Starts both nodes and their containers, named after `tag`.
pub async fn two_nodes(tag: &str) -> TwoNodes {
    let pki = Pki::new();
    let project = Name::new(tag).0.clone();
    let dirs = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (agent, gossip) = cluster_agent(
        &pki,
        EngineAddr::Unix(https::ENGINE_SOCKET.into()),
        Some(REAL_NODE),
        None,
        dirs.0.path(),
    )
    .await;
    let fake_node = format!("{project}-fake");
    let mut spec = FakeEngineSpec::new(&fake_node);
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
    let real = Name::new(&format!("{tag}-real"));
    ensure_image();
    let label = format!("com.docker.compose.project={project}");
    engine_ok(&[
        "run",
        "-d",
        "--name",
        real.as_str(),
        "--label",
        &label,
        IMAGE,
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo real-$i; sleep 0.13; done",
    ]);
    TwoNodes {
        pki,
        agent,
        fake_container: format!("{fake_node}-c0"),
        fake_node,
        project,
        real,
        _fake: fake,
        _dirs: dirs,
    }
}
