//! Agent IDs shown by more than one engine: a cloned machine (its data directory copied
//! with it) or one `--agent-id` given twice. Such nodes are flagged, never merged: they
//! stay separate nodes, routed by their engines.

use std::collections::{BTreeMap, HashSet};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use super::member::{AgentId, MemberState, View};

/// One agent ID and the nodes that show it from different engines.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize)]
pub struct Conflict {
    #[serde(rename = "AgentID")]
    pub agent_id: String,
    /// The nodes' names, one per engine, in the order of their engine IDs.
    #[serde(rename = "Nodes")]
    pub nodes: Vec<String>,
    #[serde(rename = "EngineIDs")]
    pub engine_ids: Vec<String>,
}

/// Every agent ID that this node or a live (alive or suspect) member shows from more than
/// one engine. Down members are left out: a machine rebuilt with a new engine under its
/// old ID is not a clone of what it was.
pub fn find(view: &View) -> Vec<Conflict> {
    let live = std::iter::once(&view.me).chain(
        view.members
            .iter()
            .filter(|m| m.state != MemberState::Down)
            .map(|m| &m.id),
    );
    // Agent ID -> engine ID -> node name.
    let mut by_id: BTreeMap<&str, BTreeMap<&str, &str>> = BTreeMap::new();
    for id in live {
        if id.meta.agent_id.is_empty() {
            continue;
        }
        by_id
            .entry(&id.meta.agent_id)
            .or_default()
            .entry(&id.meta.engine_id)
            .or_insert(&id.meta.node_name);
    }
    by_id
        .into_iter()
        .filter(|(_, engines)| engines.len() > 1)
        .map(|(agent_id, engines)| Conflict {
            agent_id: agent_id.to_owned(),
            nodes: engines.values().map(|n| (*n).to_owned()).collect(),
            engine_ids: engines.keys().map(|e| (*e).to_owned()).collect(),
        })
        .collect()
}

/// Whether `id` is one of the identities `conflicts` names.
pub fn is_duplicate(conflicts: &[Conflict], id: &AgentId) -> bool {
    conflicts
        .iter()
        .any(|c| c.agent_id == id.meta.agent_id && c.engine_ids.contains(&id.meta.engine_id))
}

/// Logs a warning when a conflict appears, once for as long as it lasts.
pub async fn warn_while_running(mut view: watch::Receiver<Arc<View>>, shutdown: CancellationToken) {
    let mut warned: HashSet<Conflict> = HashSet::new();
    loop {
        let now: HashSet<Conflict> = find(&view.borrow_and_update()).into_iter().collect();
        for c in now.difference(&warned) {
            tracing::warn!(
                agent_id = %c.agent_id,
                nodes = ?c.nodes,
                engines = ?c.engine_ids,
                "one agent ID shown by nodes with different engines (a cloned machine, or --agent-id given twice); give each its own (remove <data dir>/agent-id on the clone, or a distinct --agent-id)"
            );
        }
        warned = now;
        tokio::select! {
            _ = shutdown.cancelled() => return,
            changed = view.changed() => if changed.is_err() { return },
        }
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeSet as Set;
    use std::net::SocketAddr;
    use std::time::SystemTime;

    use super::*;
    use crate::cluster::member::{Member, NodeMeta, Role};

    fn id(name: &str, engine: &str, agent: &str, port: u16) -> AgentId {
        let mut id = AgentId::placeholder(SocketAddr::from(([127, 0, 0, 1], port)));
        id.meta = NodeMeta {
            node_name: name.into(),
            engine_id: engine.into(),
            agent_id: agent.into(),
            role: Role::Standalone,
            ..id.meta
        };
        id
    }

    fn member(id: AgentId, state: MemberState) -> Member {
        Member {
            id,
            state,
            last_seen: SystemTime::now(),
        }
    }

    #[test]
    fn one_id_from_two_engines_is_a_conflict() {
        let me = id("a", "E1", "clone", 1);
        let view = View::new(
            me.clone(),
            vec![
                member(id("b", "E2", "clone", 2), MemberState::Suspect),
                member(id("c", "E3", "own", 3), MemberState::Alive),
                // Two agents in front of one engine are one node, not a clone.
                member(id("d", "E4", "twin", 4), MemberState::Alive),
                member(id("d", "E4", "twin", 5), MemberState::Alive),
                // A down one is gone: no conflict.
                member(id("e", "E5", "own", 6), MemberState::Down),
            ],
        );
        let found = find(&view);
        assert_eq!(
            found,
            [Conflict {
                agent_id: "clone".into(),
                nodes: vec!["a".into(), "b".into()],
                engine_ids: vec!["E1".into(), "E2".into()],
            }]
        );
        assert!(is_duplicate(&found, &me));
        assert!(is_duplicate(&found, &view.members[0].id));
        let flagged: Set<&str> = view
            .members
            .iter()
            .filter(|m| is_duplicate(&found, &m.id))
            .map(|m| m.id.meta.node_name.as_str())
            .collect();
        assert_eq!(flagged, Set::from(["b"]));
    }

    #[test]
    fn no_members_no_conflict() {
        assert!(find(&View::standalone(id("a", "E1", "x", 1))).is_empty());
    }
}
