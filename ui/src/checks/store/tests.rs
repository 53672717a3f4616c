//! The checks' tables: versions only go up, ids are given once, a deleted check leaves
//! nothing behind, and a node's results are stored once each with what was lost counted.

use bosun_serve::checks::{CheckResult, CheckState, NodeChecks, PolicyStatus, Status};
use serde_json::json;

use super::*;

fn store_with_endpoint() -> (Store, i64) {
    let store = Store::in_memory().expect("store");
    store.add_tables(SCHEMA).expect("tables");
    let (ca, _) = bosun_serve::pki::Ca::generate("test CA").expect("CA");
    let endpoint = store
        .create_endpoint(
            "e",
            "https://localhost:9001",
            ca.cert_pem(),
            "key",
            None,
            &crate::profiles::ProfileMap::default(),
        )
        .expect("endpoint");
    (store, endpoint.id)
}

fn input(name: &str) -> CheckInput {
    CheckInput::parse(
        json!({"name": name, "interval_secs": 1, "timeout_secs": 1,
               "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 9},
               "target": {"by": "all"}})
        .to_string()
        .as_bytes(),
    )
    .expect("valid")
}

fn result(seq: u64, status: Status) -> CheckResult {
    CheckResult {
        seq,
        check: "c1".into(),
        name: "port".into(),
        at_ms: 1_000 + seq,
        status,
        state: status,
        output: format!("run {seq}"),
        duration_ms: seq,
    }
}

fn answer(epoch: &str, seqs: std::ops::RangeInclusive<u64>, first: u64, lost: u64) -> NodeChecks {
    let results: Vec<_> = seqs.map(|s| result(s, Status::Critical)).collect();
    let next = results.last().map_or(first.max(1), |r| r.seq + 1);
    NodeChecks {
        node: "n1".into(),
        agent_id: "agent-1".into(),
        epoch: epoch.into(),
        policy: PolicyStatus {
            version: 7,
            checks: 1,
            applied_at: Some(5),
            refused: None,
        },
        first_seq: first,
        next_seq: next,
        lost,
        capacity: 10,
        states: vec![CheckState {
            check: "c1".into(),
            name: "port".into(),
            state: Status::Critical,
            since_ms: 1_001,
            last: results.last().cloned(),
        }],
        results,
    }
}

#[test]
fn versions_only_go_up_and_ids_are_given_once() {
    let (store, e) = store_with_endpoint();
    assert_eq!(store.check_config(e).expect("config").version, 0);
    let (first, v1) = store.create_check(e, input("a")).expect("made");
    let (second, v2) = store.create_check(e, input("b")).expect("made");
    assert_eq!((first.id.as_str(), second.id.as_str()), ("c1", "c2"));
    assert!(
        v1 >= crate::checks::now_ms() - 60_000,
        "a version is a time: {v1}"
    );
    assert!(v2 > v1);
    let (edited, v3) = store.update_check(e, "c1", input("a2")).expect("edited");
    assert_eq!(edited.id, "c1");
    assert!(v3 > v2);
    let v4 = store.set_check_concurrency(e, 3).expect("set");
    assert!(v4 > v3);
    assert_eq!(
        store.check_config(e).expect("config"),
        CheckConfig {
            version: v4,
            concurrency: 3
        }
    );
    let (gone, v5) = store.delete_check(e, "c1").expect("deleted");
    assert_eq!(gone.name, "a2");
    assert!(v5 > v4);
    let (third, _) = store.create_check(e, input("c")).expect("made");
    assert_eq!(third.id, "c3", "a deleted check's id is not given again");
    let ids: Vec<String> = store
        .check_defs(e)
        .expect("defs")
        .into_iter()
        .map(|d| d.id)
        .collect();
    assert_eq!(ids, ["c2", "c3"]);
    assert!(matches!(
        store.update_check(e, "c1", input("x")),
        Err(StoreError::NotFound(_))
    ));
    assert!(matches!(
        store.delete_check(e, "c9"),
        Err(StoreError::NotFound(_))
    ));
    assert_eq!(store.endpoints_with_checks().expect("list"), [e]);
}

#[test]
fn results_are_stored_once_and_gaps_and_new_epochs_are_counted() {
    let (store, e) = store_with_endpoint();
    store.create_check(e, input("port")).expect("made");
    // The first pull: results 1..=3.
    let got = store
        .ingest_checks(e, &answer("ep1", 1..=3, 1, 0), 0)
        .expect("stored");
    assert_eq!(got, Ingest::Stored { more: false });
    let node = &store.check_nodes(e).expect("nodes")[0];
    assert_eq!((node.cursor, node.lost, node.policy_version), (3, 0, 7));
    assert_eq!(node.epoch, "ep1");
    // The same answer again stores nothing twice.
    store
        .ingest_checks(e, &answer("ep1", 1..=3, 1, 0), 0)
        .expect("stored");
    assert_eq!(
        store
            .check_history(e, "c1", None, 0)
            .expect("history")
            .len(),
        3
    );
    // The buffer went round: 4..=6 evicted before the console came; the agent counted 3.
    let mut more = answer("ep1", 7..=8, 7, 3);
    more.next_seq = 12;
    let got = store.ingest_checks(e, &more, 3).expect("stored");
    assert_eq!(got, Ingest::Stored { more: true });
    let node = &store.check_nodes(e).expect("nodes")[0];
    assert_eq!(
        (node.cursor, node.lost),
        (8, 3),
        "the gap and the agent's count agree"
    );
    // The agent started again: the cursor goes back to 0 and the answer is asked again.
    let got = store
        .ingest_checks(e, &answer("ep2", 9..=9, 1, 0), 8)
        .expect("stored");
    assert_eq!(got, Ingest::NewEpoch { reask: true });
    assert_eq!(store.check_nodes(e).expect("nodes")[0].cursor, 0);
    store
        .ingest_checks(e, &answer("ep2", 1..=2, 1, 0), 0)
        .expect("stored");
    let node = &store.check_nodes(e).expect("nodes")[0];
    assert_eq!((node.cursor, node.lost, node.epoch.as_str()), (2, 3, "ep2"));
    let points = store
        .check_history(e, "c1", Some("n1"), 0)
        .expect("history");
    assert_eq!(points.len(), 7);
    assert!(points.iter().all(|p| p.state == Status::Critical));
    assert!(store
        .check_history(e, "c1", Some("n2"), 0)
        .expect("history")
        .is_empty());

    let states = store.check_states(e).expect("states");
    assert_eq!(states.len(), 1);
    assert_eq!(states[0].output, "run 2");
    assert_eq!(states[0].status, Some(Status::Critical));

    assert_eq!(store.prune_check_history(1_004).expect("pruned"), 5);
    store.delete_check(e, "c1").expect("deleted");
    assert!(store.check_states(e).expect("states").is_empty());
    assert!(store
        .check_history(e, "c1", None, 0)
        .expect("history")
        .is_empty());
}

#[test]
fn a_push_and_an_error_are_recorded_per_node() {
    let (store, e) = store_with_endpoint();
    store
        .set_check_node_error(e, "n2", "down")
        .expect("recorded");
    let refusal = Refusal {
        at: 9,
        version: Some(4),
        reason: "bad signature".into(),
    };
    store
        .set_check_node_pushed(e, "n2", None, Some(&refusal))
        .expect("recorded");
    store
        .set_check_node_pushed(e, "n3", Some(4), None)
        .expect("recorded");
    let nodes = store.check_nodes(e).expect("nodes");
    assert_eq!(nodes[0].error.as_deref(), Some("down"));
    assert_eq!(nodes[0].refused, Some(refusal));
    assert_eq!(nodes[1].policy_version, 4);
    store
        .ingest_checks(e, &answer("ep", 1..=1, 1, 0), 0)
        .expect("stored");
    assert!(store
        .check_nodes(e)
        .expect("nodes")
        .iter()
        .all(|n| n.node != "n1" || n.error.is_none()));
}
