//! Sign-in through a real OpenID provider run locally: the whole authorization code flow
//! with PKCE, the groups mapped to a role and re-mapped at each sign-in, a user in no
//! mapped group refused, and a callback whose state this browser did not start refused.

use http::{header, StatusCode};
use serde_json::json;

use crate::audit_rows;
use crate::common::oidc::{oidc_stack, Provider};
use crate::common::*;

/// The values of the `Set-Cookie` headers named `name`, as `name=value`.
fn set_cookie(answer: &Answer, name: &str) -> Option<String> {
    answer
        .headers
        .get_all(header::SET_COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .filter_map(|v| v.split(';').next())
        .find(|kv| kv.starts_with(&format!("{name}=")))
        .map(str::to_owned)
}

fn location(answer: &Answer) -> String {
    answer
        .headers
        .get(header::LOCATION)
        .and_then(|v| v.to_str().ok())
        .unwrap_or_else(|| panic!("a Location: {} {}", answer.status, answer.text()))
        .to_owned()
}

/// The path and query of a URL on the console.
fn path_of(url: &str) -> String {
    let after_scheme = url.split_once("://").map_or(url, |(_, rest)| rest);
    after_scheme
        .find('/')
        .map_or("/".to_owned(), |at| after_scheme[at..].to_owned())
}

/// Walks the code flow as `sub`, as a browser would; the console's answer to the
/// callback, and the client with the state cookie it kept.
async fn sign_in(console: &ConsoleUnderTest, provider: &Provider, sub: &str) -> (Client, Answer) {
    let mut browser = Client::new(console.addr);
    let start = browser.get("/api/oidc/login").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.text());
    let to_provider = location(&start);
    assert!(to_provider.starts_with(&provider.url), "{to_provider}");
    assert!(
        to_provider.contains("code_challenge_method=S256"),
        "PKCE: {to_provider}"
    );
    assert!(to_provider.contains("nonce="), "{to_provider}");
    let state = set_cookie(&start, "bosun_oidc").expect("a state cookie");
    let back = provider.authorize(&to_provider, sub).await;
    assert!(back.contains("/api/oidc/callback?"), "{back}");
    browser.cookie = Some(state);
    let answer = browser.get(&path_of(&back)).await;
    (browser, answer)
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_user_signs_in_with_the_role_their_groups_map_to() {
    let provider = Provider::start().await;
    let (_agent, console) = oidc_stack(&provider).await;
    let offered = Client::new(console.addr).get("/api/oidc").await;
    assert_eq!(offered.json(), json!({"enabled": true, "label": "Test ID"}));

    provider
        .set_user(
            "u-123",
            &json!({"preferred_username": "alice", "groups": ["ops", "staff"]}),
        )
        .await;
    let (mut browser, answer) = sign_in(&console, &provider, "u-123").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER, "{}", answer.text());
    assert_eq!(location(&answer), "/");
    let session = set_cookie(&answer, "bosun_session").expect("a session cookie");
    browser.cookie = Some(session);
    let me = browser.get("/api/session").await;
    assert_eq!(me.status, StatusCode::OK, "{}", me.text());
    assert_eq!(
        me.json()["user"],
        json!({"username": "alice", "role": "operator"})
    );

    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let users = admin.get("/api/users").await.json();
    let alice = users
        .as_array()
        .and_then(|list| list.iter().find(|u| u["username"] == "alice"))
        .cloned()
        .unwrap_or_else(|| panic!("alice is a user: {users}"));
    assert_eq!(alice["source"], "oidc");
    assert_eq!(alice["role"], "operator");
    let rows = audit_rows(&admin, "action=login&user=alice").await;
    assert_eq!(rows[0]["target"], "alice (oidc, operator)", "{rows:?}");
    assert_eq!(rows[0]["address"], "127.0.0.1");
    // No password opens a provider user's account, nor can one be set.
    let mut by_password = Client::new(console.addr);
    by_password.cookie = None;
    let refused = by_password
        .send(
            http::Method::POST,
            "/api/login",
            Some(&json!({"username": "alice", "password": ""})),
            false,
        )
        .await;
    assert_eq!(refused.status, StatusCode::UNAUTHORIZED);
    let set = admin
        .patch("/api/users/alice", &json!({"password": "password-123"}))
        .await;
    assert_eq!(set.status, StatusCode::CONFLICT, "{}", set.text());

    // The provider moves alice to the admins: her next sign-in says so.
    provider
        .set_user(
            "u-123",
            &json!({"preferred_username": "alice", "groups": ["admins"]}),
        )
        .await;
    let (mut again, answer) = sign_in(&console, &provider, "u-123").await;
    again.cookie = set_cookie(&answer, "bosun_session");
    let me = again.get("/api/session").await;
    assert_eq!(me.json()["user"]["role"], "admin", "{}", me.text());

    // Another subject with the same name takes nobody over.
    provider
        .set_user(
            "u-999",
            &json!({"preferred_username": "alice", "groups": ["admins"]}),
        )
        .await;
    let (_, answer) = sign_in(&console, &provider, "u-999").await;
    assert!(set_cookie(&answer, "bosun_session").is_none());
    assert!(location(&answer).starts_with("/?oidc_error="));
    provider
        .set_user(
            "u-adm",
            &json!({"preferred_username": ADMIN, "groups": ["admins"]}),
        )
        .await;
    let (_, answer) = sign_in(&console, &provider, "u-adm").await;
    assert!(
        set_cookie(&answer, "bosun_session").is_none(),
        "the password admin is not taken over"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_provider_user_in_no_mapped_group_is_refused_with_the_reason() {
    let provider = Provider::start().await;
    let (_agent, console) = oidc_stack(&provider).await;
    provider
        .set_user(
            "u-456",
            &json!({"preferred_username": "bob", "groups": ["guests"]}),
        )
        .await;
    let (_, answer) = sign_in(&console, &provider, "u-456").await;
    assert_eq!(answer.status, StatusCode::SEE_OTHER);
    assert!(set_cookie(&answer, "bosun_session").is_none());
    let to = location(&answer);
    let message = to
        .strip_prefix("/?oidc_error=")
        .map(|m| {
            percent_encoding::percent_decode_str(m)
                .decode_utf8_lossy()
                .into_owned()
        })
        .unwrap_or_else(|| panic!("the sign-in page with the reason: {to}"));
    assert!(
        message.contains("bob") && message.contains("guests") && message.contains("maps to a role"),
        "{message}"
    );
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let rows = audit_rows(&admin, "action=login_failed&user=bob").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["result"], "error");
    assert!(!admin.get("/api/users").await.text().contains("\"bob\""));
}

#[tokio::test(flavor = "multi_thread")]
async fn a_callback_this_browser_did_not_start_is_refused() {
    let provider = Provider::start().await;
    let (_agent, console) = oidc_stack(&provider).await;
    provider
        .set_user(
            "u-789",
            &json!({"preferred_username": "carol", "groups": ["admins"]}),
        )
        .await;
    let mut victim = Client::new(console.addr);
    let start = victim.get("/api/oidc/login").await;
    let back = provider.authorize(&location(&start), "u-789").await;
    let callback = path_of(&back);

    // Without the state cookie: someone else's callback link.
    let answer = victim.get(&callback).await;
    assert!(set_cookie(&answer, "bosun_session").is_none());
    assert!(
        location(&answer).contains("oidc_error="),
        "{}",
        location(&answer)
    );
    // A forged state, even with a cookie to match it.
    victim.cookie = Some("bosun_oidc=forged".into());
    let forged = callback.replace("state=", "state=forged&was=");
    let answer = victim.get(&forged).await;
    assert!(set_cookie(&answer, "bosun_session").is_none());
    let to = location(&answer);
    let message = percent_encoding::percent_decode_str(&to)
        .decode_utf8_lossy()
        .into_owned();
    assert!(message.contains("expired or was not started"), "{message}");

    // A provider that is down: the sign-in page says so.
    drop(provider);
    let start = Client::new(console.addr).get("/api/oidc/login").await;
    assert_eq!(start.status, StatusCode::SEE_OTHER, "{}", start.text());
    let to = location(&start);
    let message = percent_encoding::percent_decode_str(&to)
        .decode_utf8_lossy()
        .into_owned();
    assert!(
        message.starts_with("/?oidc_error=the OpenID provider cannot be used"),
        "{message}"
    );
}
