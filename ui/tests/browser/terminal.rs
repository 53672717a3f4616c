//! The terminal tab in a real browser: xterm.js connected to a shell in a real container,
//! a command typed and its output seen, and the terminal resized with the window.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::json;

use crate::common::*;
use crate::{Browser, Driver};

/// The terminal's screen as text (xterm.js keeps it in the page for screen readers).
const SCREEN: &str =
    "return document.querySelector('#terminal .xterm-accessibility-tree')?.textContent ?? ''";

/// Types `text` into the terminal, Enter after it.
async fn type_line(browser: &Browser, text: &str) {
    let id = browser.wait("#terminal .xterm-helper-textarea").await;
    browser
        .cmd(
            Method::POST,
            &format!("/element/{id}/value"),
            Some(json!({"text": format!("{text}\u{E007}")})),
        )
        .await
        .unwrap_or_else(|e| panic!("type {text:?}: {e}"));
}

/// Waits until the screen shows `wanted`.
async fn screen_shows(browser: &Browser, wanted: &str) -> String {
    let start = Instant::now();
    loop {
        let screen = browser.script(SCREEN).await;
        let screen = screen.as_str().unwrap_or_default().to_owned();
        if screen.contains(wanted) {
            return screen;
        }
        if start.elapsed() > SETTLE {
            let shot = browser.screenshot("failure").await;
            panic!(
                "{wanted:?} not on the terminal: {screen:?}; {}",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// The terminal's size as the page shows it: (columns, rows).
async fn shown_size(browser: &Browser) -> (u16, u16) {
    let text = browser.text("#terminal-size").await;
    let (cols, rows) = text.split_once('×').unwrap_or_default();
    (
        cols.parse().unwrap_or_default(),
        rows.parse().unwrap_or_default(),
    )
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_runs_a_command_and_follows_the_windows_size() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let c = container("browser-terminal");
    let base = format!("https://localhost:{}", console.addr.port());

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;

    browser
        .goto(&format!("{base}/#/e/1/containers/{}/terminal", c.0))
        .await;
    browser.wait("[data-page=container]").await;
    browser.wait("#terminal-status .badge.ok").await;
    type_line(&browser, "echo hi-$((6*7))").await;
    screen_shows(&browser, "hi-42").await;

    let before = shown_size(&browser).await;
    assert!(
        before.0 > 20 && before.1 > 5,
        "fitted to the panel: {before:?}"
    );
    type_line(&browser, "stty size").await;
    screen_shows(&browser, &format!("{} {}", before.1, before.0)).await;

    // A smaller window: the terminal fits itself again, and the shell hears of it.
    browser
        .cmd(
            Method::POST,
            "/window/rect",
            Some(json!({"width": 1000, "height": 700})),
        )
        .await
        .expect("the window resizes");
    let start = Instant::now();
    let after = loop {
        let now = shown_size(&browser).await;
        if now != before {
            break now;
        }
        assert!(start.elapsed() < SETTLE, "the terminal kept {before:?}");
        tokio::time::sleep(Duration::from_millis(150)).await;
    };
    type_line(&browser, "clear; stty size").await;
    screen_shows(&browser, &format!("{} {}", after.1, after.0)).await;
    let shot = browser.screenshot("terminal").await;
    println!("the terminal: {}", shot.display());
    browser.quit().await;
}
