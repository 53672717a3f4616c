//! Notification channels against real receivers on loopback: an HTTP receiver checking
//! the webhook's signature and the Slack, Discord, ntfy and Gotify shapes, Debian's
//! mosquitto, and aiosmtpd; grouping, retries and the delivery log, and secrets that
//! never leave the console unsealed.

use std::time::Duration;

use aws_lc_rs::hmac;
use bosun_ui::watch::{Notice, NoticeState, Severity};
use http::StatusCode;
use serde_json::{json, Value};

use super::*;
use common::receivers::{HttpReceiver, Received};

mod brokers;

const HMAC_SECRET: &str = "hmac-secret-4f1d";

/// The rule the tests' notices name. The console under test runs its default alert rules
/// against the shared engine, whose other tests' containers exit and fire them: the
/// tests' channels take this rule only, so that no real alert joins what they count.
pub(super) const TEST_RULE: i64 = 9_000;

pub(super) fn notice(alert_id: i64, subject: &str) -> Notice {
    Notice {
        alert_id,
        rule_id: TEST_RULE,
        rule: "container exited".into(),
        severity: Severity::Critical,
        state: NoticeState::Firing,
        endpoint: "local".into(),
        node: Some("n1".into()),
        subject: subject.into(),
        summary: "exited with code 137".into(),
        details: vec!["last line: killed".into()],
        at: 1_764_740_000,
    }
}

/// Adds a channel; one made without a filter takes [`TEST_RULE`] only.
pub(super) async fn add_channel(admin: &Client, mut body: Value) -> i64 {
    if body.get("filter").is_none() {
        body["filter"] = json!({"rules": [TEST_RULE]});
    }
    let made = admin.post("/api/channels", &body).await;
    assert_eq!(made.status, StatusCode::CREATED, "{body}: {}", made.text());
    made.json()["id"].as_i64().expect("an ID")
}

pub(super) async fn test_button(admin: &Client, id: i64) -> Value {
    let answer = admin
        .post(&format!("/api/channels/{id}/test"), &json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json()
}

/// Checks `X-Bosun-Signature` the way docs/notifications.md tells a receiver to.
fn assert_signed(request: &Received, secret: &str) {
    let timestamp = request.header("x-bosun-timestamp");
    assert!(
        timestamp.parse::<i64>().is_ok(),
        "a timestamp: {timestamp:?}"
    );
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let key = hmac::Key::new(hmac::HMAC_SHA256, secret.as_bytes());
    let expected = hex::encode(hmac::sign(&key, &signed).as_ref());
    let given = request.header("x-bosun-signature");
    let hex_part = given.strip_prefix("sha256=").expect("sha256=<hex>");
    let bytes = hex::decode(hex_part).expect("hex");
    assert!(
        hmac::verify(&key, &signed, &bytes).is_ok(),
        "signature {given}, expected sha256={expected}"
    );
}

async fn deliveries(admin: &Client, id: i64) -> Vec<Value> {
    let answer = admin.get(&format!("/api/channels/{id}/deliveries")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json().as_array().cloned().unwrap_or_default()
}

/// A channel's log once it holds `count` attempts.
pub(super) async fn log_of(admin: &Client, id: i64, count: usize) -> Vec<Value> {
    eventually(&format!("{count} attempts in the log"), SETTLE, || async {
        let log = deliveries(admin, id).await;
        if log.len() >= count {
            Ok(log)
        } else {
            Err(format!("{log:?}"))
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn each_kind_sends_its_shape_and_the_webhook_is_signed() {
    let receiver = HttpReceiver::start().await;
    let (_creds, _agent, console, app) = stack_with_app().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let webhook = add_channel(
        &admin,
        json!({"name": "hook", "kind": "webhook",
               "settings": {"url": receiver.url("/hook"), "secret": HMAC_SECRET}}),
    )
    .await;
    let slack = add_channel(
        &admin,
        json!({"name": "slack", "kind": "slack",
               "settings": {"url": receiver.url("/slack/T0/B0/xyz"), "username": "bosun"}}),
    )
    .await;
    let discord = add_channel(
        &admin,
        json!({"name": "discord", "kind": "discord",
               "settings": {"url": receiver.url("/api/webhooks/1/tok")}}),
    )
    .await;
    let ntfy = add_channel(
        &admin,
        json!({"name": "ntfy", "kind": "ntfy",
               "settings": {"server": receiver.url("/ntfy"), "topic": "ops", "token": "tk_ntfy"}}),
    )
    .await;
    let gotify = add_channel(
        &admin,
        json!({"name": "gotify", "kind": "gotify",
               "settings": {"server": receiver.url("/gotify/"), "token": "app-token"}}),
    )
    .await;

    // The test button sends now and says how it went.
    for id in [webhook, slack, discord, ntfy, gotify] {
        let result = test_button(&admin, id).await;
        assert_eq!(result["ok"], true, "channel {id}: {result}");
        assert_eq!(result["outcome"], "HTTP 200", "{result}");
    }
    let hook = receiver.until("/hook", 1).await;
    assert_signed(&hook[0], HMAC_SECRET);
    assert_eq!(hook[0].json()["test"], true);
    assert_eq!(hook[0].header("content-type"), "application/json");

    // A notice through the queue, as the alerts send it, reaches every channel.
    app.notifier.send(notice(41, "web-1"));
    let hook = receiver.until("/hook", 2).await;
    assert_signed(&hook[1], HMAC_SECRET);
    let body = hook[1].json();
    assert_eq!(body["version"], 1);
    assert_eq!(body["channel"], "hook");
    assert_eq!(body["test"], false);
    assert_eq!(body["count"], 1);
    assert_eq!(body["title"], "[FIRING] container exited: web-1");
    assert_eq!(body["notices"][0]["alert_id"], 41);
    assert_eq!(body["notices"][0]["severity"], "critical");

    let slack_body = receiver.until("/slack/T0/B0/xyz", 2).await[1].json();
    assert_eq!(slack_body["text"], "[FIRING] container exited: web-1");
    assert_eq!(slack_body["username"], "bosun");
    assert_eq!(slack_body["attachments"][0]["color"], "#d93025");
    assert!(
        slack_body["attachments"][0]["text"]
            .as_str()
            .is_some_and(|t| t.contains("web-1 on local/n1: exited with code 137")),
        "{slack_body}"
    );

    let discord_body = receiver.until("/api/webhooks/1/tok", 2).await[1].json();
    assert_eq!(discord_body["content"], "[FIRING] container exited: web-1");
    assert_eq!(discord_body["embeds"][0]["color"], 0xd93025);
    assert!(discord_body["embeds"][0]["description"]
        .as_str()
        .is_some_and(|d| d.contains("last line: killed")));

    let ntfy_request = &receiver.until("/ntfy/ops", 2).await[1];
    assert_eq!(ntfy_request.method, "POST");
    assert_eq!(
        ntfy_request.header("title"),
        "[FIRING] container exited: web-1"
    );
    assert_eq!(ntfy_request.header("priority"), "5");
    assert_eq!(ntfy_request.header("tags"), "rotating_light");
    assert_eq!(ntfy_request.header("authorization"), "Bearer tk_ntfy");
    assert!(String::from_utf8_lossy(&ntfy_request.body).contains("exited with code 137"));

    let gotify_request = &receiver.until("/gotify/message", 2).await[1];
    assert_eq!(gotify_request.query, "token=app-token");
    let gotify_body = gotify_request.json();
    assert_eq!(gotify_body["priority"], 8);
    assert_eq!(gotify_body["title"], "[FIRING] container exited: web-1");

    // Each channel's log shows the test and the notice.
    let log = log_of(&admin, webhook, 2).await;
    assert_eq!(log.len(), 2, "{log:?}");
    assert_eq!(log[0]["alert_ids"], json!([41]));
    assert_eq!(log[0]["ok"], true);
    assert_eq!(log[1]["test"], true);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_burst_of_thirty_notices_is_one_message_listing_them() {
    let receiver = HttpReceiver::start().await;
    let (_creds, _agent, console, app) = stack_with_app().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let id = add_channel(
        &admin,
        json!({"name": "burst", "kind": "webhook", "settings": {"url": receiver.url("/burst")}}),
    )
    .await;
    // A channel that takes only warnings and worse, of another rule, gets none of them.
    add_channel(
        &admin,
        json!({"name": "other-rule", "kind": "webhook", "settings": {"url": receiver.url("/other")},
               "filter": {"rules": [99], "min_severity": "warning"}}),
    )
    .await;
    for n in 1..=30 {
        app.notifier.send(notice(n, &format!("c{n:02}")));
    }
    let got = receiver.until("/burst", 1).await;
    let body = got[0].json();
    assert_eq!(body["count"], 30, "{body}");
    let subjects: Vec<&str> = body["notices"]
        .as_array()
        .expect("notices")
        .iter()
        .filter_map(|n| n["subject"].as_str())
        .collect();
    let expected: Vec<String> = (1..=30).map(|n| format!("c{n:02}")).collect();
    assert_eq!(subjects, expected);
    assert_eq!(
        body["title"],
        "30 × container exited firing: c01, c02, c03, c04, c05, …"
    );
    assert_eq!(body["text"].as_str().map(|t| t.lines().count()), Some(30));
    // Nothing more comes for the same burst.
    tokio::time::sleep(Duration::from_secs(5)).await;
    assert_eq!(receiver.received("/burst").len(), 1);
    assert!(receiver.received("/other").is_empty());
    let log = log_of(&admin, id, 1).await;
    assert_eq!(log.len(), 1, "{log:?}");
    assert_eq!(log[0]["notices"], 30);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_failing_channel_is_retried_and_its_log_says_why() {
    let receiver = HttpReceiver::start().await;
    let (_creds, _agent, console, app) = stack_with_app().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let id = add_channel(
        &admin,
        json!({"name": "flaky", "kind": "webhook", "settings": {"url": receiver.url("/flaky")}}),
    )
    .await;
    receiver.answer_first(&[500]);
    app.notifier.send(notice(7, "db"));
    let got = receiver.until("/flaky", 2).await;
    assert_eq!(
        got[0].json()["notices"],
        got[1].json()["notices"],
        "the retry sends the same notices"
    );
    let log = log_of(&admin, id, 2).await;
    assert_eq!(log.len(), 2, "{log:?}");
    let (retry, first) = (&log[0], &log[1]);
    assert_eq!(first["attempt"], 1);
    assert_eq!(first["ok"], false);
    assert!(
        first["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("HTTP 500")),
        "{first}"
    );
    assert_eq!(retry["attempt"], 2);
    assert_eq!(retry["ok"], true);
    assert_eq!(retry["delivery"], first["delivery"]);
    assert_eq!(retry["alert_ids"], json!([7]));

    // A closed port: the test button answers why at once, and the log keeps it.
    let closed = free_port("127.0.0.1");
    let dead = add_channel(
        &admin,
        json!({"name": "dead", "kind": "gotify",
               "settings": {"server": format!("http://127.0.0.1:{closed}"), "token": "t"}}),
    )
    .await;
    let result = test_button(&admin, dead).await;
    assert_eq!(result["ok"], false, "{result}");
    assert!(
        result["outcome"]
            .as_str()
            .is_some_and(|o| o.contains("Gotify could not be reached")),
        "{result}"
    );
    let log = deliveries(&admin, dead).await;
    assert_eq!(log[0]["ok"], false);
    assert_eq!(log[0]["outcome"], result["outcome"]);
    let rows = audit_rows(&admin, "action=channel.test").await;
    assert!(rows.iter().any(|r| r["result"] == "error"), "{rows:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn secrets_are_never_shown_kept_on_change_and_sealed_at_rest() {
    let receiver = HttpReceiver::start().await;
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    admin.add_user("victor", "viewer").await;
    let viewer = Client::logged_in(console.addr, "victor", "password-123").await;
    let hook_url = receiver.url("/secret-hook?token=url-token-9c2e");
    let body = json!({"name": "sealed", "kind": "webhook",
                      "settings": {"url": hook_url, "secret": HMAC_SECRET}});
    assert_eq!(
        viewer.post("/api/channels", &body).await.status,
        StatusCode::FORBIDDEN
    );
    let id = add_channel(&admin, body).await;
    let smtp = add_channel(
        &admin,
        json!({"name": "mail", "kind": "email",
               "settings": {"host": "127.0.0.1", "port": 2525, "security": "none",
                            "username": "bosun", "password": "smtp-pass-77a1",
                            "from": "bosun@example.org", "to": ["ops@example.org"]}}),
    )
    .await;
    let secrets = ["url-token-9c2e", HMAC_SECRET, "smtp-pass-77a1"];

    let shown = [
        admin.get("/api/channels").await.text(),
        admin.get(&format!("/api/channels/{id}")).await.text(),
        admin.get(&format!("/api/channels/{smtp}")).await.text(),
        viewer.get("/api/channels").await.text(),
    ];
    for text in &shown {
        for secret in secrets {
            assert!(!text.contains(secret), "{secret} shown: {text}");
        }
    }
    let one = admin.get(&format!("/api/channels/{id}")).await.json();
    assert_eq!(
        one["secrets"],
        json!({"url": format!("http://127.0.0.1/…"), "secret": "set"})
    );
    let mail = admin.get(&format!("/api/channels/{smtp}")).await.json();
    assert_eq!(mail["secrets"], json!({"password": "set"}));
    assert_eq!(mail["settings"]["username"], "bosun");

    // A change that leaves the secrets out keeps them: the renamed channel still signs
    // with the same key, to the same URL.
    let renamed = admin
        .patch(
            &format!("/api/channels/{id}"),
            &json!({"name": "sealed-2", "settings": {}}),
        )
        .await;
    assert_eq!(renamed.status, StatusCode::OK, "{}", renamed.text());
    assert_eq!(test_button(&admin, id).await["ok"], true);
    let got = receiver.until("/secret-hook", 1).await;
    assert_eq!(got[0].query, "token=url-token-9c2e");
    assert_signed(&got[0], HMAC_SECRET);
    // A new secret replaces the old one.
    let rekeyed = admin
        .patch(
            &format!("/api/channels/{id}"),
            &json!({"settings": {"secret": "second-key-31"}}),
        )
        .await;
    assert_eq!(rekeyed.status, StatusCode::OK, "{}", rekeyed.text());
    assert!(!rekeyed.text().contains("second-key-31"));
    assert_eq!(test_button(&admin, id).await["ok"], true);
    let got = receiver.until("/secret-hook", 2).await;
    assert_signed(&got[1], "second-key-31");

    // Viewers read (masked) but neither test nor change; a bad query says what is wrong.
    for refused in [
        viewer
            .post(&format!("/api/channels/{id}/test"), &json!({}))
            .await,
        viewer
            .patch(&format!("/api/channels/{id}"), &json!({"enabled": false}))
            .await,
        viewer.delete(&format!("/api/channels/{id}")).await,
    ] {
        assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    }
    let bad_limit = viewer
        .get(&format!("/api/channels/{id}/deliveries?limit=lots"))
        .await;
    assert_eq!(bad_limit.status, StatusCode::BAD_REQUEST);
    assert!(
        bad_limit.message().contains("limit"),
        "{}",
        bad_limit.text()
    );

    // Bad settings are refused with what is wrong.
    let bad = admin
        .patch(
            &format!("/api/channels/{smtp}"),
            &json!({"settings": {"host": "mail.example.org"}}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(
        bad.message().contains("only to a server on loopback"),
        "{}",
        bad.message()
    );

    // The audit log names the channels, not their secrets.
    let rows = audit_rows(&admin, "").await;
    let text = serde_json::to_string(&rows).expect("JSON");
    assert!(
        text.contains("channel.create") && text.contains("channel.update"),
        "{text}"
    );
    for secret in secrets.iter().chain(&["second-key-31"]) {
        assert!(!text.contains(secret), "{secret} in the audit log");
    }

    // The database file holds them sealed only.
    let raw = std::fs::read(console.data.path().join("console.db")).expect("the database");
    let wal = std::fs::read(console.data.path().join("console.db-wal")).unwrap_or_default();
    for secret in secrets.iter().chain(&["second-key-31"]) {
        for bytes in [&raw, &wal] {
            assert!(
                !bytes.windows(secret.len()).any(|w| w == secret.as_bytes()),
                "{secret} in the database"
            );
        }
    }
    let removed = admin.delete(&format!("/api/channels/{id}")).await;
    assert_eq!(removed.status, StatusCode::OK);
    assert_eq!(
        admin.get(&format!("/api/channels/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
}
