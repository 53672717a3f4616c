//! Alerts with real parts: a container on the real engine that exits non-zero fires once
//! with its log lines and resolves once when it runs again, each transition handed to the
//! notifier; a cluster agent that stops fires node down and resolves when it is back; the
//! real root filesystem past a threshold fires after the rule's duration; a console
//! restart fires nothing again and catches up what happened while it was down.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bosun_ui::server::Console;
use bosun_ui::watch::{NoticeState, Outgoing};
use http::StatusCode;
use serde_json::{json, Value};
use tokio::sync::mpsc::UnboundedReceiver;
use tokio_util::sync::CancellationToken;

use crate::common::*;

/// How long an alert may take to show: an event and a members poll, with room to spare.
const ALERT_WITHIN: Duration = Duration::from_secs(30);

/// A console on `args` whose notices the test takes, and how to stop it.
struct Watched {
    addr: SocketAddr,
    notices: UnboundedReceiver<Outgoing>,
    stop: CancellationToken,
    done: tokio::task::JoinHandle<()>,
}

async fn watched_console(args: &bosun_ui::cli::Args) -> Watched {
    let app = bosun_ui::cli::prepare(args).expect("the console prepares");
    let notices = app.notifier.take_queue().expect("the notifier's queue");
    let (chain, key) = bosun_ui::server::certificate(None, &args.data_dir).expect("a certificate");
    let console = Console::bind(args.listen, chain, key, Arc::new(app))
        .await
        .expect("the console binds");
    let addr = console.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let done = tokio::spawn(console.run_until(stop.clone()));
    Watched {
        addr,
        notices,
        stop,
        done,
    }
}

impl Watched {
    async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.done)
            .await
            .expect("the console stops within 30 s")
            .expect("it stops cleanly");
    }

    /// The next notice about `subject`, within the deadline.
    async fn notice_about(&mut self, subject: &str) -> bosun_ui::watch::Notice {
        let deadline = tokio::time::Instant::now() + ALERT_WITHIN;
        loop {
            let next = tokio::time::timeout_at(deadline, self.notices.recv())
                .await
                .unwrap_or_else(|_| panic!("a notice about {subject} within {ALERT_WITHIN:?}"))
                .expect("the queue is open");
            if let Outgoing::Notice(n) = next {
                if n.subject == subject {
                    return n;
                }
            }
        }
    }

    /// No notice about `subject` is queued now.
    fn no_notice_about(&mut self, subject: &str) {
        while let Ok(next) = self.notices.try_recv() {
            if let Outgoing::Notice(n) = next {
                assert_ne!(n.subject, subject, "no further notice: {n:?}");
            }
        }
    }
}

/// The alerts of `kind` about `subject`, in every state.
async fn alerts_about(client: &Client, kind: &str, subject: &str) -> Vec<Value> {
    let answer = client
        .get(&format!("/api/alerts?state=all&kind={kind}"))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["subject"] == subject)
        .cloned()
        .collect()
}

/// Waits until exactly one alert of `kind` about `subject` is in `state`; returns it.
async fn until_alert(client: &Client, kind: &str, subject: &str, state: &str) -> Value {
    eventually(
        &format!("{kind} {subject} {state}"),
        ALERT_WITHIN,
        || async {
            let all = alerts_about(client, kind, subject).await;
            match all.as_slice() {
                [one] if one["state"] == state => Ok(one.clone()),
                _ => Err(format!("{all:?}")),
            }
        },
    )
    .await
}

/// An alert's transitions, oldest first, as (from, to).
async fn transitions(client: &Client, alert: &Value) -> Vec<(String, String)> {
    let id = alert["id"].as_i64().expect("an alert ID");
    let answer = client.get(&format!("/api/alerts/history?alert={id}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let mut rows: Vec<(String, String)> = answer
        .json()
        .as_array()
        .into_iter()
        .flatten()
        .map(|t| {
            let s = |k: &str| t[k].as_str().unwrap_or_default().to_owned();
            (s("from"), s("to"))
        })
        .collect();
    rows.reverse();
    rows
}

fn pair(from: &str, to: &str) -> (String, String) {
    (from.to_owned(), to.to_owned())
}

/// A container that prints two lines and exits 3 the first time, and keeps running when
/// started again.
fn failing_once(tag: &str) -> Name {
    let name = Name::new(tag);
    name.run(&[
        "sh",
        "-c",
        "if [ -f /tmp/ran ]; then trap 'exit 0' TERM; while true; do sleep 1; done; fi; \
         touch /tmp/ran; echo first-line; echo last-line-before-exit; sleep 1; exit 3",
    ]);
    name
}

#[tokio::test(flavor = "multi_thread")]
async fn an_exit_fires_once_with_its_logs_and_resolves_once_when_it_runs_again() {
    let pki = Pki::new();
    let agent = start_agent(&pki, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &pki, agent);
    let mut console = watched_console(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let rules = admin.get("/api/alert-rules").await.json();
    assert!(
        rules.to_string().contains("container_exited"),
        "the default rules are made: {rules}"
    );

    let c = failing_once("al-exit");
    let firing = until_alert(&admin, "container_exited", c.as_str(), "firing").await;
    assert!(
        firing["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("code 3"),
        "{firing}"
    );
    let details = firing["details"].to_string();
    assert!(
        details.contains("last-line-before-exit"),
        "the log lines: {details}"
    );
    let notice = console.notice_about(c.as_str()).await;
    assert_eq!(notice.state, NoticeState::Firing);
    assert_eq!(notice.alert_id, firing["id"].as_i64().unwrap_or(-1));
    assert!(notice
        .details
        .iter()
        .any(|l| l.contains("last-line-before-exit")));

    engine_ok(&["start", c.as_str()]);
    let resolved = until_alert(&admin, "container_exited", c.as_str(), "resolved").await;
    assert_eq!(resolved["id"], firing["id"], "the same alert");
    let notice = console.notice_about(c.as_str()).await;
    assert_eq!(notice.state, NoticeState::Resolved);
    assert_eq!(
        transitions(&admin, &resolved).await,
        vec![pair("inactive", "firing"), pair("firing", "resolved")]
    );
    // Nothing more comes of it: a few more evaluation rounds change nothing.
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        alerts_about(&admin, "container_exited", c.as_str())
            .await
            .len(),
        1
    );
    console.no_notice_about(c.as_str());
    let summary = admin.get("/api/alerts/summary").await.json();
    assert!(summary["warning"].is_i64(), "{summary}");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restart_fires_nothing_again_and_catches_up_what_happened_while_down() {
    let pki = Pki::new();
    let agent = start_agent(&pki, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &pki, agent);
    let console = watched_console(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let first = failing_once("al-restart-a");
    let fired = until_alert(&admin, "container_exited", first.as_str(), "firing").await;
    console.stop().await;

    // While the console is down, another container exits.
    let second = Name::new("al-restart-b");
    second.run(&["sh", "-c", "echo down-line; exit 4"]);
    wait_for("the second container exited", SETTLE, || {
        let state = second.state();
        if state == "exited" {
            Ok(())
        } else {
            Err(state)
        }
    });

    let mut console = watched_console(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    // Caught up from where the events were left...
    let caught = until_alert(&admin, "container_exited", second.as_str(), "firing").await;
    assert!(
        caught["summary"]
            .as_str()
            .unwrap_or_default()
            .contains("code 4"),
        "{caught}"
    );
    let notice = console.notice_about(second.as_str()).await;
    assert_eq!(notice.state, NoticeState::Firing);
    // ...and what was firing still is, once, without a new transition or notice.
    let still = until_alert(&admin, "container_exited", first.as_str(), "firing").await;
    assert_eq!(still["id"], fired["id"]);
    assert_eq!(
        transitions(&admin, &still).await,
        vec![pair("inactive", "firing")]
    );
    console.no_notice_about(first.as_str());
    let open = admin.get("/api/alerts?state=firing").await.json();
    let firing_first = open
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a["subject"] == first.as_str())
        .count();
    assert_eq!(firing_first, 1, "{open}");
    console.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_root_filesystem_past_a_threshold_fires_after_the_duration() {
    let pki = Pki::new();
    let agent = sampling_agent(
        &pki,
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &pki, agent.addr);
    args.usage.usage_interval = Duration::from_secs(1);
    let console = watched_console(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let node = engine_name();

    // The root filesystem's use now, as the agent counts it (total less free blocks).
    let df = std::process::Command::new("df")
        .args(["-B1", "--output=size,used", "/"])
        .output()
        .expect("df");
    let text = String::from_utf8_lossy(&df.stdout).into_owned();
    let figures: Vec<f64> = text
        .lines()
        .nth(1)
        .unwrap_or_default()
        .split_whitespace()
        .filter_map(|f| f.parse().ok())
        .collect();
    let percent = figures[1] * 100.0 / figures[0];
    assert!(percent > 3.0, "the root filesystem is used: {text}");
    let made = admin
        .post(
            "/api/alert-rules",
            &json!({"name": "root almost full", "kind": "host_disk", "severity": "critical",
                    "threshold": percent - 2.0, "for": 3, "scope": {"node": node}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let subject = format!("{node}:/");
    let firing = until_alert(&admin, "host_disk", &subject, "firing").await;
    assert_eq!(firing["rule"], "root almost full");
    assert_eq!(firing["severity"], "critical");
    assert_eq!(
        transitions(&admin, &firing).await,
        vec![pair("inactive", "pending"), pair("pending", "firing")]
    );
    let since = time::OffsetDateTime::parse(
        firing["since"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("since");
    let fired = time::OffsetDateTime::parse(
        firing["fired_at"].as_str().unwrap_or_default(),
        &time::format_description::well_known::Rfc3339,
    )
    .expect("fired_at");
    assert!((fired - since).whole_seconds() >= 3, "{firing}");

    // Raising the threshold above the use resolves it on the next samples.
    let id = made.json()["id"].as_i64().expect("id");
    let changed = admin
        .patch(
            &format!("/api/alert-rules/{id}"),
            &json!({"threshold": 99.9}),
        )
        .await;
    assert_eq!(changed.status, StatusCode::OK, "{}", changed.text());
    until_alert(&admin, "host_disk", &subject, "resolved").await;
    let audit = admin
        .get("/api/audit?action=alert_rule.update")
        .await
        .json();
    assert_eq!(audit[0]["target"], "root almost full", "{audit}");
    console.stop().await;
    agent.stop().await;
}

mod checks;
mod cluster;
mod filesystem;
mod rules;
