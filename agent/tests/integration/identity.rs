//! The agent's own ID: made once and kept in the data directory across restarts, taken
//! as given from `--agent-id`, refused when malformed; and one ID shown by two agents in
//! front of different engines (a cloned machine) flagged in the members list, not merged.

use std::collections::BTreeSet;
use std::net::SocketAddr;
use std::path::Path;
use std::time::Duration;

use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use serde_json::{json, Value};

use crate::harness::*;
use bosun_testkit::https::*;

/// A bound on how long a cluster may take to agree, so that a broken one fails.
const CONVERGE: Duration = Duration::from_secs(30);

/// `bosun-agent run` flags for an agent of `pki`'s cluster keeping its state in `data`.
fn args_with_data(pki: &Pki, data: &Path) -> Vec<String> {
    let mut args = pki.run_args();
    let at = args
        .iter()
        .position(|a| a == "--data-dir")
        .expect("the standard flags name a data directory");
    args[at + 1] = data.display().to_string();
    args
}

/// `GET path` through the agent at `addr` with the client certificate, as JSON.
async fn get(pki: &Pki, addr: SocketAddr, path: &str) -> Value {
    let mut sender = connect(pki, addr, true).await;
    let (parts, body) = roundtrip(&mut sender, empty(request("GET", path))).await;
    assert_eq!(
        parts.status,
        200,
        "{path}: {}",
        String::from_utf8_lossy(&body)
    );
    json_of(&body)
}

async fn agent_id(pki: &Pki, agent: &Agent) -> String {
    let info = get(pki, agent.addr, "/agent/v1/info").await;
    let members = get(pki, agent.addr, "/agent/v1/members").await;
    let me = members["Members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["Self"] == true))
        .cloned()
        .unwrap_or(Value::Null);
    assert_eq!(
        me["AgentID"], info["AgentID"],
        "the members list shows the ID /agent/v1/info does"
    );
    assert_eq!(me["DuplicateID"], false, "{me}");
    info["AgentID"]
        .as_str()
        .unwrap_or_else(|| panic!("/agent/v1/info names the agent ID: {info}"))
        .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_made_id_is_kept_across_restarts_and_a_given_one_is_used_as_is() {
    let pki = Pki::by_commands();
    let dir = tempfile::tempdir().expect("tempdir");
    let data = dir.path().join("data");
    let args = args_with_data(&pki, &data);

    let agent = blocking(|| Agent::start_with(&args));
    let made = agent_id(&pki, &agent).await;
    let bytes = made.as_bytes();
    assert!(
        made.len() == 36 && bytes[14] == b'4' && made.chars().filter(|c| *c == '-').count() == 4,
        "a UUID v4: {made}"
    );
    assert_eq!(
        std::fs::read_to_string(data.join("agent-id"))
            .expect("kept in the data directory")
            .trim(),
        made
    );
    drop(agent);

    let again = blocking(|| Agent::start_with(&args));
    assert_eq!(
        agent_id(&pki, &again).await,
        made,
        "the same after a restart"
    );
    drop(again);

    let mut given = args.clone();
    given.extend(["--agent-id".into(), "vm-7.eu_west-1".into()]);
    let named = blocking(|| Agent::start_with(&given));
    assert_eq!(agent_id(&pki, &named).await, "vm-7.eu_west-1");
    drop(named);
    assert_eq!(
        std::fs::read_to_string(data.join("agent-id"))
            .expect("still there")
            .trim(),
        made,
        "a given ID does not replace the kept one"
    );
}

#[test]
fn a_malformed_id_or_an_unwritable_data_dir_stops_the_start_naming_the_flag() {
    let pki = Pki::by_commands();
    let dir = tempfile::tempdir().expect("tempdir");
    let mut base = vec!["run".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
    base.extend(args_with_data(&pki, &dir.path().join("data")));
    let run = |extra: &[&str]| {
        let mut args = base.clone();
        args.extend(extra.iter().map(|s| (*s).to_owned()));
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        agent_cmd(&args)
    };

    for bad in ["has space", "a/b", &"x".repeat(65), ""] {
        let out = run(&["--agent-id", bad]);
        let err = String::from_utf8_lossy(&out.stderr);
        assert_eq!(out.status.code(), Some(2), "{bad:?}: {err}");
        assert!(err.contains("--agent-id"), "{bad:?}: {err}");
    }

    // A plain file where the data directory should be: nowhere to keep a new ID.
    let file = dir.path().join("plain-file");
    std::fs::write(&file, "x").expect("write");
    let mut args = vec!["run".to_owned(), "--listen".into(), "127.0.0.1:0".into()];
    args.extend(args_with_data(&pki, &file.join("data")));
    let args: Vec<&str> = args.iter().map(String::as_str).collect();
    let out = agent_cmd(&args);
    let err = String::from_utf8_lossy(&out.stderr);
    assert_eq!(out.status.code(), Some(2), "{err}");
    assert!(
        err.contains("--data-dir") && err.contains("agent ID"),
        "{err}"
    );
}

/// An agent of `pki`'s cluster gossiping on loopback in front of `engine`, as `id`.
fn cluster_agent(pki: &Pki, engine: &FakeEngine, id: &str, join: Option<SocketAddr>) -> Agent {
    let mut args = pki.run_args();
    args.extend(
        [
            "--gossip-listen",
            "127.0.0.1:0",
            "--discovery-interval",
            "500ms",
            "--docker-host",
            &engine.docker_host(),
            "--agent-id",
            id,
        ]
        .map(String::from),
    );
    if let Some(join) = join {
        args.extend(["--join".into(), join.to_string()]);
    }
    Agent::start_with(&args)
}

async fn fake(name: &str, engine_labels: &[&str]) -> FakeEngine {
    let mut spec = FakeEngineSpec::new(name);
    spec.containers = 1;
    spec.engine_labels = engine_labels.iter().map(|l| (*l).to_owned()).collect();
    FakeEngine::start(spec).await.expect("start a fake engine")
}

/// The members `agent` lists once it sees every node of `names` alive, and the answer.
async fn members_once_all_alive(pki: &Pki, agent: &Agent, names: &[&str]) -> Value {
    eventually("every node alive", CONVERGE, || async {
        let answer = get(pki, agent.addr, "/agent/v1/members").await;
        let alive: BTreeSet<&str> = answer["Members"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|m| m["State"] == "alive")
            .filter_map(|m| m["NodeName"].as_str())
            .collect();
        if names.iter().all(|n| alive.contains(n)) {
            Ok(answer.clone())
        } else {
            Err(format!("{answer}"))
        }
    })
    .await
}

fn member<'a>(answer: &'a Value, name: &str) -> &'a Value {
    answer["Members"]
        .as_array()
        .and_then(|ms| ms.iter().find(|m| m["NodeName"] == name))
        .unwrap_or_else(|| panic!("{name} is listed: {answer}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn one_id_from_two_engines_is_flagged_on_every_agent_and_a_third_is_not() {
    let pki = Pki::by_commands();
    let (n1, n2, n3) = ("bosun-it-id-one", "bosun-it-id-two", "bosun-it-id-three");
    let f1 = fake(n1, &["zone=eu-1", "disk=ssd"]).await;
    let f2 = fake(n2, &[]).await;
    let f3 = fake(n3, &["zone=us-2"]).await;
    let a1 = blocking(|| cluster_agent(&pki, &f1, "cloned-vm", None));
    let seed = a1.gossip.expect("gossip address");
    let a2 = blocking(|| cluster_agent(&pki, &f2, "cloned-vm", Some(seed)));
    let a3 = blocking(|| cluster_agent(&pki, &f3, "own-id", Some(seed)));

    for agent in [&a1, &a2, &a3] {
        let answer = members_once_all_alive(&pki, agent, &[n1, n2, n3]).await;
        let (m1, m2, m3) = (
            member(&answer, n1),
            member(&answer, n2),
            member(&answer, n3),
        );
        assert_eq!(m1["AgentID"], "cloned-vm");
        assert_eq!(m2["AgentID"], "cloned-vm");
        assert_eq!(m3["AgentID"], "own-id");
        assert_eq!(m1["DuplicateID"], true, "{answer}");
        assert_eq!(m2["DuplicateID"], true, "{answer}");
        assert_eq!(m3["DuplicateID"], false, "{answer}");
        // The engines' labels travel with gossip.
        assert_eq!(m1["Labels"], json!({"zone": "eu-1", "disk": "ssd"}));
        assert_eq!(m2["Labels"], json!({}));
        assert_eq!(m3["Labels"], json!({"zone": "us-2"}));
        let conflicts = answer["Conflicts"].as_array().expect("a list of conflicts");
        assert_eq!(conflicts.len(), 1, "{answer}");
        assert_eq!(conflicts[0]["AgentID"], "cloned-vm");
        let nodes: BTreeSet<&str> = conflicts[0]["Nodes"]
            .as_array()
            .expect("nodes")
            .iter()
            .filter_map(Value::as_str)
            .collect();
        assert_eq!(nodes, BTreeSet::from([n1, n2]));
        // Not merged: both cloned nodes still serve their own containers.
        let list = get(&pki, agent.addr, "/v1.41/containers/json?all=1").await;
        let nodes: BTreeSet<&str> = list
            .as_array()
            .expect("a list")
            .iter()
            .filter_map(|c| c["Agent"]["NodeName"].as_str())
            .collect();
        assert!(nodes.is_superset(&BTreeSet::from([n1, n2, n3])), "{list}");
    }

    // Each agent warns of the conflict once, not once per request.
    let warnings = |agent: &Agent| {
        agent
            .log()
            .lines()
            .filter(|l| l.contains("one agent ID shown by nodes with different engines"))
            .count()
    };
    let counts = || [&a1, &a2, &a3].map(warnings);
    let before = eventually("every agent warned", CONVERGE, || async {
        let now = counts();
        if now.iter().all(|n| *n >= 1) {
            Ok(now)
        } else {
            Err(format!("{now:?}"))
        }
    })
    .await;
    for _ in 0..10 {
        get(&pki, a3.addr, "/agent/v1/members").await;
    }
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert_eq!(counts(), before, "no warning per request");
}
