//! The Tokens page in a real browser: a personal token is made with the form and shown once
//! with the docker CLI's settings, works as a bearer credential, and is deleted from its row,
//! after which it is refused.

use http::StatusCode;

use crate::common::*;
use crate::{Browser, Driver};

#[tokio::test(flavor = "multi_thread")]
async fn a_token_is_made_shown_once_used_and_deleted_on_the_page() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let b = Browser::start(&driver).await;
    b.log_in(&base, ADMIN, ADMIN_PASSWORD).await;

    b.click("[data-nav=tokens]").await;
    b.wait("[data-page=tokens] #token-name").await;
    b.type_into("#token-name", "laptop").await;
    b.type_into("#token-days", "30").await;
    b.click("#token-submit").await;
    let token = b.text("#token-value").await;
    assert!(
        token.starts_with("bosun_pat_"),
        "the token is shown: {token:?}"
    );
    let setup = b.text("#token-docker").await;
    assert!(
        setup.contains(&format!(
            "DOCKER_HOST=tcp://localhost:{}/api/endpoints/",
            console.addr.port()
        )) && setup.contains(&token),
        "the docker CLI's settings: {setup}"
    );
    b.wait("tr[data-token-name=laptop]").await;
    let row = b.text("tr[data-token-name=laptop]").await;
    assert!(row.contains("usable") && row.contains(ADMIN), "{row}");

    // It stands for its user.
    let by_token = Client::with_token(console.addr, &token);
    let session = by_token.get("/api/session").await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text());
    assert_eq!(session.json()["user"]["username"], ADMIN);

    // Deleted from its row: gone from the list, and refused.
    b.click("tr[data-token-name=laptop] [data-action=delete-token]")
        .await;
    b.click("#confirm-ok").await;
    let start = std::time::Instant::now();
    while b.find("tr[data-token-name=laptop]").await.is_ok() {
        assert!(
            start.elapsed() < SETTLE,
            "the deleted token is still listed"
        );
        tokio::time::sleep(std::time::Duration::from_millis(150)).await;
    }
    let refused = by_token.get("/api/session").await;
    assert_eq!(
        refused.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        refused.text()
    );
    b.quit().await;
}
