//! The console's API against a real agent in front of this machine's real engine: sessions,
//! roles, every container action, and the audit rows they leave.

#[path = "../common/mod.rs"]
mod common;
mod flood;
mod running;

use http::{Method, StatusCode};
use serde_json::{json, Value};

use common::*;

mod access;
mod alerts;
mod channels;
mod checks;
mod containers;
mod docker_api;
mod edge;
mod edge_netns;
mod identity;
mod images;
mod logs;
mod merged_logs;
mod oidc;
mod swarm;
mod terminal;
mod updates;
mod watch;

pub(crate) fn local_endpoint(list: &Value) -> i64 {
    list.as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "local"))
        .and_then(|e| e["id"].as_i64())
        .unwrap_or_else(|| panic!("the endpoint from the command line is listed: {list}"))
}

pub(crate) async fn audit_rows(admin: &Client, query: &str) -> Vec<Value> {
    let answer = admin.get(&format!("/api/audit?{query}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    answer.json().as_array().cloned().unwrap_or_default()
}

#[tokio::test(flavor = "multi_thread")]
async fn sessions_need_a_password_a_cookie_and_the_csrf_token() {
    let (_creds, _agent, console) = stack().await;
    let anonymous = Client::new(console.addr);

    let setup = anonymous.get("/api/setup").await;
    assert_eq!(
        setup.json(),
        json!({"needed": false}),
        "the admin came from the file"
    );
    let refused = anonymous
        .send(
            Method::POST,
            "/api/setup",
            Some(&json!({"username": "late", "password": "long enough"})),
            false,
        )
        .await;
    assert_eq!(refused.status, StatusCode::CONFLICT, "{}", refused.text());

    let no_session = anonymous.get("/api/endpoints").await;
    assert_eq!(no_session.status, StatusCode::UNAUTHORIZED);
    assert_eq!(no_session.message(), "log in first");

    let wrong = anonymous
        .send(
            Method::POST,
            "/api/login",
            Some(&json!({"username": ADMIN, "password": "wrong password"})),
            false,
        )
        .await;
    assert_eq!(wrong.status, StatusCode::UNAUTHORIZED);
    assert!(wrong.headers.get(http::header::SET_COOKIE).is_none());

    let mut admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let session = admin.get("/api/session").await;
    assert_eq!(
        session.json()["user"],
        json!({"username": ADMIN, "role": "admin"})
    );

    // A state-changing request without the CSRF token is refused and changes nothing.
    let forged = admin
        .send(
            Method::POST,
            "/api/users",
            Some(&json!({"username": "mallory", "password": "password-1", "role": "admin"})),
            false,
        )
        .await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text());
    let users = admin.get("/api/users").await.json();
    assert!(!users.to_string().contains("mallory"));

    // Security headers on pages and the API.
    let page = admin.get("/").await;
    assert_eq!(page.status, StatusCode::OK);
    let csp = page.headers["content-security-policy"]
        .to_str()
        .expect("ASCII");
    assert!(csp.contains("default-src 'self'"), "{csp}");
    assert_eq!(page.headers["x-frame-options"], "DENY");

    // Logout ends the session for good.
    let cookie = admin.cookie.clone();
    assert_eq!(
        admin.post("/api/logout", &json!({})).await.status,
        StatusCode::OK
    );
    admin.cookie = cookie;
    assert_eq!(
        admin.get("/api/session").await.status,
        StatusCode::UNAUTHORIZED
    );

    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let rows = audit_rows(&admin, "").await;
    let actions: Vec<&str> = rows.iter().filter_map(|r| r["action"].as_str()).collect();
    for action in ["login_failed", "login", "logout"] {
        assert!(
            actions.contains(&action),
            "{action} in the audit log: {actions:?}"
        );
    }
    let failed = audit_rows(&admin, "action=login_failed").await;
    assert_eq!(failed[0]["result"], "error");
    assert_eq!(failed[0]["target"], ADMIN);
}

#[tokio::test(flavor = "multi_thread")]
async fn logins_are_rate_limited_per_user_name() {
    let (_creds, _agent, console) = stack().await;
    let client = Client::new(console.addr);
    let attempt = |password: &'static str| {
        let client = &client;
        async move {
            client
                .send(
                    Method::POST,
                    "/api/login",
                    Some(&json!({"username": ADMIN, "password": password})),
                    false,
                )
                .await
                .status
        }
    };
    for _ in 0..5 {
        assert_eq!(attempt("wrong password").await, StatusCode::UNAUTHORIZED);
    }
    assert_eq!(
        attempt("wrong password").await,
        StatusCode::TOO_MANY_REQUESTS
    );
    assert_eq!(
        attempt(ADMIN_PASSWORD).await,
        StatusCode::TOO_MANY_REQUESTS,
        "even the right password waits"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn roles_are_enforced_on_every_route() {
    let (creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    for (name, role) in [("olga", "operator"), ("victor", "viewer")] {
        let made = admin
            .post(
                "/api/users",
                &json!({"username": name, "password": "password-123", "role": role}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    }
    let short = admin
        .post(
            "/api/users",
            &json!({"username": "shorty", "password": "short", "role": "viewer"}),
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let operator = Client::logged_in(console.addr, "olga", "password-123").await;
    let viewer = Client::logged_in(console.addr, "victor", "password-123").await;
    let id = local_endpoint(&admin.get("/api/endpoints").await.json());
    let c = container("roles");

    let e = format!("/api/endpoints/{id}");
    let reads = [
        format!("{e}/containers"),
        format!("{e}/containers/{}", c.0),
        format!("{e}/containers/{}/logs?tail=10", c.0),
        format!("{e}/nodes"),
        format!("{e}/images"),
        format!("{e}/volumes"),
        format!("{e}/networks"),
        "/api/endpoints".to_owned(),
        "/api/console-key".to_owned(),
    ];
    for path in &reads {
        for (who, client) in [("viewer", &viewer), ("operator", &operator)] {
            let answer = client.get(path).await;
            assert_eq!(
                answer.status,
                StatusCode::OK,
                "{who} GET {path}: {}",
                answer.text()
            );
        }
    }
    let admin_only_reads = ["/api/users", "/api/audit"];
    for path in admin_only_reads {
        for client in [&viewer, &operator] {
            assert_eq!(
                client.get(path).await.status,
                StatusCode::FORBIDDEN,
                "GET {path}"
            );
        }
        assert_eq!(admin.get(path).await.status, StatusCode::OK, "GET {path}");
    }
    // Actions: operators and admins, not viewers.
    for action in ["stop", "start", "restart", "kill"] {
        let path = format!("{e}/containers/{}/{action}", c.0);
        let answer = viewer.post(&path, &json!({})).await;
        assert_eq!(answer.status, StatusCode::FORBIDDEN, "viewer {action}");
    }
    let exec = format!("{e}/containers/{}/exec", c.0);
    assert_eq!(
        viewer.post(&exec, &json!({"cmd": ["true"]})).await.status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        viewer
            .delete(&format!("{e}/containers/{}?force=1", c.0))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    assert_eq!(
        c.state(),
        "running",
        "a refused action did not reach the engine"
    );
    // Users and endpoints: admins only.
    let new_user = json!({"username": "eve", "password": "password-123", "role": "admin"});
    let new_endpoint =
        json!({"name": "x", "url": "https://localhost:1", "ca_pem": creds.ca_pem(), "auth": "key"});
    for client in [&viewer, &operator] {
        assert_eq!(
            client.post("/api/users", &new_user).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            client
                .patch("/api/users/victor", &json!({"role": "admin"}))
                .await
                .status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            client.delete("/api/users/olga").await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(
            client.post("/api/endpoints", &new_endpoint).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(client.delete(&e).await.status, StatusCode::FORBIDDEN);
    }
    // The agent hears of a viewer as a read-only client, so reads are all it can do there.
    let stop = operator
        .post(&format!("{e}/containers/{}/stop", c.0), &json!({}))
        .await;
    assert_eq!(
        stop.status,
        StatusCode::OK,
        "operator stop: {}",
        stop.text()
    );
    assert_eq!(c.state(), "exited");

    // The last admin cannot be demoted or removed; a demoted user's role applies at once.
    assert_eq!(
        admin
            .patch(&format!("/api/users/{ADMIN}"), &json!({"role": "viewer"}))
            .await
            .status,
        StatusCode::CONFLICT
    );
    assert_eq!(
        admin
            .patch("/api/users/olga", &json!({"role": "viewer"}))
            .await
            .status,
        StatusCode::OK
    );
    assert_eq!(
        operator
            .post(&format!("{e}/containers/{}/start", c.0), &json!({}))
            .await
            .status,
        StatusCode::FORBIDDEN
    );
    let rows = audit_rows(&admin, "action=user.update").await;
    assert!(rows
        .iter()
        .any(|r| r["target"].as_str().unwrap_or_default().starts_with("olga")));
}

#[tokio::test(flavor = "multi_thread")]
async fn every_container_action_works_and_is_audited_with_its_node() {
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let made = admin
        .post(
            "/api/users",
            &json!({"username": "olga", "password": "password-123", "role": "operator"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let operator = Client::logged_in(console.addr, "olga", "password-123").await;
    let c = container("actions");
    let endpoints = admin.get("/api/endpoints").await.json();
    let id = local_endpoint(&endpoints);
    let node = engine_ok(&["info", "--format", "{{.Name}}"]);

    // The endpoint's state, and the container in the cluster's list with its node.
    let status = &endpoints[0]["status"];
    assert_eq!(status["reachable"], true, "{endpoints}");
    assert_eq!(status["nodes_up"], 1);
    assert_eq!(status["nodes_total"], 1);
    assert!(status["containers_running"].as_u64().unwrap_or(0) >= 1);
    let e = format!("/api/endpoints/{id}");
    let list = operator.get(&format!("{e}/containers")).await.json();
    let item = list["items"]
        .as_array()
        .and_then(|a| a.iter().find(|i| i["Names"][0] == format!("/{}", c.0)))
        .unwrap_or_else(|| panic!("{} listed: {list}", c.0))
        .clone();
    assert_eq!(item["Agent"]["NodeName"], node.as_str());
    assert_eq!(list["partial"], Value::Null);

    // Inspect, logs, stats, exec.
    let inspect = operator
        .get(&format!("{e}/containers/{}", c.0))
        .await
        .json();
    assert_eq!(inspect["Name"], format!("/{}", c.0));
    assert_eq!(inspect["Agent"]["NodeName"], node.as_str());
    let logs = eventually("the container's first line", SETTLE, || async {
        let logs = operator
            .get(&format!("{e}/containers/{}/logs?tail=all", c.0))
            .await
            .text();
        if logs.contains("console-test-line") {
            Ok(logs)
        } else {
            Err(logs)
        }
    })
    .await;
    assert!(
        !logs.contains('\u{1}'),
        "stdout frames are demultiplexed: {logs:?}"
    );
    let stats = operator.get(&format!("{e}/containers/{}/stats", c.0)).await;
    assert_eq!(stats.status, StatusCode::OK, "{}", stats.text());
    assert!(stats.json()["cpu_percent"].is_number());
    let ran = operator
        .post(
            &format!("{e}/containers/{}/exec", c.0),
            &json!({"cmd": ["sh", "-c", "echo out; echo err >&2; exit 3"]}),
        )
        .await;
    assert_eq!(ran.status, StatusCode::OK, "{}", ran.text());
    assert_eq!(ran.json()["exit_code"], 3);
    let output = ran.json()["output"].as_str().unwrap_or_default().to_owned();
    assert!(
        output.contains("out\n") && output.contains("err\n"),
        "{output:?}"
    );

    // Every action reaches the engine.
    for (action, state) in [
        ("stop", "exited"),
        ("start", "running"),
        ("restart", "running"),
        ("kill", "exited"),
    ] {
        let answer = operator
            .post(&format!("{e}/containers/{}/{action}", c.0), &json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{action}: {}", answer.text());
        assert_eq!(c.state(), state, "after {action}");
    }
    // An error from the engine comes back as the engine said it, and is audited as one.
    let again = operator
        .post(&format!("{e}/containers/{}/stop", c.0), &json!({}))
        .await;
    assert!(
        again.status.is_success()
            || again.status == StatusCode::NOT_MODIFIED
            || again.status.is_client_error(),
        "stopping a stopped container: {} {}",
        again.status,
        again.text()
    );
    let missing = operator
        .post(
            &format!("{e}/containers/no-such-container-x/start"),
            &json!({}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());
    assert!(
        missing.message().contains("No such container"),
        "{}",
        missing.message()
    );
    let removed = operator
        .delete(&format!("{e}/containers/{}?force=1", c.0))
        .await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    let gone = std::process::Command::new("docker")
        .args(["inspect", &c.0])
        .output()
        .expect("docker");
    assert!(!gone.status.success(), "removed from the engine");

    // The audit log: who, where, which node, what, on what, and how it went.
    let rows = audit_rows(&admin, "user=olga").await;
    for action in [
        "container.stop",
        "container.start",
        "container.restart",
        "container.kill",
        "container.remove",
        "container.exec",
    ] {
        // The exec ran `exit 3`: done, but recorded as failed, with its exit code.
        let (result, detail) = match action {
            "container.exec" => ("error", "exit code 3"),
            _ => ("ok", ""),
        };
        let row = rows
            .iter()
            .find(|r| r["action"] == action && r["result"] == result)
            .unwrap_or_else(|| panic!("{action} audited: {rows:?}"));
        assert_eq!(row["detail"], detail, "{action}");
        assert_eq!(row["endpoint"], "local");
        assert_eq!(row["node"], node.as_str(), "{action}");
        assert!(
            row["target"].as_str().unwrap_or_default().starts_with(&c.0),
            "{row}"
        );
        assert!(row["time"].as_str().unwrap_or_default().ends_with('Z'));
    }
    let failed = audit_rows(&admin, "user=olga&result=error").await;
    assert!(
        failed.iter().any(|r| r["action"] == "container.start"
            && r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("No such container")),
        "{failed:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_show_their_state_and_the_agents_errors() {
    let (creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;

    // An agent that trusts the console's own key.
    let key = admin.get("/api/console-key").await.json()["public_key_pem"]
        .as_str()
        .expect("a PEM")
        .to_owned();
    assert!(key.starts_with("-----BEGIN PUBLIC KEY-----"));
    let keyed_creds = Pki::new();
    let keyed_agent = start_agent(&keyed_creds, Some(&key)).await;
    let made = admin
        .post(
            "/api/endpoints",
            &json!({"name": "keyed", "url": format!("https://127.0.0.1:{}", keyed_agent.port()), "ca_pem": keyed_creds.ca_pem(), "auth": "key"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    assert_eq!(made.json()["status"]["reachable"], true, "{}", made.text());
    assert!(
        made.json().get("secret").is_none(),
        "secrets are never returned"
    );

    // An agent of another cluster that does not trust the console: its refusal is shown.
    let other = Pki::new();
    let untrusting = start_agent(&other, None).await;
    let made = admin
        .post(
            "/api/endpoints",
            &json!({"name": "untrusting", "url": format!("https://127.0.0.1:{}", untrusting.port()), "ca_pem": other.ca_pem(), "auth": "key"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let status = &made.json()["status"];
    assert_eq!(status["reachable"], false);
    assert!(
        status["error"]
            .as_str()
            .unwrap_or_default()
            .contains("token"),
        "{status}"
    );

    // Nothing listening: unreachable, with the reason.
    let closed = std::net::TcpListener::bind("127.0.0.1:0").expect("port");
    let port = closed.local_addr().expect("addr").port();
    drop(closed);
    let made = admin
        .post(
            "/api/endpoints",
            &json!({"name": "gone", "url": format!("https://127.0.0.1:{port}"), "ca_pem": creds.ca_pem(), "auth": "secret", "secret": creds.secret_text()}),
        )
        .await;
    let status = &made.json()["status"];
    assert_eq!(status["reachable"], false);
    assert!(
        status["error"]
            .as_str()
            .unwrap_or_default()
            .contains("cannot reach"),
        "{status}"
    );
    let id = made.json()["id"].as_i64().expect("id");
    let list = admin.get(&format!("/api/endpoints/{id}/containers")).await;
    assert_eq!(
        list.status,
        StatusCode::BAD_GATEWAY,
        "not an empty list: {}",
        list.text()
    );

    // Bad input is refused with a reason.
    for (body, why) in [
        (
            json!({"name": "a", "url": "http://x:1", "ca_pem": creds.ca_pem(), "auth": "key"}),
            "https",
        ),
        (
            json!({"name": "a", "url": "https://x:1", "ca_pem": "nonsense", "auth": "key"}),
            "certificate",
        ),
        (
            json!({"name": "a", "url": "https://x:1", "ca_pem": creds.ca_pem(), "auth": "secret", "secret": "short"}),
            "secret",
        ),
        (
            json!({"name": "keyed", "url": "https://x:1", "ca_pem": creds.ca_pem(), "auth": "key"}),
            "exists",
        ),
    ] {
        let answer = admin.post("/api/endpoints", &body).await;
        assert!(answer.status.is_client_error(), "{body}: {}", answer.text());
        assert!(
            answer.message().contains(why),
            "{why}: {}",
            answer.message()
        );
    }

    let listed = admin.get("/api/endpoints").await.json();
    let names: Vec<&str> = listed
        .as_array()
        .expect("list")
        .iter()
        .filter_map(|e| e["name"].as_str())
        .collect();
    assert_eq!(names, ["gone", "keyed", "local", "untrusting"]);
    assert_eq!(
        admin.delete(&format!("/api/endpoints/{id}")).await.status,
        StatusCode::OK
    );
    let rows = audit_rows(&admin, "action=endpoint.create").await;
    assert_eq!(
        rows.iter().filter(|r| r["result"] == "ok").count(),
        3,
        "{rows:?}"
    );
    assert!(rows.iter().any(|r| r["result"] == "error"));
}

#[tokio::test(flavor = "multi_thread")]
async fn events_stream_live_and_state_survives_a_restart() {
    let creds = Pki::new();
    let agent = start_agent(&creds, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &creds, agent);
    let addr = start_console(&args).await;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let id = local_endpoint(&admin.get("/api/endpoints").await.json());
    let c = container("events");

    let resp = admin.stream(&format!("/api/endpoints/{id}/events")).await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let stop = admin
        .post(
            &format!("/api/endpoints/{id}/containers/{}/stop", c.0),
            &json!({}),
        )
        .await;
    assert_eq!(stop.status, StatusCode::OK);
    let mut seen = String::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        use http_body_util::BodyExt;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen.push_str(&String::from_utf8_lossy(data));
                let hit = seen
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .any(|l| {
                        serde_json::from_str::<Value>(l).is_ok_and(|ev| {
                            ev["Actor"]["Attributes"]["name"] == c.0.as_str()
                                && ev["Action"] == "die"
                                && ev["Agent"]["NodeName"].is_string()
                        })
                    });
                if hit {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(
        found,
        Ok(true),
        "a die event for {} with its node: {seen}",
        c.0
    );

    // Logs followed: the container's lines as events, and more as it writes them.
    let start = admin
        .post(
            &format!("/api/endpoints/{id}/containers/{}/start", c.0),
            &json!({}),
        )
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.text());
    let resp = admin
        .stream(&format!(
            "/api/endpoints/{id}/containers/{}/logs?follow=1&tail=all",
            c.0
        ))
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut lines = String::new();
    let two_starts = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        use http_body_util::BodyExt;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                lines.push_str(&String::from_utf8_lossy(data));
                if lines.matches("data: console-test-line\n").count() >= 2 {
                    return true;
                }
            }
        }
        false
    })
    .await;
    assert_eq!(
        two_starts,
        Ok(true),
        "both runs' first line, demultiplexed, as events: {lines:?}"
    );

    // A new console process on the same data directory keeps users, endpoints and audit.
    let made = admin
        .post(
            "/api/users",
            &json!({"username": "kept", "password": "password-123", "role": "viewer"}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED);
    let mut again = args;
    again.admin_password_file = None;
    let addr2 = start_console(&again).await;
    let admin2 = Client::logged_in(addr2, ADMIN, ADMIN_PASSWORD).await;
    let users = admin2.get("/api/users").await.json();
    assert!(users.to_string().contains("\"kept\""), "{users}");
    assert_eq!(
        local_endpoint(&admin2.get("/api/endpoints").await.json()),
        id
    );
    let rows = audit_rows(&admin2, "action=container.stop").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn first_start_without_a_password_offers_setup_once() {
    let creds = Pki::new();
    let agent = start_agent(&creds, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent);
    args.admin_password_file = None;
    let addr = start_console(&args).await;
    let client = Client::new(addr);
    assert_eq!(
        client.get("/api/setup").await.json(),
        json!({"needed": true})
    );
    let short = client
        .send(
            Method::POST,
            "/api/setup",
            Some(&json!({"username": "root", "password": "short"})),
            false,
        )
        .await;
    assert_eq!(short.status, StatusCode::BAD_REQUEST);
    let done = client
        .send(
            Method::POST,
            "/api/setup",
            Some(&json!({"username": "root", "password": "long password"})),
            false,
        )
        .await;
    assert_eq!(done.status, StatusCode::OK, "{}", done.text());
    assert_eq!(done.json()["user"]["role"], "admin");
    assert_eq!(
        client.get("/api/setup").await.json(),
        json!({"needed": false})
    );
    let second = client
        .send(
            Method::POST,
            "/api/setup",
            Some(&json!({"username": "evil", "password": "long password"})),
            false,
        )
        .await;
    assert_eq!(second.status, StatusCode::CONFLICT);
}

/// The agent's audit trail: one JSON object per line.
fn agent_audit_lines(path: &std::path::Path) -> Vec<Value> {
    std::fs::read_to_string(path)
        .unwrap_or_default()
        .lines()
        .filter_map(|l| serde_json::from_str(l).ok())
        .collect()
}

/// The agent's audit line for `POST /containers/{id}/{action}` by `subject`, once written.
async fn agent_audit_line(path: &std::path::Path, id: &str, action: &str, subject: &str) -> Value {
    let what = format!("{subject}'s {action} of {id} in the agent's audit file");
    let suffix = format!("/containers/{id}/{action}");
    eventually(&what, SETTLE, || async {
        let lines = agent_audit_lines(path);
        lines
            .iter()
            .find(|l| {
                l["method"] == "POST"
                    && l["path"].as_str().unwrap_or_default().ends_with(&suffix)
                    && l["subject"] == subject
            })
            .cloned()
            .ok_or_else(|| format!("{lines:?}"))
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn endpoints_map_users_and_roles_to_agent_profiles() {
    let files = tempfile::tempdir().expect("tempdir");
    let policy = files.path().join("policy.toml");
    std::fs::write(
        &policy,
        "[profiles.watcher]\nallow = { \"*\" = \"read\" }\n",
    )
    .expect("policy");
    let agent_audit = files.path().join("agent-audit.jsonl");
    let options = AgentOptions {
        policy_file: Some(policy),
        audit_file: Some(agent_audit.clone()),
        audit_reads: false,
        ..AgentOptions::default()
    };
    let (creds, _agent, console) = stack_with(&options).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    for name in ["walt", "olga"] {
        let made = admin
            .post(
                "/api/users",
                &json!({"username": name, "password": "password-123", "role": "operator"}),
            )
            .await;
        assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    }
    let walt = Client::logged_in(console.addr, "walt", "password-123").await;
    let olga = Client::logged_in(console.addr, "olga", "password-123").await;
    let list = admin.get("/api/endpoints").await.json();
    let id = local_endpoint(&list);
    let e = format!("/api/endpoints/{id}");
    assert_eq!(
        list[0]["profiles"],
        json!({"roles": {}, "users": {}}),
        "no mapping yet: {list}"
    );

    // The mapping is the admins' to read and change.
    let seen_by_operator = walt.get("/api/endpoints").await.json();
    assert!(
        seen_by_operator[0].get("profiles").is_none(),
        "{seen_by_operator}"
    );
    assert!(walt.get(&e).await.json().get("profiles").is_none());
    let mapping = json!({"profiles": {"users": {"walt": "watcher"}}});
    assert_eq!(walt.patch(&e, &mapping).await.status, StatusCode::FORBIDDEN);

    // Bad mappings are refused with what is wrong, and change nothing.
    for (bad, says) in [
        (
            json!({"roles": {"root": "watcher"}}),
            "\"root\" is not a role",
        ),
        (
            json!({"roles": {"operator": ""}}),
            "profiles.roles.operator",
        ),
        (
            json!({"users": {"walt": "two words"}}),
            "not a profile name",
        ),
        (
            json!({"users": {"walt": "p".repeat(65)}}),
            "1 to 64 characters",
        ),
        (
            json!({"users": {"no spaces": "watcher"}}),
            "not a user name",
        ),
        (json!({"groups": {}}), "only \"roles\" and \"users\""),
        (json!(["watcher"]), "must be an object"),
    ] {
        let answer = admin.patch(&e, &json!({ "profiles": bad })).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{bad}: {}",
            answer.text()
        );
        assert!(
            answer.message().contains(says),
            "{bad}: {}",
            answer.message()
        );
    }
    let refused = admin
        .post(
            "/api/endpoints",
            &json!({"name": "bad-map", "url": "https://localhost:1", "ca_pem": creds.ca_pem(),
                    "auth": "key", "profiles": {"roles": {"viewer": "a b"}}}),
        )
        .await;
    assert_eq!(
        refused.status,
        StatusCode::BAD_REQUEST,
        "{}",
        refused.text()
    );
    assert!(
        refused.message().contains("profiles.roles.viewer"),
        "{}",
        refused.message()
    );
    let names = admin.get("/api/endpoints").await.text();
    assert!(!names.contains("bad-map"), "{names}");
    assert_eq!(
        admin.get(&e).await.json()["profiles"],
        json!({"roles": {}, "users": {}})
    );

    // A new endpoint may come with its mapping.
    let made = admin
        .post(
            "/api/endpoints",
            &json!({"name": "mapped", "url": "https://localhost:1", "ca_pem": creds.ca_pem(),
                    "auth": "key", "profiles": {"roles": {"viewer": "read", "admin": "admin"}}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    assert_eq!(
        made.json()["profiles"],
        json!({"roles": {"viewer": "read", "admin": "admin"}, "users": {}})
    );

    // walt acts under "watcher" here: he reads, but the agent refuses his stop, and the
    // console passes its reason on and records the refusal.
    let mapped = admin.patch(&e, &mapping).await;
    assert_eq!(mapped.status, StatusCode::OK, "{}", mapped.text());
    assert_eq!(
        mapped.json()["profiles"],
        json!({"roles": {}, "users": {"walt": "watcher"}})
    );
    let listed = admin.get("/api/endpoints").await.json();
    let local = listed
        .as_array()
        .and_then(|a| a.iter().find(|x| x["id"] == id))
        .expect("listed");
    assert_eq!(local["profiles"]["users"]["walt"], "watcher");
    let c = container("profiles");
    let cid = engine_ok(&["inspect", "--format", "{{.Id}}", &c.0]);
    let read = walt.get(&format!("{e}/containers/{}", c.0)).await;
    assert_eq!(read.status, StatusCode::OK, "{}", read.text());
    let stop = walt
        .post(&format!("{e}/containers/{}/stop", c.0), &json!({}))
        .await;
    assert_eq!(stop.status, StatusCode::FORBIDDEN, "{}", stop.text());
    assert!(
        stop.message()
            .contains("profile \"watcher\" does not allow"),
        "the agent's reason: {}",
        stop.message()
    );
    assert_eq!(c.state(), "running", "the engine never heard of it");
    let rows = audit_rows(&admin, "user=walt&action=container.stop").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["result"], "error");
    assert_eq!(rows[0]["endpoint"], "local");
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .contains("\"watcher\""),
        "{}",
        rows[0]
    );
    let refused_line = agent_audit_line(&agent_audit, &cid, "stop", "walt").await;
    assert_eq!(refused_line["profile"], "watcher", "{refused_line}");
    assert_eq!(refused_line["status"], 403, "{refused_line}");

    // olga, an operator with no entry, keeps the operator's full access; the agent's audit
    // names the same user the console's does.
    let stop = olga
        .post(&format!("{e}/containers/{}/stop", c.0), &json!({}))
        .await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.text());
    assert_eq!(c.state(), "exited");
    let rows = audit_rows(&admin, "user=olga&action=container.stop").await;
    assert_eq!(rows[0]["result"], "ok", "{rows:?}");
    let line = agent_audit_line(&agent_audit, &cid, "stop", "olga").await;
    assert_eq!(line["subject"], rows[0]["user"], "{line}");
    assert_eq!(line["profile"], "admin", "{line}");
    assert!(
        line["status"]
            .as_u64()
            .is_some_and(|s| (200..300).contains(&s)),
        "{line}"
    );

    // A role's entry covers every user of the role without one of their own; `{}` clears.
    let by_role = json!({"profiles": {"roles": {"operator": "watcher"}}});
    assert_eq!(admin.patch(&e, &by_role).await.status, StatusCode::OK);
    let start = olga
        .post(&format!("{e}/containers/{}/start", c.0), &json!({}))
        .await;
    assert_eq!(start.status, StatusCode::FORBIDDEN, "{}", start.text());
    assert!(
        start.message().contains("\"watcher\""),
        "{}",
        start.message()
    );
    assert_eq!(c.state(), "exited");
    let cleared = admin.patch(&e, &json!({"profiles": {}})).await;
    assert_eq!(
        cleared.json()["profiles"],
        json!({"roles": {}, "users": {}})
    );
    let start = olga
        .post(&format!("{e}/containers/{}/start", c.0), &json!({}))
        .await;
    assert_eq!(start.status, StatusCode::OK, "{}", start.text());
    assert_eq!(c.state(), "running");

    // Each change of the mapping is in the console's audit log, refusals too.
    let rows = audit_rows(&admin, "action=endpoint.update").await;
    let targets: Vec<&str> = rows.iter().filter_map(|r| r["target"].as_str()).collect();
    for expected in [
        "local (profiles user walt=watcher)",
        "local (profiles operator=watcher)",
        "local (profiles none)",
    ] {
        assert!(targets.contains(&expected), "{expected}: {targets:?}");
    }
    assert!(
        rows.iter().any(|r| r["result"] == "error"
            && r["detail"]
                .as_str()
                .unwrap_or_default()
                .contains("not a role")),
        "{rows:?}"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_action_inspects_once_and_goes_to_the_node_that_answered() {
    let files = tempfile::tempdir().expect("tempdir");
    let agent_audit = files.path().join("agent-audit.jsonl");
    let options = AgentOptions {
        audit_file: Some(agent_audit.clone()),
        audit_reads: true,
        ..Default::default()
    };
    let (_creds, _agent, console) = stack_with(&options).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    admin.add_user("olga", "operator").await;
    let olga = Client::logged_in(console.addr, "olga", "password-123").await;
    let id = local_endpoint(&admin.get("/api/endpoints").await.json());
    let c = container("placed");
    let cid = engine_ok(&["inspect", "--format", "{{.Id}}", &c.0]);
    let node = engine_ok(&["info", "--format", "{{.Name}}"]);

    // By name: the console inspects it, then stops it by full ID where the inspect ran.
    let stop = olga
        .post(
            &format!("/api/endpoints/{id}/containers/{}/stop", c.0),
            &json!({}),
        )
        .await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.text());
    assert_eq!(c.state(), "exited");
    let line = agent_audit_line(&agent_audit, &cid, "stop", "olga").await;
    assert_eq!(line["node"], node.as_str(), "{line}");
    let asked: Vec<(String, String)> = agent_audit_lines(&agent_audit)
        .iter()
        .filter(|l| l["subject"] == "olga")
        .map(|l| {
            let field = |k: &str| l[k].as_str().unwrap_or_default().to_owned();
            (field("method"), field("path"))
        })
        .collect();
    let expected = [
        ("GET".to_owned(), format!("/containers/{}/json", c.0)),
        ("POST".to_owned(), format!("/containers/{cid}/stop")),
    ];
    assert_eq!(asked, expected, "no search for the container's node");
    let rows = audit_rows(&admin, "user=olga&action=container.stop").await;
    assert_eq!(rows[0]["node"], node.as_str(), "{rows:?}");
    assert_eq!(rows[0]["target"], c.0.as_str(), "{rows:?}");
}
