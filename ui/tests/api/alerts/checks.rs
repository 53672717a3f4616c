//! Check states into alerts with real parts: an agent in front of the real engine that
//! trusts the console's key runs the checks the console signs. A tcp check on a port this
//! test opens and closes fires critical when the port closes and resolves when it opens
//! again; a script check that exits 1 in a sandbox container on the real engine fires
//! warning with its output, and resolves once the check is deleted. Each transition is
//! handed to the notifier once.

use std::time::Duration;

use bosun_ui::watch::{NoticeState, Severity};
use http::StatusCode;
use serde_json::{json, Value};

use super::{until_alert, watched_console, Watched};
use crate::common::*;

/// How long a check's state may take to reach the console: a run, a pull, with room.
const STATE_WITHIN: Duration = Duration::from_secs(40);

/// The status row of check `id` on `node`, once its state is `state`.
async fn until_state(admin: &Client, endpoint: i64, id: &str, node: &str, state: &str) -> Value {
    eventually(
        &format!("check {id} on {node} {state}"),
        STATE_WITHIN,
        || async {
            let answer = admin
                .get(&format!("/api/endpoints/{endpoint}/checks/status"))
                .await;
            if answer.status != StatusCode::OK {
                return Err(answer.text());
            }
            let all = answer.json();
            all["rows"]
                .as_array()
                .into_iter()
                .flatten()
                .find(|r| r["check"] == id && r["node"] == node && r["state"] == state)
                .cloned()
                .ok_or_else(|| all.to_string())
        },
    )
    .await
}

/// A console with no endpoint yet, pulling check results every second; the agent trusts
/// its key and becomes its endpoint. The console, its admin, the endpoint's ID.
async fn console_and_trusting_agent(pki: &Pki, data: &std::path::Path) -> (Watched, Client, i64) {
    let mut args = console_args(data, pki, "127.0.0.1:9".parse().expect("addr"));
    args.endpoint_url = None;
    args.checks.checks_pull_interval = Duration::from_secs(1);
    let console = watched_console(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let key = admin.get("/api/console-key").await.json()["public_key_pem"]
        .as_str()
        .expect("the console's key")
        .to_owned();
    let agent = start_agent(pki, Some(&key)).await;
    let made = admin
        .post(
            "/api/endpoints",
            &json!({"name": "local", "url": format!("https://localhost:{}", agent.port()),
                    "ca_pem": pki.ca_pem(), "auth": "secret", "secret": pki.secret_text()}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let id = made.json()["id"].as_i64().expect("the endpoint's ID");
    (console, admin, id)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_check_that_fails_fires_at_its_severity_and_resolves_when_it_is_ok_again() {
    ensure_image();
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("tempdir");
    let (mut console, admin, endpoint) = console_and_trusting_agent(&pki, data.path()).await;
    let node = engine_name();
    let rules = admin.get("/api/alert-rules").await.json();
    assert!(
        rules
            .as_array()
            .into_iter()
            .flatten()
            .any(|r| r["kind"] == "check_state" && r["enabled"] == true),
        "the default check rule is made: {rules}"
    );

    // A port that answers: the check is ok, and nothing fires.
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("addr").port();
    let tcp_name = format!("bosun-it-al-port-{}", std::process::id());
    let made = admin
        .post(
            &format!("/api/endpoints/{endpoint}/checks"),
            &json!({"name": tcp_name, "interval_secs": 1, "timeout_secs": 2, "retries": 0,
                    "enabled": true, "target": {"by": "all"},
                    "probe": {"kind": "tcp", "host": "127.0.0.1", "port": port}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let tcp_id = made.json()["id"]
        .as_str()
        .expect("the check's ID")
        .to_owned();
    until_state(&admin, endpoint, &tcp_id, &node, "ok").await;
    let quiet = admin
        .get("/api/alerts?state=all&kind=check_state")
        .await
        .json();
    assert_eq!(quiet, json!([]), "an ok check fires nothing");

    // The port closes: critical, with what the probe said.
    drop(listener);
    let row = until_state(&admin, endpoint, &tcp_id, &node, "critical").await;
    let firing = until_alert(&admin, "check_state", &tcp_name, "firing").await;
    assert_eq!(firing["severity"], "critical", "{firing}");
    assert_eq!(firing["node"], node.as_str(), "{firing}");
    let summary = firing["summary"].as_str().unwrap_or_default();
    assert!(
        summary.contains(&tcp_name) && summary.contains("critical"),
        "{summary}"
    );
    let notice = console.notice_about(&tcp_name).await;
    assert_eq!(
        (notice.state, notice.severity),
        (NoticeState::Firing, Severity::Critical)
    );
    assert_eq!(notice.node.as_deref(), Some(node.as_str()));
    let said = row["output"].as_str().unwrap_or_default();
    let first = said.lines().find(|l| !l.trim().is_empty()).unwrap_or("");
    assert!(
        notice.summary.contains(first.trim()),
        "the notice carries the output {said:?}: {notice:?}"
    );

    // A script that exits 1 in a sandbox on the real engine: warning, its output along.
    let script_name = format!("bosun-it-al-script-{}", std::process::id());
    let made = admin
        .post(
            &format!("/api/endpoints/{endpoint}/checks"),
            &json!({"name": script_name, "interval_secs": 2, "timeout_secs": 20, "retries": 0,
                    "enabled": true, "target": {"by": "all"},
                    "probe": {"kind": "script", "image": IMAGE,
                              "script": "echo 'disk at 91 %'; exit 1"}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let script_id = made.json()["id"]
        .as_str()
        .expect("the check's ID")
        .to_owned();
    until_state(&admin, endpoint, &script_id, &node, "warning").await;
    let warning = until_alert(&admin, "check_state", &script_name, "firing").await;
    assert_eq!(warning["severity"], "warning", "{warning}");
    let notice = console.notice_about(&script_name).await;
    assert_eq!(
        (notice.state, notice.severity),
        (NoticeState::Firing, Severity::Warning)
    );
    assert!(notice.summary.contains("disk at 91 %"), "{notice:?}");

    // The port opens again: the tcp alert resolves, once.
    let _again = tokio::net::TcpListener::bind(("127.0.0.1", port))
        .await
        .expect("the same port again");
    until_state(&admin, endpoint, &tcp_id, &node, "ok").await;
    until_alert(&admin, "check_state", &tcp_name, "resolved").await;
    let notice = console.notice_about(&tcp_name).await;
    assert_eq!(notice.state, NoticeState::Resolved, "{notice:?}");

    // The script check deleted: no longer reported, so its alert resolves too.
    let gone = admin
        .delete(&format!("/api/endpoints/{endpoint}/checks/{script_id}"))
        .await;
    assert_eq!(gone.status, StatusCode::NO_CONTENT, "{}", gone.text());
    until_alert(&admin, "check_state", &script_name, "resolved").await;
    let notice = console.notice_about(&script_name).await;
    assert_eq!(notice.state, NoticeState::Resolved, "{notice:?}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    console.no_notice_about(&tcp_name);
    console.no_notice_about(&script_name);
    console.stop().await;
}
