//! A container's log: its last lines as text, or followed as server-sent events, a line
//! an event, for as long as the browser listens.

use axum::extract::{Path, Query, State};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;

use super::cluster::{served_by, Cluster, AGENT_TIMEOUT};
use super::docker_stream::{demux, MAX_OUTPUT};
use super::sse::{sse_data, sse_response};
use super::{flag, ApiError, ApiResult, Authed, Shared, CLUSTER};
use crate::agent::Call;

/// The longest line sent as one event, for output that has no newlines.
const MAX_LINE: usize = 64 * 1024;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/containers/{{cid}}/logs"), get(logs))
}

#[derive(Deserialize)]
struct LogsQuery {
    tail: Option<String>,
    follow: Option<String>,
    timestamps: Option<String>,
}

async fn logs(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let (cluster, cid) = Cluster::for_object(&app, id, &cid, &who).await?;
    let tail = match q.tail.as_deref() {
        None | Some("") => "200".to_owned(),
        Some("all") => "all".to_owned(),
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| ApiError::bad("tail is a number or \"all\""))?
            .to_string(),
    };
    let follow = flag(q.follow.as_deref());
    let timestamps = flag(q.timestamps.as_deref());
    let (headers, inspect) = cluster
        .json(Call::get(format!("/containers/{cid}/json")), AGENT_TIMEOUT)
        .await?;
    let tty = inspect["Config"]["Tty"] == true;
    // Read where the inspect came from, by full ID.
    let full_id = inspect["Id"].as_str().unwrap_or(cid);
    let path = format!(
        "/containers/{full_id}/logs?stdout=1&stderr=1&tail={tail}&follow={follow}&timestamps={timestamps}"
    );
    let call = Call::get(path).on(served_by(&headers).unwrap_or_default());
    let body = cluster.open_stream(call).await?.into_body();
    if follow {
        return Ok(sse_response(&who, move |tx| follow_lines(body, tty, tx)));
    }
    let raw = tokio::time::timeout(
        AGENT_TIMEOUT,
        http_body_util::Limited::new(body, MAX_OUTPUT).collect(),
    )
    .await
    .map_err(|_| ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the logs took too long"))?
    .map_err(|_| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the log is over 32 MiB: ask for fewer lines with tail",
        )
    })?
    .to_bytes();
    let text = if tty { raw.to_vec() } else { demux(&raw).0 };
    Ok((
        [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
        String::from_utf8_lossy(&text).into_owned(),
    )
        .into_response())
}

/// Sends each line of a followed log as an event until the log or the browser ends.
async fn follow_lines(mut body: Incoming, tty: bool, tx: tokio::sync::mpsc::Sender<bytes::Bytes>) {
    let mut pending: Vec<u8> = Vec::new();
    let mut line = Vec::new();
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            // The browser left: stop reading, and the agent's stream closes.
            _ = tx.closed() => return,
        };
        let Some(Ok(frame)) = frame else { break };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.extend_from_slice(data);
        let text = if tty {
            std::mem::take(&mut pending)
        } else {
            let (out, rest) = demux(&pending);
            pending = rest.to_vec();
            out
        };
        for b in text {
            if b != b'\n' {
                line.push(b);
            }
            // A line ends at a newline, or at MAX_LINE for output that has none.
            if b == b'\n' || line.len() >= MAX_LINE {
                let event = sse_data(&String::from_utf8_lossy(&line));
                line.clear();
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
    if !line.is_empty() {
        let _ = tx.send(sse_data(&String::from_utf8_lossy(&line))).await;
    }
}
