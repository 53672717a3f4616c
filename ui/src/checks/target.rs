//! Which nodes of a cluster a check is for: every node, nodes by name, nodes whose engine
//! carries every given label, or the managers or the workers of a Swarm. The nodes are
//! the agent's members list (`GET /agent/v1/members`).

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};
use serde_json::Value;

/// A check's selector of nodes.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "by", rename_all = "lowercase", deny_unknown_fields)]
pub enum Target {
    All,
    Names {
        names: Vec<String>,
    },
    /// Every label must be on the node's engine with this value.
    Labels {
        labels: BTreeMap<String, String>,
    },
    Role {
        role: NodeRole,
    },
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeRole {
    Manager,
    Worker,
}

impl NodeRole {
    pub fn as_str(self) -> &'static str {
        match self {
            NodeRole::Manager => "manager",
            NodeRole::Worker => "worker",
        }
    }
}

impl Target {
    /// What is wrong with the selector, the field named.
    pub fn validate(&self) -> Result<(), String> {
        match self {
            Target::All | Target::Role { .. } => Ok(()),
            Target::Names { names } => {
                if names.is_empty() {
                    return Err("target.names: at least one node name".into());
                }
                match names.iter().find(|n| n.trim().is_empty() || n.len() > 255) {
                    Some(n) => Err(format!("target.names: {n:?} is not a node name")),
                    None => Ok(()),
                }
            }
            Target::Labels { labels } => {
                if labels.is_empty() {
                    return Err("target.labels: at least one label".into());
                }
                match labels.keys().find(|k| k.trim().is_empty()) {
                    Some(k) => Err(format!("target.labels: {k:?} is not a label name")),
                    None => Ok(()),
                }
            }
        }
    }

    /// Whether `member` is one of the nodes selected.
    pub fn selects(&self, member: &Member) -> bool {
        match self {
            Target::All => true,
            Target::Names { names } => names.contains(&member.node),
            Target::Labels { labels } => labels
                .iter()
                .all(|(k, v)| member.labels.get(k).is_some_and(|have| have == v)),
            Target::Role { role } => member.role == role.as_str(),
        }
    }

    /// How the audit log names the selector.
    pub fn describe(&self) -> String {
        match self {
            Target::All => "all nodes".into(),
            Target::Names { names } => format!("nodes {}", names.join(",")),
            Target::Labels { labels } => format!(
                "labels {}",
                labels
                    .iter()
                    .map(|(k, v)| format!("{k}={v}"))
                    .collect::<Vec<_>>()
                    .join(",")
            ),
            Target::Role { role } => format!("{}s", role.as_str()),
        }
    }
}

/// One node of the cluster as the members list shows it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Member {
    pub node: String,
    /// `manager`, `worker` or `standalone`.
    pub role: String,
    /// `alive`, `suspect` or `down`.
    pub state: String,
    pub agent_id: String,
    /// The engine's labels.
    pub labels: BTreeMap<String, String>,
}

/// The members of an agent's `GET /agent/v1/members` answer. `Labels` is an object, or a
/// list of `k=v` strings as the engine's `/info` has them; absent: none.
pub fn members(answer: &Value) -> Vec<Member> {
    let text = |v: &Value| v.as_str().unwrap_or_default().to_owned();
    answer["Members"]
        .as_array()
        .into_iter()
        .flatten()
        .filter_map(|m| {
            let node = m["NodeName"].as_str().filter(|n| !n.is_empty())?;
            let mut labels = BTreeMap::new();
            match &m["Labels"] {
                Value::Object(map) => {
                    for (k, v) in map {
                        labels.insert(k.clone(), text(v));
                    }
                }
                Value::Array(list) => {
                    for item in list.iter().filter_map(Value::as_str) {
                        let (k, v) = item.split_once('=').unwrap_or((item, ""));
                        labels.insert(k.to_owned(), v.to_owned());
                    }
                }
                _ => {}
            }
            Some(Member {
                node: node.to_owned(),
                role: text(&m["Role"]),
                state: text(&m["State"]),
                agent_id: text(&m["AgentID"]),
                labels,
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn cluster() -> Vec<Member> {
        members(&json!({"Members": [
            {"NodeName": "m1", "Role": "manager", "State": "alive", "AgentID": "a1",
             "Labels": {"zone": "east", "disk": "ssd"}},
            {"NodeName": "w1", "Role": "worker", "State": "alive",
             "Labels": ["zone=west", "disk=ssd"]},
            {"NodeName": "w2", "Role": "worker", "State": "suspect"},
            {"Role": "worker"}
        ]}))
    }

    fn picked(target: &Target) -> Vec<String> {
        cluster()
            .into_iter()
            .filter(|m| target.selects(m))
            .map(|m| m.node)
            .collect()
    }

    #[test]
    fn members_are_read_with_their_labels_either_way_and_none_without() {
        let nodes = cluster();
        assert_eq!(nodes.len(), 3, "a member without a name is no node");
        assert_eq!(nodes[0].agent_id, "a1");
        assert_eq!(nodes[1].labels["zone"], "west");
        assert!(nodes[2].labels.is_empty());
    }

    #[test]
    fn targets_select_by_name_label_and_role() {
        assert_eq!(picked(&Target::All), ["m1", "w1", "w2"]);
        let names: Target =
            serde_json::from_value(json!({"by": "names", "names": ["w2", "x"]})).unwrap();
        assert_eq!(picked(&names), ["w2"]);
        let labels: Target =
            serde_json::from_value(json!({"by": "labels", "labels": {"disk": "ssd"}})).unwrap();
        assert_eq!(picked(&labels), ["m1", "w1"]);
        let both: Target = serde_json::from_value(
            json!({"by": "labels", "labels": {"disk": "ssd", "zone": "east"}}),
        )
        .unwrap();
        assert_eq!(picked(&both), ["m1"], "every label must match");
        let workers: Target =
            serde_json::from_value(json!({"by": "role", "role": "worker"})).unwrap();
        assert_eq!(picked(&workers), ["w1", "w2"]);
        assert_eq!(workers.describe(), "workers");
    }

    #[test]
    fn a_bad_target_names_its_field() {
        let empty = Target::Names { names: vec![] };
        assert!(empty.validate().unwrap_err().starts_with("target.names"));
        let no_labels = Target::Labels {
            labels: BTreeMap::new(),
        };
        assert!(no_labels
            .validate()
            .unwrap_err()
            .starts_with("target.labels"));
        assert!(serde_json::from_value::<Target>(json!({"by": "role", "role": "boss"})).is_err());
        assert!(serde_json::from_value::<Target>(json!({"by": "everyone"})).is_err());
    }
}
