//! The agent's own API: `/agent/v1/health` (open to all, for probes), `/agent/v1/info`,
//! `/agent/v1/members`, `/agent/v1/metrics` (usage as JSON) and `/metrics` (for
//! Prometheus). One file per route.

mod health;
mod info;
mod prometheus;
mod usage;

use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};

use bytes::Bytes;

use crate::access::Profile;
use crate::aggregate::{Nodes, NODE_DOWN};
use crate::auth::Identity;
use crate::body::Body;
use crate::calls::Calls;
use crate::cluster::{Node, View};
use crate::error::{json_error, json_response};
use crate::metrics::Metrics;
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
}

/// Every `/agent/...` path but health, and `/metrics`, for an authenticated client.
pub async fn handle(cx: &Context<'_>, req: &Request<Body>) -> http::Response<Body> {
    let path = crate::path::strip_version(req.uri().path());
    let query = req.uri().query().unwrap_or("");
    match (req.method(), path) {
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
            &format!("no agent API at {path} (try /agent/v1/info, /agent/v1/members, /agent/v1/metrics or /agent/v1/health)"),
        ),
    }
}

/// `GET path` on the other nodes' agents the client may reach, on its behalf, and the
/// nodes known to be down: each node's name and its answer or why it has none.
async fn ask_peers(cx: &Context<'_>, path: &str) -> Vec<(String, Result<Bytes, String>)> {
    let peers: Vec<Node> = cx
        .view
        .nodes()
        .iter()
        .filter(|n| !n.local && cx.profile.check_node(&n.meta.node_name).is_ok())
        .cloned()
        .collect();
    let answers = Nodes {
        calls: cx.calls,
        nodes: &peers,
        identity: cx.identity,
        deadline: cx.fanout_deadline,
    }
    .each(path)
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
