//! The log views in a real browser: a container's log searched with highlights (text and
//! regular expression), stderr in its own colour; and the merged logs of a Compose project
//! on two nodes, in time order with each line's container and node; and where a merged
//! view resumes from after its stream drops.

use std::time::{Duration, Instant};

use serde_json::Value;

use crate::common::*;
use crate::{Browser, Driver};

#[path = "../common/two_nodes.rs"]
mod two_nodes;

/// Waits until `script` returns something `done` accepts; that value.
async fn until(
    browser: &Browser,
    script: &str,
    what: &str,
    done: impl Fn(&Value) -> bool,
) -> Value {
    let start = Instant::now();
    loop {
        let v = browser.script(script).await;
        if done(&v) {
            return v;
        }
        if start.elapsed() > SETTLE {
            let shot = browser.screenshot("failure").await;
            panic!("{what}: {v}; {}", shot.display());
        }
        tokio::time::sleep(Duration::from_millis(150)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_containers_log_is_searched_with_highlights() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let c = Name::new("ui-browser-logs");
    c.run(&[
        "sh",
        "-c",
        "echo apple-1; echo banana; echo apple-2 >&2; echo cherry-apple; sleep 600",
    ]);
    let base = format!("https://localhost:{}", console.addr.port());
    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;

    browser
        .goto(&format!("{base}/#/e/1/containers/{}/logs", c.0))
        .await;
    browser.wait("[data-page=container]").await;
    until(
        &browser,
        "return document.querySelectorAll('#logs-output .log-line').length",
        "the four lines",
        |v| v.as_u64() == Some(4),
    )
    .await;
    let stderr = browser
        .script("return [...document.querySelectorAll('#logs-output .log-line.stderr')].map(l => l.textContent)")
        .await;
    assert_eq!(
        stderr,
        serde_json::json!(["apple-2"]),
        "stderr in its own colour"
    );

    browser.type_into("#logs-search", "apple").await;
    browser.wait("#logs-matches[data-count=\"3\"]").await;
    let marks = browser
        .script("return [...document.querySelectorAll('#logs-output mark.log-hit')].map(m => m.textContent)")
        .await;
    assert_eq!(marks, serde_json::json!(["apple", "apple", "apple"]));
    assert_eq!(browser.text("#logs-matches").await, "3 matches");

    // A regular expression: only the numbered apples.
    browser.click("#logs-regex").await;
    browser.type_into("#logs-search", "apple-\\d").await;
    browser.wait("#logs-matches[data-count=\"2\"]").await;
    // Sorted: the engine keeps stdout and stderr lines in the order it read its two pipes.
    let marks = browser
        .script("return [...document.querySelectorAll('#logs-output mark.log-hit')].map(m => m.textContent).sort()")
        .await;
    assert_eq!(marks, serde_json::json!(["apple-1", "apple-2"]));
    let shot = browser.screenshot("logs").await;
    println!("the logs: {}", shot.display());
    browser.quit().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn a_projects_logs_on_two_nodes_show_as_one_in_time_order() {
    let driver = Driver::start();
    let nodes = two_nodes::two_nodes("ui-browser-merged").await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &nodes.pki, nodes.agent);
    let addr = start_console(&args).await;
    let base = format!("https://localhost:{}", addr.port());
    let browser = Browser::start(&driver).await;
    browser.log_in(&base, ADMIN, ADMIN_PASSWORD).await;

    browser
        .goto(&format!("{base}/#/e/1/logs?project={}", nodes.project))
        .await;
    browser.wait("[data-page=logs]").await;
    let read = "return [...document.querySelectorAll('#merged-output .log-line')]\
                .map(l => [l.dataset.t, l.dataset.container, l.dataset.node])";
    let (real, fake) = (nodes.real.0.clone(), nodes.fake_container.clone());
    let lines = until(&browser, read, "lines of both nodes", |v| {
        let rows = v.as_array().cloned().unwrap_or_default();
        let count = |who: &str| rows.iter().filter(|r| r[1] == who).count();
        count(&real) >= 10 && count(&fake) >= 8
    })
    .await;
    let rows = lines.as_array().cloned().unwrap_or_default();
    let mut last = i128::MIN;
    for row in &rows {
        let t = row[0].as_str().expect("a time");
        let at = time::OffsetDateTime::parse(t, &time::format_description::well_known::Rfc3339)
            .expect("RFC 3339")
            .unix_timestamp_nanos();
        assert!(at >= last, "in time order: {rows:?}");
        last = at;
        let node = if row[1] == real.as_str() {
            two_nodes::REAL_NODE
        } else {
            nodes.fake_node.as_str()
        };
        assert_eq!(row[2], node, "{row}");
    }
    let legend = browser.text("#merged-legend").await;
    assert!(
        legend.contains(&real) && legend.contains(&fake),
        "both containers named: {legend}"
    );
    let shot = browser.screenshot("logs-merged").await;
    println!("the merged logs: {}", shot.display());
    browser.quit().await;
}

/// The merged view's cursor, run in the page's own module: a resume asks from the newest
/// line's timestamp and skips exactly what was shown up to it, whatever the engine's
/// trimming of trailing zeros in the fraction.
#[tokio::test(flavor = "multi_thread")]
async fn a_merged_view_resumes_from_its_newest_line_without_repeats() {
    let driver = Driver::start();
    let (_creds, _agent, console) = stack().await;
    let base = format!("https://localhost:{}", console.addr.port());
    let browser = Browser::start(&driver).await;
    browser
        .open_until(&format!("{base}/"), "#login-username")
        .await;
    let answer = browser
        .script_async(
            "const { MergedCursor, shownBefore, stampKey } = await import('/assets/js/log-view.js');
             const line = (t, container, text) => ({ t, container, node: 'n1', stream: 'stdout', line: text });
             const c = new MergedCursor();
             const before = c.resume();
             c.record(line('2026-12-03T04:00:00.9Z', 'a', 'a1'));
             c.record(line('2026-12-03T04:00:01.25Z', 'b', 'b1'));
             // Later in time than 01.25 though shorter as text: '01.3' is 01.300000000.
             c.record(line('2026-12-03T04:00:01.3Z', 'a', 'a2'));
             c.record(line('2026-12-03T04:00:01.3Z', 'b', 'b2'));
             // An older line arriving late does not move the cursor back.
             c.record(line('2026-12-03T04:00:01.1Z', 'b', 'late'));
             const from = c.resume();
             const again = [
               line('2026-12-03T04:00:01.25Z', 'b', 'b1'),
               line('2026-12-03T04:00:01.3Z', 'a', 'a2'),
               line('2026-12-03T04:00:01.3Z', 'b', 'b2'),
               line('2026-12-03T04:00:01.3Z', 'b', 'b3'),
               line('2026-12-03T04:00:01.300000001Z', 'a', 'a3'),
               line('2026-12-03T04:00:02Z', 'a', 'a4'),
             ];
             return {
               before,
               since: from.since,
               keys: [stampKey('2026-12-03T04:00:01.3Z'), stampKey('2026-12-03T04:00:02Z')],
               shown: again.filter(l => !shownBefore(from, l)).map(l => l.line),
             };",
        )
        .await;
    assert_eq!(answer["error"], Value::Null, "{answer}");
    assert_eq!(answer["before"], Value::Null, "no resume before any line");
    assert_eq!(answer["since"], "2026-12-03T04:00:01.3Z", "{answer}");
    assert_eq!(
        answer["keys"],
        serde_json::json!([
            "2026-12-03T04:00:01.300000000",
            "2026-12-03T04:00:02.000000000"
        ])
    );
    assert_eq!(
        answer["shown"],
        serde_json::json!(["b3", "a3", "a4"]),
        "a resume shows only what came after: {answer}"
    );
}
