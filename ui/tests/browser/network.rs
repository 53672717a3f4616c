//! The console through a network that fails, in a real browser (chromium's own network
//! emulation, switched by chromedriver): a page whose reads meet a short outage loads once
//! the network is back; a read that cannot get through says the console could not be
//! reached; a write that cannot is never sent again, and says that it may or may not have
//! been made; a sign-in that cannot says to sign in again.

use std::time::Duration;

use http::Method;
use serde_json::json;

use crate::common::*;
use crate::{Browser, Driver};

/// Switches the browser's network off or back on.
async fn network(b: &Browser, online: bool) {
    let conditions = json!({"network_conditions": {
        "offline": !online, "latency": 0, "download_throughput": -1, "upload_throughput": -1,
    }});
    b.cmd(
        Method::POST,
        "/chromium/network_conditions",
        Some(conditions),
    )
    .await
    .unwrap_or_else(|e| {
        panic!(
            "the browser's network {}: {e}",
            if online { "on" } else { "off" }
        )
    });
}

/// The error a form shows, once it shows one.
async fn form_error(b: &Browser, selector: &str) -> String {
    eventually("the form's error", SETTLE, || async {
        let text = b.text(selector).await;
        if text.trim().is_empty() {
            Err("nothing".to_owned())
        } else {
            Ok(text)
        }
    })
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn reads_ride_out_a_short_outage_and_a_write_is_never_sent_twice() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let b = Browser::start(&driver).await;

    // A sign-in while the network is off says to sign in again, not that a change may
    // have been made.
    b.open_until(&format!("{base}/"), "#login-username").await;
    network(&b, false).await;
    b.type_into("#login-username", ADMIN).await;
    b.type_into("#login-password", ADMIN_PASSWORD).await;
    b.click("#login-submit").await;
    let said = form_error(&b, "#login-error").await;
    assert!(
        said.contains("could not be reached")
            && said.contains("sign in again")
            && !said.contains("may or may not"),
        "the login form says what to do: {said}"
    );
    network(&b, true).await;
    b.log_in(&base, ADMIN, ADMIN_PASSWORD).await;

    // A page opened while the network is off, back a moment later: its lists load.
    network(&b, false).await;
    b.script("location.hash = '#/tokens';").await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    network(&b, true).await;
    b.wait("[data-page=tokens]").await;
    assert!(
        b.find("[data-page=tokens] .callout.error").await.is_err(),
        "the tokens page loaded after the outage: {}",
        b.text("#main").await
    );
    b.wait("#token-endpoint option").await;

    // A write while the network is off: not sent again once it is back, and said so.
    network(&b, false).await;
    b.type_into("#token-name", "offline-laptop").await;
    b.click("#token-submit").await;
    let said = form_error(&b, "#token-error").await;
    assert!(
        said.contains("could not be reached") && said.contains("may or may not have been made"),
        "the form says what became of the token: {said}"
    );
    network(&b, true).await;
    let api = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let tokens = api.get("/api/tokens?all=1").await.json();
    assert!(
        !tokens.to_string().contains("offline-laptop"),
        "the token was not made: {tokens}"
    );

    // A read the network keeps failing: the page says the console could not be reached.
    network(&b, false).await;
    b.script("location.hash = '#/users';").await;
    b.wait("[data-page=users]").await;
    let error = b.text("[data-page=users] .callout.error").await;
    assert!(
        error.contains("Could not list the users") && error.contains("could not be reached"),
        "the page says why it is empty: {error}"
    );
    network(&b, true).await;
    b.quit().await;
}
