//! Several containers' logs as one, across the cluster's nodes: the containers of a
//! Compose project, a Swarm service, a label or a list, found through the agent's merged
//! list, each one's log read from its node, and the lines merged by their timestamps and
//! tagged with container and node.
//!
//! The history (up to the moment of the request) is read whole and sent strictly in
//! order. Followed lines come as the nodes send them; they wait in a short reorder window
//! so that lines from different nodes still go out in timestamp order.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::Arc;
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use axum::extract::{Path, Query, State};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc;

use super::cluster::{Cluster, AGENT_TIMEOUT};
use super::logs::engine_time_arg;
use super::sse::{sse_data, sse_response};
use super::{flag, ApiError, ApiResult, Authed, Shared, CLUSTER};
use crate::agent::docker_stream::{engine_time, LogLine, LogReader, MAX_OUTPUT};
use crate::agent::Call;

/// The most containers merged into one view.
const MAX_CONTAINERS: usize = 50;
/// How long a followed line waits for earlier ones from slower nodes.
const REORDER_WINDOW: Duration = Duration::from_millis(750);
/// A line is sent after this however its timestamp compares, so that a node whose clock
/// runs ahead cannot hold the view back.
const MAX_HOLD: Duration = Duration::from_secs(3);
/// The lines of each container's history when no tail is given.
const DEFAULT_TAIL: u32 = 100;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/logs"), get(merged))
}

#[derive(Deserialize)]
struct MergedQuery {
    /// A Compose project's name.
    project: Option<String>,
    /// A Swarm service's name.
    service: Option<String>,
    /// `KEY` or `KEY=VALUE`.
    label: Option<String>,
    /// Container names or IDs, separated by commas.
    containers: Option<String>,
    tail: Option<String>,
    follow: Option<String>,
    since: Option<String>,
}

/// One container of the view: where its log is read.
#[derive(Debug, Clone)]
struct Source {
    id: String,
    name: Arc<str>,
    node: Arc<str>,
}

/// A line and whose it is.
struct Tagged {
    line: LogLine,
    source: Arc<Source>,
}

impl Tagged {
    fn event(&self) -> Bytes {
        let data = json!({
            "t": self.line.stamp, "container": &*self.source.name, "node": &*self.source.node,
            "stream": self.line.source.as_str(), "line": self.line.text,
        });
        sse_data(&data.to_string())
    }
}

/// Which containers: the label filter to list them with, or the names asked for.
enum Selector {
    Label(String),
    Named(Vec<String>),
}

impl Selector {
    fn of(q: &MergedQuery) -> ApiResult<Self> {
        let given = [&q.project, &q.service, &q.label, &q.containers]
            .iter()
            .filter(|v| v.as_deref().is_some_and(|v| !v.trim().is_empty()))
            .count();
        if given != 1 {
            return Err(ApiError::bad(
                "give one of project, service, label or containers",
            ));
        }
        let clean = |v: &str| {
            let v = v.trim();
            if v.len() > 256 || v.chars().any(char::is_control) {
                Err(ApiError::bad(
                    "a selector is at most 256 printable characters",
                ))
            } else {
                Ok(v.to_owned())
            }
        };
        if let Some(p) = q.project.as_deref().filter(|v| !v.trim().is_empty()) {
            return Ok(Self::Label(format!(
                "com.docker.compose.project={}",
                clean(p)?
            )));
        }
        if let Some(s) = q.service.as_deref().filter(|v| !v.trim().is_empty()) {
            return Ok(Self::Label(format!(
                "com.docker.swarm.service.name={}",
                clean(s)?
            )));
        }
        if let Some(l) = q.label.as_deref().filter(|v| !v.trim().is_empty()) {
            return Ok(Self::Label(clean(l)?));
        }
        let names = q.containers.as_deref().unwrap_or_default();
        let names: Vec<String> = names
            .split(',')
            .map(|n| super::cluster::container_ref(n.trim()).map(str::to_owned))
            .collect::<ApiResult<_>>()?;
        Ok(Self::Named(names))
    }

    fn list_path(&self) -> String {
        let filters = match self {
            Self::Label(label) => json!({ "label": [label] }).to_string(),
            Self::Named(_) => return "/containers/json?all=1".to_owned(),
        };
        let encoded =
            percent_encoding::utf8_percent_encode(&filters, percent_encoding::NON_ALPHANUMERIC);
        format!("/containers/json?all=1&filters={encoded}")
    }

    fn picks(&self, item: &Value) -> bool {
        let Self::Named(names) = self else {
            return true;
        };
        let id = item["Id"].as_str().unwrap_or_default();
        let own: Vec<&str> = item["Names"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(Value::as_str)
                    .map(|n| n.trim_start_matches('/'))
                    .collect()
            })
            .unwrap_or_default();
        names
            .iter()
            .any(|n| own.contains(&n.as_str()) || (n.len() >= 12 && id.starts_with(n.as_str())))
    }
}

/// The containers the selector finds, through the agent's cluster-wide list.
async fn find(cluster: &Cluster<'_>, selector: &Selector) -> ApiResult<Vec<Arc<Source>>> {
    let (_, list) = cluster
        .json(Call::get(selector.list_path()), AGENT_TIMEOUT)
        .await?;
    let sole = cluster.sole_node().await.unwrap_or_default();
    let mut found: Vec<Arc<Source>> = list
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter(|item| selector.picks(item))
        .filter_map(|item| {
            let id = item["Id"].as_str()?.to_owned();
            let name = item["Names"][0]
                .as_str()
                .map_or(&id[..], |n| n.trim_start_matches('/'))
                .into();
            let node = item["Agent"]["NodeName"].as_str().unwrap_or(&sole).into();
            Some(Arc::new(Source { id, name, node }))
        })
        .collect();
    if found.is_empty() {
        return Err(ApiError::new(
            axum::http::StatusCode::NOT_FOUND,
            "no container matches",
        ));
    }
    if found.len() > MAX_CONTAINERS {
        return Err(ApiError::bad(format!(
            "{} containers match; a merged view takes at most {MAX_CONTAINERS}",
            found.len()
        )));
    }
    found.sort_by(|a, b| a.name.cmp(&b.name));
    Ok(found)
}

fn now_nanos() -> i128 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_nanos() as i128)
}

async fn merged(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    Query(q): Query<MergedQuery>,
) -> ApiResult<Response> {
    let selector = Selector::of(&q)?;
    let tail = match q.tail.as_deref() {
        None | Some("") => DEFAULT_TAIL.to_string(),
        Some("all") => "all".to_owned(),
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| ApiError::bad("tail is a number or \"all\""))?
            .to_string(),
    };
    let since = engine_time_arg("since", q.since.as_deref())?;
    let follow = flag(q.follow.as_deref());
    let cluster = Cluster::open(&app, id, &who).await?;
    let sources = find(&cluster, &selector).await?;
    // The history ends at this instant and the followed part starts just after it, so
    // that no line is in both and none between.
    let cut = now_nanos();
    let mut history = Vec::new();
    let mut notices = Vec::new();
    let reads = sources.iter().map(|source| {
        let mut path = format!(
            "/containers/{}/logs?stdout=1&stderr=1&timestamps=1&tail={tail}&until={}",
            source.id,
            engine_time(cut)
        );
        if let Some(since) = &since {
            path.push_str(&format!("&since={since}"));
        }
        read_history(&cluster, Arc::clone(source), path)
    });
    for (source, read) in sources
        .iter()
        .zip(futures_util::future::join_all(reads).await)
    {
        match read {
            Ok(lines) => history.extend(lines),
            Err(e) => notices.push(notice(source, &e.message)),
        }
    }
    // Stable: lines of one container at the same instant keep their order.
    history.sort_by_key(|t| t.line.nanos);
    let mut live = Vec::new();
    if follow {
        let cluster = &cluster;
        let opens = sources.iter().map(|source| {
            let path = format!(
                "/containers/{}/logs?stdout=1&stderr=1&timestamps=1&follow=1&since={}",
                source.id,
                engine_time(cut + 1)
            );
            async move { cluster.open_stream(Call::get(path).on(&source.node)).await }
        });
        let opened = futures_util::future::join_all(opens).await;
        for (source, open) in sources.iter().zip(opened) {
            match open {
                Ok(resp) => live.push((Arc::clone(source), resp.into_body())),
                Err(e) => notices.push(notice(source, &e.to_string())),
            }
        }
    }
    Ok(sse_response(&who, move |tx| async move {
        for event in notices.into_iter().chain(history.iter().map(Tagged::event)) {
            if tx.send(event).await.is_err() {
                return;
            }
        }
        // A followed log that broke (rather than ended) ends the stream without `end`, so
        // that the page asks again from its newest line.
        if follow && follow_merged(live, &tx).await == Followed::Broke {
            return;
        }
        let _ = tx.send(Bytes::from_static(b"event: end\ndata: \n\n")).await;
    }))
}

/// A line about a container whose log could not be read.
fn notice(source: &Source, message: &str) -> Bytes {
    let text = json!({"container": &*source.name, "node": &*source.node, "message": message});
    let mut event = b"event: notice\n".to_vec();
    event.extend_from_slice(&sse_data(&text.to_string()));
    Bytes::from(event)
}

/// One container's log up to the cut, read whole.
async fn read_history(
    cluster: &Cluster<'_>,
    source: Arc<Source>,
    path: String,
) -> ApiResult<Vec<Tagged>> {
    let body = cluster
        .open_stream(Call::get(path).on(&source.node))
        .await?
        .into_body();
    let limit = MAX_OUTPUT / MAX_CONTAINERS;
    let raw = tokio::time::timeout(
        AGENT_TIMEOUT,
        http_body_util::Limited::new(body, limit).collect(),
    )
    .await
    .map_err(|_| {
        ApiError::new(
            axum::http::StatusCode::GATEWAY_TIMEOUT,
            "the log took too long",
        )
    })?
    .map_err(|_| ApiError::bad("the log is too long: ask for fewer lines with tail"))?
    .to_bytes();
    let mut reader = LogReader::new(false);
    let mut lines = reader.push(&raw);
    lines.extend(reader.finish());
    Ok(lines
        .into_iter()
        .map(|line| Tagged {
            line,
            source: Arc::clone(&source),
        })
        .collect())
}

/// A followed line waiting in the reorder window.
struct Waiting {
    nanos: i128,
    seq: u64,
    arrived: Instant,
    tagged: Tagged,
}

impl PartialEq for Waiting {
    fn eq(&self, other: &Self) -> bool {
        (self.nanos, self.seq) == (other.nanos, other.seq)
    }
}
impl Eq for Waiting {}
impl PartialOrd for Waiting {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for Waiting {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.nanos, self.seq).cmp(&(other.nanos, other.seq))
    }
}

/// Reads every container's followed log and sends the lines in timestamp order, each
/// after the reorder window, until every log or the browser ends.
/// How a followed log stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Followed {
    /// Its container stopped, or nobody listens any more.
    Ended,
    /// The stream from the agent broke: the log goes on, unread.
    Broke,
}

async fn follow_merged(
    live: Vec<(Arc<Source>, hyper::body::Incoming)>,
    tx: &mpsc::Sender<Bytes>,
) -> Followed {
    let (lines_tx, mut lines_rx) = mpsc::channel::<Tagged>(256);
    // Dropped when this returns: each reader ends with it.
    let mut readers = tokio::task::JoinSet::new();
    for (source, body) in live {
        readers.spawn(read_followed(source, body, lines_tx.clone()));
    }
    drop(lines_tx);
    let mut waiting = BinaryHeap::new();
    let mut seq = 0u64;
    let mut tick = tokio::time::interval(Duration::from_millis(100));
    let mut open = true;
    let mut how = Followed::Ended;
    while open || !waiting.is_empty() {
        tokio::select! {
            line = lines_rx.recv(), if open => match line {
                Some(tagged) => {
                    seq += 1;
                    waiting.push(Reverse(Waiting {
                        nanos: tagged.line.nanos, seq, arrived: Instant::now(), tagged,
                    }));
                }
                None => open = false,
            },
            Some(done) = readers.join_next(), if open => {
                if done.unwrap_or(Followed::Broke) == Followed::Broke {
                    // What has arrived goes out, in order, then the page resumes every log
                    // from its newest line.
                    while let Ok(tagged) = lines_rx.try_recv() {
                        seq += 1;
                        waiting.push(Reverse(Waiting {
                            nanos: tagged.line.nanos, seq, arrived: Instant::now(), tagged,
                        }));
                    }
                    how = Followed::Broke;
                    open = false;
                }
            },
            _ = tick.tick() => {}
            _ = tx.closed() => return Followed::Ended,
        }
        let due = now_nanos() - REORDER_WINDOW.as_nanos() as i128;
        while let Some(Reverse(first)) = waiting.peek() {
            let ready = !open || first.nanos <= due || first.arrived.elapsed() >= MAX_HOLD;
            if !ready {
                break;
            }
            let Some(Reverse(first)) = waiting.pop() else {
                break;
            };
            if tx.send(first.tagged.event()).await.is_err() {
                return Followed::Ended;
            }
        }
    }
    // Every reader has returned once the lines' channel closed: how each stopped decides,
    // whichever branch above saw it first.
    while let Some(done) = readers.join_next().await {
        if done.unwrap_or(Followed::Broke) == Followed::Broke {
            how = Followed::Broke;
        }
    }
    how
}

/// One container's followed log, as tagged lines, until it ends or nobody listens.
async fn read_followed(
    source: Arc<Source>,
    mut body: hyper::body::Incoming,
    out: mpsc::Sender<Tagged>,
) -> Followed {
    let mut reader = LogReader::new(false);
    let how = loop {
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = out.closed() => return Followed::Ended,
        };
        let frame = match frame {
            None => break Followed::Ended,
            Some(Err(_)) => break Followed::Broke,
            Some(Ok(frame)) => frame,
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        for line in reader.push(data) {
            let tagged = Tagged {
                line,
                source: Arc::clone(&source),
            };
            if out.send(tagged).await.is_err() {
                return Followed::Ended;
            }
        }
    };
    for line in reader.finish() {
        let tagged = Tagged {
            line,
            source: Arc::clone(&source),
        };
        let _ = out.send(tagged).await;
    }
    how
}
