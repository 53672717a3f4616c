//! `GET /agent/v1/metrics`: this node's usage now, or its last hour (`since=`), or every
//! node's (`scope=cluster`), each node named and the missing ones said.

use std::sync::Arc;

use bytes::Bytes;
use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::error::{json_error, json_response};
use crate::usage::sample::Sample;

use super::{asked, Context};

/// One node's samples.
#[derive(Serialize, Deserialize)]
pub struct NodeUsage {
    pub node: String,
    pub interval_secs: u64,
    pub samples: Vec<Arc<Sample>>,
}

/// A node that did not answer, and why.
#[derive(Serialize, Deserialize)]
pub struct Missing {
    pub node: String,
    pub reason: String,
}

/// Every node's samples.
#[derive(Serialize, Deserialize)]
pub struct ClusterUsage {
    pub nodes: Vec<NodeUsage>,
    pub missing: Vec<Missing>,
}

pub async fn answer(cx: &Context<'_>, query: &str) -> http::Response<Body> {
    let asked = match asked(query) {
        Ok(a) => a,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    if !asked.cluster {
        return json(&here(cx, asked.since));
    }
    let cluster = cluster(cx, asked.since).await;
    let mut resp = json(&cluster);
    let failures: Vec<(String, String)> = cluster
        .missing
        .iter()
        .map(|m| (m.node.clone(), m.reason.clone()))
        .collect();
    crate::aggregate::mark_partial(&mut resp, &failures);
    resp
}

fn json(value: &impl Serialize) -> http::Response<Body> {
    match serde_json::to_value(value) {
        Ok(v) => json_response(StatusCode::OK, &v),
        Err(e) => json_error(
            StatusCode::INTERNAL_SERVER_ERROR,
            &format!("usage as JSON: {e}"),
        ),
    }
}

/// This node's samples.
pub fn here(cx: &Context<'_>, since: Option<u64>) -> NodeUsage {
    NodeUsage {
        node: cx.calls.me(),
        interval_secs: cx.usage.interval().as_secs(),
        samples: match since {
            Some(t) => cx.usage.since(t),
            None => cx.usage.latest().into_iter().collect(),
        }
        .iter()
        .map(|s| Sample::scoped(s, &cx.profile.labels))
        .collect(),
    }
}

/// Every reachable node's samples, this one's from memory; nodes known to be down are
/// named missing.
pub async fn cluster(cx: &Context<'_>, since: Option<u64>) -> ClusterUsage {
    let path = match since {
        Some(t) => format!("/agent/v1/metrics?since={t}"),
        None => "/agent/v1/metrics".to_owned(),
    };
    let mut out = ClusterUsage {
        nodes: vec![here(cx, since)],
        missing: Vec::new(),
    };
    for (name, answer) in super::ask_peers(cx, &path).await {
        match answer.and_then(|b: Bytes| {
            serde_json::from_slice::<NodeUsage>(&b).map_err(|e| format!("unreadable answer: {e}"))
        }) {
            Ok(usage) => out.nodes.push(usage),
            Err(reason) => out.missing.push(Missing { node: name, reason }),
        }
    }
    out
}
