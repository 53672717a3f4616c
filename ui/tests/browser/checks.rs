//! The Checks page in a real browser, on a cluster of two agents gossiping on loopback: one
//! in front of the real engine that trusts the console's key, one in front of a stand-in
//! engine that trusts no policy key. An admin writes a tcp check through the form; its
//! state shows on the trusting node, ok and then critical when the port closes, with the
//! probe's output in full on a click; the other node's refusal shows with its reason; the
//! history chart draws the runs. Then the dark theme and a 390 px screen. Screenshots
//! `checks`, `checks-history`, `checks-dark` and `checks-390` (paths printed).

use std::net::SocketAddr;
use std::time::Duration;

use bosun_agent::upstream::EngineAddr;
use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use http::{Method, StatusCode};
use serde_json::json;

use crate::common::*;
use crate::{Browser, Driver};

/// What shows a page wider than the screen: the document, `#main`, or elements past the
/// right edge (code, dialogs and the cluster's tabs, which scroll sideways, excepted).
const OVERFLOW: &str = "const main = document.getElementById('main');\
    return {doc: document.documentElement.scrollWidth,\
            main: main.scrollWidth - main.clientWidth,\
            wide: [...document.querySelectorAll('#main *')]\
              .filter(el => el.getBoundingClientRect().right > window.innerWidth + 1\
                            && !el.closest('pre, .modal-backdrop, .subnav'))\
              .slice(0, 5).map(el => el.tagName + '.' + el.className)};";

/// An agent of `pki`'s cluster gossiping on loopback in front of `engine`, named `node`,
/// joining `join`, trusting `key` (the console's) if given; its API and gossip addresses.
async fn cluster_agent(
    pki: &Pki,
    engine: EngineAddr,
    node: &str,
    join: Option<SocketAddr>,
    data: &std::path::Path,
    key: Option<&str>,
) -> (SocketAddr, SocketAddr) {
    let mut config = pki.agent_config("127.0.0.1:0".parse().expect("addr"));
    config.engine = engine;
    config.data_dir = data.to_path_buf();
    config.node_name = Some(node.to_owned());
    config.fanout_deadline = Duration::from_secs(3);
    if let Some(pem) = key {
        let path = data.join("console-key.pem");
        std::fs::write(&path, pem).expect("key file");
        config.trusted_keys = vec![bosun_agent::auth::TrustedKey::read(&path).expect("key")];
    }
    let (api, gossip) =
        gossiping_agent(config, join, tokio_util::sync::CancellationToken::new()).await;
    (api, gossip)
}

#[tokio::test(flavor = "multi_thread")]
async fn the_checks_page_makes_a_check_and_shows_states_refusals_and_history() {
    let driver = Driver::start();
    let pki = Pki::new();
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &pki, "127.0.0.1:9".parse().expect("addr"));
    args.endpoint_url = None;
    args.checks.checks_pull_interval = Duration::from_secs(1);
    let (addr, app) = start_console_with_app(&args).await;
    let base = format!("https://localhost:{}", addr.port());

    // The cluster: the trusting node in front of the real engine, the other behind it.
    let tag = Name::new("ck-page").0.clone();
    let (trusting, untrusting) = (format!("{tag}-trusts"), format!("{tag}-refuses"));
    let dirs = (
        tempfile::tempdir().expect("dir"),
        tempfile::tempdir().expect("dir"),
    );
    let (agent, gossip) = cluster_agent(
        &pki,
        EngineAddr::Unix(bosun_testkit::https::ENGINE_SOCKET.into()),
        &trusting,
        None,
        dirs.0.path(),
        Some(app.key.public_pem()),
    )
    .await;
    let fake = FakeEngine::start(FakeEngineSpec::new(&untrusting))
        .await
        .expect("the stand-in engine");
    cluster_agent(
        &pki,
        EngineAddr::Tcp(fake.addr().to_string()),
        &untrusting,
        Some(gossip),
        dirs.1.path(),
        None,
    )
    .await;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let made = admin
        .post(
            "/api/endpoints",
            &json!({"name": "local", "url": format!("https://localhost:{}", agent.port()),
                    "ca_pem": pki.ca_pem(), "auth": "secret", "secret": pki.secret_text()}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let id = made.json()["id"].as_i64().expect("the endpoint's ID");
    eventually("both nodes in the cluster", SETTLE, || async {
        let nodes = admin
            .get(&format!("/api/endpoints/{id}/nodes"))
            .await
            .text();
        if nodes.contains(&untrusting) && nodes.contains(&trusting) {
            Ok(())
        } else {
            Err(nodes)
        }
    })
    .await;

    let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
        .await
        .expect("a port");
    let port = listener.local_addr().expect("addr").port();

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    let page = format!("{base}/#/e/{id}/checks");
    browser
        .open_until(&page, "[data-page=checks] #check-add")
        .await;

    // A tcp check through the form, every second, on every node.
    browser.click("#check-add").await;
    browser.type_into("#check-name", "app port").await;
    browser.set_value("#check-kind", "tcp").await;
    browser.type_into("#check-host", "127.0.0.1").await;
    browser.type_into("#check-port", &port.to_string()).await;
    browser.type_into("#check-interval", "1").await;
    browser.type_into("#check-timeout", "2").await;
    browser.click("#confirm-ok").await;
    browser
        .wait("#checks-defs tr[data-check-name=\"app port\"][data-kind=tcp]")
        .await;
    let check = browser
        .attribute(
            "#checks-defs tr[data-check-name=\"app port\"]",
            "data-check-id",
        )
        .await
        .expect("the check's ID on the page");

    // A change the console refuses keeps the form open with the reason, naming the field.
    browser
        .click("#checks-defs tr[data-check-name=\"app port\"] button[data-action=edit]")
        .await;
    browser.set_value("#check-kind", "http").await;
    browser.type_into("#check-url", "ftp://127.0.0.1/").await;
    browser.click("#confirm-ok").await;
    let problem = browser.text("#check-problem").await;
    assert!(
        problem.contains("url"),
        "the refusal names the field: {problem:?}"
    );
    assert_eq!(
        browser.attribute("#check-kind", "id").await.as_deref(),
        Some("check-kind"),
        "the form is still open"
    );
    browser.click("#confirm-cancel").await;

    // Its state on the trusting node, as the console pulls it.
    let cell = |state: &str| {
        format!("[data-check-cell][data-check=\"{check}\"][data-node=\"{trusting}\"][data-state={state}]")
    };
    browser.wait(&cell("ok")).await;

    // The other node refused its policy: the reason is on the page.
    let refused = format!("[data-refused-node=\"{untrusting}\"]");
    eventually("the refusal on the page", SETTLE, || async {
        if browser.find(&refused).await.is_ok() {
            Ok(())
        } else {
            Err(browser.text("#checks-nodes").await)
        }
    })
    .await;
    let reason = browser.text(&format!("{refused} .refusal-reason")).await;
    assert!(
        reason.to_lowercase().contains("key"),
        "the refusal says which key is missing: {reason:?}"
    );
    assert_eq!(
        browser
            .attribute(
                &format!("tr[data-policy-node=\"{untrusting}\"]"),
                "data-policy-state"
            )
            .await
            .as_deref(),
        Some("refused")
    );
    assert_eq!(
        browser
            .attribute(
                &format!("tr[data-policy-node=\"{trusting}\"]"),
                "data-policy-state"
            )
            .await
            .as_deref(),
        Some("current")
    );

    // The port closes: critical, and the probe's output in full on a click.
    drop(listener);
    browser.wait(&cell("critical")).await;
    browser
        .click(&format!("{} [data-action=output]", cell("critical")))
        .await;
    let full = browser.text("#check-output-full").await;
    assert!(!full.trim().is_empty(), "the output in full");
    let shot = browser.screenshot("checks-output").await;
    println!("the output of a run: {}", shot.display());
    browser.click("#confirm-ok").await;
    let shot = browser.screenshot("checks").await;
    println!("the Checks page: {}", shot.display());

    // The history of the check on that node: its runs drawn.
    browser
        .click(&format!("{} [data-action=history]", cell("critical")))
        .await;
    let chart = format!(
        "canvas[data-chart=check-history][data-check=\"{check}\"][data-node=\"{trusting}\"][data-points]:not([data-points=\"0\"])"
    );
    browser.wait(&chart).await;
    let drawn = browser
        .script(
            "const chart = Chart.getChart(document.querySelector('canvas[data-chart=check-history]'));\
             return chart.data.datasets.map(d => [d.label, d.data.length]);",
        )
        .await;
    let sets = drawn.as_array().cloned().unwrap_or_default();
    assert!(
        sets.len() == 2 && sets.iter().all(|s| s[1].as_u64().is_some_and(|n| n >= 2)),
        "a duration line and a state line, each with the runs: {drawn}"
    );
    let picked = browser
        .script(
            "const c = document.querySelector('#history-check');\
             const n = document.querySelector('#history-node');\
             return [c.value, c.selectedOptions[0]?.textContent, n.value];",
        )
        .await;
    assert_eq!(
        picked,
        json!([check, "app port", trusting]),
        "the pickers show the check and node drawn"
    );
    let shot = browser.screenshot("checks-history").await;
    println!("the history chart: {}", shot.display());

    // Dark, and on a phone.
    browser.set_value("#theme-switch", "dark").await;
    browser.wait(&cell("critical")).await;
    let shot = browser.screenshot("checks-dark").await;
    println!("the Checks page, dark: {}", shot.display());
    browser
        .cmd(
            Method::POST,
            "/window/rect",
            Some(json!({"width": 390, "height": 844})),
        )
        .await
        .expect("a 390 px window");
    browser.open_until(&page, &cell("critical")).await;
    tokio::time::sleep(Duration::from_millis(500)).await;
    let m = browser.script(OVERFLOW).await;
    let shot = browser.screenshot("checks-390").await;
    println!("the Checks page at 390 px: {}", shot.display());
    assert!(
        m["doc"].as_u64().is_some_and(|w| w <= 390)
            && m["main"].as_i64() == Some(0)
            && m["wide"].as_array().is_some_and(Vec::is_empty),
        "the Checks page is wider than 390 px: {m}"
    );
    browser.quit().await;
    drop(fake);
}
