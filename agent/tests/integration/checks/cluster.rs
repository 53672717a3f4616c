//! Policies pushed through one agent to a cluster of three (stand-in engines, gossip on
//! loopback): each node gets its own entry only, and the answer names each node's outcome;
//! results read cluster-wide with a cursor per node, and a node gone named as missing.

use std::time::{Duration, Instant};

use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use serde_json::Value;
use tempfile::TempDir;

use super::{args, call, policy, push, results, seqs, tcp_check, Port, Signer, RESULTS};
use crate::harness::*;

const CONVERGE: Duration = Duration::from_secs(30);

struct Member {
    agent: Agent,
    _engine: FakeEngine,
    _data: TempDir,
}

async fn member(
    pki: &Pki,
    signer: &Signer,
    name: &str,
    join: Option<std::net::SocketAddr>,
    more: &[&str],
) -> Member {
    let engine = FakeEngine::start(FakeEngineSpec::new(name))
        .await
        .expect("a stand-in engine");
    let data = tempfile::tempdir().expect("tempdir");
    let mut extra = vec![
        "--docker-host".to_owned(),
        engine.docker_host(),
        "--gossip-listen".to_owned(),
        "127.0.0.1:0".to_owned(),
        "--fanout-deadline".to_owned(),
        "3s".to_owned(),
    ];
    if let Some(join) = join {
        extra.extend(["--join".to_owned(), join.to_string()]);
    }
    extra.extend(more.iter().map(|s| (*s).to_owned()));
    let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
    let agent = blocking(|| Agent::start_with(&args(pki, data.path(), Some(signer), &extra)));
    Member {
        agent,
        _engine: engine,
        _data: data,
    }
}

/// Waits until `agent` sees `names` alive.
async fn until_alive(pki: &Pki, agent: &Agent, names: &[&str]) {
    let started = Instant::now();
    loop {
        let (_, v) = call(pki, agent, "GET", "/agent/v1/members", None, None).await;
        let alive: Vec<&str> = v["Members"]
            .as_array()
            .map(|ms| {
                ms.iter()
                    .filter(|m| m["State"] == "alive")
                    .filter_map(|m| m["NodeName"].as_str())
                    .collect()
            })
            .unwrap_or_default();
        if names.iter().all(|n| alive.contains(n)) {
            return;
        }
        assert!(started.elapsed() < CONVERGE, "{} sees {v}", agent.addr);
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn outcome<'a>(outcomes: &'a [Value], node: &str) -> &'a Value {
    outcomes
        .iter()
        .find(|o| o["node"] == node)
        .unwrap_or_else(|| panic!("no outcome for {node}: {outcomes:?}"))
}

fn node<'a>(cluster: &'a Value, name: &str) -> Option<&'a Value> {
    cluster["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .find(|n| n["node"] == name)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_push_through_one_agent_reaches_each_node_and_results_read_cluster_wide() {
    let pki = Pki::by_commands();
    let signer = Signer::new();
    // A profile that reaches chk-1 only.
    let profiles = pki.dir.path().join("profiles.toml");
    std::fs::write(
        &profiles,
        "[profiles.only-1]\nallow = { \"*\" = \"write\" }\nnodes = [\"chk-1\"]\n",
    )
    .expect("write the policy file");
    let profiles = profiles.display().to_string();
    let a = member(&pki, &signer, "chk-1", None, &["--policy", &profiles]).await;
    let seed = a.agent.gossip.expect("gossip");
    let b = member(&pki, &signer, "chk-2", Some(seed), &[]).await;
    let c = member(&pki, &signer, "chk-3", Some(seed), &[]).await;
    for m in [&a, &b, &c] {
        until_alive(&pki, &m.agent, &["chk-1", "chk-2", "chk-3"]).await;
    }
    let port = Port::open().await;
    let sign = |node: &str, version: u64| {
        signer.sign(&policy(
            node,
            version,
            vec![tcp_check(&format!("on-{node}"), port.port, 0)],
        ))
    };
    let (p1, p2, p3) = (sign("chk-1", 1), sign("chk-2", 1), sign("chk-3", 1));
    // chk-3's entry is chk-2's policy: chk-3 refuses it, which only chk-3 can say.
    let outcomes = push(
        &pki,
        &a.agent,
        &[
            ("chk-1", &p1),
            ("chk-2", &p2),
            ("chk-3", &p2),
            ("ghost", &p1),
        ],
    )
    .await;
    assert_eq!(outcomes.len(), 4, "{outcomes:?}");
    assert_eq!(
        outcome(&outcomes, "chk-1")["outcome"],
        "applied",
        "{outcomes:?}"
    );
    assert_eq!(
        outcome(&outcomes, "chk-2")["outcome"],
        "applied",
        "{outcomes:?}"
    );
    assert_eq!(outcome(&outcomes, "chk-2")["version"], 1, "{outcomes:?}");
    let refused = outcome(&outcomes, "chk-3");
    assert_eq!(refused["outcome"], "refused", "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("\"chk-2\"") && r.contains("\"chk-3\"")),
        "{refused}"
    );
    let ghost = outcome(&outcomes, "ghost");
    assert_eq!(ghost["outcome"], "unreachable", "{ghost}");
    assert!(
        ghost["reason"]
            .as_str()
            .is_some_and(|r| r.contains("not a member")),
        "{ghost}"
    );
    // Through another agent this time, with chk-3's own policy.
    let outcomes = push(&pki, &b.agent, &[("chk-3", &p3), ("chk-1", &p1)]).await;
    assert_eq!(
        outcome(&outcomes, "chk-3")["outcome"],
        "applied",
        "{outcomes:?}"
    );
    assert_eq!(
        outcome(&outcomes, "chk-1")["outcome"],
        "unchanged",
        "{outcomes:?}"
    );

    // Each node runs its own policy only.
    let cluster = eventually("every node's results", RESULTS, || async {
        let v = results(&pki, &a.agent, "scope=cluster").await;
        let ready = ["chk-1", "chk-2", "chk-3"].iter().all(|name| {
            node(&v, name).is_some_and(|n| n["results"].as_array().is_some_and(|r| r.len() >= 2))
        });
        if ready {
            Ok(v)
        } else {
            Err(v.to_string())
        }
    })
    .await;
    assert_eq!(cluster["missing"], serde_json::json!([]), "{cluster}");
    for name in ["chk-1", "chk-2", "chk-3"] {
        let n = node(&cluster, name).expect("the node");
        assert_eq!(n["policy"]["version"], 1, "{n}");
        let checks: Vec<&str> = n["results"]
            .as_array()
            .expect("results")
            .iter()
            .filter_map(|r| r["check"].as_str())
            .collect();
        let own = format!("on-{name}");
        assert!(checks.iter().all(|c| *c == own), "{name}: {checks:?}");
    }

    // A cursor per node: chk-2 from where it was read, the others from the start.
    let b_seqs = seqs(node(&cluster, "chk-2").expect("chk-2"));
    let b_cursor = *b_seqs.last().expect("a result");
    let cursored = results(
        &pki,
        &a.agent,
        &format!("scope=cluster&cursor=chk-2:{b_cursor}"),
    )
    .await;
    let b_after = seqs(node(&cursored, "chk-2").expect("chk-2"));
    assert!(
        b_after.iter().all(|s| *s > b_cursor),
        "{b_after:?} after {b_cursor}"
    );
    assert_eq!(
        seqs(node(&cursored, "chk-1").expect("chk-1"))[0],
        1,
        "{cursored}"
    );
    assert_eq!(
        seqs(node(&cursored, "chk-3").expect("chk-3"))[0],
        1,
        "{cursored}"
    );

    // A client pushes only to the nodes its profile reaches.
    let narrow = pki.profile_token("pat", "only-1");
    let (p1_v2, p2_v2) = (sign("chk-1", 2), sign("chk-2", 2));
    let body = serde_json::json!({"policies": {"chk-1": p1_v2, "chk-2": p2_v2}});
    let (parts, answer) = call(
        &pki,
        &a.agent,
        "PUT",
        "/agent/v1/checks/policies",
        Some(&body),
        Some(&narrow),
    )
    .await;
    assert_eq!(parts.status, 200, "{answer}");
    let outcomes = answer["nodes"].as_array().expect("nodes");
    assert_eq!(outcome(outcomes, "chk-1")["outcome"], "applied", "{answer}");
    let out_of_reach = outcome(outcomes, "chk-2");
    assert_eq!(out_of_reach["outcome"], "unreachable", "{answer}");
    assert!(
        out_of_reach["reason"]
            .as_str()
            .is_some_and(|r| r.contains("may not reach node \"chk-2\"")),
        "{answer}"
    );
    let (_, b_policy) = call(&pki, &b.agent, "GET", "/agent/v1/checks/policy", None, None).await;
    assert_eq!(b_policy["status"]["version"], 1, "{b_policy}");

    // A node whose agent is gone is named, in the answer and its header.
    drop(c);
    let (parts, partial) = call(
        &pki,
        &a.agent,
        "GET",
        "/agent/v1/checks?scope=cluster",
        None,
        None,
    )
    .await;
    assert_eq!(parts.status, 200, "{partial}");
    assert!(node(&partial, "chk-3").is_none(), "{partial}");
    assert!(
        partial["missing"]
            .as_array()
            .is_some_and(|m| m.iter().any(|m| m["node"] == "chk-3")),
        "{partial}"
    );
    let header = parts
        .headers
        .get("x-agent-partial")
        .and_then(|v| v.to_str().ok())
        .unwrap_or_default();
    assert!(header.contains("chk-3"), "{header:?}");
    port.close().await;
}
