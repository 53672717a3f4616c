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
use crate::calls::Calls;
use crate::cluster::Node;
use crate::error::{json_error, ProxyError};
use crate::headers::STRICT;
use crate::owners::Index;
use crate::place::FanOut;
use crate::upstream::UpstreamError;
use merge::{ListQuery, NodeAnswer};

/// Names the nodes left out of a merged answer, and why.
pub const PARTIAL: http::HeaderName = http::HeaderName::from_static("x-agent-partial");

/// The nodes a merged answer was made without, in its extensions beside [`PARTIAL`], for
/// the agent's own metrics: found there without looking up a header in every answer.
#[derive(Debug, Clone)]
pub struct LeftOut(pub Vec<String>);

/// Why a node known to be down is left out of a cluster-wide answer.
pub const NODE_DOWN: &str = "node down: its agent stopped answering";

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

/// The nodes one request asks at once, on a client's behalf, each within a deadline.
pub struct Nodes<'a> {
    pub calls: &'a Calls,
    pub nodes: &'a [Node],
    pub identity: &'a Identity,
    pub deadline: Duration,
}

impl Nodes<'_> {
    /// `GET path` on every node at once, each within the deadline.
    async fn gather(&self, path: &str) -> Vec<Outcome> {
        self.gather_with(None, path).await
    }

    /// `GET path`, or the given method and body, on every node at once, each within the
    /// deadline.
    async fn gather_with(&self, send: Option<(&http::Method, &Bytes)>, path: &str) -> Vec<Outcome> {
        let deadline = self.deadline;
        let mut outcomes: Vec<Option<Outcome>> = (0..self.nodes.len()).map(|_| None).collect();
        let mut tasks = JoinSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let call = match send {
                None => self.calls.get(node, self.identity, path),
                Some((method, content)) => {
                    self.calls
                        .request(node, self.identity, method.clone(), path, content.clone())
                }
            };
            let (pool, req) = match call {
                Ok(call) => call,
                Err(e) => {
                    outcomes[i] = Some(Outcome::Failed(e.to_string()));
                    continue;
                }
            };
            tasks.spawn(async move {
                let outcome = match pool.read_answer(req, deadline).await {
                    Ok(bytes) => Outcome::Answered(bytes),
                    Err(UpstreamError::Status {
                        status, message, ..
                    }) if (400..500).contains(&status) => Outcome::Refused { status, message },
                    Err(UpstreamError::Timeout { .. }) => {
                        Outcome::Failed(format!("no answer within {}", secs(deadline)))
                    }
                    Err(e) => Outcome::Failed(e.to_string()),
                };
                (i, outcome)
            });
        }
        while let Some(joined) = tasks.join_next().await {
            if let Ok((i, outcome)) = joined {
                outcomes[i] = Some(outcome);
            }
        }
        outcomes
            .into_iter()
            .map(|o| o.unwrap_or_else(|| Outcome::Failed("the look-up task failed".into())))
            .collect()
    }

    /// `GET path` on every node: each node's answer, or why it has none.
    pub async fn each(&self, path: &str) -> Vec<Result<Bytes, String>> {
        self.each_with(None, path).await
    }

    /// [`Nodes::each`] with another method and a body.
    pub async fn each_with(
        &self,
        send: Option<(&http::Method, &Bytes)>,
        path: &str,
    ) -> Vec<Result<Bytes, String>> {
        self.gather_with(send, path)
            .await
            .into_iter()
            .map(|o| match o {
                Outcome::Answered(body) => Ok(body),
                Outcome::Refused { status, message } => Err(format!("{status}: {message}")),
                Outcome::Failed(reason) => Err(reason),
            })
            .collect()
    }

    /// `GET path` on every node; the index and body of each that answered 2xx.
    pub async fn look_up(&self, path: &str) -> Vec<(usize, Bytes)> {
        self.gather(path)
            .await
            .into_iter()
            .enumerate()
            .filter_map(|(i, o)| match o {
                Outcome::Answered(body) => Some((i, body)),
                _ => None,
            })
            .collect()
    }

    /// Serves a list request for the whole cluster; `missing` are nodes known to be down,
    /// named in the answer as left out. The containers listed are remembered in `owners`.
    pub async fn fan_out(
        &self,
        missing: &[String],
        kind: FanOut,
        owners: &Index,
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
            return self.events_stream(&path, strict).await;
        }
        let outcomes = self.gather(&path).await;
        let mut answers = Vec::with_capacity(self.nodes.len());
        let mut failures = Vec::new();
        let mut refusal = None;
        for (node, outcome) in self.nodes.iter().zip(outcomes) {
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
        failures.extend(
            missing
                .iter()
                .map(|name| (name.clone(), NODE_DOWN.to_owned())),
        );
        if answers.is_empty() {
            if let Some((status, message)) = refusal {
                // Every engine refused the query alike: pass its answer on.
                let status = StatusCode::from_u16(status).unwrap_or(StatusCode::BAD_REQUEST);
                return Ok(json_error(status, &message));
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
                    owners.remember_container(id, &answer.node);
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
    /// `GET /events` for the whole cluster: every node's stream, each event decorated with its
    /// node, interleaved as they come; the stream ends when every node's has.
    async fn events_stream(&self, path: &str, strict: bool) -> Result<Response<Body>, ProxyError> {
        let deadline = self.deadline;
        let mut opening = JoinSet::new();
        for (i, node) in self.nodes.iter().enumerate() {
            let (upstream, req) = self.calls.get(node, self.identity, path)?;
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
            let name = self
                .nodes
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
}

fn secs(d: Duration) -> String {
    format!("{} s", d.as_secs_f32())
}

fn describe(failures: &[(String, String)]) -> String {
    failures
        .iter()
        .map(|(node, reason)| format!("{node}: {reason}"))
        .collect::<Vec<_>>()
        .join("; ")
}

pub fn mark_partial(resp: &mut Response<Body>, failures: &[(String, String)]) {
    if failures.is_empty() {
        return;
    }
    let described = describe(failures);
    tracing::warn!(failed = %described, "answering without some nodes");
    // Header values are visible ASCII: anything else in a reason is replaced.
    let text: String = described
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
    resp.extensions_mut().insert(LeftOut(
        failures.iter().map(|(node, _)| node.clone()).collect(),
    ));
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
    fn a_partial_answer_names_its_missing_nodes_to_the_client_and_to_the_metrics() {
        let mut whole = Response::new(crate::body::empty());
        mark_partial(&mut whole, &[]);
        assert!(whole.headers().get(PARTIAL).is_none());
        assert!(whole.extensions().get::<LeftOut>().is_none());

        let mut resp = Response::new(crate::body::empty());
        let failures = [
            ("b".to_owned(), "node down".to_owned()),
            ("c".to_owned(), "timed out\n".to_owned()),
        ];
        mark_partial(&mut resp, &failures);
        assert_eq!(resp.headers()[PARTIAL], "b: node down; c: timed out?");
        assert_eq!(resp.extensions().get::<LeftOut>().unwrap().0, ["b", "c"]);
    }

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
