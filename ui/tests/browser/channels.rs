//! The Notifications page in a real browser: add a webhook channel with the form, test it
//! against a receiver on loopback, read its delivery log, edit it without the secret
//! ever reaching the page, and the page in the dark theme at 390 px.

use http::Method;
use serde_json::json;

use crate::common::receivers::HttpReceiver;
use crate::common::*;
use crate::{Browser, Driver};

const SECRET: &str = "browser-hmac-secret-5e";
const DARK_BG: &str = "rgb(15, 21, 25)";

#[tokio::test(flavor = "multi_thread")]
async fn a_channel_is_added_tested_logged_and_edited_on_the_page() {
    let receiver = HttpReceiver::start().await;
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let b = Browser::start(&driver).await;
    b.log_in(&base, ADMIN, ADMIN_PASSWORD).await;

    b.click("[data-nav=channels]").await;
    b.wait("[data-page=channels] #channel-form").await;
    b.type_into("#channel-name", "ops-hook").await;
    b.set_value("#channel-kind", "webhook").await;
    b.type_into("#channel-url", &receiver.url("/page-hook"))
        .await;
    b.type_into("#channel-secret", SECRET).await;
    b.set_value("#channel-severity", "warning").await;
    b.click("#channel-submit").await;
    b.wait("tr[data-channel=ops-hook]").await;
    let receives = b.text("tr[data-channel=ops-hook]").await;
    assert!(
        receives.contains("all rules, warning and worse, firing and resolved"),
        "{receives}"
    );

    // Test: the receiver gets it, and the log shows it.
    b.click("tr[data-channel=ops-hook] [data-action=test]")
        .await;
    let got = receiver.until("/page-hook", 1).await;
    assert!(got[0].header("x-bosun-signature").starts_with("sha256="));
    // The attempt is logged once the receiver has answered: the page says so when it is.
    let asked = std::time::Instant::now();
    loop {
        let said = b.text("#toasts").await;
        if said.contains("ops-hook: delivered") {
            break;
        }
        // A failed test says why at once, rather than as a missing notice 20 s later.
        assert!(
            b.find("#toasts .toast.error").await.is_err(),
            "the test notice failed: {said:?}"
        );
        assert!(
            asked.elapsed() < std::time::Duration::from_secs(20),
            "no notice of the test's delivery within 20 s: {said:?}"
        );
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    b.click("tr[data-channel=ops-hook] [data-action=log]").await;
    b.wait("#delivery-log tr[data-ok=true][data-attempt=\"1\"]")
        .await;
    assert!(b.text("#delivery-log").await.contains("HTTP 200"));

    // Edit: the secrets are shown as set, never as themselves.
    b.click("tr[data-channel=ops-hook] [data-action=edit]")
        .await;
    b.wait("#channel-form #channel-url").await;
    let placeholder = b
        .attribute("#channel-secret", "placeholder")
        .await
        .unwrap_or_default();
    assert!(placeholder.starts_with("set"), "{placeholder}");
    let url_hint = b
        .attribute("#channel-url", "placeholder")
        .await
        .unwrap_or_default();
    assert!(url_hint.contains("http://127.0.0.1/…"), "{url_hint}");
    let leaked = b
        .script(&format!(
            "return document.documentElement.outerHTML.includes('{SECRET}') || \
             [...document.querySelectorAll('input')].some(i => i.value.includes('{SECRET}'));"
        ))
        .await;
    assert_eq!(leaked, json!(false), "the secret reached the page");
    b.click("#channel-enabled").await;
    b.click("#channel-submit").await;
    b.wait("tr[data-channel=ops-hook] .badge.grey").await;
    // The secret was kept: a test still signs.
    b.click("tr[data-channel=ops-hook] [data-action=test]")
        .await;
    receiver.until("/page-hook", 2).await;

    // Dark theme, and a phone's width.
    b.set_value("#theme-switch", "dark").await;
    let bg = b
        .script("return getComputedStyle(document.body).backgroundColor;")
        .await;
    assert_eq!(bg, json!(DARK_BG));
    b.screenshot("channels-dark").await;
    b.cmd(
        Method::POST,
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    )
    .await
    .expect("a 390 px window");
    b.open_until(&format!("{base}/#/channels"), "tr[data-channel=ops-hook]")
        .await;
    let wide = b
        .script(
            "const main = document.getElementById('main');\
             return {doc: document.documentElement.scrollWidth, main: main.scrollWidth - main.clientWidth};",
        )
        .await;
    b.screenshot("channels-390-dark").await;
    assert!(
        wide["doc"].as_u64().is_some_and(|w| w <= 390) && wide["main"].as_i64() == Some(0),
        "the page is wider than 390 px: {wide}"
    );
    b.quit().await;
}
