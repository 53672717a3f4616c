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

#[cfg(test)]
mod tests {
    use super::*;

    fn item(id: &str, labels: &[(&str, &str)]) -> Item {
        Item {
            object: "container".into(),
            id: id.into(),
            name: id.into(),
            service: None,
            image: "app:1".into(),
            registry: None,
            repository: None,
            tag: None,
            running_digest: None,
            newest_digest: None,
            update: None,
            newer_tags: Vec::new(),
            link: None,
            checked_at: 0,
            error: None,
            labels: labels
                .iter()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect(),
        }
    }

    #[test]
    fn answers_keep_to_the_client_s_label_scope() {
        let node = NodeUpdates {
            node: "n1".into(),
            checked_at: Some(1),
            next_check_at: None,
            checking: false,
            items: vec![
                item("ours", &[("team", "a"), ("tier", "web")]),
                item("theirs", &[("team", "b")]),
                item("unlabelled", &[]),
            ],
        };
        let scope: BTreeMap<String, String> = [("team".to_owned(), "a".to_owned())].into();
        let ids: Vec<String> = node
            .clone()
            .scoped(&scope)
            .items
            .into_iter()
            .map(|i| i.id)
            .collect();
        assert_eq!(ids, ["ours"]);
        assert_eq!(node.scoped(&BTreeMap::new()).items.len(), 3);
        let served = serde_json::to_value(item("x", &[("team", "a")])).expect("json");
        assert!(
            served.get("labels").is_none(),
            "labels are not served: {served}"
        );
    }
}
