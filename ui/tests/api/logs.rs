//! A container's log through the console: events that name their stream, a follow that
//! resumes from its cursor without repeating or losing a line, a range by time, and the
//! whole log as a file.

use std::time::Duration;

use http::StatusCode;
use http_body_util::BodyExt;

use crate::common::*;

/// One server-sent event.
#[derive(Debug, Clone, Default)]
pub(crate) struct Event {
    pub id: Option<String>,
    pub kind: Option<String>,
    pub data: String,
}

/// Reads events from `path` until `enough` says so (or the stream ends), within `limit`;
/// the connection is dropped when this returns.
pub(crate) async fn read_events(
    client: &Client,
    path: &str,
    limit: Duration,
    enough: impl Fn(&[Event]) -> bool,
) -> Vec<Event> {
    let resp = client.stream(path).await;
    assert_eq!(resp.status(), StatusCode::OK, "{path}");
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let mut body = resp.into_body();
    let mut text = String::new();
    let mut events = Vec::new();
    let _ = tokio::time::timeout(limit, async {
        while let Some(Ok(frame)) = body.frame().await {
            let Some(data) = frame.data_ref() else {
                continue;
            };
            text.push_str(&String::from_utf8_lossy(data));
            while let Some(end) = text.find("\n\n") {
                let block: String = text.drain(..end + 2).collect();
                events.push(parse_event(&block));
            }
            if enough(&events) {
                return;
            }
        }
    })
    .await;
    events
}

fn parse_event(block: &str) -> Event {
    let mut event = Event::default();
    let mut data = Vec::new();
    for line in block.lines() {
        if let Some(v) = line.strip_prefix("id: ") {
            event.id = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("event: ") {
            event.kind = Some(v.to_owned());
        } else if let Some(v) = line.strip_prefix("data: ") {
            data.push(v);
        }
    }
    event.data = data.join("\n");
    event
}

/// The numbers of the lines `prefix-N` among the events of one stream.
fn numbers(events: &[Event], kind: Option<&str>, prefix: &str) -> Vec<u64> {
    events
        .iter()
        .filter(|e| e.kind.as_deref() == kind)
        .filter_map(|e| e.data.strip_prefix(prefix)?.parse().ok())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_followed_log_resumes_from_its_cursor_without_repeats_or_gaps() {
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let id = super::local_endpoint(&admin.get("/api/endpoints").await.json());
    let c = Name::new("ui-logs-resume");
    c.run(&[
        "sh",
        "-c",
        "i=0; while true; do i=$((i+1)); echo out-$i; echo err-$i >&2; sleep 0.02; done",
    ]);
    let logs = format!("/api/endpoints/{id}/containers/{}/logs", c.0);

    // A first follow, dropped after some lines.
    let first = read_events(&admin, &format!("{logs}?follow=1&tail=all"), SETTLE, |e| {
        numbers(e, None, "out-").len() >= 30
    })
    .await;
    let outs = numbers(&first, None, "out-");
    assert!(outs.len() >= 30, "the first follow's lines: {first:?}");
    assert!(
        !numbers(&first, Some("stderr"), "err-").is_empty(),
        "stderr lines are events of their own kind: {first:?}"
    );
    assert!(
        numbers(&first, None, "err-").is_empty(),
        "no stderr line is sent as stdout"
    );
    let cursor = first
        .iter()
        .rev()
        .find_map(|e| e.id.clone())
        .expect("events carry a cursor");

    // The container goes on writing while nobody follows; then the follow resumes.
    tokio::time::sleep(Duration::from_millis(800)).await;
    let after = percent_encode(&cursor);
    let last_first = *outs.last().expect("lines");
    let second = read_events(
        &admin,
        &format!("{logs}?follow=1&tail=5&after={after}"),
        SETTLE,
        |e| {
            numbers(e, None, "out-")
                .iter()
                .any(|n| *n >= last_first + 60)
        },
    )
    .await;

    for (kind, prefix) in [(None, "out-"), (Some("stderr"), "err-")] {
        let mut all = numbers(&first, kind, prefix);
        all.extend(numbers(&second, kind, prefix));
        let expected: Vec<u64> = (1..=all.len() as u64).collect();
        assert_eq!(
            all, expected,
            "{prefix} lines across the reconnect: each once, in order, none missing"
        );
    }

    // A cursor that is not one is refused with a message.
    let bad = admin.get(&format!("{logs}?follow=1&after=yesterday")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.message().contains("after"), "{}", bad.text());
}

#[tokio::test(flavor = "multi_thread")]
async fn a_log_is_read_by_time_range_and_downloaded_whole() {
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let id = super::local_endpoint(&admin.get("/api/endpoints").await.json());
    let c = Name::new("ui-logs-range");
    c.run(&[
        "sh",
        "-c",
        "i=0; while [ $i -lt 20 ]; do i=$((i+1)); echo out-$i; sleep 0.05; done; echo bad >&2; sleep 600",
    ]);
    let logs = format!("/api/endpoints/{id}/containers/{}/logs", c.0);

    // Not followed, as events: every line, then an end.
    let events = eventually("the whole log as events", SETTLE, || async {
        let events = read_events(&admin, &format!("{logs}?events=1&tail=all"), ANSWER, |_| {
            false
        })
        .await;
        if events.iter().any(|e| e.kind.as_deref() == Some("stderr")) {
            Ok(events)
        } else {
            Err(format!("{events:?}"))
        }
    })
    .await;
    assert_eq!(numbers(&events, None, "out-"), (1..=20).collect::<Vec<_>>());
    assert_eq!(events.last().and_then(|e| e.kind.as_deref()), Some("end"));
    let stamp_of = |n: u64| {
        let event = events
            .iter()
            .find(|e| e.data == format!("out-{n}"))
            .expect("the line");
        let id = event.id.as_deref().expect("a cursor");
        id.split(' ').next().expect("a time").to_owned()
    };

    // A range by time: from line 5's instant to line 8's, both included.
    let range = admin
        .get(&format!(
            "{logs}?tail=all&since={}&until={}",
            percent_encode(&stamp_of(5)),
            percent_encode(&stamp_of(8))
        ))
        .await;
    assert_eq!(range.status, StatusCode::OK, "{}", range.text());
    assert_eq!(range.text(), "out-5\nout-6\nout-7\nout-8\n");
    let bad = admin.get(&format!("{logs}?since=last-week")).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST);
    assert!(bad.message().contains("since"), "{}", bad.text());

    // The whole log as a file, stdout and stderr, without the engine's framing.
    let file = admin.get(&format!("{logs}/download?timestamps=1")).await;
    assert_eq!(file.status, StatusCode::OK, "{}", file.text());
    assert_eq!(file.headers["content-type"], "text/plain; charset=utf-8");
    let disposition = file.headers["content-disposition"].to_str().expect("ASCII");
    assert_eq!(disposition, format!("attachment; filename=\"{}.log\"", c.0));
    let text = file.text();
    assert_eq!(text.lines().count(), 21, "{text}");
    assert!(
        text.lines().all(|l| l.split(' ').count() == 2),
        "stamped: {text}"
    );
    assert!(
        text.contains(" out-20\n") && text.contains(" bad\n"),
        "{text}"
    );
    assert!(
        !text.contains('\u{1}') && !text.contains('\u{2}'),
        "{text:?}"
    );
}

/// A query value, escaped.
pub(crate) fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}
