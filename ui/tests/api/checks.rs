//! Checks through the console with real agents: checks written on the console (a tcp
//! check on a loopback port the test holds, a script check on the real engine), targeted
//! at all nodes, by name and by role; signed, pushed, run, pulled and shown per node with
//! each node's policy; a node that does not trust the console's key refuses, and the
//! refusal shows; viewers read but do not write; bad input names its field; the console
//! away for two minutes loses no result, and a node whose buffer is too small for the
//! gap counts what it lost.

mod fixtures;

use std::time::Duration;

use bosun_fake_engine::SwarmRole;
use http::StatusCode;
use serde_json::{json, Value};

use crate::audit_rows;
use crate::common::*;
use fixtures::*;

#[tokio::test(flavor = "multi_thread")]
async fn checks_are_signed_pushed_run_and_shown_per_node() {
    ensure_image();
    let real = Name::new("ck-real").0.clone();
    let worker = Name::new("ck-worker").0.clone();
    let manager = Name::new("ck-manager").0.clone();
    let stranger = Name::new("ck-stranger").0.clone();
    let cluster = check_cluster(vec![
        NodeSpec::real(&real),
        NodeSpec::fake(&worker, Some(SwarmRole::Worker)),
        NodeSpec::fake(&manager, Some(SwarmRole::Manager { leader: true })),
        NodeSpec::fake(&stranger, None).untrusting(),
    ])
    .await;
    let admin = cluster.admin().await;
    admin.add_user("victor", "viewer").await;
    let viewer = Client::logged_in(cluster.addr(), "victor", "password-123").await;
    let open = OpenPort::open().await;
    let port = open.port;

    // A viewer reads, and cannot write.
    let all = tcp_check("port open", port, json!({"by": "all"}));
    let refused = viewer.post(&format!("{E}/checks"), &all).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let listed = viewer.get(&format!("{E}/checks")).await;
    assert_eq!(listed.status, StatusCode::OK, "{}", listed.text());
    assert_eq!(listed.json()["checks"], json!([]));
    assert_eq!(listed.json()["version"], 0);

    // Bad input: 400, the field named, nothing made.
    let bad = [
        (
            json!({"name": "x", "timeout_secs": 1, "target": {"by": "all"},
                "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 1}}),
            "interval_secs",
        ),
        (
            tcp_check("x", port, json!({"by": "names", "names": []})),
            "target.names",
        ),
        (
            tcp_check("x", port, json!({"by": "role", "role": "boss"})),
            "boss",
        ),
        (
            json!({"name": "x", "interval_secs": 5, "timeout_secs": 1, "target": {"by": "all"},
                "probe": {"kind": "http", "url": "ftp://x"}}),
            "url",
        ),
        (
            json!({"name": "x", "interval_secs": 5, "timeout_secs": 1, "target": {"by": "all"},
                "probe": {"kind": "script", "image": "bosun-test:latest"}}),
            "exactly one of script and argv",
        ),
        (
            json!({"name": "x", "interval_secs": 5, "timeout_secs": 1, "target": {"by": "all"},
                "probe": {"kind": "ping"}}),
            "ping",
        ),
    ];
    for (body, field) in &bad {
        let answer = admin.post(&format!("{E}/checks"), body).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{body}: {}",
            answer.text()
        );
        assert!(
            answer.message().contains(field),
            "{field} named: {}",
            answer.message()
        );
    }
    assert_eq!(
        admin.get(&format!("{E}/checks")).await.json()["checks"],
        json!([])
    );

    // Three checks: on all nodes, a script on the real node by name, one on the workers.
    let tcp = create(&admin, &all).await;
    let script = create(
        &admin,
        &json!({"name": "script warns", "interval_secs": 2, "timeout_secs": 20,
                "probe": {"kind": "script", "image": IMAGE, "script": "echo disk at 91%; exit 1"},
                "target": {"by": "names", "names": [real]}}),
    )
    .await;
    let workers = create(
        &admin,
        &tcp_check(
            "workers' port",
            port,
            json!({"by": "role", "role": "worker"}),
        ),
    )
    .await;
    let listed = viewer.get(&format!("{E}/checks")).await.json();
    assert_eq!(
        listed["checks"].as_array().map(Vec::len),
        Some(3),
        "{listed}"
    );
    let version = listed["version"].as_u64().expect("a version");
    assert!(version > 0);
    assert_eq!(listed["concurrency"], 10);

    // Each trusting node runs what selects it, at the latest version.
    for node in [&real, &worker, &manager] {
        let r = until_state(&viewer, &tcp, node, "ok").await;
        assert_eq!(r["kind"], "tcp");
        assert_eq!(r["name"], "port open");
        assert!(r["duration_ms"].is_u64(), "{r}");
        assert!(r["at_ms"].as_u64().unwrap_or(0) > 0, "{r}");
    }
    let warned = until_state(&viewer, &script, &real, "warning").await;
    assert_eq!(warned["status"], "warning");
    assert!(
        warned["output"]
            .as_str()
            .unwrap_or_default()
            .contains("disk at 91%"),
        "{warned}"
    );
    until_state(&viewer, &workers, &worker, "ok").await;
    let now = status(&viewer).await;
    for node in [&real, &manager, &stranger] {
        assert!(
            row(&now, &workers, node).is_none(),
            "{workers} only on workers: {now}"
        );
    }
    for node in [&worker, &manager, &stranger] {
        assert!(
            row(&now, &script, node).is_none(),
            "{script} only on {real}: {now}"
        );
    }
    let latest = admin.get(&format!("{E}/checks")).await.json()["version"].clone();
    for node in [&real, &worker, &manager] {
        let n = node_status(&now, node).unwrap_or_else(|| panic!("{node}: {now}"));
        assert_eq!(n["policy_version"], latest, "{n}");
        assert_eq!(n["want_version"], latest, "{n}");
        assert_eq!(n["refused"], Value::Null, "{n}");
        assert_eq!(n["lost"], 0, "{n}");
        assert!(
            !n["agent_id"].as_str().unwrap_or_default().is_empty(),
            "{n}"
        );
        assert!(!n["epoch"].as_str().unwrap_or_default().is_empty(), "{n}");
    }

    // The node that does not trust the console's key refuses, and says why.
    let refusal = eventually(
        "the stranger's refusal",
        Duration::from_secs(30),
        || async {
            let now = status(&viewer).await;
            match node_status(&now, &stranger) {
                Some(n) if n["refused"].is_object() => Ok(n.clone()),
                _ => Err(now.to_string()),
            }
        },
    )
    .await;
    assert_eq!(refusal["policy_version"], 0, "{refusal}");
    assert!(
        !refusal["refused"]["reason"]
            .as_str()
            .unwrap_or_default()
            .is_empty(),
        "{refusal}"
    );
    assert!(row(&status(&viewer).await, &tcp, &stranger).is_none());

    // Push now: admins only; each node says what it did.
    let push = format!("{E}/checks/push");
    assert_eq!(
        viewer.post(&push, &json!({})).await.status,
        StatusCode::FORBIDDEN
    );
    let pushed = admin.post(&push, &json!({})).await;
    assert_eq!(pushed.status, StatusCode::OK, "{}", pushed.text());
    let outcomes = pushed.json()["nodes"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let outcome = |node: &str| {
        outcomes
            .iter()
            .find(|o| o["node"] == node)
            .map(|o| o["outcome"].clone())
            .unwrap_or_else(|| panic!("{node} in {outcomes:?}"))
    };
    for node in [&real, &worker, &manager] {
        assert_eq!(
            outcome(node),
            "unchanged",
            "the same version again: {outcomes:?}"
        );
    }
    assert_eq!(outcome(&stranger), "refused", "{outcomes:?}");

    // The concurrency is a setting of the endpoint, checked, and a new version.
    let settings = format!("{E}/checks/settings");
    let zero = put(&admin, &settings, &json!({"concurrency": 0})).await;
    assert_eq!(zero.status, StatusCode::BAD_REQUEST, "{}", zero.text());
    assert!(zero.message().contains("concurrency"), "{}", zero.message());
    assert_eq!(
        put(&viewer, &settings, &json!({"concurrency": 3}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let set = put(&admin, &settings, &json!({"concurrency": 3})).await;
    assert_eq!(set.status, StatusCode::OK, "{}", set.text());
    let listed = admin.get(&format!("{E}/checks")).await.json();
    assert_eq!(listed["concurrency"], 3);
    assert!(listed["version"].as_u64() > latest.as_u64(), "{listed}");
    let bad_since = viewer
        .get(&format!("{E}/checks/{tcp}/history?since=soon"))
        .await;
    assert_eq!(bad_since.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_since.message().contains("since"),
        "{}",
        bad_since.message()
    );
    assert_eq!(
        viewer.get(&format!("{E}/checks/c999/history")).await.status,
        StatusCode::NOT_FOUND
    );

    // The port closes: critical on every node, in the state and in the history.
    open.close().await;
    for node in [&real, &worker, &manager] {
        let r = until_state(&viewer, &tcp, node, "critical").await;
        assert_eq!(r["status"], "critical");
    }
    let points = history(&viewer, &tcp, &real, 600).await;
    assert!(points.iter().any(|p| p["state"] == "ok"), "{points:?}");
    assert_eq!(
        points.last().map(|p| p["state"].clone()),
        Some(json!("critical"))
    );
    assert!(
        points
            .windows(2)
            .all(|w| w[0]["at_ms"].as_u64() <= w[1]["at_ms"].as_u64()),
        "oldest first"
    );

    // Deleting a check takes it off the nodes and out of the answer; audited.
    assert_eq!(
        viewer.delete(&format!("{E}/checks/{workers}")).await.status,
        StatusCode::FORBIDDEN
    );
    let gone = admin.delete(&format!("{E}/checks/{workers}")).await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text());
    assert!(row(&status(&viewer).await, &workers, &worker).is_none());
    let edited = put(
        &admin,
        &format!("{E}/checks/{script}"),
        &json!({"name": "script fails", "interval_secs": 2, "timeout_secs": 20,
                "probe": {"kind": "script", "image": IMAGE, "script": "echo down; exit 2"},
                "target": {"by": "names", "names": [real]}}),
    )
    .await;
    assert_eq!(edited.status, StatusCode::OK, "{}", edited.text());
    assert_eq!(edited.json()["id"], script.as_str());
    until_state(&viewer, &script, &real, "critical").await;
    let after = status(&viewer).await;
    assert!(row(&after, &workers, &worker).is_none(), "{after}");
    let final_version = admin.get(&format!("{E}/checks")).await.json()["version"].clone();
    assert_eq!(
        node_status(&after, &worker).map(|n| n["policy_version"].clone()),
        Some(final_version),
        "{after}"
    );
    eprintln!(
        "version {}; {stranger} refused: {}",
        admin.get(&format!("{E}/checks")).await.json()["version"],
        refusal["refused"]["reason"]
    );
    assert_eq!(audit_rows(&admin, "action=checks.push").await.len(), 1);
    assert_eq!(audit_rows(&admin, "action=checks.settings").await.len(), 1);
    let rows = audit_rows(&admin, "action=check.create").await;
    assert_eq!(rows.len(), 3, "{rows:?}");
    assert!(rows
        .iter()
        .all(|r| r["user"] == ADMIN && r["endpoint"] == "local"));
    assert_eq!(audit_rows(&admin, "action=check.delete").await.len(), 1);
    assert_eq!(audit_rows(&admin, "action=check.update").await.len(), 1);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_node_that_joins_later_is_sent_its_policy() {
    let first = Name::new("ck-first").0.clone();
    let late = Name::new("ck-late").0.clone();
    let mut cluster = check_cluster(vec![NodeSpec::fake(&first, None)]).await;
    let open = OpenPort::open().await;
    let admin = cluster.admin().await;
    let tcp = create(&admin, &tcp_check("port", open.port, json!({"by": "all"}))).await;
    until_state(&admin, &tcp, &first, "ok").await;

    cluster.start_node(&NodeSpec::fake(&late, None)).await;
    cluster.until_members().await;
    let r = until_state(&admin, &tcp, &late, "ok").await;
    assert_eq!(r["name"], "port");
    let version = admin.get(&format!("{E}/checks")).await.json()["version"].clone();
    let now = status(&admin).await;
    for node in [&first, &late] {
        let n = node_status(&now, node).unwrap_or_else(|| panic!("{node}: {now}"));
        assert_eq!(n["policy_version"], version, "{n}");
    }
    open.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_by_label_runs_only_where_every_label_matches() {
    let both = Name::new("ck-lbl-both").0.clone();
    let one = Name::new("ck-lbl-one").0.clone();
    let none = Name::new("ck-lbl-none").0.clone();
    let cluster = check_cluster(vec![
        NodeSpec::fake(&both, None).engine_labels(&["zone=east", "disk=ssd"]),
        NodeSpec::fake(&one, None).engine_labels(&["zone=east", "disk=hdd"]),
        NodeSpec::fake(&none, None),
    ])
    .await;
    let open = OpenPort::open().await;
    let admin = cluster.admin().await;
    let east = create(
        &admin,
        &tcp_check(
            "east",
            open.port,
            json!({"by": "labels", "labels": {"zone": "east"}}),
        ),
    )
    .await;
    let ssd = create(
        &admin,
        &tcp_check(
            "east ssd",
            open.port,
            json!({"by": "labels", "labels": {"zone": "east", "disk": "ssd"}}),
        ),
    )
    .await;
    until_state(&admin, &east, &both, "ok").await;
    until_state(&admin, &east, &one, "ok").await;
    until_state(&admin, &ssd, &both, "ok").await;
    // Every node has its policy; the rows are only where the labels select.
    let version = admin.get(&format!("{E}/checks")).await.json()["version"].clone();
    eventually(
        "every node at the version",
        Duration::from_secs(30),
        || async {
            let now = status(&admin).await;
            match [&both, &one, &none]
                .iter()
                .all(|n| node_status(&now, n).is_some_and(|s| s["policy_version"] == version))
            {
                true => Ok(now),
                false => Err(now.to_string()),
            }
        },
    )
    .await;
    let now = status(&admin).await;
    assert!(row(&now, &ssd, &one).is_none(), "{now}");
    assert!(row(&now, &east, &none).is_none(), "{now}");
    assert!(row(&now, &ssd, &none).is_none(), "{now}");
    open.close().await;
}

/// The console stops for two minutes while a 1 s check runs on two nodes: the one with
/// the default buffer gives every result of the gap when the console is back; the one
/// whose buffer holds 10 counts what it dropped.
mod away {
    use super::*;

    #[tokio::test(flavor = "multi_thread")]
    async fn the_console_away_for_two_minutes_loses_nothing_but_an_overflow() {
        let roomy = Name::new("ck-roomy").0.clone();
        let small = Name::new("ck-small").0.clone();
        let mut cluster = check_cluster(vec![
            NodeSpec::fake(&roomy, None),
            NodeSpec::fake(&small, None).results(10),
        ])
        .await;
        let open = OpenPort::open().await;
        let port = open.port;
        let admin = cluster.admin().await;
        let tcp = create(&admin, &tcp_check("port", port, json!({"by": "all"}))).await;
        until_state(&admin, &tcp, &roomy, "ok").await;
        until_state(&admin, &tcp, &small, "ok").await;
        let before = history(&admin, &tcp, &roomy, 600).await;
        let last_before = before
            .last()
            .and_then(|p| p["seq"].as_u64())
            .expect("a seq");

        cluster.console_away(Duration::from_secs(120)).await;
        let admin = cluster.admin().await;
        let points = eventually("the gap's results", Duration::from_secs(30), || async {
            let points = history(&admin, &tcp, &roomy, 600).await;
            let last = points.last().and_then(|p| p["seq"].as_u64()).unwrap_or(0);
            if last >= last_before + 110 {
                Ok(points)
            } else {
                Err(format!("last seq {last}, before {last_before}"))
            }
        })
        .await;
        let seqs: Vec<u64> = points.iter().filter_map(|p| p["seq"].as_u64()).collect();
        let first = seqs[0];
        let expected: Vec<u64> = (first..first + seqs.len() as u64).collect();
        assert_eq!(seqs, expected, "every result, once, in order");
        let now = status(&admin).await;
        let roomy_status = node_status(&now, &roomy).expect("roomy");
        assert_eq!(roomy_status["lost"], 0, "{roomy_status}");
        let small_status = node_status(&now, &small).expect("small");
        let lost = small_status["lost"].as_u64().unwrap_or(0);
        assert!(
            lost >= 100,
            "two minutes of a 1 s check in a buffer of 10: {small_status}"
        );
        assert!(
            small_status["agent_lost"].as_u64().unwrap_or(0) >= lost,
            "the agent counts at least what the console missed: {small_status}"
        );
        let small_points = history(&admin, &tcp, &small, 600).await;
        let small_seqs: Vec<u64> = small_points
            .iter()
            .filter_map(|p| p["seq"].as_u64())
            .collect();
        let kept = small_seqs.len() as u64;
        let span = small_seqs.last().copied().unwrap_or(0) - small_seqs[0] + 1;
        assert_eq!(
            span - kept,
            lost,
            "what is missing from the history is what was lost"
        );
        eprintln!(
            "console away 120 s: {} results of {roomy} caught up (seq {}..={}), lost 0; {small} lost {lost}",
            seqs.len(),
            first,
            seqs.last().copied().unwrap_or(0)
        );
        open.close().await;
    }
}
