//! Sign-in and safety: login limits per user name and per client address, the client's
//! address behind a trusted proxy, streams that end with their session, exit codes and
//! addresses in the audit log, and environment values masked for viewers.

use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde_json::{json, Value};

use crate::common::*;
use crate::{audit_rows, local_endpoint};
use bosun_testkit::https;

/// How long a stream may take to end once its session has.
const ENDS_WITHIN: Duration = Duration::from_secs(5);

/// A login attempt, maybe through a proxy that says the client is `forwarded`.
async fn login_as(
    console: std::net::SocketAddr,
    forwarded: Option<&str>,
    username: &str,
    password: &str,
) -> (StatusCode, String) {
    let mut sender = https::connect_with(console, https::any_server()).await;
    let mut req = https::request("POST", "/api/login");
    if let Some(client) = forwarded {
        req = req.header("x-forwarded-for", client);
    }
    let req = https::with_json(req, &json!({"username": username, "password": password}));
    let resp = https::send_within(&mut sender, req, ANSWER).await;
    let status = resp.status();
    let body = https::body_within(resp, ANSWER).await;
    (status, https::message_of(&body).unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread")]
async fn an_unknown_user_name_locks_out_no_real_account_but_a_spray_from_one_address_stops() {
    let (_creds, _agent, console) = stack().await;
    for _ in 0..5 {
        let (status, _) = login_as(console.addr, None, "nobody", "wrong password").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED);
    }
    let (status, message) = login_as(console.addr, None, "nobody", "wrong password").await;
    assert_eq!(
        status,
        StatusCode::TOO_MANY_REQUESTS,
        "the name is held back"
    );
    assert!(message.contains("user name"), "{message}");
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;

    // A forwarded address from a peer nobody trusts is not believed.
    let (status, _) = login_as(console.addr, Some("198.51.100.1"), "typo", "wrong").await;
    assert_eq!(status, StatusCode::UNAUTHORIZED);
    let rows = audit_rows(&admin, "action=login_failed&user=typo").await;
    assert_eq!(rows[0]["address"], "127.0.0.1", "{rows:?}");
    let rows = audit_rows(&admin, "action=login").await;
    assert_eq!(rows[0]["address"], "127.0.0.1", "{rows:?}");

    // Six failures so far count against this address (the refused one and the login do
    // not): fourteen more names reach its twenty, and then even the admin waits.
    for n in 0..14 {
        let (status, _) = login_as(console.addr, None, &format!("spray-{n}"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let (status, message) = login_as(console.addr, None, ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS);
    assert!(message.contains("address"), "{message}");
}

#[tokio::test(flavor = "multi_thread")]
async fn behind_a_trusted_proxy_the_forwarded_client_is_limited_and_audited() {
    let creds = Pki::new();
    let agent = start_agent(&creds, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent);
    args.access.trusted_proxies = vec!["127.0.0.0/8".parse().expect("CIDR")];
    let addr = start_console(&args).await;

    // The client forges a hop; the proxy appends the address it saw.
    let sprayer = "6.6.6.6, 203.0.113.9";
    for n in 0..20 {
        let (status, _) = login_as(addr, Some(sprayer), &format!("spray-{n}"), "guess").await;
        assert_eq!(status, StatusCode::UNAUTHORIZED, "attempt {n}");
    }
    let (status, message) = login_as(addr, Some(sprayer), ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(status, StatusCode::TOO_MANY_REQUESTS, "{message}");
    let (status, message) = login_as(addr, Some("203.0.113.10"), ADMIN, ADMIN_PASSWORD).await;
    assert_eq!(
        status,
        StatusCode::OK,
        "another client is not held back: {message}"
    );

    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let failed = audit_rows(&admin, "action=login_failed&user=spray-0").await;
    assert_eq!(failed[0]["address"], "203.0.113.9", "{failed:?}");
    let logins = audit_rows(&admin, "action=login").await;
    let addresses: Vec<&str> = logins
        .iter()
        .filter_map(|r| r["address"].as_str())
        .collect();
    assert!(addresses.contains(&"203.0.113.10"), "{addresses:?}");
    assert!(addresses.contains(&"127.0.0.1"), "{addresses:?}");
}

/// Whether `body` ends (or fails) within `limit`.
async fn ends(mut body: Incoming, limit: Duration) -> bool {
    tokio::time::timeout(limit, async {
        while let Some(Ok(_)) = body.frame().await {}
    })
    .await
    .is_ok()
}

/// An event stream and a followed log, opened by `user`.
async fn open_streams(user: &Client, id: i64, container: &str) -> (Incoming, Incoming) {
    let events = user.stream(&format!("/api/endpoints/{id}/events")).await;
    assert_eq!(events.status(), StatusCode::OK);
    let logs = user
        .stream(&format!(
            "/api/endpoints/{id}/containers/{container}/logs?follow=1"
        ))
        .await;
    assert_eq!(logs.status(), StatusCode::OK);
    let (events, logs) = (events.into_body(), logs.into_body());
    (events, logs)
}

#[tokio::test(flavor = "multi_thread")]
async fn logout_removal_and_demotion_end_the_users_open_streams() {
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let id = local_endpoint(&admin.get("/api/endpoints").await.json());
    let c = container("streams");
    for name in ["leaver", "removed", "demoted"] {
        admin.add_user(name, "operator").await;
    }
    let (admins_events, _admins_logs) = open_streams(&admin, id, &c.0).await;

    let leaver = Client::logged_in(console.addr, "leaver", "password-123").await;
    let (events, logs) = open_streams(&leaver, id, &c.0).await;
    assert!(
        !ends(events, Duration::from_secs(1)).await,
        "a stream stays open while its session does"
    );
    let (events, logs2) = open_streams(&leaver, id, &c.0).await;
    let out = leaver.post("/api/logout", &json!({})).await;
    assert_eq!(out.status, StatusCode::OK);
    assert!(ends(events, ENDS_WITHIN).await, "events end at logout");
    assert!(ends(logs, ENDS_WITHIN).await, "logs end at logout");
    assert!(ends(logs2, ENDS_WITHIN).await);

    let removed = Client::logged_in(console.addr, "removed", "password-123").await;
    let (events, logs) = open_streams(&removed, id, &c.0).await;
    let gone = admin.delete("/api/users/removed").await;
    assert_eq!(gone.status, StatusCode::OK, "{}", gone.text());
    assert!(ends(events, ENDS_WITHIN).await, "events end at removal");
    assert!(ends(logs, ENDS_WITHIN).await, "logs end at removal");

    let demoted = Client::logged_in(console.addr, "demoted", "password-123").await;
    let (events, logs) = open_streams(&demoted, id, &c.0).await;
    let change = admin
        .patch("/api/users/demoted", &json!({"role": "viewer"}))
        .await;
    assert_eq!(change.status, StatusCode::OK, "{}", change.text());
    assert!(ends(events, ENDS_WITHIN).await, "events end at demotion");
    assert!(ends(logs, ENDS_WITHIN).await, "logs end at demotion");
    // The demoted user may open new ones, as a viewer.
    let (events, _logs) = open_streams(&demoted, id, &c.0).await;
    assert!(!ends(events, Duration::from_secs(1)).await);

    assert!(
        !ends(admins_events, Duration::from_secs(1)).await,
        "others' streams stay open"
    );
}

/// A container with a secret in its environment, removed when dropped.
fn container_with_secret() -> Name {
    ensure_image();
    let name = Name::new("ui-env");
    engine_ok(&[
        "run",
        "-d",
        "--name",
        name.as_str(),
        "-e",
        "SECRET=hunter2",
        IMAGE,
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    name
}

#[tokio::test(flavor = "multi_thread")]
async fn viewers_see_env_masked_and_failed_execs_are_audited_with_exit_code_and_address() {
    let creds = Pki::new();
    let agent = start_agent(&creds, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent);
    args.access.mask_env_for_viewers = true;
    let addr = start_console(&args).await;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let id = local_endpoint(&admin.get("/api/endpoints").await.json());
    admin.add_user("looker", "viewer").await;
    admin.add_user("doer", "operator").await;
    let viewer = Client::logged_in(addr, "looker", "password-123").await;
    let operator = Client::logged_in(addr, "doer", "password-123").await;
    let c = container_with_secret();
    let path = format!("/api/endpoints/{id}/containers/{}", c.0);

    let seen = viewer.get(&path).await;
    assert_eq!(seen.status, StatusCode::OK, "{}", seen.text());
    let env = seen.json()["Config"]["Env"].clone();
    assert!(
        env.as_array()
            .is_some_and(|vars| vars.contains(&json!("SECRET=<masked>"))),
        "{env}"
    );
    assert!(!seen.text().contains("hunter2"), "nowhere in the answer");
    let env = operator.get(&path).await.json()["Config"]["Env"].clone();
    assert!(
        env.as_array()
            .is_some_and(|vars| vars.contains(&json!("SECRET=hunter2"))),
        "{env}"
    );

    let exec = |cmd: Value| {
        let operator = &operator;
        let path = format!("{path}/exec");
        async move { operator.post(&path, &json!({ "cmd": cmd })).await }
    };
    let failed = exec(json!(["sh", "-c", "echo no; exit 126"])).await;
    assert_eq!(failed.status, StatusCode::OK, "{}", failed.text());
    assert_eq!(failed.json()["exit_code"], 126);
    assert_eq!(failed.json()["output"], "no\n");
    let worked = exec(json!(["true"])).await;
    assert_eq!(worked.json()["exit_code"], 0, "{}", worked.text());

    let rows = audit_rows(&admin, "action=container.exec").await;
    assert_eq!(rows.len(), 2, "{rows:?}");
    assert_eq!(rows[0]["result"], "ok", "{rows:?}");
    assert_eq!(rows[1]["result"], "error", "{rows:?}");
    assert_eq!(rows[1]["detail"], "exit code 126", "{rows:?}");
    assert_eq!(rows[1]["address"], "127.0.0.1", "{rows:?}");
    assert_eq!(rows[1]["user"], "doer", "{rows:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_body_that_is_not_the_json_a_route_takes_gets_a_message() {
    let (_creds, _agent, console) = stack().await;
    let anonymous = Client::new(console.addr);
    let login = anonymous
        .send(
            http::Method::POST,
            "/api/login",
            Some(&json!({"username": 5})),
            false,
        )
        .await;
    assert!(login.status.is_client_error(), "{}", login.text());
    assert!(
        login.message().contains("username"),
        "the reason, as JSON: {}",
        login.text()
    );
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let user = admin.post("/api/users", &json!({"role": "viewer"})).await;
    assert!(user.status.is_client_error(), "{}", user.text());
    assert!(!user.message().is_empty(), "{}", user.text());
}
