//! The agent's own API: `/agent/v1/health` (open to all, for probes), `/agent/v1/info`,
//! `/agent/v1/members`, `/agent/v1/metrics` (usage as JSON), `/agent/v1/updates` (image
//! update checks), `/agent/v1/checks` (check results and signed policies),
//! `/agent/v1/edge/key` (the edge key's rotation) and `/metrics` (for Prometheus). One
//! file per route.

mod checks;
mod edge_key;
mod health;
mod info;
mod prometheus;
mod updates;
mod usage;

use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};

use bytes::Bytes;

use crate::access::Profile;
use crate::aggregate::{Nodes, NODE_DOWN};
use crate::auth::Identity;
use crate::body::{Body, Budget};
use crate::calls::Calls;
use crate::checks::Checks;
use crate::cluster::{Node, View};
use crate::error::{json_error, json_response};
use crate::metrics::Metrics;
use crate::updates::Updates;
use crate::usage::Usage;

pub use health::HealthCache;
pub use usage::ClusterUsage;

/// What the agent's own routes need of the request and the agent.
pub struct Context<'a> {
    pub calls: &'a Calls,
    pub started: Instant,
    pub usage: &'a Usage,
    pub metrics: &'a Metrics,
    pub identity: &'a Identity,
    /// The client's profile: usage answers keep to its label scope and its nodes.
    pub profile: &'a Profile,
    /// The cluster as placement saw it.
    pub view: &'a View,
    pub fanout_deadline: Duration,
    pub updates: &'a Updates,
    pub checks: &'a Checks,
    /// Bodies read whole (the update routes' credentials, pushed policies) count against it.
    pub budget: &'a Budget,
    /// The edge key, in edge mode.
    pub edge_keys: Option<&'a crate::edge::EdgeKeys>,
}

/// Every `/agent/...` path but health, and `/metrics`, for an authenticated client.
pub async fn handle(cx: &Context<'_>, req: Request<Body>) -> http::Response<Body> {
    let path = crate::path::strip_version(req.uri().path()).to_owned();
    let query = req.uri().query().unwrap_or("").to_owned();
    let query = query.as_str();
    match (req.method(), path.as_str()) {
        (&Method::GET, "/agent/v1/updates") => updates::latest(cx, query).await,
        (&Method::POST, "/agent/v1/updates/check") => updates::check(cx, query, req).await,
        (&Method::PUT, "/agent/v1/updates/credentials") => {
            updates::credentials(cx, query, req).await
        }
        (_, "/agent/v1/updates") => json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed here"),
        (_, "/agent/v1/updates/check") => json_error(StatusCode::METHOD_NOT_ALLOWED, "only POST is allowed here"),
        (_, "/agent/v1/updates/credentials") => json_error(StatusCode::METHOD_NOT_ALLOWED, "only PUT is allowed here"),
        (&Method::GET, "/agent/v1/checks") => checks::results(cx, query).await,
        (&Method::GET, "/agent/v1/checks/policy") => checks::policy(cx),
        (&Method::PUT, "/agent/v1/checks/policies") => checks::push(cx, req).await,
        (_, "/agent/v1/checks" | "/agent/v1/checks/policy") => json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed here"),
        (_, "/agent/v1/checks/policies") => json_error(StatusCode::METHOD_NOT_ALLOWED, "only PUT is allowed here"),
        (&Method::POST, "/agent/v1/edge/key") => edge_key::begin(cx),
        (&Method::POST, "/agent/v1/edge/key/commit") => edge_key::commit(cx, req).await,
        (_, "/agent/v1/edge/key" | "/agent/v1/edge/key/commit") => json_error(StatusCode::METHOD_NOT_ALLOWED, "only POST is allowed here"),
        (&Method::GET, "/agent/v1/info") => info::info(cx.calls, cx.started).await,
        (&Method::GET, "/agent/v1/members") => {
            json_response(StatusCode::OK, &cx.calls.cluster().members_json())
        }
        (&Method::GET, "/agent/v1/metrics") => usage::answer(cx, query).await,
        (&Method::GET, "/metrics") => prometheus::answer(cx, query).await,
        (_, "/agent/v1/info" | "/agent/v1/health" | "/agent/v1/members" | "/agent/v1/metrics" | "/metrics") => {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed here")
        }
        _ => json_error(
            StatusCode::NOT_FOUND,
            &format!("no agent API at {path} (try /agent/v1/info, /agent/v1/members, /agent/v1/metrics, /agent/v1/updates, /agent/v1/checks or /agent/v1/health)"),
        ),
    }
}

/// `GET path` on the other nodes' agents the client may reach, on its behalf, and the
/// nodes known to be down: each node's name and its answer or why it has none.
async fn ask_peers(cx: &Context<'_>, path: &str) -> Vec<(String, Result<Bytes, String>)> {
    ask_peers_with(cx, None, path, cx.fanout_deadline).await
}

/// [`ask_peers`] with another method and a body, within `deadline`.
async fn ask_peers_with(
    cx: &Context<'_>,
    send: Option<(&Method, &Bytes)>,
    path: &str,
    deadline: Duration,
) -> Vec<(String, Result<Bytes, String>)> {
    let peers = reachable_peers(cx);
    let answers = Nodes {
        calls: cx.calls,
        nodes: &peers,
        identity: cx.identity,
        deadline,
    }
    .each_with(send, path)
    .await;
    let down = cx
        .view
        .missing()
        .iter()
        .map(|name| (name.clone(), Err(NODE_DOWN.to_owned())));
    peers
        .into_iter()
        .map(|n| n.meta.node_name)
        .zip(answers)
        .chain(down)
        .collect()
}

/// The other nodes the client's profile may reach.
fn reachable_peers(cx: &Context<'_>) -> Vec<Node> {
    cx.view
        .nodes()
        .iter()
        .filter(|n| !n.local && cx.profile.check_node(&n.meta.node_name).is_ok())
        .cloned()
        .collect()
}

/// The peers' answers read as `T`: the nodes that answered, and those that did not or
/// whose answer cannot be read, each with why.
fn read_answers<T: serde::de::DeserializeOwned>(
    answers: Vec<(String, Result<Bytes, String>)>,
) -> (Vec<T>, Vec<(String, String)>) {
    let mut read = Vec::new();
    let mut missing = Vec::new();
    for (node, answer) in answers {
        match answer.and_then(|b| {
            serde_json::from_slice::<T>(&b).map_err(|e| format!("unreadable answer: {e}"))
        }) {
            Ok(one) => read.push(one),
            Err(reason) => missing.push((node, reason)),
        }
    }
    (read, missing)
}

/// `value` as a JSON answer; `what` names it if it cannot be encoded.
fn json_answer(value: &impl serde::Serialize, what: &str) -> http::Response<Body> {
    match serde_json::to_value(value) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("{what} as JSON: {e}"),
        ),
    }
}

/// A cluster-wide answer, the nodes missing from it named in `X-Agent-Partial`.
fn cluster_answer(
    value: &impl serde::Serialize,
    missing: &[(String, String)],
    what: &str,
) -> http::Response<Body> {
    let mut resp = json_answer(value, what);
    crate::aggregate::mark_partial(&mut resp, missing);
    resp
}

/// The query's `scope` and `since`, checked.
struct Asked {
    cluster: bool,
    since: Option<u64>,
}

fn asked(query: &str) -> Result<Asked, String> {
    let mut asked = Asked {
        cluster: false,
        since: None,
    };
    for (k, v) in form_urlencoded::parse(query.as_bytes()) {
        match &*k {
            "scope" => match &*v {
                "cluster" => asked.cluster = true,
                "node" => asked.cluster = false,
                other => return Err(format!("scope={other:?}: expected cluster or node")),
            },
            "since" => {
                asked.since = Some(
                    v.parse()
                        .map_err(|_| format!("since={v:?}: expected Unix seconds"))?,
                )
            }
            _ => {}
        }
    }
    Ok(asked)
}
