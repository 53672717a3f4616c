//! Usage history with real parts: a real agent sampling this machine every few seconds, and
//! the console pulling its samples into the history. A stopped console catches up from the
//! agent's hour when it starts again; an agent that was down shows as a gap no longer
//! than the time it was down.

mod common;

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::{json, Value};

use common::*;

/// The agent's sampling interval: the shortest whose hour the API still gives sample by
/// sample (900 points), so that a gap of a few seconds shows.
const SAMPLING: Duration = Duration::from_secs(4);
/// The console's pulling interval.
const PULLING: Duration = Duration::from_secs(1);

/// The node's hour of history as the API gives it.
async fn hour_of(client: &Client, node: &str) -> Value {
    let answer = client
        .get(&format!("/api/endpoints/1/usage/nodes/{node}?range=1h"))
        .await;
    if answer.status == StatusCode::NOT_FOUND {
        return Value::Null;
    }
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

/// Times and memory in use of an answer's host points: a figure every sample has (an
/// agent's first sample has no CPU share, which is worked out between two samples).
fn points(history: &Value) -> Vec<(i64, Option<f64>)> {
    let times = history["host"]["times"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    let used = history["host"]["mem_used"]["value"]
        .as_array()
        .cloned()
        .unwrap_or_default();
    times
        .iter()
        .zip(used)
        .map(|(t, v)| (t.as_i64().expect("a time"), v.as_f64()))
        .collect()
}

fn newest(history: &Value) -> i64 {
    points(history).last().map_or(0, |p| p.0)
}

/// Waits until the node's history holds a sample taken after `after`; its history then.
async fn history_after(client: &Client, node: &str, after: i64) -> Value {
    eventually(
        &format!("a sample of {node} after {after}"),
        SETTLE,
        || async {
            let h = hour_of(client, node).await;
            if newest(&h) > after {
                Ok(h)
            } else {
                Err(format!("newest {}", newest(&h)))
            }
        },
    )
    .await
}

/// The points marking gaps (no value) after `from`, and the silence around each: the times
/// of the sample before and after it.
fn gaps_after(history: &Value, from: i64) -> Vec<(i64, i64)> {
    let p = points(history);
    p.windows(3)
        .filter(|w| w[1].1.is_none() && w[0].0 >= from)
        .map(|w| (w[0].0, w[2].0))
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn samples_are_pulled_a_restart_backfills_and_an_outage_is_a_gap() {
    let pki = Pki::new();
    let agent = sampling_agent(&pki, "127.0.0.1:0".parse().expect("addr"), SAMPLING).await;
    let listen = agent.addr;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &pki, agent.addr);
    args.usage.usage_interval = PULLING;
    let ct = container("usage");
    let node = engine_name();

    // Pulled and stored: the host's figures, its filesystems, our container.
    let console = console_until_stopped(&args).await;
    let client = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let first = eventually("three samples stored", SETTLE, || async {
        let h = hour_of(&client, &node).await;
        let n = points(&h).iter().filter(|p| p.1.is_some()).count();
        if n >= 3 {
            Ok(h)
        } else {
            Err(format!("{n} samples"))
        }
    })
    .await;
    assert_eq!(first["tier"], "raw");
    assert_eq!(first["bucket"], Value::Null, "every sample");
    assert_eq!(first["interval"], SAMPLING.as_secs());
    let p = points(&first);
    assert!(p.windows(2).all(|w| w[0].0 < w[1].0), "times rise: {p:?}");
    let cpu = first["host"]["cpu"]["value"].as_array().expect("CPU");
    assert!(
        cpu.iter()
            .filter_map(Value::as_f64)
            .all(|v| (0.0..=100.0).contains(&v)),
        "CPU is a share: {cpu:?}"
    );
    assert!(cpu.iter().any(Value::is_f64), "CPU shares: {cpu:?}");
    let now = &first["now"];
    let (used, total) = (
        now["memory"]["used"].as_f64().expect("memory used"),
        now["memory"]["total"].as_f64().expect("memory total"),
    );
    assert!(0.0 < used && used <= total, "memory {used} of {total}");
    let fs = first["filesystems"].as_array().expect("filesystems");
    assert!(!fs.is_empty(), "the host's filesystems: {first}");
    let ct_id = client
        .get(&format!("/api/endpoints/1/containers/{}", ct.0))
        .await
        .json()["Id"]
        .as_str()
        .expect("the container's ID")
        .to_owned();
    let top = eventually("our container among the newest", SETTLE, || async {
        let top = client
            .get("/api/endpoints/1/usage/top?limit=100")
            .await
            .json();
        let listed = top["memory"]
            .as_array()
            .is_some_and(|list| list.iter().any(|c| c["id"] == ct_id.as_str()));
        if listed {
            Ok(top)
        } else {
            Err(top.to_string())
        }
    })
    .await;
    assert!(top["containers"].as_u64().is_some_and(|n| n >= 1), "{top}");
    let history = client
        .get(&format!(
            "/api/endpoints/1/usage/containers/{ct_id}?range=1h"
        ))
        .await;
    assert_eq!(history.status, StatusCode::OK, "{}", history.text());
    let history = history.json();
    assert_eq!(history["name"], ct.0.as_str());
    assert_eq!(history["node"], node.as_str());
    assert!(!history["points"]["times"]
        .as_array()
        .expect("times")
        .is_empty());

    // The console stops for a while; started again on the same data, it fetches what the
    // agent sampled meanwhile: no gap.
    let before = hour_of(&client, &node).await;
    let stopped_at = newest(&before);
    console.stop().await;
    let downtime = 4 * SAMPLING.as_secs() as i64;
    tokio::time::sleep(Duration::from_secs(downtime as u64)).await;
    let console = console_until_stopped(&args).await;
    let client = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let after = history_after(&client, &node, stopped_at + downtime + 1).await;
    assert_eq!(
        gaps_after(&after, stopped_at - 1),
        [],
        "the console's downtime is filled: {:?}",
        points(&after)
    );
    let filled = points(&after)
        .iter()
        .filter(|p| p.0 > stopped_at && p.0 <= stopped_at + downtime && p.1.is_some())
        .count();
    assert!(filled >= 3, "samples of the console's downtime: {filled}");

    // The agent stops: nothing is sampled until it is back, on the same address.
    let last_before = newest(&hour_of(&client, &node).await);
    let down = Instant::now();
    agent.stop().await;
    // Long enough to be told from two samples a little late.
    tokio::time::sleep(4 * SAMPLING).await;
    let agent = sampling_agent(&pki, listen, SAMPLING).await;
    let outage = down.elapsed().as_secs_f64();
    let after = history_after(&client, &node, last_before + outage as i64 + 3).await;
    let gaps = gaps_after(&after, last_before - 1);
    assert_eq!(gaps.len(), 1, "one gap: {:?}", points(&after));
    let (from, to) = gaps[0];
    assert!(
        from >= last_before - 1,
        "the gap starts where the samples stopped: {from} vs {last_before}"
    );
    // Beyond the outage: up to an interval on each side (the last sample taken before the
    // stop, the new agent's first), and seconds stamped whole.
    let silence = (to - from) as f64;
    assert!(
        silence <= outage + 2.0 * SAMPLING.as_secs_f64() + 2.0,
        "a gap of {silence} s for an outage of {outage:.1} s"
    );
    assert!(
        silence >= (4 * SAMPLING).as_secs_f64(),
        "the gap covers the outage: {silence} s"
    );

    console.stop().await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn viewers_read_usage_and_a_profile_sees_only_its_containers() {
    let files = tempfile::tempdir().expect("tempdir");
    let policy = files.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[profiles.payments]\nallow = { \"*\" = \"read\" }\nlabels = { team = \"payments\" }\n",
    )
    .expect("policy");
    let pki = Pki::new();
    let agent = sampling_agent_with(
        &pki,
        "127.0.0.1:0".parse().expect("addr"),
        SAMPLING,
        Some(&policy),
    )
    .await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &pki, agent.addr);
    args.usage.usage_interval = PULLING;
    let console = console_until_stopped(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    admin.add_user("vera", "viewer").await;
    admin.add_user("pam", "viewer").await;
    let mapped = admin
        .patch(
            "/api/endpoints/1",
            &json!({"profiles": {"users": {"pam": "payments"}}}),
        )
        .await;
    assert_eq!(mapped.status, StatusCode::OK, "{}", mapped.text());

    ensure_image();
    let theirs = Name::new("usage-payments");
    let theirs_id = engine_ok(&[
        "run",
        "-d",
        "--name",
        &theirs.0,
        "--label",
        "team=payments",
        IMAGE,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    let other = container("usage-other");
    let other_id = engine_ok(&["inspect", "--format", "{{.Id}}", &other.0]);

    let ids = |top: &Value| -> Vec<String> {
        top["memory"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|c| c["id"].as_str().map(str::to_owned))
            .collect()
    };
    eventually("both containers sampled", SETTLE, || async {
        let top = admin
            .get("/api/endpoints/1/usage/top?limit=100")
            .await
            .json();
        let seen = ids(&top);
        if seen.contains(&theirs_id) && seen.contains(&other_id) {
            Ok(())
        } else {
            Err(top.to_string())
        }
    })
    .await;

    // A viewer without a profile reads every figure, as their read token would.
    let vera = Client::logged_in(console.addr, "vera", "password-123").await;
    let node = engine_name();
    let hour = vera
        .get(&format!("/api/endpoints/1/usage/nodes/{node}?range=24h"))
        .await;
    assert_eq!(hour.status, StatusCode::OK, "{}", hour.text());
    assert_eq!(hour.json()["tier"], "raw");
    assert_eq!(hour.json()["bucket"], 120);
    let seen = ids(&vera
        .get("/api/endpoints/1/usage/top?limit=100")
        .await
        .json());
    assert!(seen.contains(&theirs_id) && seen.contains(&other_id));
    let summary = vera.get("/api/usage/summary").await.json();
    assert_eq!(summary["items"][0]["usage"]["nodes"], 1, "{summary}");

    // Pam's profile sees only the payments team's containers, here too.
    let pam = Client::logged_in(console.addr, "pam", "password-123").await;
    let seen = ids(&pam.get("/api/endpoints/1/usage/top?limit=100").await.json());
    assert!(seen.contains(&theirs_id), "{seen:?}");
    assert!(!seen.contains(&other_id), "{seen:?}");
    let own = pam
        .get(&format!(
            "/api/endpoints/1/usage/containers/{theirs_id}?range=7d"
        ))
        .await;
    assert_eq!(own.status, StatusCode::OK, "{}", own.text());
    assert_eq!(own.json()["tier"], "minute");
    let hidden = pam
        .get(&format!("/api/endpoints/1/usage/containers/{other_id}"))
        .await;
    assert_eq!(hidden.status, StatusCode::NOT_FOUND, "{}", hidden.text());

    // Wrong ranges and limits are refused with a message.
    let bad = vera
        .get(&format!("/api/endpoints/1/usage/nodes/{node}?range=2h"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.message().contains("1h, 24h, 7d, 30d or 1y"),
        "{}",
        bad.message()
    );
    let bad = vera.get("/api/endpoints/1/usage/top?limit=0").await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    let none = vera.get("/api/endpoints/1/usage/nodes/no-such-node").await;
    assert_eq!(none.status, StatusCode::NOT_FOUND);
    assert!(
        none.message().contains("no-such-node"),
        "{}",
        none.message()
    );

    console.stop().await;
    agent.stop().await;
}
