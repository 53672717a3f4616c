//! Rules and silences through the API: checked, audited, and limited by role.

use http::StatusCode;
use serde_json::json;

use crate::common::*;

#[tokio::test(flavor = "multi_thread")]
async fn rules_and_silences_are_checked_audited_and_for_admins_and_operators() {
    let (_pki, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    admin.add_user("olga", "operator").await;
    admin.add_user("victor", "viewer").await;
    let olga = Client::logged_in(console.addr, "olga", "password-123").await;
    let victor = Client::logged_in(console.addr, "victor", "password-123").await;
    let rule = json!({"name": "load", "kind": "host_load", "threshold": 2.0, "for": 60});

    assert_eq!(victor.get("/api/alert-rules").await.status, StatusCode::OK);
    assert_eq!(victor.get("/api/alerts").await.status, StatusCode::OK);
    assert_eq!(
        olga.post("/api/alert-rules", &rule).await.status,
        StatusCode::FORBIDDEN
    );
    for (bad, why, status) in [
        (
            json!({"name": "x", "kind": "check_failing"}),
            "kind",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "x", "kind": "host_cpu"}),
            "threshold",
            StatusCode::BAD_REQUEST,
        ),
        (
            json!({"name": "x", "kind": "host_cpu", "threshold": 5, "extra": 1}),
            "extra",
            StatusCode::UNPROCESSABLE_ENTITY,
        ),
    ] {
        let answer = admin.post("/api/alert-rules", &bad).await;
        assert_eq!(answer.status, status, "{bad}");
        assert!(
            answer.message().contains(why),
            "{why}: {}",
            answer.message()
        );
    }
    let made = admin.post("/api/alert-rules", &rule).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    assert_eq!(
        admin.post("/api/alert-rules", &rule).await.status,
        StatusCode::CONFLICT
    );
    let id = made.json()["id"].as_i64().expect("id");
    assert_eq!(
        admin.get("/api/alerts?state=loud").await.status,
        StatusCode::BAD_REQUEST
    );

    let silence = json!({"rule_id": id, "subject": "web-*", "duration": 3600, "comment": "deploy"});
    assert_eq!(
        victor.post("/api/silences", &silence).await.status,
        StatusCode::FORBIDDEN
    );
    let made = olga.post("/api/silences", &silence).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let sid = made.json()["id"].as_i64().expect("id");
    let none = olga.post("/api/silences", &json!({"duration": 60})).await;
    assert_eq!(none.status, StatusCode::BAD_REQUEST);
    let listed = victor.get("/api/silences").await.json();
    assert_eq!(listed[0]["active"], true, "{listed}");
    assert_eq!(
        olga.delete(&format!("/api/silences/{sid}")).await.status,
        StatusCode::NO_CONTENT
    );
    let listed = victor.get("/api/silences").await.json();
    assert_eq!(listed[0]["active"], false, "{listed}");
    assert_eq!(
        admin.delete(&format!("/api/alert-rules/{id}")).await.status,
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        admin.get(&format!("/api/alert-rules/{id}")).await.status,
        StatusCode::NOT_FOUND
    );
    let audit = admin.get("/api/audit").await.json();
    for action in [
        "alert_rule.create",
        "alert_rule.delete",
        "silence.create",
        "silence.expire",
    ] {
        assert!(audit.to_string().contains(action), "{action} audited");
    }
}
