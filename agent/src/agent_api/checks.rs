//! `/agent/v1/checks`: this node's check results after a cursor and its checks' states,
//! or every node's (`scope=cluster`, a cursor per node); `GET …/policy` the running
//! policy; `PUT …/policies` applies this node's signed policy and passes each other node's
//! to that node.

use std::collections::BTreeMap;

use bytes::Bytes;
use http::{Method, Request, StatusCode};

use bosun_serve::checks::{
    ClusterChecks, MissingNode, NodeChecks, PolicyPush, PushAnswer, PushOutcome, PushOutcomeKind,
};

use crate::aggregate::{Nodes, NODE_DOWN};
use crate::body::Body;
use crate::checks::results::{DEFAULT_LIMIT, MAX_LIMIT};
use crate::cluster::Node;
use crate::error::json_error;

use super::Context;

/// The largest push read: a policy per node, each with its checks.
const MAX_PUSH: usize = 4 << 20;
const RESULTS: &str = "/agent/v1/checks";
const POLICIES: &str = "/agent/v1/checks/policies";

/// What a results query asks.
struct Query {
    cluster: bool,
    /// This node's cursor, or each node's.
    cursor: u64,
    cursors: BTreeMap<String, u64>,
    limit: usize,
}

fn query(text: &str) -> Result<Query, String> {
    let mut q = Query {
        cluster: false,
        cursor: 0,
        cursors: BTreeMap::new(),
        limit: DEFAULT_LIMIT,
    };
    let mut cursor = None;
    for (k, v) in form_urlencoded::parse(text.as_bytes()) {
        match &*k {
            "scope" => match &*v {
                "cluster" => q.cluster = true,
                "node" => q.cluster = false,
                other => return Err(format!("scope={other:?}: expected cluster or node")),
            },
            "cursor" => cursor = Some(v.into_owned()),
            "limit" => {
                q.limit = v
                    .parse()
                    .ok()
                    .filter(|n| (1..=MAX_LIMIT).contains(n))
                    .ok_or_else(|| format!("limit={v:?}: a number from 1 to {MAX_LIMIT}"))?
            }
            _ => {}
        }
    }
    let Some(cursor) = cursor.filter(|c| !c.trim().is_empty()) else {
        return Ok(q);
    };
    if !q.cluster {
        q.cursor = cursor.trim().parse().map_err(|_| {
            format!("cursor={cursor:?}: the sequence number of the last result read")
        })?;
        return Ok(q);
    }
    for pair in cursor.split(',').filter(|p| !p.trim().is_empty()) {
        let parsed = pair
            .rsplit_once(':')
            .and_then(|(node, seq)| Some((node.trim(), seq.trim().parse::<u64>().ok()?)))
            .filter(|(node, _)| !node.is_empty());
        let Some((node, seq)) = parsed else {
            return Err(format!(
                "cursor={cursor:?}: with scope=cluster, NODE:SEQ pairs separated by commas"
            ));
        };
        q.cursors.insert(node.to_owned(), seq);
    }
    Ok(q)
}

/// `GET /agent/v1/checks`.
pub async fn results(cx: &Context<'_>, query_text: &str) -> http::Response<Body> {
    let q = match query(query_text) {
        Ok(q) => q,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    if !q.cluster {
        return super::json_answer(&cx.checks.read(q.cursor, q.limit), "check results");
    }
    let me = cx.checks.node().to_owned();
    let mut answer = ClusterChecks {
        nodes: Vec::new(),
        missing: Vec::new(),
    };
    if cx.profile.check_node(&me).is_ok() {
        let mine = q.cursors.get(&me).copied().unwrap_or(0);
        answer.nodes.push(cx.checks.read(mine, q.limit));
    }
    let asks: Vec<(Node, Option<Bytes>, String)> = super::reachable_peers(cx)
        .into_iter()
        .map(|node| {
            let cursor = q.cursors.get(&node.meta.node_name).copied().unwrap_or(0);
            let path = format!("{RESULTS}?cursor={cursor}&limit={}", q.limit);
            (node, None, path)
        })
        .collect();
    let answers = ask_each(cx, asks).await;
    let (nodes, mut missing) = super::read_answers::<NodeChecks>(answers);
    missing.extend(down(cx));
    answer.nodes.extend(nodes);
    answer.missing = missing
        .iter()
        .map(|(node, reason)| MissingNode {
            node: node.clone(),
            reason: reason.clone(),
        })
        .collect();
    super::cluster_answer(&answer, &missing, "check results")
}

/// `GET /agent/v1/checks/policy`.
pub fn policy(cx: &Context<'_>) -> http::Response<Body> {
    let (policy, status) = cx.checks.policy();
    super::json_answer(
        &serde_json::json!({"policy": policy, "status": status}),
        "the check policy",
    )
}

/// `PUT /agent/v1/checks/policies`.
pub async fn push(cx: &Context<'_>, req: Request<Body>) -> http::Response<Body> {
    let (bytes, _held) = match cx
        .budget
        .collect(
            req.into_body(),
            MAX_PUSH,
            "check policies",
            &cx.identity.subject,
        )
        .await
    {
        Ok(read) => read,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let pushed: PolicyPush = match serde_json::from_slice(&bytes) {
        Ok(p) => p,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("the body is not {{\"policies\": {{\"NODE\": \"SIGNED POLICY\"}}}}: {e}"),
            )
        }
    };
    if pushed.policies.is_empty() {
        return json_error(StatusCode::BAD_REQUEST, "policies: names no node");
    }
    let me = cx.checks.node().to_owned();
    let mut outcomes: BTreeMap<String, PushOutcome> = BTreeMap::new();
    let mut asks = Vec::new();
    for (node, jws) in &pushed.policies {
        let unreachable = |reason: String| PushOutcome {
            node: node.clone(),
            outcome: PushOutcomeKind::Unreachable,
            version: None,
            reason: Some(reason),
        };
        if let Err(refusal) = cx.profile.check_node(node) {
            outcomes.insert(node.clone(), unreachable(refusal.to_string()));
            continue;
        }
        if *node == me {
            outcomes.insert(node.clone(), cx.checks.apply(jws));
            continue;
        }
        if let Some(by) = cx.identity.forwarded_by() {
            // Passed on once already: an agent that sent another node's policy here saw a
            // cluster this one does not.
            outcomes.insert(
                node.clone(),
                unreachable(format!(
                    "{by} passed it to {me}, which is not {node:?}; it is passed on once only"
                )),
            );
            continue;
        }
        match cx.view.nodes().iter().find(|n| n.meta.node_name == *node) {
            Some(peer) => {
                let one = PolicyPush {
                    policies: BTreeMap::from([(node.clone(), jws.clone())]),
                };
                match serde_json::to_vec(&one) {
                    Ok(body) => asks.push((peer.clone(), Some(Bytes::from(body)), POLICIES.into())),
                    Err(e) => {
                        outcomes.insert(node.clone(), unreachable(format!("cannot encode: {e}")));
                    }
                }
            }
            None if cx.view.missing().contains(node) => {
                outcomes.insert(node.clone(), unreachable(NODE_DOWN.into()));
            }
            None => {
                let known: Vec<&str> = cx
                    .view
                    .nodes()
                    .iter()
                    .map(|n| n.meta.node_name.as_str())
                    .collect();
                outcomes.insert(
                    node.clone(),
                    unreachable(format!(
                        "not a member of this cluster (its nodes: {})",
                        known.join(", ")
                    )),
                );
            }
        }
    }
    for (node, answer) in ask_each(cx, asks).await {
        let outcome = answer
            .and_then(|b| {
                serde_json::from_slice::<PushAnswer>(&b)
                    .map_err(|e| format!("unreadable answer: {e}"))
            })
            .and_then(|a| {
                a.nodes
                    .into_iter()
                    .find(|o| o.node == node)
                    .ok_or_else(|| "its answer does not name it".to_owned())
            });
        let outcome = outcome.unwrap_or_else(|reason| PushOutcome {
            node: node.clone(),
            outcome: PushOutcomeKind::Unreachable,
            version: None,
            reason: Some(reason),
        });
        outcomes.insert(node, outcome);
    }
    super::json_answer(
        &PushAnswer {
            nodes: outcomes.into_values().collect(),
        },
        "the push's outcomes",
    )
}

/// The nodes known to be down that the client may reach, with why they are left out.
fn down(cx: &Context<'_>) -> Vec<(String, String)> {
    cx.view
        .missing()
        .iter()
        .filter(|name| cx.profile.check_node(name).is_ok())
        .map(|name| (name.clone(), NODE_DOWN.to_owned()))
        .collect()
}

/// Asks each node its own question at once (`GET path`, or `PUT path` with a body), each
/// within the fan-out deadline: each node's name and its answer or why it has none.
async fn ask_each(
    cx: &Context<'_>,
    asks: Vec<(Node, Option<Bytes>, String)>,
) -> Vec<(String, Result<Bytes, String>)> {
    let put = Method::PUT;
    let calls = asks.iter().map(|(node, body, path)| {
        let put = &put;
        async move {
            let nodes = Nodes {
                calls: cx.calls,
                nodes: std::slice::from_ref(node),
                identity: cx.identity,
                deadline: cx.fanout_deadline,
            };
            let send = body.as_ref().map(|b| (put, b));
            let answer = nodes
                .each_with(send, path)
                .await
                .pop()
                .unwrap_or_else(|| Err("no answer".into()));
            (node.meta.node_name.clone(), answer)
        }
    });
    futures_util::future::join_all(calls).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn queries_read_their_cursors() {
        let q = query("cursor=12&limit=50").expect("node");
        assert_eq!((q.cluster, q.cursor, q.limit), (false, 12, 50));
        let q = query("").expect("defaults");
        assert_eq!((q.cursor, q.limit), (0, DEFAULT_LIMIT));
        let q = query("scope=cluster&cursor=node-a:12,node-b:7").expect("cluster");
        assert!(q.cluster);
        assert_eq!(q.cursors.get("node-a"), Some(&12));
        assert_eq!(q.cursors.get("node-b"), Some(&7));
        let q = query("scope=cluster&cursor=a%3A1%2Cb%3A2").expect("encoded");
        assert_eq!(q.cursors.len(), 2);
        assert!(query("cursor=x").is_err());
        assert!(query("scope=cluster&cursor=12").is_err());
        assert!(query("scope=cluster&cursor=:12").is_err());
        assert!(query("limit=0").is_err());
        assert!(query("limit=5001").is_err());
        assert!(query("scope=world").is_err());
    }
}
