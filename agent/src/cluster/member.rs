//! What the cluster knows about each agent: its gossip identity, which carries the node's
//! metadata, and the view of all members the rest of the agent reads.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::time::SystemTime;

use serde::{Deserialize, Serialize};

/// A node's part in a Swarm.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub enum Role {
    /// Not in a Swarm.
    Standalone,
    Worker,
    Manager,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Standalone => "standalone",
            Role::Worker => "worker",
            Role::Manager => "manager",
        }
    }
}

/// Everything other agents need to know about a node, spread with its gossip identity.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct NodeMeta {
    pub node_name: String,
    /// The engine's `ID`: two agents in front of one engine are one node.
    pub engine_id: String,
    /// The Swarm node ID; empty when not in a Swarm.
    pub swarm_node_id: String,
    pub role: Role,
    pub leader: bool,
    pub engine_api_version: String,
    pub agent_version: String,
    /// Where the agent serves its HTTPS API.
    pub api_addr: SocketAddr,
    /// SHA-256 of the agent's server certificate: peers pin it, and since gossip is sealed
    /// with the cluster secret, the pin is as trustworthy as the secret.
    pub cert_sha256: [u8; 32],
    /// Whether the agent could reach its engine at the last look: a manager whose engine
    /// is down is passed over.
    pub engine_up: bool,
    /// The agent's own ID ([`crate::identity`]): two nodes showing one ID from different
    /// engines are a cloned machine.
    pub agent_id: String,
    /// The engine's labels (`/info` `Labels`), as many as fit in a gossip identity
    /// ([`super::labels`]).
    pub labels: BTreeMap<String, String>,
}

/// The gossip identity: where an agent gossips, a counter that makes a newer identity win,
/// and the node's metadata.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct AgentId {
    pub gossip: SocketAddr,
    pub bump: u64,
    pub meta: NodeMeta,
}

impl AgentId {
    /// A stand-in for an agent known only by its address, to announce ourselves to it.
    pub fn placeholder(gossip: SocketAddr) -> Self {
        Self {
            gossip,
            bump: 0,
            meta: NodeMeta {
                node_name: String::new(),
                engine_id: String::new(),
                swarm_node_id: String::new(),
                role: Role::Standalone,
                leader: false,
                engine_api_version: String::new(),
                agent_version: String::new(),
                api_addr: gossip,
                cert_sha256: [0; 32],
                engine_up: false,
                agent_id: String::new(),
                labels: BTreeMap::new(),
            },
        }
    }
}

impl foca::Identity for AgentId {
    type Addr = SocketAddr;

    fn renew(&self) -> Option<Self> {
        Some(Self {
            bump: self.bump.wrapping_add(1),
            ..self.clone()
        })
    }

    fn addr(&self) -> SocketAddr {
        self.gossip
    }

    fn win_addr_conflict(&self, adversary: &Self) -> bool {
        self.bump > adversary.bump
    }
}

/// A member's liveness as this agent sees it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
pub enum MemberState {
    Alive,
    Suspect,
    Down,
}

#[derive(Debug, Clone)]
pub struct Member {
    pub id: AgentId,
    pub state: MemberState,
    pub last_seen: SystemTime,
}

/// One node of the cluster, as requests are routed to it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Node {
    pub meta: NodeMeta,
    /// This agent's own node: requests for it go to the local engine.
    pub local: bool,
    /// Its name as the `X-Agent-Node` header of the answers it gives; `None` for a name
    /// a header cannot carry.
    pub header: Option<http::HeaderValue>,
}

impl Node {
    fn new(meta: NodeMeta, local: bool) -> Self {
        let header = http::HeaderValue::from_str(&meta.node_name).ok();
        Self {
            meta,
            local,
            header,
        }
    }
}

/// The cluster as this agent sees it at one moment. The node list requests are placed
/// by is worked out once, when the view is made, not per request.
#[derive(Debug, Clone)]
pub struct View {
    pub me: AgentId,
    pub members: Vec<Member>,
    nodes: Vec<Node>,
    /// The nodes' names, in the order of `nodes`.
    names: Vec<String>,
    missing: Vec<String>,
}

/// How long a node whose agent went down, and that no other agent serves, is named as
/// missing in cluster-wide answers; after that it is taken to have left.
pub const MISSING_FOR: std::time::Duration = std::time::Duration::from_secs(600);

impl View {
    pub fn new(me: AgentId, members: Vec<Member>) -> Self {
        let nodes = reachable_nodes(&me, &members);
        let names = nodes.iter().map(|n| n.meta.node_name.clone()).collect();
        let missing = missing_nodes(&nodes, &members, SystemTime::now());
        Self {
            me,
            members,
            nodes,
            names,
            missing,
        }
    }

    /// Nodes whose agents went down within [`MISSING_FOR`] and that no live agent serves:
    /// a cluster-wide answer is incomplete without them.
    pub fn missing(&self) -> &[String] {
        &self.missing
    }

    pub fn standalone(me: AgentId) -> Self {
        Self::new(me, Vec::new())
    }

    /// The reachable nodes, this one first, then by name; one per engine, however many
    /// agents stand in front of it.
    pub fn nodes(&self) -> &[Node] {
        &self.nodes
    }

    /// The names of [`View::nodes`], in their order.
    pub fn names(&self) -> &[String] {
        &self.names
    }

    pub fn node(&self, name: &str) -> Option<Node> {
        self.nodes
            .iter()
            .find(|n| n.meta.node_name == name)
            .cloned()
    }

    /// Managers to send a manager operation to: the leader first, then the others, the
    /// local node before remote ones among equals.
    pub fn managers(&self) -> Vec<Node> {
        let mut managers: Vec<Node> = self
            .nodes
            .iter()
            .filter(|n| n.meta.role == Role::Manager && n.meta.engine_up)
            .cloned()
            .collect();
        managers.sort_by_key(|n| (!n.meta.leader, !n.local));
        managers
    }
}

fn missing_nodes(nodes: &[Node], members: &[Member], now: SystemTime) -> Vec<String> {
    let mut names: Vec<String> = members
        .iter()
        .filter(|m| m.state == MemberState::Down)
        .filter(|m| {
            now.duration_since(m.last_seen)
                .map_or(true, |d| d < MISSING_FOR)
        })
        .filter(|m| {
            !nodes.iter().any(|n| {
                n.meta.engine_id == m.id.meta.engine_id || n.meta.node_name == m.id.meta.node_name
            })
        })
        .map(|m| m.id.meta.node_name.clone())
        .collect();
    names.sort();
    names.dedup();
    names
}

fn reachable_nodes(me: &AgentId, members: &[Member]) -> Vec<Node> {
    let mut nodes = vec![Node::new(me.meta.clone(), true)];
    let mut others: Vec<&Member> = members
        .iter()
        .filter(|m| m.state != MemberState::Down)
        .filter(|m| m.id.meta.engine_id != me.meta.engine_id)
        .collect();
    // Of two agents in front of one engine, the one with the lower API address serves
    // it, so that every agent picks the same one.
    others.sort_by(|a, b| {
        (&a.id.meta.engine_id, a.id.meta.api_addr).cmp(&(&b.id.meta.engine_id, b.id.meta.api_addr))
    });
    others.dedup_by(|a, b| a.id.meta.engine_id == b.id.meta.engine_id);
    others.sort_by(|a, b| a.id.meta.node_name.cmp(&b.id.meta.node_name));
    nodes.extend(
        others
            .into_iter()
            .map(|m| Node::new(m.id.meta.clone(), false)),
    );
    nodes
}

#[cfg(test)]
mod tests {
    use super::*;

    fn meta(name: &str, engine: &str, port: u16, role: Role, leader: bool) -> NodeMeta {
        NodeMeta {
            node_name: name.into(),
            engine_id: engine.into(),
            swarm_node_id: String::new(),
            role,
            leader,
            engine_api_version: "1.41".into(),
            agent_version: "0".into(),
            api_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            cert_sha256: [0; 32],
            engine_up: true,
            agent_id: format!("id-{name}"),
            labels: BTreeMap::new(),
        }
    }

    fn member(meta: NodeMeta, state: MemberState) -> Member {
        Member {
            id: AgentId {
                gossip: meta.api_addr,
                bump: 0,
                meta,
            },
            state,
            last_seen: SystemTime::now(),
        }
    }

    #[test]
    fn one_node_per_engine_and_no_down_nodes() {
        let me = AgentId::placeholder(SocketAddr::from(([127, 0, 0, 1], 1)));
        let mut me = me;
        me.meta = meta("a", "E1", 1, Role::Worker, false);
        let view = View::new(
            me,
            vec![
                member(meta("b", "E2", 3, Role::Worker, false), MemberState::Alive),
                member(
                    meta("b", "E2", 2, Role::Worker, false),
                    MemberState::Suspect,
                ),
                member(
                    meta("a-twin", "E1", 4, Role::Worker, false),
                    MemberState::Alive,
                ),
                member(meta("c", "E3", 5, Role::Worker, false), MemberState::Down),
            ],
        );
        let nodes = view.nodes();
        let names: Vec<&str> = nodes.iter().map(|n| n.meta.node_name.as_str()).collect();
        assert_eq!(names, ["a", "b"]);
        assert!(nodes[0].local);
        assert_eq!(
            nodes[1].meta.api_addr.port(),
            2,
            "the lower address serves the engine"
        );
        assert!(view.node("c").is_none());
        assert_eq!(
            view.missing(),
            ["c"],
            "a down node nobody serves is missing"
        );
    }

    #[test]
    fn a_down_node_is_missing_until_served_again_or_long_gone() {
        let mut me = AgentId::placeholder(SocketAddr::from(([127, 0, 0, 1], 1)));
        me.meta = meta("a", "E1", 1, Role::Worker, false);
        let down = member(meta("c", "E3", 5, Role::Worker, false), MemberState::Down);
        // Its agent came back under a new identity: the node is served, not missing.
        let back = member(meta("c", "E3", 6, Role::Worker, false), MemberState::Alive);
        let view = View::new(me.clone(), vec![down.clone(), back]);
        assert!(view.missing().is_empty());
        let nodes = reachable_nodes(&me, std::slice::from_ref(&down));
        let later = down.last_seen + MISSING_FOR + std::time::Duration::from_secs(1);
        assert!(missing_nodes(&nodes, &[down], later).is_empty());
    }

    #[test]
    fn the_leader_comes_first() {
        let mut me = AgentId::placeholder(SocketAddr::from(([127, 0, 0, 1], 1)));
        me.meta = meta("w", "E1", 1, Role::Worker, false);
        let view = View::new(
            me,
            vec![
                member(
                    meta("m1", "E2", 2, Role::Manager, false),
                    MemberState::Alive,
                ),
                member(meta("m2", "E3", 3, Role::Manager, true), MemberState::Alive),
            ],
        );
        let names: Vec<String> = view
            .managers()
            .into_iter()
            .map(|n| n.meta.node_name)
            .collect();
        assert_eq!(names, ["m2", "m1"]);
    }
}
