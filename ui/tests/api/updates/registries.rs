//! Registry credentials through the API: admins only, the password sealed in the database
//! and never given back.

use http::StatusCode;
use serde_json::json;

use crate::audit_rows;
use crate::common::*;
use crate::containers::people;

#[tokio::test(flavor = "multi_thread")]
async fn registry_credentials_are_for_admins_and_their_password_is_never_shown() {
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, viewer, e) = people(&console).await;
    let path = format!("{e}/registries");
    let given = json!({"registry": "127.0.0.1:5999", "username": "ci", "password": "s3cret-pass"});
    for client in [&operator, &viewer] {
        assert_eq!(
            client.post(&path, &given).await.status,
            StatusCode::FORBIDDEN
        );
        assert_eq!(client.get(&path).await.status, StatusCode::FORBIDDEN);
    }
    let made = admin.post(&path, &given).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    assert!(!made.text().contains("s3cret"), "{}", made.text());
    let listed = admin.get(&path).await;
    assert_eq!(listed.status, StatusCode::OK);
    let list = listed.json();
    assert_eq!(list[0]["registry"], "127.0.0.1:5999", "{list}");
    assert_eq!(list[0]["username"], "ci");
    assert!(!listed.text().contains("s3cret") && !listed.text().contains("password"));

    let bad = admin
        .post(
            &path,
            &json!({"registry": "https://x/y", "username": "u", "password": "p"}),
        )
        .await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());
    assert!(
        bad.message().contains("not a registry"),
        "{}",
        bad.message()
    );

    // Sealed in the database.
    let db = rusqlite::Connection::open(console.data.path().join("console.db")).expect("db");
    let stored: String = db
        .query_row("SELECT password FROM registries", [], |r| r.get(0))
        .expect("a row");
    assert!(
        stored.starts_with("sealed:") && !stored.contains("s3cret"),
        "{stored}"
    );

    let rid = list[0]["id"].as_i64().expect("id");
    assert_eq!(
        operator.delete(&format!("{path}/{rid}")).await.status,
        StatusCode::FORBIDDEN
    );
    let removed = admin.delete(&format!("{path}/{rid}")).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    assert_eq!(admin.get(&path).await.json(), json!([]));
    let rows = audit_rows(&admin, "user=admin").await;
    let actions: Vec<&str> = rows.iter().filter_map(|r| r["action"].as_str()).collect();
    assert!(
        actions.contains(&"registry.add") && actions.contains(&"registry.remove"),
        "{actions:?}"
    );
}
