//! Signing in through a real OpenID provider in the browser: the login page offers it,
//! the provider's form is filled in, and the console opens with the mapped role.

use serde_json::json;

use crate::common::oidc::{oidc_stack, Provider};
use crate::{Browser, Driver};

#[tokio::test(flavor = "multi_thread")]
async fn sign_in_through_the_openid_provider_lands_with_the_mapped_role() {
    let driver = Driver::start();
    let provider = Provider::start().await;
    // The console sends the browser to the provider.
    driver
        .forward(crate::netns::port_of(&provider.url).expect("the provider's port"))
        .await;
    provider
        .set_user(
            "u-dana",
            &json!({"preferred_username": "dana", "groups": ["ops"]}),
        )
        .await;
    let (_agent, console) = oidc_stack(&provider).await;
    let browser = Browser::start(&driver).await;

    browser
        .open_until(
            &format!("https://127.0.0.1:{}/", console.addr.port()),
            "#login-oidc",
        )
        .await;
    assert_eq!(browser.text("#login-oidc").await, "Sign in with Test ID");
    browser.click("#login-oidc").await;

    // The provider's own authorization form.
    browser.type_into("input[name=sub]", "u-dana").await;
    browser.click("form button[type=submit]:not([name])").await;

    browser.wait_landed("#current-user").await;
    assert_eq!(browser.text("#current-user").await, "dana");
    assert_eq!(browser.text("#current-role").await, "operator");
    browser.screenshot("login-oidc").await;

    // A refusal comes back to the sign-in page with the reason.
    provider
        .set_user(
            "u-erin",
            &json!({"preferred_username": "erin", "groups": ["guests"]}),
        )
        .await;
    browser.quit().await;
    let browser = Browser::start(&driver).await;
    browser
        .open_until(
            &format!("https://127.0.0.1:{}/", console.addr.port()),
            "#login-oidc",
        )
        .await;
    browser.click("#login-oidc").await;
    browser.type_into("input[name=sub]", "u-erin").await;
    browser.click("form button[type=submit]:not([name])").await;
    browser.wait_landed("#login-oidc").await;
    let error = browser.text("#login-error").await;
    assert!(
        error.contains("erin") && error.contains("maps to a role"),
        "{error}"
    );
    browser.screenshot("login-oidc-refused").await;
    browser.quit().await;

    // An admin from the provider sees dana marked as a provider user, and her sign-in
    // in the audit log with the address it came from.
    provider
        .set_user(
            "u-root",
            &json!({"preferred_username": "root", "groups": ["admins", "ops"]}),
        )
        .await;
    let browser = Browser::start(&driver).await;
    let base = format!("https://127.0.0.1:{}", console.addr.port());
    browser.open_until(&format!("{base}/"), "#login-oidc").await;
    browser.click("#login-oidc").await;
    browser.type_into("input[name=sub]", "u-root").await;
    browser.click("form button[type=submit]:not([name])").await;
    browser.wait_landed("#current-user").await;
    assert_eq!(browser.text("#current-role").await, "admin");
    browser.goto(&format!("{base}/#/users")).await;
    assert_eq!(
        browser.text("tr[data-username=dana] .tag").await,
        "provider"
    );
    browser.goto(&format!("{base}/#/audit")).await;
    let row = browser
        .text("tr[data-audit-target='dana (oidc, operator)']")
        .await;
    assert!(row.contains("127.0.0.1") && row.contains("dana"), "{row}");
    browser.screenshot("audit-addresses").await;
    browser.quit().await;
}
