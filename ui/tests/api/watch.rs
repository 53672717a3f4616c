//! The watch end to end, with nothing taken out of the console: a container on the real
//! engine exits non-zero, the alerts fire, the notification worker groups and delivers,
//! and a signed webhook on loopback receives the alert with the container's last log
//! lines within 5 s of the exit; started again, the same alert resolves, and the webhook
//! is told once.

use std::time::{Duration, SystemTime};

use aws_lc_rs::hmac;
use http::StatusCode;
use serde_json::{json, Value};

use super::*;
use common::receivers::{HttpReceiver, Received};

/// What the issue asks of a webhook: the alert within 5 s of the exit.
const DELIVERED_WITHIN: Duration = Duration::from_secs(5);
const SECRET: &str = "watch-secret-93b2";

/// The ID of the default rule of `kind`.
async fn rule_id(admin: &Client, kind: &str) -> i64 {
    let rules = admin.get("/api/alert-rules").await;
    assert_eq!(rules.status, StatusCode::OK, "{}", rules.text());
    rules
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .find(|r| r["kind"] == kind)
        .and_then(|r| r["id"].as_i64())
        .unwrap_or_else(|| panic!("a default {kind} rule: {}", rules.text()))
}

/// The notices about `subject` in what the webhook received, each with its request.
fn notices_about(got: &[Received], subject: &str) -> Vec<(Value, Received)> {
    got.iter()
        .flat_map(|r| {
            let body = r.json();
            body["notices"]
                .as_array()
                .cloned()
                .unwrap_or_default()
                .into_iter()
                .filter(|n| n["subject"] == subject)
                .map(|n| (n, r.clone()))
                .collect::<Vec<_>>()
        })
        .collect()
}

fn assert_signed(request: &Received) {
    let timestamp = request.header("x-bosun-timestamp");
    let mut signed = format!("{timestamp}.").into_bytes();
    signed.extend_from_slice(&request.body);
    let key = hmac::Key::new(hmac::HMAC_SHA256, SECRET.as_bytes());
    let given = request.header("x-bosun-signature");
    let hex_part = given.strip_prefix("sha256=").expect("sha256=<hex>");
    let bytes = hex::decode(hex_part).expect("hex");
    assert!(
        hmac::verify(&key, &signed, &bytes).is_ok(),
        "the signature checks"
    );
}

/// When the engine says the container finished.
fn finished_at(name: &Name) -> SystemTime {
    let text = engine_ok(&["inspect", "-f", "{{.State.FinishedAt}}", name.as_str()]);
    let at =
        time::OffsetDateTime::parse(text.trim(), &time::format_description::well_known::Rfc3339)
            .unwrap_or_else(|e| panic!("FinishedAt {text:?}: {e}"));
    SystemTime::UNIX_EPOCH + Duration::from_nanos(at.unix_timestamp_nanos() as u64)
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exit_reaches_a_signed_webhook_within_five_seconds_with_its_logs_and_resolves_once() {
    let receiver = HttpReceiver::start().await;
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let exited = rule_id(&admin, "container_exited").await;
    let made = admin
        .post(
            "/api/channels",
            &json!({"name": "watch-hook", "kind": "webhook",
                    "settings": {"url": receiver.url("/watch"), "secret": SECRET},
                    "filter": {"rules": [exited]}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());

    let c = Name::new("ui-watch-exit");
    c.run(&[
        "sh",
        "-c",
        "if [ -f /tmp/ran ]; then trap 'exit 0' TERM; while true; do sleep 1; done; fi; \
         touch /tmp/ran; echo watch-first-line; echo watch-last-line; sleep 1; exit 3",
    ]);
    let (firing, request) = eventually("the webhook gets the firing alert", SETTLE, || async {
        let mut found = notices_about(&receiver.received("/watch"), c.as_str());
        match found.len() {
            0 => Err("nothing yet".to_owned()),
            _ => Ok(found.remove(0)),
        }
    })
    .await;
    let arrived = SystemTime::now();
    let exit = finished_at(&c);
    let took = arrived.duration_since(exit).unwrap_or_default();
    eprintln!("the webhook had the alert {took:?} after the exit");
    assert!(
        took <= DELIVERED_WITHIN,
        "delivered {took:?} after the exit, more than {DELIVERED_WITHIN:?}"
    );
    assert_eq!(firing["state"], "firing", "{firing}");
    assert!(
        firing["summary"].as_str().unwrap_or_default().contains('3'),
        "the exit code: {firing}"
    );
    let details = firing["details"].to_string();
    assert!(
        details.contains("watch-first-line") && details.contains("watch-last-line"),
        "the log lines: {details}"
    );
    assert_signed(&request);

    engine_ok(&["start", c.as_str()]);
    let resolved = eventually("the webhook gets the resolved alert", SETTLE, || async {
        let all = notices_about(&receiver.received("/watch"), c.as_str());
        all.iter()
            .find(|(n, _)| n["state"] == "resolved")
            .map(|(n, _)| n.clone())
            .ok_or_else(|| format!("{} notices so far", all.len()))
    })
    .await;
    assert_eq!(resolved["alert_id"], firing["alert_id"], "the same alert");
    // Once each: a few more evaluation rounds and grouping windows add nothing.
    tokio::time::sleep(Duration::from_secs(6)).await;
    let states: Vec<String> = notices_about(&receiver.received("/watch"), c.as_str())
        .iter()
        .map(|(n, _)| n["state"].as_str().unwrap_or_default().to_owned())
        .collect();
    assert_eq!(states, ["firing", "resolved"]);
}
