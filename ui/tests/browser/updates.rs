//! The Updates page in a real browser: a cluster's stored check results shown with their
//! kinds and filters, a real container updated from its row (the engine's container is
//! recreated on the new image), the count on Home, the dark theme and a 390 px screen.
//! Screenshots `updates`, `updates-result`, `updates-dark`, `updates-390` and
//! `home-updates`.

use std::time::Duration;

use http::Method;
use serde_json::{json, Value};

use crate::common::LoopbackRegistry;
use crate::common::*;
use crate::{Browser, Driver};

/// The API tests' images, registry pushes and clean-up; this test uses part of them.
#[path = "../api/updates/fixtures.rs"]
#[allow(dead_code)]
mod fixtures;

use fixtures::{inspect, publish, Made};

const SERVE: &str = r#"CMD ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

/// A report as the agents send it: the real container with a new digest in the registry,
/// and two more rows (a newer minor tag, and an image that could not be checked) for the
/// page to show beside it.
fn report(node: &str, container: &Value, reference: &str, newest: &str) -> Value {
    let running = container["Image"].as_str().unwrap_or_default();
    json!({
        "nodes": [{"node": node, "checked_at": bosun_ui::store::now_secs() - 120,
                   "next_check_at": bosun_ui::store::now_secs() + 3600, "checking": false,
            "items": [
                {"object": "container", "id": container["Id"], "name": container["Name"].as_str().unwrap_or_default().trim_start_matches('/'),
                 "service": null, "image": reference, "registry": reference.split('/').next(),
                 "repository": "bosun-it-cu-browser", "tag": "1.0.0",
                 "running_digest": running, "newest_digest": newest, "update": "digest",
                 "newer_tags": [], "link": null, "checked_at": bosun_ui::store::now_secs() - 120, "error": null},
                {"object": "container", "id": "bosun-it-cu-seeded-api", "name": "api",
                 "service": null, "image": "registry.example:5000/team/api:1.4.2",
                 "registry": "registry.example:5000", "repository": "team/api", "tag": "1.4.2",
                 "running_digest": "sha256:4b1d9c0e7a55aa9f13c1d3f2e0b6a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e",
                 "newest_digest": "sha256:4b1d9c0e7a55aa9f13c1d3f2e0b6a7c8d9e0f1a2b3c4d5e6f708192a3b4c5d6e",
                 "update": "minor",
                 "newer_tags": [{"tag": "1.4.3", "kind": "patch"}, {"tag": "1.5.0", "kind": "minor"}],
                 "link": "https://example.test/api/releases/1.5.0", "checked_at": bosun_ui::store::now_secs() - 120, "error": null},
                {"object": "container", "id": "bosun-it-cu-seeded-cache", "name": "cache",
                 "service": null, "image": "registry.example:5000/cache:7",
                 "update": null, "newer_tags": [], "checked_at": bosun_ui::store::now_secs() - 120,
                 "error": "registry.example:5000: no answer within 10s"}
            ]}],
        "missing": []
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn the_updates_page_shows_the_checks_and_updates_a_container_from_its_row() {
    ensure_image();
    let driver = Driver::start();
    let registry = LoopbackRegistry::start().await;
    let creds = Pki::new();
    let agent = start_agent(&creds, None).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent);
    // The page shows the report written below; the console's own pull must not replace
    // it while the test runs.
    args.updates.update_pull_interval = Duration::from_secs(3600);
    let addr = start_console(&args).await;
    let base = format!("https://localhost:{}", addr.port());

    let mut made = Made::default();
    let name = Name::new("cu-browser");
    made.container_prefixes.push(name.0.clone());
    let reference = format!(
        "127.0.0.1:{}/bosun-it-cu-browser-{}:1.0.0",
        registry.port,
        std::process::id()
    );
    made.tags.push(reference.clone());
    publish(&reference, SERVE, &mut made);
    engine_ok(&[
        "run", "-d", "--name", &name.0, "--label", "team=web", &reference,
    ]);
    let before = inspect(&name.0);
    let newest = publish(
        &reference,
        &format!("LABEL app.version=2\n{SERVE}"),
        &mut made,
    );

    // The console's first pull runs as it starts; the report goes in after it.
    tokio::time::sleep(Duration::from_secs(2)).await;
    let store = bosun_ui::store::Store::open(&data.path().join("console.db")).expect("db");
    let endpoint = store
        .endpoints()
        .expect("endpoints")
        .into_iter()
        .find(|e| e.name == "local")
        .expect("the endpoint from the command line");
    let seeded: bosun_ui::updates::ClusterReport =
        serde_json::from_value(report(&engine_name(), &before, &reference, &newest))
            .expect("a report");
    store
        .put_update_report(endpoint.id, &seeded)
        .expect("stored");

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    let page = format!("{base}/#/e/{}/updates", endpoint.id);
    let row = format!("[data-page=updates] tr[data-update-name=\"{}\"]", name.0);
    browser.open_until(&page, &row).await;
    assert_eq!(
        browser.attribute(&row, "data-update-kind").await.as_deref(),
        Some("digest")
    );
    browser
        .wait("tr[data-update-name=api][data-update-kind=minor]")
        .await;
    assert!(
        browser.find("tr[data-update-name=cache]").await.is_err(),
        "only rows with updates at first"
    );
    browser.wait("#registries").await;
    browser.screenshot("updates").await;

    // The filters: every row, then one kind.
    browser.click("#updates-only").await;
    browser.wait("tr[data-update-name=cache]").await;
    let error = browser.text("tr[data-update-name=cache] td.detail").await;
    assert!(error.contains("no answer within 10s"), "{error}");
    browser.set_value("#updates-kind", "minor").await;
    let shown = browser
        .script("return [...document.querySelectorAll('tr[data-update-name]')].map(r => r.dataset.updateName);")
        .await;
    assert_eq!(shown, json!(["api"]));
    browser.set_value("#updates-kind", "").await;

    // Update the real container from its row: confirmed, then its result shown live.
    browser
        .click(&format!("{row} button[data-action=update]"))
        .await;
    browser.click("#confirm-ok").await;
    let done = format!("{row}[data-update-result]");
    let start = std::time::Instant::now();
    while browser.find(&done).await.is_err() && start.elapsed() < Duration::from_secs(90) {
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
    assert_eq!(
        browser
            .attribute(&done, "data-update-result")
            .await
            .as_deref(),
        Some("updated"),
        "{}",
        browser.text(&row).await
    );
    assert_eq!(
        browser.text(&format!("{row} .update-result")).await,
        "updated"
    );
    browser.screenshot("updates-result").await;
    let after = inspect(&name.0);
    assert_ne!(after["Id"], before["Id"], "recreated");
    assert_eq!(
        after["Image"].as_str(),
        Some(newest.as_str()),
        "on the new image"
    );
    assert_eq!(after["Config"]["Labels"]["team"], "web");

    // Home counts the cluster's updates: the one done is no longer offered.
    browser.goto(&format!("{base}/#/")).await;
    let count = format!("[data-updates-for=\"{}\"]:not([hidden])", endpoint.id);
    browser.wait(&count).await;
    assert_eq!(browser.text(&count).await, "1 update available");
    browser.screenshot("home-updates").await;

    // The updated container is current now.
    browser.open_until(&page, "tr[data-update-name=api]").await;
    assert!(
        browser.find(&row).await.is_err(),
        "no update offered: {}",
        browser.text("#main").await
    );
    browser.click("#updates-only").await;
    browser.wait(&format!("{row}[data-update-kind=none]")).await;

    // Dark, and on a phone.
    browser.open_until(&page, "tr[data-update-name=api]").await;
    browser.set_value("#theme-switch", "dark").await;
    browser.screenshot("updates-dark").await;
    browser
        .cmd(
            Method::POST,
            "/window/rect",
            Some(json!({"width": 390, "height": 844})),
        )
        .await
        .expect("a 390 px window");
    browser.open_until(&page, "tr[data-update-name=api]").await;
    let wide = browser
        .script(
            "const main = document.getElementById('main');\
             return {doc: document.documentElement.scrollWidth - window.innerWidth,\
                     main: main.scrollWidth - main.clientWidth};",
        )
        .await;
    assert_eq!(
        wide,
        json!({"doc": 0, "main": 0}),
        "nothing wider than the screen"
    );
    browser.screenshot("updates-390").await;
    browser.quit().await;
    drop(made);
}
