//! `GET /agent/v1/metrics`: this node's usage now, or its last hour (`since=`), or every
//! node's (`scope=cluster`), each node named and the missing ones said.

use std::sync::Arc;

use http::StatusCode;
use serde::{Deserialize, Serialize};

use crate::body::Body;
use crate::error::json_error;
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
        return super::json_answer(&here(cx, asked.since), "usage");
    }
    let cluster = cluster(cx, asked.since).await;
    let missing: Vec<(String, String)> = cluster
        .missing
        .iter()
        .map(|m| (m.node.clone(), m.reason.clone()))
        .collect();
    super::cluster_answer(&cluster, &missing, "usage")
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
    let (nodes, missing) = super::read_answers::<NodeUsage>(super::ask_peers(cx, &path).await);
    ClusterUsage {
        nodes: std::iter::once(here(cx, since)).chain(nodes).collect(),
        missing: missing
            .into_iter()
            .map(|(node, reason)| Missing { node, reason })
            .collect(),
    }
}
