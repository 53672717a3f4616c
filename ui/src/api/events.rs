//! A cluster's engine events, live, as server-sent events; each names its node. With
//! `since`, the engines first send what happened since then, in the same stream, so that
//! history and live events meet without a gap or a repeat.

use std::time::Duration;

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::Value;

use super::cluster::{name_node, Cluster};
use super::sse::{sse_data, sse_response};
use super::{ApiError, ApiResult, Authed, Shared, CLUSTER};
use crate::agent::Call;

/// How often a quiet stream gets a comment, so that nothing between closes it.
const KEEP_ALIVE: Duration = Duration::from_secs(15);

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/events"), get(events))
}

#[derive(Deserialize)]
struct EventsQuery {
    /// Unix seconds, with an optional fraction: the engines' own `since`.
    since: Option<String>,
}

async fn events(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    Query(q): Query<EventsQuery>,
) -> ApiResult<Response> {
    let path = match q.since.as_deref().map(str::trim) {
        None | Some("") => "/events".to_owned(),
        Some(since) => format!("/events?since={}", unix_time(since)?),
    };
    let cluster = Cluster::open(&app, id, &who).await?;
    let sole = cluster.sole_node().await;
    let body = cluster.open_stream(Call::get(path)).await?.into_body();
    Ok(sse_response(&who, move |tx| relay(body, sole, tx)))
}

/// `since` checked: Unix seconds, optionally with up to nine decimals.
fn unix_time(since: &str) -> ApiResult<&str> {
    let (whole, fraction) = since.split_once('.').unwrap_or((since, "0"));
    let digits = |s: &str, max: usize| {
        !s.is_empty() && s.len() <= max && s.bytes().all(|b| b.is_ascii_digit())
    };
    if digits(whole, 12) && digits(fraction, 9) {
        Ok(since)
    } else {
        Err(ApiError::bad(format!(
            "since: {since:?} is not a time in Unix seconds"
        )))
    }
}

/// Sends each of the agent's events on, naming the standalone agent's node where the
/// event names none, until the agent or the browser ends the stream.
async fn relay(mut body: Incoming, sole: Option<String>, tx: tokio::sync::mpsc::Sender<Bytes>) {
    // A comment first, so the browser knows the stream is open.
    if tx.send(Bytes::from_static(b": open\n\n")).await.is_err() {
        return;
    }
    let mut pending: Vec<u8> = Vec::new();
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = tx.closed() => return,
            _ = tokio::time::sleep(KEEP_ALIVE) => {
                if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                    return;
                }
                continue;
            }
        };
        let Some(Ok(frame)) = frame else { break };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.extend_from_slice(data);
        while let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=at).collect();
            let text = String::from_utf8_lossy(&line);
            let text = text.trim();
            if text.is_empty() {
                continue;
            }
            let event = match (&sole, serde_json::from_str::<Value>(text)) {
                (Some(node), Ok(mut event)) if event["Agent"]["NodeName"].is_null() => {
                    name_node(&mut event, node);
                    sse_data(&event.to_string())
                }
                _ => sse_data(text),
            };
            if tx.send(event).await.is_err() {
                return;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn since_is_unix_seconds() {
        assert!(unix_time("1700000000").is_ok());
        assert!(unix_time("1700000000.123456789").is_ok());
        for bad in ["", "-1", "1h", "1700000000.", "17e8", "1;rm"] {
            assert!(unix_time(bad).is_err(), "{bad}");
        }
    }
}
