//! Fan-out of list requests to every node, and the merge of their answers: each node's
//! part arrives within the deadline or is left out, and the answer says which were.

pub mod events;
pub mod merge;

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio::task::JoinSet;

use crate::auth::Identity;
use crate::body::Body;
use crate::cluster::token::HEADER as AGENT_TOKEN;
use crate::cluster::Node;
use crate::engine::EngineError;
use crate::proxy::headers::STRICT;
use crate::proxy::{Proxy, ProxyError};
use crate::route::FanOut;
use merge::{ListQuery, NodeAnswer};

/// Names the nodes left out of a merged answer, and why.
pub const PARTIAL: &str = "x-agent-partial";

/// How one node's part of a fan-out ended.
enum Outcome {
    Answered(Bytes),
    /// The node's engine refused the request itself (a bad filter, say).
    Refused {
        status: u16,
        message: String,
    },
    Failed(String),
}

/// `GET path` on every node at once, each within the fan-out deadline.
async fn gather(
    proxy: &Proxy,
    nodes: &[Node],
    identity: &Identity,
    path: &str,
) -> Result<Vec<Outcome>, ProxyError> {
    let deadline = proxy.fanout_deadline;
    let mut tasks = JoinSet::new();
    for (i, node) in nodes.iter().enumerate() {
        let upstream = proxy.upstream_of(node);
        let headers: Vec<(&'static str, String)> = if node.local {
            Vec::new()
        } else {
            let token =
                proxy.agent_token(identity, &node.meta.node_name, &http::Method::GET, path)?;
            vec![(AGENT_TOKEN, token.to_str().unwrap_or_default().to_owned())]
        };
        let path = path.to_owned();
        tasks.spawn(async move {
            let outcome =
                match tokio::time::timeout(deadline, upstream.get_with(&path, &headers, deadline))
                    .await
                {
                    Ok(Ok(bytes)) => Outcome::Answered(bytes),
                    Ok(Err(EngineError::Status {
                        status, message, ..
                    })) if (400..500).contains(&status) => Outcome::Refused { status, message },
                    Ok(Err(e)) => Outcome::Failed(e.to_string()),
                    Err(_) => Outcome::Failed(format!("no answer within {}", secs(deadline))),
                };
            (i, outcome)
        });
    }
    let mut outcomes: Vec<Option<Outcome>> = (0..nodes.len()).map(|_| None).collect();
    while let Some(joined) = tasks.join_next().await {
        if let Ok((i, outcome)) = joined {
            outcomes[i] = Some(outcome);
        }
    }
    Ok(outcomes
        .into_iter()
        .map(|o| o.unwrap_or_else(|| Outcome::Failed("the look-up task failed".into())))
        .collect())
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f32())
}

/// `GET path` on every node; the index and body of each that answered 2xx.
pub async fn look_up(
    proxy: &Proxy,
    nodes: &[Node],
    identity: &Identity,
    path: &str,
) -> Vec<(usize, Bytes)> {
    match gather(proxy, nodes, identity, path).await {
        Ok(outcomes) => outcomes
            .into_iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Outcome::Answered(body) => Some((i, body)),
                _ => None,
            })
            .collect(),
        Err(_) => Vec::new(),
    }
}

/// Serves a list request for the whole cluster; `missing` are nodes known to be down,
/// named in the answer as left out.
pub async fn fan_out(
    proxy: &Proxy,
    nodes: &[Node],
    missing: &[String],
    kind: FanOut,
    identity: &Identity,
    req: Request<Body>,
) -> Result<Response<Body>, ProxyError> {
    let strict = req
        .headers()
        .get(STRICT)
        .is_some_and(|v| v.as_bytes() == b"1" || v.as_bytes().eq_ignore_ascii_case(b"true"));
    let path = req
        .uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| req.uri().path().to_owned());
    if kind == FanOut::Events {
        return events_stream(proxy, nodes, identity, &path, strict).await;
    }
    let outcomes = gather(proxy, nodes, identity, &path).await?;
    let mut answers = Vec::with_capacity(nodes.len());
    let mut failures = Vec::new();
    let mut refusal = None;
    for (node, outcome) in nodes.iter().zip(outcomes) {
        let name = node.meta.node_name.clone();
        match outcome {
            Outcome::Answered(body) => answers.push(NodeAnswer { node: name, body }),
            Outcome::Refused { status, message } => {
                refusal.get_or_insert((status, message.clone()));
                failures.push((name, message));
            }
            Outcome::Failed(reason) => failures.push((name, reason)),
        }
    }
    failures.extend(missing.iter().map(|name| {
        (
            name.clone(),
            "node down: its agent stopped answering".to_owned(),
        )
    }));
    if answers.is_empty() {
        if let Some((status, message)) = refusal {
            // Every engine refused the query alike: pass its answer on.
            let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
            return Ok(crate::proxy::json_error(status, &message));
        }
    }
    if (strict || answers.is_empty()) && !failures.is_empty() {
        return Err(ProxyError::Partial(format!(
            "nodes failed: {}",
            describe(&failures)
        )));
    }
    if kind == FanOut::Containers {
        for answer in &answers {
            for id in container_ids(&answer.body) {
                proxy.index.remember_container(id, &answer.node);
            }
        }
    }
    let query = req.uri().query();
    let merged = match kind {
        FanOut::Containers => merge::containers(&answers, &ListQuery::from_query(query)),
        FanOut::Images => merge::images(&answers),
        FanOut::Volumes => merge::volumes(&answers),
        FanOut::Networks => merge::networks(&answers),
        FanOut::SystemDf => merge::system_df(&answers),
        FanOut::Events => unreachable!("streamed above"),
    }
    .map_err(|e| ProxyError::BadUpstream(e.to_string()))?;
    let mut resp = Response::new(crate::body::full(merged));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    mark_partial(&mut resp, &failures);
    Ok(resp)
}

fn describe(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(node, reason)| format!("{node}: {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}

fn mark_partial(resp: &mut Response<Body>, failures: &[(String, String)]) {
    if failures.is_empty() {
        return;
    }
    tracing::warn!(failed = %describe(failures), "answering without some nodes");
    // Header values are visible ASCII: anything else in a reason is replaced.
    let text: String = describe(failures)
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() || c == ' ' {
                c
            } else {
                '?'
            }
        })
        .collect();
    if let Ok(value) = HeaderValue::from_str(&text) {
        resp.headers_mut().insert(PARTIAL, value);
    }
}

/// Full container IDs in a `/containers/json` answer, found without parsing it again: each
/// item's `"Id":"<64 hex>"`.
fn container_ids(body: &[u8]) -> impl Iterator<Item = &str> {
    const KEY: &[u8] = b"\"Id\":\"";
    let mut rest = body;
    std::iter::from_fn(move || loop {
        let at = rest.windows(KEY.len()).position(|w| w == KEY)?;
        let start = at + KEY.len();
        let candidate = rest.get(start..start + 64);
        rest = &rest[start..];
        if let Some(id) = candidate {
            if id.iter().all(u8::is_ascii_hexdigit) {
                return std::str::from_utf8(id).ok();
            }
        }
    })
}

/// `GET /events` for the whole cluster: every node's stream, each event decorated with its
/// node, interleaved as they come; the stream ends when every node's has.
async fn events_stream(
    proxy: &Proxy,
    nodes: &[Node],
    identity: &Identity,
    path: &str,
    strict: bool,
) -> Result<Response<Body>, ProxyError> {
    let deadline = proxy.fanout_deadline;
    let mut opening = JoinSet::new();
    for (i, node) in nodes.iter().enumerate() {
        let upstream = proxy.upstream_of(node);
        let mut builder = Request::get(path).header(header::HOST, "docker");
        if !node.local {
            let token =
                proxy.agent_token(identity, &node.meta.node_name, &http::Method::GET, path)?;
            builder = builder.header(AGENT_TOKEN, token);
        }
        let req = builder
            .body(crate::body::empty())
            .map_err(|e| ProxyError::BadRequest(e.to_string()))?;
        opening.spawn(async move {
            let opened = match tokio::time::timeout(deadline, upstream.send(req)).await {
                Ok(Ok(resp)) if resp.status().is_success() => Ok(resp.into_body()),
                Ok(Ok(resp)) => Err(format!("answered {}", resp.status())),
                Ok(Err(e)) => Err(e.to_string()),
                Err(_) => Err(format!("no answer within {}", secs(deadline))),
            };
            (i, opened)
        });
    }
    let mut streams: Vec<(String, Incoming)> = Vec::new();
    let mut failures = Vec::new();
    while let Some(joined) = opening.join_next().await {
        let Ok((i, opened)) = joined else { continue };
        let name = nodes
            .get(i)
            .map(|n| n.meta.node_name.clone())
            .unwrap_or_default();
        match opened {
            Ok(body) => streams.push((name, body)),
            Err(reason) => failures.push((name, reason)),
        }
    }
    if (strict || streams.is_empty()) && !failures.is_empty() {
        return Err(ProxyError::Partial(format!(
            "nodes failed: {}",
            describe(&failures)
        )));
    }
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(64);
    for (node, body) in streams {
        tokio::spawn(relay_events(node, body, tx.clone()));
    }
    let mut resp = Response::new(Body::Channel(rx));
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    mark_partial(&mut resp, &failures);
    Ok(resp)
}

/// Copies one node's events into the merged stream until either side ends.
async fn relay_events(node: String, mut body: Incoming, tx: tokio::sync::mpsc::Sender<Bytes>) {
    use http_body_util::BodyExt;
    let mut decorator = events::EventDecorator::new(&node);
    loop {
        // A client that went away is noticed even while the node has nothing to say, so
        // that its stream is closed rather than kept open for nobody.
        let frame = tokio::select! {
            frame = body.frame() => frame,
            _ = tx.closed() => return,
        };
        let Some(frame) = frame else { break };
        let Ok(frame) = frame else {
            tracing::info!(%node, "event stream of a node broke off");
            break;
        };
        if let Ok(data) = frame.into_data() {
            let out = decorator.push(&data);
            if !out.is_empty() && tx.send(out).await.is_err() {
                return;
            }
        }
    }
    let rest = decorator.finish();
    if !rest.is_empty() {
        let _ = tx.send(rest).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_ids_are_found_in_a_list() {
        let a = "a".repeat(64);
        let b = "0123456789abcdef".repeat(4);
        let body = format!(
            r#"[{{"Id":"{a}","ImageID":"sha256:{b}","Names":["/x"]}},{{"Id":"short"}},{{"Id":"{b}"}}]"#
        );
        let ids: Vec<&str> = container_ids(body.as_bytes()).collect();
        assert_eq!(ids, vec![a.as_str(), b.as_str()]);
    }
}
