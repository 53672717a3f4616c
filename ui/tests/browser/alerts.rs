//! The Alerts page in a real browser: a container on the real engine exits non-zero, its
//! alert shows firing with its log lines and the count on Home; started again, the
//! history shows both transitions; a rule and a silence are made through their forms.
//! Screenshots `alerts`, `alerts-dark` and `alerts-390`.

use std::time::Duration;

use http::Method;
use serde_json::json;

use crate::common::*;
use crate::{Browser, Driver};

/// What shows a page wider than the screen: the document, `#main`, or elements past the
/// right edge (scrolling tables and code excepted).
const OVERFLOW: &str = "const main = document.getElementById('main');\
    return {doc: document.documentElement.scrollWidth,\
            main: main.scrollWidth - main.clientWidth,\
            wide: [...document.querySelectorAll('#main *')]\
              .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1\
                            && !el.closest('pre, .modal-backdrop'))\
              .slice(0, 5).map(el => el.tagName + '.' + el.className)};";

/// The number before " warning" in a count such as "0 critical · 2 warning · 0 info
/// firing" (the page) or "2 firing: 0 critical, 2 warning, 0 info" (Home); 0 without one.
fn warnings(counts: &str) -> u32 {
    counts
        .split(['·', ',', ':'])
        .find_map(|part| part.trim().strip_suffix(" warning"))
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or(0)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_alerts_page_shows_a_firing_alert_with_its_logs_and_the_history() {
    let driver = Driver::start();
    let pki = Pki::new();
    let agent = start_agent(&pki, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &pki, agent);
    let addr = start_console(&args).await;
    let base = format!("https://localhost:{}", addr.port());
    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;

    let c = Name::new("al-page");
    c.run(&[
        "sh",
        "-c",
        "if [ -f /tmp/ran ]; then trap 'exit 0' TERM; while true; do sleep 1; done; fi; \
         touch /tmp/ran; echo page-log-line; sleep 1; exit 3",
    ]);
    let row = format!(
        "#alerts-firing tr[data-subject=\"{}\"][data-state=firing]",
        c.0
    );
    // The page reads again every 10 s; opening it again shows the alert sooner.
    let mut shown = false;
    for _ in 0..10 {
        browser
            .open_until(&format!("{base}/#/alerts"), "[data-page=alerts]")
            .await;
        if browser.find(&row).await.is_ok() {
            shown = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(shown, "the firing alert of {} on the page", c.0);
    let text = browser.text(&row).await;
    assert!(text.contains("exited with code 3"), "{text}");
    browser.click(&format!("{row} details summary")).await;
    let logs = browser.text(&format!("{row} pre.alert-details")).await;
    assert!(logs.contains("page-log-line"), "{logs}");
    let counts = browser.text("#alert-counts").await;
    // Other tests' containers on the shared engine may exit and fire too: at least this one.
    assert!(warnings(&counts) >= 1, "{counts}");
    browser
        .wait(&format!(
            "#alerts-history tr[data-subject=\"{}\"][data-to=firing]",
            c.0
        ))
        .await;
    browser
        .wait("#alerts-rules tr[data-kind=container_exited]")
        .await;
    browser.screenshot("alerts").await;

    // Home counts it.
    browser.goto(&format!("{base}/#/")).await;
    browser.wait("[data-page=home]").await;
    let home = eventually("the count on Home", SETTLE, || async {
        let t = browser.text("#home-alerts").await;
        if t.contains("firing") && warnings(&t) >= 1 {
            Ok(t)
        } else {
            Err(t)
        }
    })
    .await;
    assert!(home.contains("firing"), "{home}");

    // Running again: resolved in the history, nothing firing.
    engine_ok(&["start", c.as_str()]);
    let resolved = format!(
        "#alerts-history tr[data-subject=\"{}\"][data-to=resolved]",
        c.0
    );
    let mut seen = false;
    for _ in 0..10 {
        browser
            .open_until(&format!("{base}/#/alerts"), "[data-page=alerts]")
            .await;
        if browser.find(&resolved).await.is_ok() {
            seen = true;
            break;
        }
        tokio::time::sleep(Duration::from_secs(2)).await;
    }
    assert!(seen, "the resolved transition in the history");
    assert!(browser.find(&row).await.is_err(), "no longer firing");

    // An admin adds a rule through the form, and an operator's silence shows as active.
    browser.click("#rule-add").await;
    browser.type_into("#rule-name", "busy nodes").await;
    browser.set_value("#rule-kind", "host_load").await;
    browser.type_into("#rule-threshold", "4").await;
    browser.type_into("#rule-for", "120").await;
    browser.click("#confirm-ok").await;
    browser.wait("#alerts-rules tr[data-kind=host_load]").await;
    let text = browser.text("#alerts-rules tr[data-kind=host_load]").await;
    assert!(
        text.contains("busy nodes") && text.contains("for 2 min"),
        "{text}"
    );
    browser.click("#silence-add").await;
    browser.type_into("#silence-subject", "web-*").await;
    browser.click("#confirm-ok").await;
    browser.wait("#alerts-silences tr[data-active=true]").await;
    let text = browser.text("#alerts-silences tr[data-active=true]").await;
    assert!(text.contains("web-*") && text.contains(ADMIN), "{text}");

    // The dark theme and a phone's width.
    browser.set_value("#theme-switch", "dark").await;
    browser.screenshot("alerts-dark").await;
    browser
        .cmd(
            Method::POST,
            "/window/rect",
            Some(json!({"width": 390, "height": 844})),
        )
        .await
        .expect("a 390 px window");
    browser
        .open_until(&format!("{base}/#/alerts"), "[data-page=alerts]")
        .await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = browser.script(OVERFLOW).await;
    browser.screenshot("alerts-390").await;
    assert!(
        m["doc"].as_u64().is_some_and(|w| w <= 390)
            && m["main"].as_i64() == Some(0)
            && m["wide"].as_array().is_some_and(Vec::is_empty),
        "the Alerts page is wider than 390 px: {m}"
    );
    browser.quit().await;
}
