//! Node down: every few seconds, the endpoint's agent is asked for its cluster's members.
//! A member the gossip holds down, or whose engine its agent cannot reach, is down; an
//! agent that does not answer at all is down itself.

use std::collections::BTreeMap;
use std::sync::Arc;
use std::time::Duration;

use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::evaluate::{Observation, Reading, Sweep};
use super::rule::Kind;
use super::Batch;
use crate::agent::{AgentClients, Call, Caller};
use crate::store::{now_secs, Endpoint};

/// How often the members are asked.
pub const MEMBERS_EVERY: Duration = Duration::from_secs(3);
const MEMBERS_TIMEOUT: Duration = Duration::from_secs(5);

/// The key of the endpoint's own agent, as opposed to its members' nodes.
const AGENT_KEY: &str = "agent";

/// Asks `endpoint`'s agent for its members until `stop`, sending what it learns.
pub async fn watch(
    agents: Arc<AgentClients>,
    endpoint: Endpoint,
    tx: mpsc::Sender<Batch>,
    stop: CancellationToken,
) {
    let mut every = tokio::time::interval(MEMBERS_EVERY);
    every.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = every.tick() => {}
        }
        let answer = match agents.get(&endpoint) {
            Ok(client) => {
                client
                    .json(
                        Caller::CONSOLE,
                        Call::get("/agent/v1/members"),
                        MEMBERS_TIMEOUT,
                    )
                    .await
            }
            Err(e) => Err(e),
        };
        let batch = match answer {
            Ok((_, members)) => members_batch(&endpoint, &members, now_secs()),
            Err(e) => (
                vec![agent_down(&endpoint, &e.to_string(), now_secs())],
                None,
            ),
        };
        if tx.send(batch).await.is_err() {
            return;
        }
    }
}

fn agent_down(endpoint: &Endpoint, reason: &str, at: i64) -> Observation {
    Observation {
        kind: Kind::NodeDown,
        endpoint: endpoint.id,
        node: None,
        labels: None,
        key: AGENT_KEY.to_owned(),
        subject: format!("the agent of {}", endpoint.name),
        reading: Reading::Holds(true),
        summary: format!("the agent of {} does not answer: {reason}", endpoint.name),
        details: vec![format!("endpoint URL: {}", endpoint.url)],
        at,
    }
}

/// One observation per member, and the agent's own, which answered.
pub fn members_batch(endpoint: &Endpoint, members: &Value, at: i64) -> Batch {
    let mut out = vec![Observation {
        reading: Reading::Holds(false),
        summary: format!("the agent of {} answers again", endpoint.name),
        details: Vec::new(),
        ..agent_down(endpoint, "", at)
    }];
    // A node may be listed twice (an agent that left, and its successor): it is down
    // only if none of its agents is up.
    let mut nodes: BTreeMap<&str, (bool, String)> = BTreeMap::new();
    for m in members["Members"].as_array().into_iter().flatten() {
        let Some(node) = m["NodeName"].as_str().filter(|n| !n.is_empty()) else {
            continue;
        };
        let state = m["State"].as_str().unwrap_or("unknown");
        let engine_up = m["EngineReachable"].as_bool().unwrap_or(true);
        let seen = match (state, engine_up) {
            ("down", _) => (
                true,
                format!(
                    "node {node} is down: its agent has not been heard from for {} s",
                    m["LastSeenSecondsAgo"].as_i64().unwrap_or(0)
                ),
            ),
            (_, false) => (
                true,
                format!("node {node}: its agent cannot reach the Docker engine"),
            ),
            _ => (false, format!("node {node} is up")),
        };
        match nodes.get(node) {
            Some((false, _)) => {}
            _ => {
                nodes.insert(node, seen);
            }
        }
    }
    for (node, (down, summary)) in nodes {
        out.push(Observation {
            kind: Kind::NodeDown,
            endpoint: endpoint.id,
            node: Some(node.to_owned()),
            labels: None,
            key: format!("node:{node}"),
            subject: node.to_owned(),
            reading: Reading::Holds(down),
            summary,
            details: Vec::new(),
            at,
        });
    }
    let sweep = Sweep {
        kinds: &[Kind::NodeDown],
        endpoint: endpoint.id,
        node: None,
        at,
    };
    (out, Some(sweep))
}
