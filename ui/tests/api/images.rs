//! Acting on images, volumes and networks: a pull from a registry on loopback (Debian's
//! `docker-registry`) with its progress streamed, removals on the node that has the
//! object, prunes limited by a label, and the audit rows of each.

use std::time::Duration;

use http::{Method, StatusCode};
use http_body_util::BodyExt;
use serde_json::{json, Value};

use super::containers::people;
use crate::audit_rows;
use crate::common::LoopbackRegistry;
use crate::common::*;

/// An image tag removed from the engine when dropped.
struct Tag(String);

impl Drop for Tag {
    fn drop(&mut self) {
        let _ = engine(&["rmi", "-f", &self.0]);
    }
}

/// Reads a pull's events to its `{"end": true}`, within a minute.
async fn pull_events(client: &Client, e: &str, body: &Value) -> Vec<Value> {
    let resp = client
        .open(Method::POST, &format!("{e}/images/pull"), Some(body), true)
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut text = String::new();
    let events = tokio::time::timeout(Duration::from_secs(60), async {
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                text.push_str(&String::from_utf8_lossy(data));
            }
            let events: Vec<Value> = text
                .lines()
                .filter_map(|l| l.strip_prefix("data: "))
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if events.iter().any(|ev| ev["end"] == true) {
                return events;
            }
        }
        Vec::new()
    })
    .await;
    events.unwrap_or_else(|_| panic!("the pull ends within a minute: {text}"))
}

fn image_present(reference: &str) -> bool {
    engine(&["image", "inspect", reference]).status.success()
}

#[tokio::test(flavor = "multi_thread")]
async fn an_image_is_pulled_from_a_loopback_registry_with_progress_then_removed() {
    ensure_image();
    let registry = LoopbackRegistry::start().await;
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, viewer, e) = people(&console).await;
    let node = engine_name();
    let reference = format!(
        "127.0.0.1:{}/bosun-it-pull:{}",
        registry.port,
        std::process::id()
    );
    let tag = Tag(reference.clone());
    engine_ok(&["tag", IMAGE, &reference]);
    engine_ok(&["push", &reference]);
    engine_ok(&["rmi", &reference]);
    assert!(!image_present(&reference));

    let refused = viewer
        .post(&format!("{e}/images/pull"), &json!({"image": reference}))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN);

    let events = pull_events(&operator, &e, &json!({"image": reference, "nodes": [node]})).await;
    let progress: Vec<&Value> = events
        .iter()
        .filter(|ev| ev["status"].is_string())
        .collect();
    assert!(
        progress.iter().all(|ev| ev["node"] == node.as_str()) && progress.len() >= 2,
        "the engine's progress, each line with its node: {events:?}"
    );
    assert!(
        events
            .iter()
            .any(|ev| ev["node"] == node.as_str() && ev["done"] == true),
        "{events:?}"
    );
    assert!(image_present(&reference), "the engine has the image");

    // A tag the registry does not have: the engine's error, as an event and in the audit.
    let missing = format!("127.0.0.1:{}/bosun-it-pull:no-such-tag", registry.port);
    let failed = pull_events(&operator, &e, &json!({"image": missing})).await;
    assert!(
        failed
            .iter()
            .any(|ev| ev["node"] == node.as_str() && ev["error"].is_string()),
        "{failed:?}"
    );

    // Removed from its node.
    let path = format!("{e}/images/{reference}?node={node}");
    assert_eq!(viewer.delete(&path).await.status, StatusCode::FORBIDDEN);
    let removed = operator.delete(&path).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    assert!(!image_present(&reference), "the engine no longer has it");
    let bad = operator
        .delete(&format!("{e}/images/a..b?node={node}"))
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    let nowhere = operator.delete(&format!("{e}/images/{reference}")).await;
    assert_eq!(
        nowhere.status,
        StatusCode::BAD_REQUEST,
        "{}",
        nowhere.text()
    );
    assert!(
        nowhere.message().contains("which node"),
        "{}",
        nowhere.text()
    );

    let rows = audit_rows(&admin, "user=olga").await;
    let row = |action: &str, result: &str, target: &str| {
        rows.iter().any(|r| {
            r["action"] == action
                && r["result"] == result
                && r["node"] == node.as_str()
                && r["target"] == target
        })
    };
    assert!(row("image.pull", "ok", &reference), "{rows:?}");
    assert!(row("image.pull", "error", &missing), "{rows:?}");
    assert!(row("image.remove", "ok", &reference), "{rows:?}");
    drop(tag);
}

/// A volume or network removed from the engine when dropped.
struct Made(&'static str, String);

impl Drop for Made {
    fn drop(&mut self) {
        let _ = engine(&[self.0, "rm", &self.1]);
    }
}

fn exists(kind: &str, name: &str) -> bool {
    engine(&[kind, "inspect", name]).status.success()
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_and_networks_are_removed_and_pruned_by_label() {
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, viewer, e) = people(&console).await;
    let node = engine_name();
    let label = format!("bosun.test.prune={}", std::process::id());
    for kind in ["volume", "network"] {
        let kept = Made(kind, Name::new(&format!("ui-{kind}-kept")).0.clone());
        let pruned = Made(kind, Name::new(&format!("ui-{kind}-pruned")).0.clone());
        let removed = Made(kind, Name::new(&format!("ui-{kind}-removed")).0.clone());
        engine_ok(&[kind, "create", &kept.1]);
        engine_ok(&[kind, "create", "--label", &label, &pruned.1]);
        engine_ok(&[kind, "create", &removed.1]);

        let path = format!("{e}/{kind}s/{}?node={node}", removed.1);
        assert_eq!(viewer.delete(&path).await.status, StatusCode::FORBIDDEN);
        let answer = operator.delete(&path).await;
        assert_eq!(answer.status, StatusCode::OK, "{kind}: {}", answer.text());
        assert!(!exists(kind, &removed.1), "{kind} removed");

        let prune = format!("{e}/{kind}s/prune");
        assert_eq!(
            viewer.post(&prune, &json!({"label": label})).await.status,
            StatusCode::FORBIDDEN
        );
        let answer = operator
            .post(&prune, &json!({"label": label, "node": node}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{kind}: {}", answer.text());
        let result = &answer.json()["results"][0];
        assert_eq!(
            result["node"],
            node.as_str(),
            "{answer:?}",
            answer = answer.text()
        );
        assert!(
            result["deleted"].as_array().is_some_and(|d| d
                .iter()
                .any(|x| x.as_str().is_some_and(|x| x.contains(&pruned.1)))),
            "{kind}: {result}"
        );
        assert!(!exists(kind, &pruned.1), "{kind} pruned");
        assert!(exists(kind, &kept.1), "{kind} without the label kept");

        let rows = audit_rows(&admin, &format!("user=olga&action={kind}.remove")).await;
        assert!(
            rows.iter()
                .any(|r| r["result"] == "ok" && r["target"] == removed.1.as_str()),
            "{rows:?}"
        );
        let rows = audit_rows(&admin, &format!("user=olga&action={kind}.prune")).await;
        assert!(
            rows.iter()
                .any(|r| r["result"] == "ok" && r["node"] == node.as_str()),
            "{rows:?}"
        );
    }
}
