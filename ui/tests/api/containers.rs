//! Containers beyond the basic actions: a 304 from the engine is a success, creating one
//! from the form, and the events' history.

use http::StatusCode;
use serde_json::{json, Value};

use crate::common::*;
use crate::{audit_rows, local_endpoint};

/// A console with an operator `olga` and a viewer `victor`: (admin, operator, viewer, `{e}`).
pub(crate) async fn people(console: &ConsoleUnderTest) -> (Client, Client, Client, String) {
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    admin.add_user("olga", "operator").await;
    admin.add_user("victor", "viewer").await;
    let operator = Client::logged_in(console.addr, "olga", "password-123").await;
    let viewer = Client::logged_in(console.addr, "victor", "password-123").await;
    let id = local_endpoint(&admin.get("/api/endpoints").await.json());
    (admin, operator, viewer, format!("/api/endpoints/{id}"))
}

#[tokio::test(flavor = "multi_thread")]
async fn stopping_a_stopped_container_is_a_success_with_a_note() {
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, _viewer, e) = people(&console).await;
    let c = container("already");

    for (action, note) in [
        ("start", "already started"),
        ("stop", ""),
        ("stop", "already stopped"),
    ] {
        let answer = operator
            .post(&format!("{e}/containers/{}/{action}", c.0), &json!({}))
            .await;
        assert_eq!(answer.status, StatusCode::OK, "{action}: {}", answer.text());
        let expected = if note.is_empty() {
            json!({})
        } else {
            json!({ "note": note })
        };
        assert_eq!(answer.json(), expected, "{action}");
    }
    assert_eq!(c.state(), "exited");

    let rows = audit_rows(&admin, "user=olga").await;
    for (action, target) in [
        ("container.start", format!("{} (already started)", c.0)),
        ("container.stop", format!("{} (already stopped)", c.0)),
        ("container.stop", c.0.clone()),
    ] {
        assert!(
            rows.iter().any(|r| r["action"] == action
                && r["result"] == "ok"
                && r["target"] == target.as_str()),
            "{action} on {target} audited as ok: {rows:?}"
        );
    }
    let failed = audit_rows(&admin, "user=olga&result=error").await;
    assert!(failed.is_empty(), "no error rows: {failed:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_is_created_from_the_form_and_started() {
    ensure_image();
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, viewer, e) = people(&console).await;
    let name = Name::new("ui-create");
    let node = engine_name();
    let form = json!({
        "image": IMAGE,
        "name": name.0,
        "cmd": ["sh", "-c", "echo made; sleep 600"],
        "env": ["GREETING=hello world"],
        "ports": ["127.0.0.1::8080/tcp"],
        "volumes": [],
        "network": "bridge",
        "restart": "unless-stopped",
        "labels": {"bosun.test": "create"},
        "node": node,
        "start": true,
    });

    let refused = viewer.post(&format!("{e}/containers"), &form).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(!engine_has_container(&name.0));

    let made = operator.post(&format!("{e}/containers"), &form).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let answer = made.json();
    assert_eq!(answer["node"], node.as_str());
    assert_eq!(answer["started"], true);
    assert_eq!(name.state(), "running");
    let inspect: Value = serde_json::from_str(&engine_ok(&["inspect", &name.0])).expect("JSON");
    let inspect = &inspect[0];
    assert_eq!(inspect["Id"], answer["Id"]);
    assert!(inspect["Config"]["Env"]
        .as_array()
        .is_some_and(|env| env.contains(&json!("GREETING=hello world"))));
    assert_eq!(inspect["Config"]["Labels"]["bosun.test"], "create");
    assert_eq!(
        inspect["HostConfig"]["RestartPolicy"]["Name"],
        "unless-stopped"
    );
    assert_eq!(
        inspect["HostConfig"]["PortBindings"]["8080/tcp"][0]["HostIp"],
        "127.0.0.1"
    );

    // Bad fields are refused with a message naming them, and nothing is made.
    for (field, value, says) in [
        ("image", json!(""), "image"),
        ("env", json!(["NOVALUE"]), "env"),
        ("ports", json!(["80:http"]), "ports"),
        ("volumes", json!(["../etc:/etc"]), "volumes"),
        ("restart", json!("sometimes"), "restart"),
        ("name", json!("../x"), "is not a container name"),
    ] {
        let mut bad = form.clone();
        bad[field] = value;
        let answer = operator.post(&format!("{e}/containers"), &bad).await;
        assert_eq!(
            answer.status,
            StatusCode::BAD_REQUEST,
            "{field}: {}",
            answer.text()
        );
        assert!(
            answer.message().contains(says),
            "{field}: {}",
            answer.message()
        );
    }
    let not_json = operator
        .post(&format!("{e}/containers"), &json!({"image": 3}))
        .await;
    assert_eq!(not_json.status, StatusCode::UNPROCESSABLE_ENTITY);
    assert!(!not_json.message().is_empty());

    let rows = audit_rows(&admin, "user=olga&action=container.create").await;
    let row = rows
        .iter()
        .find(|r| r["result"] == "ok")
        .unwrap_or_else(|| panic!("the create audited: {rows:?}"));
    assert_eq!(row["node"], node.as_str());
    assert_eq!(
        row["target"],
        format!("{} from {IMAGE} (and start)", name.0)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn events_begin_with_the_history_asked_for() {
    let (_creds, _agent, console) = stack().await;
    let (_admin, operator, viewer, e) = people(&console).await;
    let c = container("history");
    let before = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("time")
        .as_secs()
        - 5;
    let stop = operator
        .post(&format!("{e}/containers/{}/stop", c.0), &json!({}))
        .await;
    assert_eq!(stop.status, StatusCode::OK, "{}", stop.text());

    // Opened after the stop: the die event comes from the history.
    let resp = viewer
        .open(
            http::Method::GET,
            &format!("{e}/events?since={before}"),
            None,
            false,
        )
        .await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let mut seen = String::new();
    let found = tokio::time::timeout(std::time::Duration::from_secs(20), async {
        use http_body_util::BodyExt;
        while let Some(Ok(frame)) = body.frame().await {
            if let Some(data) = frame.data_ref() {
                seen.push_str(&String::from_utf8_lossy(data));
                let dies = seen
                    .lines()
                    .filter_map(|l| l.strip_prefix("data: "))
                    .filter_map(|l| serde_json::from_str::<Value>(l).ok())
                    .filter(|ev| {
                        ev["Actor"]["Attributes"]["name"] == c.0.as_str() && ev["Action"] == "die"
                    })
                    .count();
                if dies > 0 {
                    return dies;
                }
            }
        }
        0
    })
    .await;
    assert_eq!(
        found,
        Ok(1),
        "one die event of {} from the history: {seen}",
        c.0
    );

    for bad in ["1h", "-5", "12.x"] {
        let answer = viewer.get(&format!("{e}/events?since={bad}")).await;
        assert_eq!(answer.status, StatusCode::BAD_REQUEST, "{bad}");
        assert!(answer.message().contains("since"), "{}", answer.message());
    }
}
