//! Agent IDs on the console's nodes list: each node's ID, and one ID shown by nodes with
//! different engines (a cloned machine) flagged on both nodes and named in the answer's
//! conflicts. Three agents on loopback in front of fake engines (one real engine cannot
//! be three nodes).

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::time::Duration;

use bosun_agent::upstream::EngineAddr;
use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use serde_json::{json, Value};

use crate::common::*;

/// An agent of `pki`'s cluster in this process, gossiping on loopback in front of
/// `engine` as `agent_id`; its API and gossip addresses.
async fn agent(
    pki: &Pki,
    engine: &FakeEngine,
    agent_id: &str,
    join: Option<SocketAddr>,
) -> (SocketAddr, SocketAddr) {
    let mut config = pki.agent_config("127.0.0.1:0".parse().expect("addr"));
    config.engine = EngineAddr::Tcp(engine.addr().to_string());
    config.agent_id = Some(agent_id.to_owned());
    config.fanout_deadline = Duration::from_secs(3);
    let (api, gossip) =
        gossiping_agent(config, join, tokio_util::sync::CancellationToken::new()).await;
    (api, gossip)
}

async fn fake(name: &str, engine_labels: &[&str]) -> FakeEngine {
    let mut spec = FakeEngineSpec::new(name);
    spec.containers = 1;
    spec.engine_labels = engine_labels.iter().map(|l| (*l).to_owned()).collect();
    FakeEngine::start(spec).await.expect("a fake engine")
}

fn item<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["items"]
        .as_array()
        .and_then(|items| items.iter().find(|n| n["NodeName"] == name))
        .unwrap_or_else(|| panic!("{name} is listed: {answer}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn the_nodes_list_flags_a_cloned_agent_id_and_names_its_nodes() {
    let pki = Pki::new();
    let (n1, n2, n3) = ("ui-id-one", "ui-id-two", "ui-id-three");
    let f1 = fake(n1, &["zone=eu-1"]).await;
    let f2 = fake(n2, &[]).await;
    let f3 = fake(n3, &[]).await;
    let (endpoint, seed) = agent(&pki, &f1, "cloned-vm", None).await;
    agent(&pki, &f2, "cloned-vm", Some(seed)).await;
    agent(&pki, &f3, "own-id", Some(seed)).await;

    let data = tempfile::tempdir().expect("tempdir");
    let console = start_console(&console_args(data.path(), &pki, endpoint)).await;
    let admin = Client::logged_in(console, ADMIN, ADMIN_PASSWORD).await;
    let id = super::local_endpoint(&admin.get("/api/endpoints").await.json());

    let answer = eventually("the three nodes alive", SETTLE, || async {
        let answer = admin.get(&format!("/api/endpoints/{id}/nodes")).await;
        let body = answer.json();
        let alive = body["items"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["State"] == "alive")
            .count();
        if answer.status == 200 && alive == 3 {
            Ok(body)
        } else {
            Err(format!("{} {body}", answer.status))
        }
    })
    .await;

    let (one, two, three) = (item(&answer, n1), item(&answer, n2), item(&answer, n3));
    assert_eq!(one["AgentID"], "cloned-vm");
    assert_eq!(two["AgentID"], "cloned-vm");
    assert_eq!(three["AgentID"], "own-id");
    assert_eq!(one["DuplicateID"], true, "{answer}");
    assert_eq!(two["DuplicateID"], true, "{answer}");
    assert_eq!(three["DuplicateID"], false, "{answer}");
    assert_eq!(one["Labels"], json!({"zone": "eu-1"}));
    let conflicts = answer["conflicts"].as_array().expect("a list of conflicts");
    assert_eq!(conflicts.len(), 1, "{answer}");
    assert_eq!(conflicts[0]["AgentID"], "cloned-vm");
    let nodes: BTreeSet<&str> = conflicts[0]["Nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .filter_map(Value::as_str)
        .collect();
    assert_eq!(nodes, BTreeSet::from([n1, n2]));
}
