//! Needs the agent's update API (`/agent/v1/updates…`, the agent-updates work): the
//! console asks a real agent to check now, pulls its report, keeps it, and passes the
//! endpoint's registry credentials down first.

use http::StatusCode;
use serde_json::json;

use super::fixtures::{publish, Made};
use super::SERVE;
use crate::audit_rows;
use crate::common::LoopbackRegistry;
use crate::common::*;
use crate::containers::people;

#[tokio::test(flavor = "multi_thread")]
async fn the_console_pulls_the_agents_report_and_shows_the_update() {
    ensure_image();
    let registry = LoopbackRegistry::start().await;
    let creds = Pki::new();
    let agent = start_agent_with(&creds, None, &AgentOptions::default()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent);
    args.updates.update_pull_interval = std::time::Duration::from_secs(1);
    let console = ConsoleUnderTest {
        addr: start_console(&args).await,
        data,
    };
    let (admin, operator, viewer, e) = people(&console).await;
    let mut made = Made::default();
    let name = Name::new("cu-pulled");
    made.container_prefixes.push(name.0.clone());
    let reference = format!(
        "127.0.0.1:{}/bosun-it-cu-pulled-{}:1.0.0",
        registry.port,
        std::process::id()
    );
    made.tags.push(reference.clone());
    publish(&reference, SERVE, &mut made);
    engine_ok(&["run", "-d", "--name", &name.0, &reference]);
    publish(
        &reference,
        &format!("LABEL app.version=2\n{SERVE}"),
        &mut made,
    );
    let added = admin
        .post(
            &format!("{e}/registries"),
            &json!({"registry": format!("127.0.0.1:{}", registry.port), "username": "u", "password": "p"}),
        )
        .await;
    assert_eq!(added.status, StatusCode::CREATED, "{}", added.text());

    assert_eq!(
        viewer
            .post(&format!("{e}/updates/check"), &json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let checked = operator
        .post(&format!("{e}/updates/check"), &json!({}))
        .await;
    assert_eq!(checked.status, StatusCode::OK, "{}", checked.text());
    let found = eventually("the update in the console's report", SETTLE, || async {
        let report = viewer.get(&format!("{e}/updates")).await.json();
        let item = report["items"]
            .as_array()
            .and_then(|a| a.iter().find(|i| i["name"] == name.0.as_str()))
            .cloned();
        match item {
            Some(item) if item["update"] == "digest" => Ok(report),
            _ => Err(report.to_string()),
        }
    })
    .await;
    assert!(found["available"].as_u64().unwrap_or(0) >= 1, "{found}");
    assert!(found["nodes"][0]["checked_at"].is_i64(), "{found}");

    // The puller's own rounds go on (each passes the credentials down first, and stops
    // there if the agents refuse them): the stored report is pulled again after the check.
    let checked_at = checked.json()["pulled_at"].as_i64().expect("a time");
    eventually("a pull after the check", SETTLE, || async {
        let report = viewer.get(&format!("{e}/updates")).await.json();
        match report["pulled_at"].as_i64() {
            Some(at) if at > checked_at => Ok(()),
            _ => Err(report.to_string()),
        }
    })
    .await;
    let rows = audit_rows(&admin, "action=updates.check").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(
        (rows[0]["user"].as_str(), rows[0]["result"].as_str()),
        (Some("olga"), Some("ok"))
    );
    drop(made);
}
