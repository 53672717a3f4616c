//! Several containers' logs as one, across two nodes: an agent in front of this machine's
//! engine and a second agent of the same cluster in front of a fake engine (one real
//! engine cannot be two nodes), both containers of one Compose project.

use serde_json::Value;

use super::logs::{read_events, Event};
use crate::common::*;

#[path = "../common/two_nodes.rs"]
mod two_nodes;
use two_nodes::{two_nodes, REAL_NODE};

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
    let nodes = two_nodes("ui-merged").await;
    let (project, real) = (&nodes.project, &nodes.real);
    let (fake_container, fake_node) = (&nodes.fake_container, &nodes.fake_node);

    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &nodes.pki, nodes.agent);
    let console = start_console(&args).await;
    let admin = Client::logged_in(console, ADMIN, ADMIN_PASSWORD).await;
    let id = super::local_endpoint(&admin.get("/api/endpoints").await.json());
    let path = format!("/api/endpoints/{id}/logs?project={project}&tail=all");

    // Both nodes' containers are found once the cluster has formed.
    eventually("both containers in the merged history", SETTLE, || async {
        let events = read_events(&admin, &path, ANSWER, |_| false).await;
        let lines = lines_of(&events);
        let both =
            lines.iter().any(|l| l.1 == *fake_container) && lines.iter().any(|l| l.1 == real.0);
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
        live(&real.0) >= 25 && live(fake_container) >= 15
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
            assert_eq!(container, fake_container);
            assert_eq!(node, fake_node);
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
    let fake_lines = numbered(fake_container, |l| {
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
