//! The console under many open streams, bounded in count and time and on loopback only:
//! 20 viewers' sessions each follow five containers' logs and the event stream five times (100 log
//! streams and 100 event streams) for ten minutes through a console run as its own
//! process, whose memory is read from `/proc` as it goes. Every line the containers
//! write and every event the test causes reaches every stream that follows it, the
//! console's memory stays flat, and logging a session out closes its streams at once.
//! Runs alone (the `flood::` group), so that other tests neither slow it nor count in it.
//! `BOSUN_FLOOD_SECONDS` shortens the ten minutes for a quick local run.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use http::StatusCode;
use http_body_util::BodyExt;
use serde_json::{json, Value};

use crate::common::*;

const SESSIONS: usize = 20;
const LOGS_PER_SESSION: usize = 5;
const EVENTS_PER_SESSION: usize = 5;
/// Containers whose logs are followed; each session's log streams spread over them.
const WRITERS: usize = 4;
/// Lines each writer prints per second.
const LINES_PER_SECOND: usize = 4;
/// How often the ticker container is paused and unpaused: two events a tick.
const TICK: Duration = Duration::from_secs(5);
/// How far the console's memory may rise from its level after the warm-up.
const RISE_KB: u64 = 24 * 1024;
/// How long a logged-out session's streams may take to end.
const CLOSE_WITHIN: Duration = Duration::from_secs(10);

fn flood_length() -> Duration {
    let secs = std::env::var("BOSUN_FLOOD_SECONDS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(600);
    Duration::from_secs(secs)
}

fn open_fds(pid: u32) -> usize {
    std::fs::read_dir(format!("/proc/{pid}/fd"))
        .map(|d| d.count())
        .unwrap_or(0)
}

/// The numbers `flood-line-N` in `text`, in order.
fn line_numbers(text: &str) -> Vec<u64> {
    text.match_indices("flood-line-")
        .filter_map(|(at, m)| {
            let digits: String = text[at + m.len()..]
                .chars()
                .take_while(char::is_ascii_digit)
                .collect();
            digits.parse().ok()
        })
        .collect()
}

/// What one log stream saw: the numbers of its container's lines, which must follow each
/// other with no gap and no repeat.
#[derive(Default)]
struct LogTally {
    first: Option<u64>,
    last: Option<u64>,
    count: u64,
    broken: Option<String>,
    ended: Option<Instant>,
}

/// What one event stream saw: the ticker's pause and unpause events.
#[derive(Default)]
struct EventTally {
    ticks: u64,
    ended: Option<Instant>,
}

/// Reads a server-sent-event body to its end, handing each complete `data:` payload to
/// `each`.
async fn read_events(resp: hyper::Response<hyper::body::Incoming>, mut each: impl FnMut(&str)) {
    let mut body = resp.into_body();
    let mut pending = String::new();
    while let Some(Ok(frame)) = body.frame().await {
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.push_str(&String::from_utf8_lossy(data));
        while let Some(end) = pending.find("\n\n") {
            let event: String = pending.drain(..end + 2).collect();
            for line in event.lines() {
                if let Some(payload) = line.strip_prefix("data:") {
                    each(payload.trim_start());
                }
            }
        }
    }
}

/// The engine's own pause and unpause events for one container, read from the engine
/// directly (`docker events`) and counted as they come: what every console stream must
/// match. Under load a console stream has seen a pause and an unpause more than the test
/// made (238 of 236 in one run); what the engine itself reports is the count to match, and
/// the ticks made are the least it can be.
struct EngineEvents {
    child: std::process::Child,
    count: Arc<AtomicU64>,
}

impl EngineEvents {
    fn watch(container: &str) -> Self {
        let mut child = bosun_testkit::engine_command()
            .args(["events", "--format", "{{.Action}}", "--filter"])
            .arg(format!("container={container}"))
            .args(["--filter", "event=pause", "--filter", "event=unpause"])
            .stdout(std::process::Stdio::piped())
            .spawn()
            .expect("docker events, direct to the engine");
        let stdout = child.stdout.take().expect("its output");
        let count = Arc::new(AtomicU64::new(0));
        let counted = Arc::clone(&count);
        std::thread::spawn(move || {
            for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)) {
                match line {
                    Ok(action) if action == "pause" || action == "unpause" => {
                        counted.fetch_add(1, Ordering::Relaxed);
                    }
                    Ok(_) => {}
                    Err(_) => break,
                }
            }
        });
        Self { child, count }
    }

    fn count(&self) -> u64 {
        self.count.load(Ordering::Relaxed)
    }
}

impl Drop for EngineEvents {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Panics with the console's answer when a stream did not open.
async fn expect_stream(
    resp: hyper::Response<hyper::body::Incoming>,
    kind: &str,
    at: (usize, usize),
) -> hyper::Response<hyper::body::Incoming> {
    if resp.status() == StatusCode::OK {
        return resp;
    }
    let status = resp.status();
    let body = bosun_testkit::https::body_within(resp, ANSWER).await;
    panic!(
        "{kind} stream {} of session {}: {status} {}",
        at.1,
        at.0,
        String::from_utf8_lossy(&body)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_hundred_log_and_a_hundred_event_streams_for_ten_minutes() {
    let length = flood_length();
    let creds = Pki::new();
    // The console is one client address to the agent, with one connection per stream.
    let options = AgentOptions {
        max_connections_per_client: Some(512),
        ..AgentOptions::default()
    };
    let agent = start_agent_with(&creds, None, &options).await;
    let data = tempfile::tempdir().expect("tempdir");
    let console = ConsoleProcess::with_endpoint(data.path(), &creds, agent).await;
    let pid = console.pid();
    let addr = console.addr;
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let endpoints = admin.get("/api/endpoints").await.json();
    let id = endpoints[0]["id"]
        .as_i64()
        .expect("the endpoint from the command line");

    let script = format!(
        "i=0; trap 'exit 0' TERM; while true; do for k in {}; do echo flood-line-$i; i=$((i+1)); done; sleep 1; done",
        (1..=LINES_PER_SECOND).map(|k| k.to_string()).collect::<Vec<_>>().join(" ")
    );
    let writers: Vec<Name> = (0..WRITERS)
        .map(|w| {
            let name = Name::new(&format!("flood-writer{w}"));
            name.run(&["sh", "-c", &script]);
            name
        })
        .collect();
    let ticker = container("flood-ticker");

    let idle_kb = rss_kb(pid);
    // The sessions, each with its streams open.
    let mut sessions = Vec::new();
    let mut logs: Vec<(usize, Arc<Mutex<LogTally>>)> = Vec::new();
    let mut events: Vec<(usize, Arc<Mutex<EventTally>>)> = Vec::new();
    let mut readers = Vec::new();
    // One user per session: the agent bounds the streams one client holds.
    for s in 0..SESSIONS {
        let user = format!("watcher{s}");
        admin.add_user(&user, "viewer").await;
        sessions.push(Client::logged_in(addr, &user, "password-123").await);
    }
    let signed_in_kb = rss_kb(pid);
    for (s, session) in sessions.iter().enumerate() {
        for j in 0..LOGS_PER_SESSION {
            let writer = &writers[(s * LOGS_PER_SESSION + j) % WRITERS];
            let resp = session
                .stream(&format!(
                    "/api/endpoints/{id}/containers/{}/logs?follow=1&tail=0",
                    writer.0
                ))
                .await;
            let resp = expect_stream(resp, "log", (s, j)).await;
            let tally = Arc::new(Mutex::new(LogTally::default()));
            logs.push((s, Arc::clone(&tally)));
            readers.push(tokio::spawn(async move {
                read_events(resp, |payload| {
                    let mut t = tally.lock().expect("tally");
                    for n in line_numbers(payload) {
                        if let Some(last) = t.last {
                            if n != last + 1 && t.broken.is_none() {
                                t.broken = Some(format!("line {n} after line {last}"));
                            }
                        } else {
                            t.first = Some(n);
                        }
                        t.last = Some(n);
                        t.count += 1;
                    }
                })
                .await;
                tally.lock().expect("tally").ended = Some(Instant::now());
            }));
        }
        for j in 0..EVENTS_PER_SESSION {
            let resp = session.stream(&format!("/api/endpoints/{id}/events")).await;
            let resp = expect_stream(resp, "event", (s, j)).await;
            let tally = Arc::new(Mutex::new(EventTally::default()));
            events.push((s, Arc::clone(&tally)));
            let name = ticker.0.clone();
            readers.push(tokio::spawn(async move {
                read_events(resp, |payload| {
                    let Ok(ev) = serde_json::from_str::<Value>(payload) else {
                        return;
                    };
                    if ev["Actor"]["Attributes"]["name"] == name.as_str()
                        && matches!(ev["Action"].as_str(), Some("pause" | "unpause"))
                    {
                        tally.lock().expect("tally").ticks += 1;
                    }
                })
                .await;
                tally.lock().expect("tally").ended = Some(Instant::now());
            }));
        }
    }
    let reported = EngineEvents::watch(&ticker.0);
    // Every stream, and the engine's own, is open before the ticks start counting.
    tokio::time::sleep(Duration::from_secs(3)).await;
    eprintln!(
        "console memory: {idle_kb} kB idle, {signed_in_kb} kB with {SESSIONS} users signed in, {} kB with their streams open",
        rss_kb(pid)
    );

    // The flood: the writers write, the ticker ticks, memory is read once a minute.
    let start = Instant::now();
    let warm = Duration::from_secs(60).min(length / 4);
    let mut warm_kb = None;
    let mut memory = Vec::new();
    let mut next_sample = start;
    let mut caused = 0u64;
    while start.elapsed() < length {
        let out = engine(&["pause", &ticker.0]);
        assert!(out.status.success(), "pause the ticker");
        let out = engine(&["unpause", &ticker.0]);
        assert!(out.status.success(), "unpause the ticker");
        caused += 2;
        if Instant::now() >= next_sample {
            let kb = rss_kb(pid);
            memory.push((start.elapsed().as_secs(), kb));
            if warm_kb.is_none() && start.elapsed() >= warm {
                warm_kb = Some(kb);
            }
            next_sample += Duration::from_secs(60).min(length / 4);
        }
        tokio::time::sleep(TICK).await;
    }
    let end_kb = rss_kb(pid);
    memory.push((start.elapsed().as_secs(), end_kb));
    let fds_open = open_fds(pid);
    // The last ticks' events and lines reach the streams.
    tokio::time::sleep(Duration::from_secs(5)).await;

    // Nothing lost: every stream saw every line from its first, and every tick.
    let expected_lines = length.as_secs() * LINES_PER_SECOND as u64;
    for (i, (s, tally)) in logs.iter().enumerate() {
        let t = tally.lock().expect("tally");
        assert!(
            t.ended.is_none(),
            "log stream {i} of session {s} ended early"
        );
        assert!(
            t.broken.is_none(),
            "log stream {i} of session {s}: {:?}",
            t.broken
        );
        assert!(
            t.count >= expected_lines * 9 / 10,
            "log stream {i} of session {s}: {} lines, about {expected_lines} written",
            t.count
        );
    }
    let reported = reported.count();
    eprintln!("pauses and unpauses: {caused} made, {reported} reported by the engine");
    assert!(
        reported >= caused,
        "the engine reported {reported} pauses and unpauses of the {caused} made"
    );
    for (i, (s, tally)) in events.iter().enumerate() {
        let t = tally.lock().expect("tally");
        assert!(
            t.ended.is_none(),
            "event stream {i} of session {s} ended early"
        );
        assert_eq!(
            t.ticks, reported,
            "event stream {i} of session {s}: every pause and unpause the engine reported ({caused} made)"
        );
    }

    // Memory flat: no higher at the end than a little above its level after the warm-up.
    let warm_kb = warm_kb.unwrap_or(end_kb);
    eprintln!(
        "console memory (s, kB): {memory:?}; open files {fds_open}; {} streams",
        logs.len() + events.len()
    );
    assert!(
        end_kb <= warm_kb + RISE_KB,
        "the console's memory rose from {warm_kb} kB after the warm-up to {end_kb} kB: {memory:?}"
    );

    // Logging each session out closes its streams at once.
    let mut by_session: HashMap<usize, Instant> = HashMap::new();
    for (s, session) in sessions.iter().enumerate() {
        by_session.insert(s, Instant::now());
        let out = session.post("/api/logout", &json!({})).await;
        assert!(out.status.is_success(), "logout: {}", out.text());
    }
    let all_ended = tokio::time::timeout(CLOSE_WITHIN, async {
        for reader in readers {
            let _ = reader.await;
        }
    })
    .await;
    let open_logs = logs
        .iter()
        .filter(|(_, t)| t.lock().expect("tally").ended.is_none())
        .count();
    let open_events = events
        .iter()
        .filter(|(_, t)| t.lock().expect("tally").ended.is_none())
        .count();
    assert!(
        all_ended.is_ok(),
        "{open_logs} log streams and {open_events} event streams still open {CLOSE_WITHIN:?} after their sessions ended"
    );
    for (s, tally) in &logs {
        let ended = tally.lock().expect("tally").ended.expect("ended");
        assert!(
            ended >= by_session[s],
            "a log stream ended before its logout"
        );
    }
    let after = eventually(
        "the console closes the streams' connections",
        SETTLE,
        || async {
            let now = open_fds(pid);
            if now + 150 <= fds_open {
                Ok(now)
            } else {
                Err(format!("{now} files open, {fds_open} during the flood"))
            }
        },
    )
    .await;
    eprintln!("open files after the logouts: {after}");
    drop(writers);
}
