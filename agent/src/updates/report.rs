//! What a check found, as `GET /agent/v1/updates` answers it: one item per container (and,
//! on managers, per Swarm service).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use super::version::{Kind, NewerTag};

/// One node's latest check.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct NodeUpdates {
    pub node: String,
    /// Unix seconds; `None` before the first check.
    pub checked_at: Option<u64>,
    /// Unix seconds; `None` when scheduled checks are off.
    pub next_check_at: Option<u64>,
    pub checking: bool,
    pub items: Vec<Item>,
}

/// One container's or service's image, checked.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Item {
    /// `container` or `service`.
    pub object: String,
    pub id: String,
    pub name: String,
    /// The Swarm service a container is a task of.
    pub service: Option<String>,
    pub image: String,
    pub registry: Option<String>,
    pub repository: Option<String>,
    pub tag: Option<String>,
    pub running_digest: Option<String>,
    pub newest_digest: Option<String>,
    pub update: Option<Kind>,
    pub newer_tags: Vec<NewerTag>,
    pub link: Option<String>,
    pub checked_at: u64,
    pub error: Option<String>,
    /// The object's labels, to keep answers to a client's label scope; not served.
    #[serde(skip)]
    pub labels: BTreeMap<String, String>,
}

impl Item {
    /// Whether every label of `scope` is on the object with the same value.
    pub fn in_scope(&self, scope: &BTreeMap<String, String>) -> bool {
        scope.iter().all(|(k, v)| self.labels.get(k) == Some(v))
    }
}

impl NodeUpdates {
    /// This answer with only the items in a client's label scope.
    pub fn scoped(mut self, scope: &BTreeMap<String, String>) -> NodeUpdates {
        if !scope.is_empty() {
            self.items.retain(|i| i.in_scope(scope));
        }
        self
    }
}

/// A node that did not answer, and why.
#[derive(Debug, Serialize, Deserialize)]
pub struct Missing {
    pub node: String,
    pub reason: String,
}

/// Every node's latest check, through one agent.
#[derive(Debug, Serialize, Deserialize)]
pub struct ClusterUpdates {
    pub nodes: Vec<NodeUpdates>,
    pub missing: Vec<Missing>,
}
