//! How the console looks and is driven: the dark theme (from the top bar's switch and from
//! the browser's setting), the layout of a 390 px wide phone, and the keyboard shortcuts.
//! Screenshots `<page>-light`, `<page>-dark` and `<page>-390` of the main pages.

use std::time::{Duration, Instant};

use http::Method;
use serde_json::{json, Value};

use crate::common::*;
use crate::{Browser, Driver};

/// The body's background in each theme: `--bg` of the light and of the dark set.
const LIGHT_BG: &str = "rgb(245, 246, 248)";
const DARK_BG: &str = "rgb(15, 21, 25)";

/// A console in front of a real agent with a running container, and a browser signed in.
struct Scene {
    _driver: Driver,
    browser: Browser,
    base: String,
    container: Name,
    _data: tempfile::TempDir,
}

impl Scene {
    async fn start(tag: &str) -> Self {
        let driver = Driver::start();
        let creds = Pki::new();
        let agent = start_agent(&creds, None).await;
        let data = tempfile::tempdir().expect("tempdir");
        let args = console_args(data.path(), &creds, agent);
        let addr = start_console(&args).await;
        let container = container(tag);
        let base = format!("https://localhost:{}", addr.port());
        let browser = Browser::start(&driver).await;
        browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
        Self {
            _driver: driver,
            browser,
            base,
            container,
            _data: data,
        }
    }

    /// The main pages: (screenshot name, address, what shows that it is on screen).
    fn pages(&self) -> Vec<(&'static str, String, String)> {
        let b = &self.base;
        let c = &self.container.0;
        vec![
            (
                "home",
                format!("{b}/#/"),
                "[data-page=home] [data-endpoint-name=local]".into(),
            ),
            (
                "endpoints",
                format!("{b}/#/endpoints"),
                "[data-page=endpoints] [data-endpoint-name=local]".into(),
            ),
            (
                "containers",
                format!("{b}/#/e/1/containers"),
                format!("[data-page=containers] tr[data-container-name=\"{c}\"]"),
            ),
            (
                "container",
                format!("{b}/#/e/1/containers/{c}"),
                "[data-page=container]".into(),
            ),
            (
                "nodes",
                format!("{b}/#/e/1/nodes"),
                "[data-page=nodes] tr[data-node-name]".into(),
            ),
            ("audit", format!("{b}/#/audit"), "[data-page=audit]".into()),
            (
                "events",
                format!("{b}/#/e/1/events"),
                "[data-page=events]".into(),
            ),
        ]
    }

    /// The other pages of the top bar and of a cluster, checked at 390 px too.
    fn other_pages(&self) -> Vec<(&'static str, String, String)> {
        let b = &self.base;
        let mut pages = vec![(
            "users",
            format!("{b}/#/users"),
            "[data-page=users]".to_owned(),
        )];
        for section in [
            "top", "services", "tasks", "images", "volumes", "networks", "create", "logs",
        ] {
            pages.push((
                section,
                format!("{b}/#/e/1/{section}"),
                format!("[data-page={section}]"),
            ));
        }
        pages
    }

    async fn show(&self, url: &str, ready: &str) {
        self.browser.goto(url).await;
        self.browser.wait(ready).await;
    }

    async fn body_background(&self) -> String {
        let v = self
            .browser
            .script("return getComputedStyle(document.body).backgroundColor;")
            .await;
        v.as_str().unwrap_or_default().to_owned()
    }

    /// Waits until the body's background is `want`.
    async fn background_becomes(&self, want: &str, why: &str) {
        let start = Instant::now();
        loop {
            let got = self.body_background().await;
            if got == want {
                return;
            }
            if start.elapsed() > Duration::from_secs(5) {
                let shot = self.browser.screenshot("failure").await;
                panic!(
                    "{why}: the background is {got}, not {want}; screenshot {}",
                    shot.display()
                );
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    }

    /// Picks auto, light or dark in the top bar's switch.
    async fn pick_theme(&self, choice: &str) {
        self.browser.set_value("#theme-switch", choice).await;
    }

    /// Makes the browser report `scheme` as the system's colour setting.
    async fn emulate_scheme(&self, scheme: &str) {
        let params = json!({"cmd": "Emulation.setEmulatedMedia", "params": {
            "features": [{"name": "prefers-color-scheme", "value": scheme}],
        }});
        self.browser
            .cmd(Method::POST, "/goog/cdp/execute", Some(params))
            .await
            .unwrap_or_else(|e| panic!("emulate prefers-color-scheme {scheme}: {e}"));
    }

    /// Presses and releases each key in turn, as a user would type them.
    async fn keys(&self, keys: &[&str]) {
        let actions: Vec<Value> = keys
            .iter()
            .flat_map(|k| {
                [
                    json!({"type": "keyDown", "value": k}),
                    json!({"type": "keyUp", "value": k}),
                ]
            })
            .collect();
        let body = json!({"actions": [{"type": "key", "id": "keyboard", "actions": actions}]});
        self.browser
            .cmd(Method::POST, "/actions", Some(body))
            .await
            .unwrap_or_else(|e| panic!("type {keys:?}: {e}"));
    }

    async fn stop(self) {
        self.browser.quit().await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn dark_mode_follows_the_switch_and_the_browsers_setting_and_is_remembered() {
    let scene = Scene::start("look-theme").await;
    let b = &scene.browser;

    // Auto, with a light system setting: light. The switch shows auto.
    scene.emulate_scheme("light").await;
    scene
        .background_becomes(LIGHT_BG, "auto on a light system")
        .await;
    assert_eq!(
        b.script("return document.querySelector('#theme-switch').value;")
            .await,
        json!("auto")
    );
    // Auto follows the system's setting as it changes, without a reload.
    scene.emulate_scheme("dark").await;
    scene
        .background_becomes(DARK_BG, "auto on a dark system")
        .await;
    // An explicit light beats the system's dark; dark beats a light system.
    scene.pick_theme("light").await;
    scene
        .background_becomes(LIGHT_BG, "light on a dark system")
        .await;
    scene.emulate_scheme("light").await;
    scene.pick_theme("dark").await;
    scene
        .background_becomes(DARK_BG, "dark on a light system")
        .await;
    assert_eq!(
        b.attribute("html", "data-theme").await.as_deref(),
        Some("dark")
    );

    // Remembered: a fresh load is dark before anything is picked.
    b.goto(&format!("{}/#/", scene.base)).await;
    b.wait("[data-page=home]").await;
    scene
        .background_becomes(DARK_BG, "dark after a reload")
        .await;
    assert_eq!(
        b.script("return localStorage.getItem('bosun.theme');")
            .await,
        json!("dark")
    );

    // The panels and the table headers change too, not only the page's background.
    let panel = b
        .script(
            "const s = getComputedStyle(document.querySelector('.card, .panel, .table-wrap'));\
             return s.backgroundColor;",
        )
        .await;
    assert_eq!(panel, json!("rgb(22, 30, 36)"), "a card in the dark theme");

    // A node's charts draw in the theme's colours, and change with it.
    let node = engine_name();
    scene
        .show(
            &format!("{}/#/e/1/nodes/{node}", scene.base),
            "canvas[data-chart=cpu][data-points]",
        )
        .await;
    let line = "return Chart.getChart(document.querySelector('canvas[data-chart=cpu]')).data.datasets[0].borderColor;";
    assert_eq!(b.script(line).await, json!("#3bb4be"), "dark chart line");
    b.wait("canvas[data-chart=memory][data-points]").await;
    let total = "return Chart.getChart(document.querySelector('canvas[data-chart=memory]'))\
                 .data.datasets.find(d => d.label === 'Total').borderColor;";
    assert_eq!(
        b.script(total).await,
        json!("#6d7a85"),
        "a line the page colours itself"
    );
    b.screenshot("node-dark").await;
    scene.pick_theme("light").await;
    scene.background_becomes(LIGHT_BG, "light picked").await;
    assert_eq!(b.script(line).await, json!("#0d7c86"), "light chart line");
    b.screenshot("node-light").await;

    // Every main page in both themes.
    for (name, url, ready) in scene.pages() {
        scene.pick_theme("light").await;
        scene.show(&url, &ready).await;
        scene.background_becomes(LIGHT_BG, name).await;
        b.screenshot(&format!("{name}-light")).await;
        scene.pick_theme("dark").await;
        scene.background_becomes(DARK_BG, name).await;
        b.screenshot(&format!("{name}-dark")).await;
    }
    scene.stop().await;
}

/// How far the page reaches past the screen's right edge, the scrolling main area
/// included (0 when nothing is wider than the screen), what sticks out, and the table
/// cells squeezed narrower than a card.
const OVERFLOW: &str = "const main = document.getElementById('main');\
    return {doc: document.documentElement.scrollWidth, inner: window.innerWidth,\
            main: main.scrollWidth - main.clientWidth,\
            wide: [...document.querySelectorAll('#main *')]\
              .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1\
                            && !el.closest('.subnav, .tabs, pre, .xterm, .modal-backdrop'))\
              .slice(0, 5).map(el => el.tagName + '.' + el.className),\
            cramped: [...document.querySelectorAll('#main table.grid:not(.kv-table) td')]\
              .filter(td => td.offsetParent !== null && td.getBoundingClientRect().width < 300)\
              .slice(0, 5).map(td => td.className + ': ' + td.dataset.label)};";

#[tokio::test(flavor = "multi_thread")]
async fn at_390_px_no_main_page_is_wider_than_the_screen_and_the_menu_folds() {
    let scene = Scene::start("look-phone").await;
    let b = &scene.browser;
    b.cmd(
        Method::POST,
        "/window/rect",
        Some(json!({"width": 390, "height": 844})),
    )
    .await
    .expect("a 390 px window");
    let inner = b.script("return window.innerWidth;").await;
    assert_eq!(inner, json!(390), "the page is 390 px wide");

    for (name, url, ready) in scene.pages().into_iter().chain(scene.other_pages()) {
        scene.show(&url, &ready).await;
        // Live pages fill in a moment later; measure what a user sees after it.
        tokio::time::sleep(Duration::from_millis(500)).await;
        let m = b.script(OVERFLOW).await;
        b.screenshot(&format!("{name}-390")).await;
        assert!(
            m["doc"].as_u64().is_some_and(|w| w <= 390)
                && m["main"].as_i64() == Some(0)
                && m["wide"].as_array().is_some_and(Vec::is_empty),
            "{name} is wider than 390 px: {m}"
        );
        assert!(
            m["cramped"].as_array().is_some_and(Vec::is_empty),
            "{name} has cells narrower than a card: {m}"
        );
    }

    // The node's own page too.
    let node = engine_name();
    scene
        .show(
            &format!("{}/#/e/1/nodes/{node}", scene.base),
            "[data-page=node]",
        )
        .await;
    let m = b.script(OVERFLOW).await;
    b.screenshot("node-390").await;
    assert_eq!(m["main"], json!(0), "the node's page: {m}");

    // Rows are cards whose cells name their columns.
    scene
        .show(
            &format!("{}/#/e/1/containers", scene.base),
            &format!("tr[data-container-name=\"{}\"]", scene.container.0),
        )
        .await;
    let labels = b
        .script(&format!(
            "return [...document.querySelectorAll('tr[data-container-name=\"{}\"] td')]\
               .map(td => td.dataset.label);",
            scene.container.0
        ))
        .await;
    assert!(
        labels
            .as_array()
            .is_some_and(|l| l.iter().any(|v| v == "Name") && l.iter().any(|v| v == "State")),
        "the cells are labelled by their columns: {labels}"
    );
    let display = b
        .script("return getComputedStyle(document.querySelector('#main tbody tr')).display;")
        .await;
    assert_eq!(display, json!("block"), "a row is a card");

    // Sign out is behind the menu button, and on screen once it is opened.
    let visible = "const el = document.querySelector(arguments[0] || '#logout');\
                   const r = el.getBoundingClientRect();\
                   return el.offsetParent !== null && r.left >= 0 && r.right <= window.innerWidth;";
    assert_eq!(b.script(visible).await, json!(false), "Sign out is folded");
    b.click("#menu-toggle").await;
    b.wait(".topbar.open").await;
    assert_eq!(b.script(visible).await, json!(true), "Sign out shows");
    b.screenshot("menu-390").await;
    // Choosing a page folds the menu again.
    b.click(".mainnav a[data-nav=audit]").await;
    b.wait("[data-page=audit]").await;
    assert_eq!(
        b.script(visible).await,
        json!(false),
        "folded after a choice"
    );
    scene.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn keyboard_shortcuts_jump_focus_the_filter_and_list_themselves() {
    let scene = Scene::start("look-keys").await;
    let b = &scene.browser;

    // From home, `g c` opens the containers of the only cluster.
    scene.keys(&["g", "c"]).await;
    b.wait("[data-page=containers]").await;
    let hash = b.script("return location.hash;").await;
    assert_eq!(hash, json!("#/e/1/containers"));

    // `/` focuses the filter; keys typed there are text, not shortcuts.
    scene.keys(&["/"]).await;
    let focused = b.script("return document.activeElement.id;").await;
    assert_eq!(focused, json!("container-search"));
    scene.keys(&["g", "n"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(
        b.script("return [location.hash, document.activeElement.value];")
            .await,
        json!(["#/e/1/containers", "gn"]),
        "typing in the filter does not jump"
    );
    b.script("document.activeElement.blur(); return null;")
        .await;

    // `g n` from a cluster's page stays in that cluster.
    scene.keys(&["g", "n"]).await;
    b.wait("[data-page=nodes]").await;
    assert_eq!(
        b.script("return location.hash;").await,
        json!("#/e/1/nodes")
    );
    scene.keys(&["g", "a"]).await;
    b.wait("[data-page=audit]").await;
    // A lone letter does nothing.
    scene.keys(&["c"]).await;
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_eq!(b.script("return location.hash;").await, json!("#/audit"));

    // `?` lists them in a dialog; Escape closes it.
    scene.keys(&["?"]).await;
    let list = b.text("#shortcut-list").await;
    for line in [
        "Containers",
        "Nodes",
        "Audit log",
        "Search or filter this page",
    ] {
        assert!(list.contains(line), "the list names {line:?}: {list}");
    }
    b.screenshot("shortcuts").await;
    scene.keys(&["\u{e00c}"]).await; // WebDriver's Escape
    let start = Instant::now();
    while b.find("#shortcut-list").await.is_ok() {
        assert!(
            start.elapsed() < Duration::from_secs(5),
            "Escape closes the list"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    scene.stop().await;
}
