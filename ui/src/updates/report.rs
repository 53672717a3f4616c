//! What the agents answer on `GET /agent/v1/updates?scope=cluster` (the contract's JSON),
//! and the findings an endpoint's answer holds.

use serde::{Deserialize, Serialize};

use crate::watch::UpdateFinding;

/// Every node's latest check, as one agent gathered them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ClusterReport {
    #[serde(default)]
    pub nodes: Vec<NodeReport>,
    #[serde(default)]
    pub missing: Vec<MissingNode>,
}

/// One node's latest check.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NodeReport {
    pub node: String,
    /// `None` before the node's first check.
    #[serde(default)]
    pub checked_at: Option<i64>,
    #[serde(default)]
    pub next_check_at: Option<i64>,
    #[serde(default)]
    pub checking: bool,
    #[serde(default)]
    pub items: Vec<UpdateItem>,
}

/// A node that did not answer, and why.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct MissingNode {
    pub node: String,
    #[serde(default)]
    pub reason: String,
}

/// A newer tag than the running one, with its kind (`patch`, `minor`, `major`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct NewerTag {
    pub tag: String,
    pub kind: String,
}

/// One container's (or service's) image as its node checked it.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UpdateItem {
    /// `container` or `service`.
    pub object: String,
    pub id: String,
    pub name: String,
    #[serde(default)]
    pub service: Option<String>,
    pub image: String,
    #[serde(default)]
    pub registry: String,
    #[serde(default)]
    pub repository: String,
    #[serde(default)]
    pub tag: String,
    #[serde(default)]
    pub running_digest: Option<String>,
    #[serde(default)]
    pub newest_digest: Option<String>,
    /// `digest`, `patch`, `minor`, `major`, or `None` when the image is current.
    #[serde(default)]
    pub update: Option<String>,
    #[serde(default)]
    pub newer_tags: Vec<NewerTag>,
    #[serde(default)]
    pub link: Option<String>,
    #[serde(default)]
    pub checked_at: Option<i64>,
    #[serde(default)]
    pub error: Option<String>,
}

/// The order of update kinds, smallest first.
const KINDS: [&str; 4] = ["digest", "patch", "minor", "major"];

impl UpdateItem {
    /// The newest tag of the item's update kind, for `patch`/`minor`/`major`.
    fn newer_tag(&self) -> Option<String> {
        let kind = self.update.as_deref()?;
        self.newer_tags
            .iter()
            .filter(|t| t.kind == kind)
            .max_by_key(|t| version_key(&t.tag))
            .map(|t| t.tag.clone())
    }
}

/// A tag's numbers in order (`v1.10.2-rc1` is 1, 10, 2, 1), to find the newest.
fn version_key(tag: &str) -> Vec<u64> {
    tag.split(|c: char| !c.is_ascii_digit())
        .filter(|part| !part.is_empty())
        .map(|part| part.parse().unwrap_or(u64::MAX))
        .collect()
}

impl ClusterReport {
    /// Records that container `old_id` was replaced by `new_id` running `image` at
    /// `digest`, until the agents check again: a digest update is done; with a new tag, the
    /// newer tags are no longer known. What is left is the biggest kind among the newer
    /// tags, as the agents reckon it. Whether anything was changed.
    pub fn mark_updated(
        &mut self,
        old_id: &str,
        new_id: &str,
        image: &str,
        digest: Option<&str>,
    ) -> bool {
        let mut changed = false;
        for item in self.nodes.iter_mut().flat_map(|n| n.items.iter_mut()) {
            if item.object != "container" || item.id != old_id {
                continue;
            }
            if item.image != image {
                item.image = image.to_owned();
                item.tag = image
                    .rsplit_once(':')
                    .map(|(_, t)| t.to_owned())
                    .unwrap_or_default();
                item.newer_tags.clear();
            }
            item.id = new_id.to_owned();
            item.running_digest = digest.map(str::to_owned);
            item.newest_digest = item.running_digest.clone();
            item.update = KINDS[1..]
                .iter()
                .rev()
                .find(|k| item.newer_tags.iter().any(|t| t.kind == **k))
                .map(|k| (*k).to_owned());
            changed = true;
        }
        changed
    }

    /// Every container and service with an update, as the alerts and notifications take
    /// them. A service is reported by every manager that checked it: once is enough.
    pub fn findings(&self, endpoint: i64, endpoint_name: &str) -> Vec<UpdateFinding> {
        let mut out: Vec<UpdateFinding> = Vec::new();
        for node in &self.nodes {
            for item in &node.items {
                let Some(kind) = item.update.as_deref() else {
                    continue;
                };
                if !KINDS.contains(&kind) {
                    continue;
                }
                if item.object == "service"
                    && out.iter().any(|f| f.object == "service" && f.id == item.id)
                {
                    continue;
                }
                out.push(UpdateFinding {
                    endpoint,
                    endpoint_name: endpoint_name.to_owned(),
                    node: node.node.clone(),
                    object: item.object.clone(),
                    name: item.name.clone(),
                    id: item.id.clone(),
                    image: item.image.clone(),
                    kind: kind.to_owned(),
                    newer_tag: item.newer_tag(),
                    newest_digest: item.newest_digest.clone(),
                    link: item.link.clone(),
                });
            }
        }
        out
    }

    /// How many containers and services have an update.
    pub fn available(&self) -> usize {
        self.findings(0, "").len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    /// The contract's example answer, with a second node and a missing one.
    fn contract_answer() -> serde_json::Value {
        json!({
            "nodes": [
                {"node": "n1", "checked_at": 1764740000, "next_check_at": 1764761600, "checking": false,
                 "items": [
                    {"object": "container", "id": "c1", "name": "web", "service": null,
                     "image": "127.0.0.1:5000/app:1.0.0", "registry": "127.0.0.1:5000",
                     "repository": "app", "tag": "1.0.0",
                     "running_digest": "sha256:aaa", "newest_digest": "sha256:bbb",
                     "update": "minor",
                     "newer_tags": [{"tag": "1.0.1", "kind": "patch"}, {"tag": "1.10.0", "kind": "minor"}, {"tag": "1.2.0", "kind": "minor"}],
                     "link": "https://example.test/app/1.2.0",
                     "checked_at": 1764740000, "error": null},
                    {"object": "container", "id": "c2", "name": "db", "service": null,
                     "image": "127.0.0.1:5000/db:2", "registry": "127.0.0.1:5000",
                     "repository": "db", "tag": "2",
                     "running_digest": "sha256:ccc", "newest_digest": "sha256:ccc",
                     "update": null, "newer_tags": [], "link": null,
                     "checked_at": 1764740000, "error": null},
                    {"object": "service", "id": "s1", "name": "api", "service": "api",
                     "image": "127.0.0.1:5000/api:3.0.0", "registry": "127.0.0.1:5000",
                     "repository": "api", "tag": "3.0.0",
                     "running_digest": "sha256:ddd", "newest_digest": "sha256:eee",
                     "update": "digest", "newer_tags": [], "link": null,
                     "checked_at": 1764740000, "error": null}
                 ]},
                {"node": "n2", "checked_at": null, "next_check_at": null, "checking": true,
                 "items": [
                    {"object": "service", "id": "s1", "name": "api", "service": "api",
                     "image": "127.0.0.1:5000/api:3.0.0", "update": "digest",
                     "newest_digest": "sha256:eee", "newer_tags": []},
                    {"object": "container", "id": "c3", "name": "old", "image": "x/y:1",
                     "update": null, "error": "the registry refused: 401"}
                 ]}
            ],
            "missing": [{"node": "n3", "reason": "no answer within 5s"}]
        })
    }

    #[test]
    fn the_contract_answer_is_read_whole() {
        let report: ClusterReport = serde_json::from_value(contract_answer()).expect("parses");
        assert_eq!(report.nodes.len(), 2);
        assert_eq!(report.nodes[0].checked_at, Some(1764740000));
        assert_eq!(report.nodes[1].checked_at, None);
        assert!(report.nodes[1].checking);
        assert_eq!(report.nodes[0].items[0].newer_tags.len(), 3);
        assert_eq!(
            report.nodes[1].items[1].error.as_deref(),
            Some("the registry refused: 401")
        );
        assert_eq!(
            report.missing,
            vec![MissingNode {
                node: "n3".into(),
                reason: "no answer within 5s".into()
            }]
        );
        let again: ClusterReport =
            serde_json::from_value(serde_json::to_value(&report).expect("serialises"))
                .expect("parses");
        assert_eq!(again, report, "stored and read back unchanged");
    }

    #[test]
    fn findings_are_the_items_with_an_update_and_a_service_once() {
        let report: ClusterReport = serde_json::from_value(contract_answer()).expect("parses");
        let findings = report.findings(7, "prod");
        let names: Vec<(&str, &str, &str)> = findings
            .iter()
            .map(|f| (f.node.as_str(), f.name.as_str(), f.kind.as_str()))
            .collect();
        assert_eq!(names, [("n1", "web", "minor"), ("n1", "api", "digest")]);
        let web = &findings[0];
        assert_eq!(web.endpoint, 7);
        assert_eq!(web.endpoint_name, "prod");
        assert_eq!(web.object, "container");
        assert_eq!(web.id, "c1");
        assert_eq!(web.image, "127.0.0.1:5000/app:1.0.0");
        assert_eq!(web.newer_tag.as_deref(), Some("1.10.0"), "the newest minor");
        assert_eq!(web.newest_digest.as_deref(), Some("sha256:bbb"));
        assert_eq!(web.link.as_deref(), Some("https://example.test/app/1.2.0"));
        assert_eq!(findings[1].newer_tag, None, "a digest update has no tag");
        assert_eq!(report.available(), 2);
    }

    #[test]
    fn an_updated_container_has_no_update_until_the_next_check_says_otherwise() {
        let mut report: ClusterReport = serde_json::from_value(contract_answer()).expect("parses");
        assert!(!report.mark_updated("nope", "x", "y", None));
        // Its running tag's newest digest: the newer tags are still newer.
        assert!(report.mark_updated(
            "c1",
            "c1-new",
            "127.0.0.1:5000/app:1.0.0",
            Some("sha256:bbb")
        ));
        let web = &report.nodes[0].items[0];
        assert_eq!(
            (web.id.as_str(), web.update.as_deref()),
            ("c1-new", Some("minor"))
        );
        assert_eq!(web.running_digest.as_deref(), Some("sha256:bbb"));
        // A newer tag: nothing is known of what is newer than it.
        assert!(report.mark_updated(
            "c1-new",
            "c1-newer",
            "127.0.0.1:5000/app:1.10.0",
            Some("sha256:ccc")
        ));
        let web = &report.nodes[0].items[0];
        assert_eq!((web.tag.as_str(), web.update.as_deref()), ("1.10.0", None));
        assert!(web.newer_tags.is_empty());
        assert_eq!(report.findings(1, "e").len(), 1, "only the service left");
    }

    #[test]
    fn an_empty_or_partial_answer_is_no_finding() {
        let report: ClusterReport = serde_json::from_value(json!({})).expect("parses");
        assert!(report.findings(1, "e").is_empty());
        let odd: ClusterReport = serde_json::from_value(json!({"nodes": [{"node": "n",
            "items": [{"object": "container", "id": "c", "name": "n", "image": "i", "update": "weird"}]}]}))
        .expect("parses");
        assert!(
            odd.findings(1, "e").is_empty(),
            "an unknown kind is no finding"
        );
    }
}
