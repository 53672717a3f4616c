//! The containers pages in a real browser: a container removed from outside, the list's
//! status texts, allowed actions, groups and several containers acted on at once, the
//! create form, images with what uses them and a pull, the endpoints' long errors, and
//! events with their history.

use std::time::Duration;

use serde_json::{json, Value};

use crate::common::LoopbackRegistry;
use crate::common::*;
use crate::{Browser, Driver};

async fn log_out(browser: &Browser) {
    browser.click("#logout").await;
    browser.wait("#login-username").await;
}

/// The text of the page's main area.
async fn main_text(browser: &Browser) -> String {
    browser
        .script("return document.getElementById('main').innerText;")
        .await
        .as_str()
        .unwrap_or_default()
        .to_owned()
}

/// The texts of the badges in the page's main area.
async fn badges(browser: &Browser) -> Vec<String> {
    let v = browser
        .script("return [...document.querySelectorAll('#main .badge')].map(b => b.textContent);")
        .await;
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

fn says_null(text: &str) -> bool {
    text.split(|c: char| !c.is_ascii_alphanumeric())
        .any(|w| w == "null")
}

/// The text of the first element matching `css`, once there is one, read in one script:
/// live updates redraw rows, so an element found by one command may be gone by the next.
async fn read(browser: &Browser, css: &str) -> String {
    let script = format!(
        "const el = document.querySelector({}); return el ? el.textContent : null;",
        json!(css)
    );
    let start = std::time::Instant::now();
    loop {
        if let Value::String(text) = browser.script(&script).await {
            return text;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let shot = browser.screenshot("failure").await;
            panic!(
                "{css} did not appear within 20 s; screenshot {}",
                shot.display()
            );
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

/// Waits up to 20 s for `script` to return true.
async fn until(browser: &Browser, what: &str, script: &str) {
    let start = std::time::Instant::now();
    loop {
        if browser.script(script).await == json!(true) {
            return;
        }
        if start.elapsed() > Duration::from_secs(20) {
            let shot = browser.screenshot("failure").await;
            panic!("{what} within 20 s; screenshot {}", shot.display());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_removed_from_outside_says_so_and_nobody_sees_null() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    admin.add_user("victor", "viewer").await;
    let c = container("removed");
    let other = container("viewed");
    let base = format!("https://localhost:{}", console.addr.port());

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser
        .goto(&format!("{base}/#/e/1/containers/{}", c.0))
        .await;
    browser.wait(".ct-head[data-state=running]").await;
    // Only what a running container allows.
    browser.wait(".ct-head button[data-action=stop]").await;
    assert!(browser
        .find(".ct-head button[data-action=start]")
        .await
        .is_err());

    engine_ok(&["rm", "-f", &c.0]);
    browser.wait(".ct-head[data-state=removed]").await;
    let text = main_text(&browser).await;
    assert!(text.contains("This container has been removed"), "{text}");
    assert!(!says_null(&text), "no null on the page: {text}");
    let shown = badges(&browser).await;
    assert!(
        !shown.iter().any(|b| b == "running"),
        "no running badge beside the removal: {shown:?}"
    );
    assert!(
        browser.find(".ct-head button[data-action]").await.is_err(),
        "no actions on a removed container"
    );
    browser.screenshot("container-removed").await;

    // A viewer: no actions, and nothing in their place.
    log_out(&browser).await;
    browser.log_in(&base, "victor", "password-123").await;
    browser
        .goto(&format!("{base}/#/e/1/containers/{}", other.0))
        .await;
    browser.wait(".ct-head[data-state=running]").await;
    let text = main_text(&browser).await;
    assert!(!says_null(&text), "no null for a viewer: {text}");
    assert!(browser.find(".ct-head button[data-action]").await.is_err());
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_list_shows_status_texts_allowed_actions_usage_groups_and_acts_on_several() {
    let driver = Driver::start();
    let creds = Pki::new();
    let every = Duration::from_secs(1);
    let agent = sampling_agent(&creds, "127.0.0.1:0".parse().expect("addr"), every).await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &creds, agent.addr);
    args.usage.usage_interval = every;
    let addr = start_console(&args).await;
    let base = format!("https://localhost:{}", addr.port());
    let client = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;

    // Two containers of one Compose project (one exited with 3), one of none.
    let tag = format!("ui-bulk-{}", std::process::id());
    let project = format!("bosun-it-proj-{}", std::process::id());
    ensure_image();
    let web = Name::new(&format!("{tag}-web"));
    let failed = Name::new(&format!("{tag}-failed"));
    let lone = Name::new(&format!("{tag}-lone"));
    let label = format!("com.docker.compose.project={project}");
    for (name, cmd) in [
        (&web, "trap 'exit 0' TERM; while true; do sleep 1; done"),
        (&failed, "exit 3"),
    ] {
        engine_ok(&[
            "run", "-d", "--name", &name.0, "--label", &label, IMAGE, "sh", "-c", cmd,
        ]);
    }
    lone.run(&[
        "sh",
        "-c",
        "trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    wait_for("the failed container exits", SETTLE, || {
        let state = failed.state();
        (state == "exited").then_some(()).ok_or(state)
    });
    client.until_sampled(&web.0).await;

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{base}/#/e/1/containers")).await;
    browser.wait("[data-page=containers]").await;
    browser.type_into("#container-search", &tag).await;
    let row = |n: &Name| format!("tr[data-container-name=\"{}\"]", n.0);

    // The exit code in the status text, red; only the actions each state allows.
    let status = read(&browser, &format!("{} .status-text.bad", row(&failed))).await;
    assert!(status.starts_with("Exited (3)"), "{status:?}");
    browser
        .wait(&format!("{} button[data-action=start]", row(&failed)))
        .await;
    assert!(browser
        .find(&format!("{} button[data-action=stop]", row(&failed)))
        .await
        .is_err());
    let up = read(&browser, &format!("{} .status-text", row(&web))).await;
    assert!(up.starts_with("Up "), "{up:?}");
    assert!(browser
        .find(&format!("{} button[data-action=start]", row(&web)))
        .await
        .is_err());
    // CPU and memory from the stored samples.
    let figures = browser
        .script(&format!(
            "return [...document.querySelectorAll('{} td.num')].map(td => td.textContent);",
            row(&web).replace('\'', "\\'")
        ))
        .await;
    let figures: Vec<String> = serde_json::from_value(figures).unwrap_or_default();
    assert!(
        figures.len() == 2 && figures[0].ends_with('%') && figures[1].ends_with('B'),
        "CPU and memory shown: {figures:?}"
    );
    browser.screenshot("containers").await;

    // Grouped by project: a header per group, and a group folds away.
    browser.click("#container-group").await;
    let head = format!("tr.group-head[data-group=\"{project}\"]");
    browser.wait(&head).await;
    browser.wait("tr.group-head[data-group=\"(none)\"]").await;
    browser.screenshot("containers-grouped").await;
    browser.click(&format!("{head} .group-toggle")).await;
    until(
        &browser,
        "the project's rows fold away",
        &format!(
            "return !document.querySelector('{}');",
            row(&web).replace('\'', "\\'")
        ),
    )
    .await;
    browser.click(&format!("{head} .group-toggle")).await;
    browser.wait(&row(&web)).await;
    browser.click("#container-group").await;

    // Select all that the search shows, and stop them: only the running ones can stop.
    browser.click("#select-all").await;
    let label_text = read(&browser, "#bulk-stop").await;
    assert_eq!(label_text, "Stop (2)", "two of three can stop");
    browser.click("#bulk-stop").await;
    browser.click("#confirm-ok").await;
    until(
        &browser,
        "both results",
        "return document.querySelectorAll('#bulk-results li[data-result=ok]').length === 2;",
    )
    .await;
    assert_eq!(web.state(), "exited");
    assert_eq!(lone.state(), "exited");
    let rows = client.get("/api/audit?action=container.stop").await.json();
    for n in [&web, &lone] {
        assert!(
            rows.as_array().is_some_and(|a| a
                .iter()
                .any(|r| r["target"] == n.0.as_str() && r["result"] == "ok")),
            "{} audited: {rows}",
            n.0
        );
    }
    browser.quit().await;
    agent.stop().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_is_created_from_the_form() {
    let driver = Driver::start();
    ensure_image();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let name = Name::new("ui-form");
    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{base}/#/e/1/containers")).await;
    browser.click("#container-create").await;
    browser.wait("[data-page=create] #create-node option").await;
    browser.type_into("#create-image", IMAGE).await;
    browser.type_into("#create-name", &name.0).await;
    browser
        .type_into("#create-cmd", "sh -c 'echo from-the-form; sleep 600'")
        .await;
    browser
        .set_value("#create-env", "COLOUR=blue\nSIZE=large")
        .await;
    browser.set_value("#create-labels", "bosun.test=form").await;
    browser.set_value("#create-restart", "on-failure").await;
    browser.screenshot("create").await;
    browser.click("#create-submit").await;
    browser.wait(".ct-head[data-state=running]").await;
    assert_eq!(name.state(), "running");
    let env = engine_ok(&["inspect", "--format", "{{json .Config.Env}}", &name.0]);
    assert!(
        env.contains("COLOUR=blue") && env.contains("SIZE=large"),
        "{env}"
    );

    // A bad field: the server's message, and the form stays.
    browser.goto(&format!("{base}/#/e/1/create")).await;
    browser.wait("[data-page=create] #create-node option").await;
    browser.type_into("#create-image", IMAGE).await;
    browser.set_value("#create-ports", "80:http").await;
    browser.click("#create-submit").await;
    let error = read(&browser, "#create-error:not(:empty)").await;
    assert!(error.contains("ports"), "{error}");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn images_show_their_users_and_pull_with_progress() {
    let driver = Driver::start();
    ensure_image();
    let registry = LoopbackRegistry::start().await;
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let c = container("image-user");
    let node = engine_name();
    let reference = format!(
        "127.0.0.1:{}/bosun-it-pull:browser-{}",
        registry.port,
        std::process::id()
    );
    struct Untag(String);
    impl Drop for Untag {
        fn drop(&mut self) {
            let _ = engine(&["rmi", "-f", &self.0]);
        }
    }
    let _untag = Untag(reference.clone());
    engine_ok(&["tag", IMAGE, &reference]);
    engine_ok(&["push", &reference]);
    engine_ok(&["rmi", &reference]);

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{base}/#/e/1/images")).await;
    browser.wait("[data-page=images]").await;
    // The test image is used by our container, linked from its row.
    browser
        .wait(&format!(
            "tr[data-image-tags~=\"{IMAGE}\"] .used-by a[href$=\"{}\"]",
            engine_ok(&["inspect", "--format", "{{.Id}}", &c.0])
        ))
        .await;
    browser.screenshot("images").await;

    browser.click("#image-pull").await;
    browser.type_into("#pull-image", &reference).await;
    browser.click("#confirm-ok").await;
    browser
        .wait(&format!(
            "#pull-progress [data-pull-node=\"{node}\"][data-pull-state=done]"
        ))
        .await;
    browser.screenshot("images-pulled").await;
    assert!(engine(&["image", "inspect", &reference]).status.success());
    browser
        .wait(&format!("tr[data-image-tags~=\"{reference}\"]"))
        .await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_endpoint_with_a_long_error_can_still_be_deleted() {
    let driver = Driver::start();
    let (creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    // A host name no TLS name can be: its error repeats it, two kilobytes without a space.
    let host = "x".repeat(2100);
    let made = admin
        .post(
            "/api/endpoints",
            &json!({"name": "long", "url": format!("https://{host}:9001"), "ca_pem": creds.ca_pem(),
                    "auth": "secret", "secret": creds.secret_text()}),
        )
        .await;
    assert_eq!(made.status, http::StatusCode::CREATED, "{}", made.text());
    let list = admin.get("/api/endpoints").await.json();
    let error = list
        .as_array()
        .and_then(|a| a.iter().find(|e| e["name"] == "long"))
        .map(|e| e["status"]["error"].as_str().unwrap_or_default().len())
        .unwrap_or(0);
    assert!(error >= 2000, "a 2 kB error: {list}");

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{base}/#/endpoints")).await;
    browser.wait("tr[data-endpoint-name=long]").await;
    browser.screenshot("endpoints-long-error").await;
    // Delete is on screen, and nothing covers it: no scrolling sideways to find it.
    let clear = browser
        .script(
            "const b = document.querySelector('tr[data-endpoint-name=long] button[data-action=delete]');\
             const r = b.getBoundingClientRect();\
             const x = r.left + r.width / 2, y = r.top + r.height / 2;\
             return x > 0 && x < innerWidth && y > 0 && y < innerHeight && document.elementFromPoint(x, y) === b;",
        )
        .await;
    assert_eq!(
        clear,
        json!(true),
        "the Delete button is visible and uncovered"
    );
    browser
        .click("tr[data-endpoint-name=long] button[data-action=delete]")
        .await;
    browser.click("#confirm-ok").await;
    until(
        &browser,
        "the endpoint's row goes",
        "return !document.querySelector('tr[data-endpoint-name=long]');",
    )
    .await;
    let list: Value = admin.get("/api/endpoints").await.json();
    assert!(!list.to_string().contains("\"long\""), "{list}");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn events_open_with_the_last_hour_and_link_to_their_objects() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let c = container("events-history");
    engine_ok(&["stop", &c.0]);
    let id = engine_ok(&["inspect", "--format", "{{.Id}}", &c.0]);

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{base}/#/e/1/events")).await;
    // The stop happened before the page opened: it comes from the history, linked.
    let link = format!("tr[data-event-action=die] a.actor[href=\"#/e/1/containers/{id}\"]");
    browser.wait(&link).await;
    let dies = browser
        .script(&format!(
            "return document.querySelectorAll('tr[data-event-action=die] a.actor[href=\"#/e/1/containers/{id}\"]').length;"
        ))
        .await;
    assert_eq!(dies, json!(1), "shown once");
    // Live after the history, without repeats.
    engine_ok(&["start", &c.0]);
    browser
        .wait(&format!(
            "tr[data-event-action=start] a.actor[href=\"#/e/1/containers/{id}\"]"
        ))
        .await;
    browser.screenshot("events").await;
    browser.click(&link).await;
    browser.wait(".ct-head[data-state=running]").await;
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn the_tasks_node_filter_names_the_nodes() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let node = engine_name();
    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{base}/#/e/1/tasks")).await;
    browser.wait("[data-page=tasks]").await;
    // Whether or not this engine is in a Swarm (no tasks then), its node is offered.
    browser
        .wait(&format!("select[aria-label=Node] option[value=\"{node}\"]"))
        .await;
    let first = read(&browser, "select[aria-label=Node]").await;
    assert!(first.contains("All nodes"), "{first:?}");
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn volumes_show_their_users_and_an_unused_one_is_removed() {
    let driver = Driver::start();
    ensure_image();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    struct Volume(String);
    impl Drop for Volume {
        fn drop(&mut self) {
            let _ = engine(&["volume", "rm", "-f", &self.0]);
        }
    }
    let used = Volume(Name::new("ui-vol-used").0.clone());
    let spare = Volume(Name::new("ui-vol-spare").0.clone());
    engine_ok(&["volume", "create", &used.0]);
    engine_ok(&["volume", "create", &spare.0]);
    let user = Name::new("ui-vol-user");
    engine_ok(&[
        "run",
        "-d",
        "--name",
        &user.0,
        "-v",
        &format!("{}:/data", used.0),
        IMAGE,
        "sleep",
        "600",
    ]);

    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;
    browser.goto(&format!("{base}/#/e/1/volumes")).await;
    browser.wait("[data-page=volumes]").await;
    let row = |v: &Volume| format!("tr[data-volume-name=\"{}\"]", v.0);
    let users = read(&browser, &format!("{}[data-used=yes] .used-by", row(&used))).await;
    assert_eq!(users, user.0, "the volume's user is named");
    browser
        .wait(&format!("{}[data-used=no]", row(&spare)))
        .await;
    browser.screenshot("volumes").await;
    browser
        .click(&format!("{} button[data-action=remove]", row(&spare)))
        .await;
    browser.click("#confirm-ok").await;
    until(
        &browser,
        "the removed volume's row goes",
        &format!("return !document.querySelector('{}');", row(&spare)),
    )
    .await;
    assert!(!engine(&["volume", "inspect", &spare.0]).status.success());
    browser.quit().await;
}
