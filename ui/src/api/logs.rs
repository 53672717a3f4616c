//! A container's log: its last lines as text, the whole of it (or a range) as a file, or
//! its lines as server-sent events, each naming its stream and carrying a cursor
//! (`log_cursor.rs`) from which a dropped follow resumes without repeating or losing a
//! line.

use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{header, HeaderMap, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;

use super::cluster::{served_by, Cluster, AGENT_TIMEOUT};
use super::log_cursor::Cursor;
use super::sse::{sse_data, sse_response};
use super::{flag, ApiError, ApiResult, Authed, Shared, CLUSTER};
use crate::agent::docker_stream::{
    demux, engine_time, parse_stamp, LogLine, LogReader, Source, MAX_OUTPUT,
};
use crate::agent::Call;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(&format!("{CLUSTER}/containers/{{cid}}/logs"), get(logs))
        .route(
            &format!("{CLUSTER}/containers/{{cid}}/logs/download"),
            get(download),
        )
}

#[derive(Deserialize)]
struct LogsQuery {
    tail: Option<String>,
    follow: Option<String>,
    timestamps: Option<String>,
    since: Option<String>,
    until: Option<String>,
    /// Events even when not following: the lines with their streams, then an `end`.
    events: Option<String>,
    /// Where a dropped follow stopped: the `id` of the last event it got (the same as the
    /// `Last-Event-ID` a browser sends when it reconnects).
    after: Option<String>,
}

/// A time as the engine takes it: RFC 3339, or seconds since the epoch (with a fraction).
pub(super) fn engine_time_arg(name: &str, value: Option<&str>) -> ApiResult<Option<String>> {
    let Some(value) = value.map(str::trim).filter(|v| !v.is_empty()) else {
        return Ok(None);
    };
    if let Some(nanos) = parse_stamp(value) {
        return Ok(Some(engine_time(nanos)));
    }
    let (secs, frac) = value.split_once('.').unwrap_or((value, ""));
    let digits = |s: &str| s.bytes().all(|b| b.is_ascii_digit());
    if !secs.is_empty() && digits(secs) && digits(frac) && frac.len() <= 9 && secs.len() <= 12 {
        return Ok(Some(value.to_owned()));
    }
    Err(ApiError::bad(format!(
        "{name} is an RFC 3339 time or seconds since the epoch"
    )))
}

/// What is asked of the engine's log.
struct LogAsk {
    tail: String,
    follow: bool,
    timestamps: bool,
    since: Option<String>,
    until: Option<String>,
}

/// A container's log stream from its node: whether it is a TTY's, its name, and the body.
async fn open_log(
    cluster: &Cluster<'_>,
    cid: &str,
    ask: &LogAsk,
) -> ApiResult<(bool, String, Incoming)> {
    let (headers, inspect) = cluster
        .json(Call::get(format!("/containers/{cid}/json")), AGENT_TIMEOUT)
        .await?;
    let tty = inspect["Config"]["Tty"] == true;
    // Read where the inspect came from, by full ID.
    let full_id = inspect["Id"].as_str().unwrap_or(cid);
    let name = inspect["Name"]
        .as_str()
        .map_or(cid, |n| n.trim_start_matches('/'))
        .to_owned();
    let mut path = format!(
        "/containers/{full_id}/logs?stdout=1&stderr=1&tail={}&follow={}&timestamps={}",
        ask.tail, ask.follow, ask.timestamps
    );
    for (key, value) in [("since", &ask.since), ("until", &ask.until)] {
        if let Some(value) = value {
            path.push_str(&format!("&{key}={value}"));
        }
    }
    let call = Call::get(path).on(served_by(&headers).unwrap_or_default());
    let body = cluster.open_stream(call).await?.into_body();
    Ok((tty, name, body))
}

fn tail_arg(tail: Option<&str>) -> ApiResult<String> {
    Ok(match tail {
        None | Some("") => "200".to_owned(),
        Some("all") => "all".to_owned(),
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| ApiError::bad("tail is a number or \"all\""))?
            .to_string(),
    })
}

async fn logs(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<LogsQuery>,
    headers: HeaderMap,
) -> ApiResult<Response> {
    let (cluster, cid) = Cluster::for_object(&app, id, &cid, &who).await?;
    let follow = flag(q.follow.as_deref());
    let events = follow || flag(q.events.as_deref());
    let resume = q
        .after
        .as_deref()
        .or_else(|| headers.get("last-event-id").and_then(|v| v.to_str().ok()));
    let cursor = match resume.filter(|r| !r.trim().is_empty()) {
        Some(text) => Some(Cursor::parse(text).ok_or_else(|| {
            ApiError::bad("after is the id of a log event, as the event stream gave it")
        })?),
        None => None,
    };
    let mut ask = LogAsk {
        tail: tail_arg(q.tail.as_deref())?,
        follow,
        // Events always carry their timestamp, in their id.
        timestamps: events || flag(q.timestamps.as_deref()),
        since: engine_time_arg("since", q.since.as_deref())?,
        until: engine_time_arg("until", q.until.as_deref())?,
    };
    if let Some(cursor) = &cursor {
        ask.tail = "all".to_owned();
        ask.since = Some(engine_time(cursor.since()));
    }
    let (tty, _, body) = open_log(&cluster, cid, &ask).await?;
    if events {
        let shown = EventLines {
            reader: LogReader::new(tty),
            cursor,
            timestamps: flag(q.timestamps.as_deref()),
        };
        return Ok(sse_response(&who, move |tx| send_lines(body, shown, tx)));
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
            "the log is over 32 MiB: ask for fewer lines with tail, or download it",
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

/// How a log's lines become events.
struct EventLines {
    reader: LogReader,
    cursor: Option<Cursor>,
    /// The timestamp before each line's text too, as `docker logs -t` shows it.
    timestamps: bool,
}

impl EventLines {
    /// The event of `line`, or `None` for a line sent before the cursor.
    fn event(&mut self, line: &LogLine) -> Option<Bytes> {
        if !Cursor::advance(&mut self.cursor, line) {
            return None;
        }
        let mut out = String::new();
        if let Some(cursor) = &self.cursor {
            out.push_str("id: ");
            out.push_str(&cursor.id(line));
            out.push('\n');
        }
        if line.source == Source::Stderr {
            out.push_str("event: stderr\n");
        }
        let data = if self.timestamps && !line.stamp.is_empty() {
            sse_data(&format!("{} {}", line.stamp, line.text))
        } else {
            sse_data(&line.text)
        };
        let mut bytes = out.into_bytes();
        bytes.extend_from_slice(&data);
        Some(Bytes::from(bytes))
    }
}

/// The event that says the log ended, so that a browser does not reconnect.
fn end_event() -> Bytes {
    Bytes::from_static(b"event: end\ndata: \n\n")
}

/// Sends each line of a log as an event until the log or the browser ends.
async fn send_lines(
    mut body: Incoming,
    mut shown: EventLines,
    tx: tokio::sync::mpsc::Sender<Bytes>,
) {
    loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            // The browser left: stop reading, and the agent's stream closes.
            _ = tx.closed() => return,
        };
        let frame = match frame {
            Some(Ok(frame)) => frame,
            None => break,
            // The agent's stream broke (not the log's end): no `end`, so that the browser
            // reconnects and resumes from its last event.
            Some(Err(e)) => {
                tracing::debug!(error = %e, "a followed log broke off");
                return;
            }
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        for line in shown.reader.push(data) {
            if let Some(event) = shown.event(&line) {
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    }
    for line in shown.reader.finish() {
        if let Some(event) = shown.event(&line) {
            let _ = tx.send(event).await;
        }
    }
    let _ = tx.send(end_event()).await;
}

#[derive(Deserialize)]
struct DownloadQuery {
    timestamps: Option<String>,
    since: Option<String>,
    until: Option<String>,
}

/// The whole log (or the range asked for) as a file, streamed as the engine sends it.
async fn download(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<DownloadQuery>,
) -> ApiResult<Response> {
    let (cluster, cid) = Cluster::for_object(&app, id, &cid, &who).await?;
    let ask = LogAsk {
        tail: "all".to_owned(),
        follow: false,
        timestamps: flag(q.timestamps.as_deref()),
        since: engine_time_arg("since", q.since.as_deref())?,
        until: engine_time_arg("until", q.until.as_deref())?,
    };
    let (tty, name, body) = open_log(&cluster, cid, &ask).await?;
    let stream = futures_util::stream::unfold(
        (body, Vec::<u8>::new(), false),
        move |(mut body, mut pending, done)| async move {
            if done {
                return None;
            }
            loop {
                match body.frame().await {
                    Some(Ok(frame)) => {
                        let Some(data) = frame.data_ref() else {
                            continue;
                        };
                        if tty {
                            return Some((Ok(data.clone()), (body, pending, false)));
                        }
                        pending.extend_from_slice(data);
                        let (out, rest) = demux(&pending);
                        pending = rest.to_vec();
                        if !out.is_empty() {
                            return Some((Ok(Bytes::from(out)), (body, pending, false)));
                        }
                    }
                    Some(Err(e)) => {
                        // Cut short: the file must not look complete.
                        let error = std::io::Error::other(e.to_string());
                        return Some((Err(error), (body, pending, true)));
                    }
                    None => return None,
                }
            }
        },
    );
    // Container names are letters, digits and `_.-`: safe in the header as they are.
    let file = format!("attachment; filename=\"{name}.log\"");
    Response::builder()
        .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
        .header(header::CONTENT_DISPOSITION, file)
        .body(Body::from_stream(stream))
        .map_err(|e| ApiError::internal(e.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn times_are_rfc3339_or_epoch_seconds() {
        assert_eq!(
            engine_time_arg("since", Some("1700000000.5")).expect("ok"),
            Some("1700000000.5".to_owned())
        );
        assert_eq!(
            engine_time_arg("since", Some("2023-11-14T22:13:20Z")).expect("ok"),
            Some("1700000000.000000000".to_owned())
        );
        assert!(engine_time_arg("since", Some("yesterday")).is_err());
        assert!(engine_time_arg("since", Some("1&x=1")).is_err());
        assert_eq!(engine_time_arg("since", None).expect("ok"), None);
    }
}
