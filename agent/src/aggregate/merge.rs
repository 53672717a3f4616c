//! Merges the list answers of every node's engine into the one answer a Docker client expects.
//!
//! Each item keeps the engine's own JSON and gains `"Agent": {"NodeName": "<node>"}`, the
//! Portainer agent's convention: Docker clients ignore the unknown key, while the console and
//! the agent's own owner index learn where the item lives. Every function parses each answer
//! once and serializes the result once; they run on every fanned-out list request.

use std::collections::HashSet;

use bytes::Bytes;
use serde_json::value::RawValue;
use serde_json::{Map, Value};

use crate::node_name::NodeName;

/// One node's successful (2xx) JSON answer to a fanned-out request.
#[derive(Debug, Clone)]
pub struct NodeAnswer {
    pub node: String,
    pub body: Bytes,
}

/// A node's answer could not be merged; the node is named so the operator knows whom to blame.
#[derive(Debug, thiserror::Error)]
pub enum MergeError {
    #[error("node {node} sent JSON that could not be read: {reason}")]
    Json { node: String, reason: String },
    #[error("node {node} sent {what} where a {expected} was expected")]
    Shape {
        node: String,
        what: String,
        expected: &'static str,
    },
}

/// The part of a list query that every engine applied to its own items only, and that the
/// merge must therefore apply again across nodes.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct ListQuery {
    pub limit: Option<usize>,
}

impl ListQuery {
    /// Reads `limit` from a raw URL query string such as `all=1&limit=5&filters=...`.
    ///
    /// Like the engine (Go's `Form.Get`), the first `limit` wins. Docker treats `-1` and `0`
    /// as "no limit", and the engines have already refused anything non-numeric, so both
    /// simply leave the merged list whole.
    pub fn from_query(query: Option<&str>) -> ListQuery {
        let limit = query
            .unwrap_or_default()
            .split('&')
            .find_map(|pair| match pair.split_once('=') {
                Some(("limit", value)) => Some(value),
                _ => None,
            })
            .and_then(|value| value.parse::<i64>().ok())
            .filter(|&n| n > 0)
            .and_then(|n| usize::try_from(n).ok());
        ListQuery { limit }
    }
}

/// Adds `"Agent": {"NodeName": node}` to a JSON object.
pub use crate::node_name::set as decorate;

/// Merges `GET /containers/json`: newest first across the cluster, then the client's `limit`.
///
/// Each engine already applied `all`, `filters`, `size` and its own `limit`; the cluster's
/// newest `limit` containers are among the union of every node's newest `limit`, so cutting
/// the merged list is exact.
pub fn containers(answers: &[NodeAnswer], query: &ListQuery) -> Result<Vec<u8>, MergeError> {
    newest_first(answers, query.limit)
}

/// Merges `GET /images/json`, newest first. An image present on two nodes stays two items,
/// each naming its node: removing or inspecting it is a per-node act.
pub fn images(answers: &[NodeAnswer]) -> Result<Vec<u8>, MergeError> {
    newest_first(answers, None)
}

/// Merges `GET /volumes`: every node's volumes by name, and every node's warnings prefixed
/// with the node that raised them.
pub fn volumes(answers: &[NodeAnswer]) -> Result<Vec<u8>, MergeError> {
    let mut rows = Vec::new();
    let mut warnings = Vec::new();
    let mut base = None;
    for answer in answers {
        let mut body = object(answer, parse(answer)?)?;
        for item in take_list(&answer.node, &mut body, "Volumes")? {
            rows.push(Row::new(&answer.node, item)?);
        }
        for warning in take_list(&answer.node, &mut body, "Warnings")? {
            match warning {
                Value::String(text) => {
                    warnings.push(Value::String(format!("{}: {text}", answer.node)));
                }
                other => {
                    return Err(shape(
                        &answer.node,
                        format!("{} in Warnings", describe(&other)),
                        "string",
                    ))
                }
            }
        }
        base.get_or_insert(body);
    }
    rows.sort_by(|a, b| {
        a.str_field("Name")
            .cmp(b.str_field("Name"))
            .then_with(|| a.node.cmp(b.node))
    });
    let mut merged = base.unwrap_or_default();
    merged.insert("Volumes".to_owned(), decorated(rows));
    // Docker sends `null`, not `[]`, when there is nothing to warn about.
    let warnings = if warnings.is_empty() {
        Value::Null
    } else {
        Value::Array(warnings)
    };
    merged.insert("Warnings".to_owned(), warnings);
    Ok(encode(Value::Object(merged)))
}

/// Merges `GET /networks`, by name.
///
/// A swarm-scoped network is one cluster object that every node reports with the same Id, so
/// it is kept once, from the first node that reported it; local networks (bridge, host, a
/// node's own bridges) are distinct on every node even when they share a name.
pub fn networks(answers: &[NodeAnswer]) -> Result<Vec<u8>, MergeError> {
    let mut rows = Vec::new();
    let mut swarm_ids = HashSet::new();
    for answer in answers {
        for item in list(answer, parse(answer)?)? {
            let row = Row::new(&answer.node, item)?;
            let id = row.str_field("Id");
            if row.str_field("Scope") == "swarm"
                && !id.is_empty()
                && !swarm_ids.insert(id.to_owned())
            {
                continue;
            }
            rows.push(row);
        }
    }
    rows.sort_by(|a, b| {
        a.str_field("Name")
            .cmp(b.str_field("Name"))
            .then_with(|| a.node.cmp(b.node))
            .then_with(|| a.str_field("Id").cmp(b.str_field("Id")))
    });
    Ok(encode(decorated(rows)))
}

/// The lists of a `GET /system/df` answer, each made of per-node items.
const DF_LISTS: [&str; 4] = ["Images", "Containers", "Volumes", "BuildCache"];

/// Merges `GET /system/df`: the cluster's disk usage is the sum of the nodes' layer sizes and
/// the union of their lists. Other top-level keys are taken from the first node.
pub fn system_df(answers: &[NodeAnswer]) -> Result<Vec<u8>, MergeError> {
    let mut layers_size: i64 = 0;
    let mut lists: [Vec<Value>; 4] = Default::default();
    let mut base = None;
    for answer in answers {
        let mut body = object(answer, parse(answer)?)?;
        match body.remove("LayersSize") {
            None | Some(Value::Null) => {}
            Some(size) => {
                let size = size.as_i64().ok_or_else(|| {
                    shape(
                        &answer.node,
                        format!("{} as LayersSize", describe(&size)),
                        "number",
                    )
                })?;
                layers_size = layers_size.saturating_add(size);
            }
        }
        for (key, merged) in DF_LISTS.iter().zip(lists.iter_mut()) {
            for mut item in take_list(&answer.node, &mut body, key)? {
                require_object(&answer.node, &item)?;
                decorate(&mut item, &answer.node);
                merged.push(item);
            }
        }
        base.get_or_insert(body);
    }
    let mut merged = base.unwrap_or_default();
    merged.insert("LayersSize".to_owned(), Value::from(layers_size));
    for (key, list) in DF_LISTS.iter().zip(lists) {
        merged.insert((*key).to_owned(), Value::Array(list));
    }
    Ok(encode(Value::Object(merged)))
}

/// One item on its way into a merged list, with the keys it is sorted by read once.
struct Row<'a> {
    node: &'a str,
    item: Value,
}

impl<'a> Row<'a> {
    fn new(node: &'a str, item: Value) -> Result<Self, MergeError> {
        require_object(node, &item)?;
        Ok(Row { node, item })
    }

    fn str_field(&self, key: &str) -> &str {
        self.item
            .get(key)
            .and_then(Value::as_str)
            .unwrap_or_default()
    }
}

/// Containers and images: newest first, as the engine lists them; equal dates are ordered by
/// Id and then node so that repeated requests give the same page.
///
/// This is the hot path of `docker ps` on a large cluster, so items are not built into JSON
/// trees: each stays the engine's own text, only its `Created` and `Id` are read, and the
/// node is written into it on the way out.
fn newest_first(answers: &[NodeAnswer], limit: Option<usize>) -> Result<Vec<u8>, MergeError> {
    let mut rows: Vec<RawRow<'_>> = Vec::new();
    for answer in answers {
        let items: Option<Vec<&RawValue>> = match serde_json::from_slice(&answer.body) {
            Ok(items) => items,
            // Valid JSON of another shape is named as such; only then is it parsed whole.
            Err(e) => {
                return Err(match serde_json::from_slice::<Value>(&answer.body) {
                    Ok(other) => shape(&answer.node, describe(&other).to_owned(), "JSON array"),
                    Err(_) => MergeError::Json {
                        node: answer.node.clone(),
                        reason: e.to_string(),
                    },
                })
            }
        };
        let items = items.unwrap_or_default();
        rows.reserve(items.len());
        for item in items {
            rows.push(RawRow::new(&answer.node, item)?);
        }
    }
    rows.sort_by(|a, b| {
        b.created
            .cmp(&a.created)
            .then_with(|| a.id.cmp(&b.id))
            .then_with(|| a.node.cmp(b.node))
    });
    if let Some(limit) = limit {
        rows.truncate(limit);
    }
    let size: usize = rows
        .iter()
        .map(|r| r.item.get().len() + r.node.len() + 32)
        .sum();
    let mut out = Vec::with_capacity(size + 2);
    out.push(b'[');
    for (i, row) in rows.iter().enumerate() {
        if i > 0 {
            out.push(b',');
        }
        row.write_decorated(&mut out);
    }
    out.push(b']');
    Ok(out)
}

/// What sorting needs of an item; everything else is skipped unread.
#[derive(serde::Deserialize)]
struct SortKey<'a> {
    #[serde(rename = "Created", default)]
    created: Option<Value>,
    #[serde(rename = "Id", default, borrow)]
    id: Option<&'a RawValue>,
    #[serde(rename = "Agent", default)]
    agent: Option<serde::de::IgnoredAny>,
}

struct RawRow<'a> {
    node: &'a str,
    created: i64,
    id: std::borrow::Cow<'a, str>,
    item: &'a RawValue,
    /// The item already has an `Agent` key, which must be replaced rather than repeated.
    has_agent: bool,
}

impl<'a> RawRow<'a> {
    fn new(node: &'a str, item: &'a RawValue) -> Result<Self, MergeError> {
        let text = item.get();
        if !text.starts_with('{') {
            let value: Value = serde_json::from_str(text).unwrap_or(Value::Null);
            require_object(node, &value)?;
        }
        let key: SortKey<'a> = serde_json::from_str(text).map_err(|e| MergeError::Json {
            node: node.to_owned(),
            reason: e.to_string(),
        })?;
        // Engines send whole seconds; an item without a date sorts as the oldest.
        let created = match key.created {
            Some(Value::Number(n)) => n.as_i64().or_else(|| n.as_f64().map(|f| f as i64)),
            _ => None,
        }
        .unwrap_or(i64::MIN);
        let id = key
            .id
            .and_then(|raw| serde_json::from_str::<std::borrow::Cow<'a, str>>(raw.get()).ok())
            .unwrap_or_default();
        Ok(Self {
            node,
            created,
            id,
            item,
            has_agent: key.agent.is_some(),
        })
    }

    fn write_decorated(&self, out: &mut Vec<u8>) {
        if self.has_agent {
            let mut value: Value = serde_json::from_str(self.item.get()).unwrap_or(Value::Null);
            decorate(&mut value, self.node);
            out.extend_from_slice(value.to_string().as_bytes());
            return;
        }
        NodeName::new(self.node).splice(self.item.get().as_bytes(), out);
    }
}

/// The sorted rows as a JSON array, each item decorated with its node.
fn decorated(rows: Vec<Row<'_>>) -> Value {
    Value::Array(
        rows.into_iter()
            .map(|mut row| {
                decorate(&mut row.item, row.node);
                row.item
            })
            .collect(),
    )
}

fn parse(answer: &NodeAnswer) -> Result<Value, MergeError> {
    serde_json::from_slice(&answer.body).map_err(|e| MergeError::Json {
        node: answer.node.clone(),
        reason: e.to_string(),
    })
}

/// A top-level list. The engine is written in Go, where an empty slice may be sent as `null`.
fn list(answer: &NodeAnswer, value: Value) -> Result<Vec<Value>, MergeError> {
    match value {
        Value::Array(items) => Ok(items),
        Value::Null => Ok(Vec::new()),
        other => Err(shape(
            &answer.node,
            describe(&other).to_owned(),
            "JSON array",
        )),
    }
}

fn object(answer: &NodeAnswer, value: Value) -> Result<Map<String, Value>, MergeError> {
    match value {
        Value::Object(map) => Ok(map),
        other => Err(shape(
            &answer.node,
            describe(&other).to_owned(),
            "JSON object",
        )),
    }
}

/// Takes a list out of an answer's object; missing and `null` both mean an empty list.
fn take_list(
    node: &str,
    body: &mut Map<String, Value>,
    key: &str,
) -> Result<Vec<Value>, MergeError> {
    match body.remove(key) {
        None | Some(Value::Null) => Ok(Vec::new()),
        Some(Value::Array(items)) => Ok(items),
        Some(other) => Err(shape(
            node,
            format!("{} as {key}", describe(&other)),
            "JSON array",
        )),
    }
}

fn require_object(node: &str, item: &Value) -> Result<(), MergeError> {
    if item.is_object() {
        Ok(())
    } else {
        Err(shape(
            node,
            format!("{} as a list item", describe(item)),
            "JSON object",
        ))
    }
}

fn shape(node: &str, what: String, expected: &'static str) -> MergeError {
    MergeError::Shape {
        node: node.to_owned(),
        what,
        expected,
    }
}

fn describe(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

/// `Value`'s `Display` is its compact JSON and cannot fail: keys are strings and the numbers
/// finite, so no error path is needed here.
fn encode(value: Value) -> Vec<u8> {
    value.to_string().into_bytes()
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn answer(node: &str, body: Value) -> NodeAnswer {
        NodeAnswer {
            node: node.to_owned(),
            body: Bytes::from(body.to_string()),
        }
    }

    fn raw(node: &str, body: &str) -> NodeAnswer {
        NodeAnswer {
            node: node.to_owned(),
            body: Bytes::from(body.to_owned()),
        }
    }

    fn read(bytes: Vec<u8>) -> Value {
        serde_json::from_slice(&bytes).expect("merged output is JSON")
    }

    fn ids_and_nodes(merged: &Value) -> Vec<(String, String)> {
        merged
            .as_array()
            .expect("an array")
            .iter()
            .map(|item| {
                (
                    item["Id"].as_str().expect("Id").to_owned(),
                    item["Agent"]["NodeName"]
                        .as_str()
                        .expect("NodeName")
                        .to_owned(),
                )
            })
            .collect()
    }

    fn pairs(list: &[(&str, &str)]) -> Vec<(String, String)> {
        list.iter()
            .map(|(a, b)| ((*a).to_owned(), (*b).to_owned()))
            .collect()
    }

    fn container(id: &str, created: i64) -> Value {
        json!({"Id": id, "Names": [format!("/{id}")], "Created": created, "State": "running"})
    }

    #[test]
    fn query_reads_limit() {
        let limit = |q: Option<&str>| ListQuery::from_query(q).limit;
        assert_eq!(limit(None), None);
        assert_eq!(limit(Some("")), None);
        assert_eq!(limit(Some("limit=5")), Some(5));
        assert_eq!(limit(Some("all=1&limit=3&size=1")), Some(3));
        assert_eq!(
            limit(Some(
                "all=1&filters=%7B%22status%22%3A%5B%22running%22%5D%7D&limit=2"
            )),
            Some(2)
        );
        assert_eq!(limit(Some("limit=-1")), None);
        assert_eq!(limit(Some("limit=0")), None);
        assert_eq!(limit(Some("limit=abc")), None);
        assert_eq!(limit(Some("limit=")), None);
        assert_eq!(limit(Some("limit")), None);
        assert_eq!(limit(Some("nolimit=4&limits=7")), None);
        assert_eq!(limit(Some("limit=4&limit=9")), Some(4));
        assert_eq!(limit(Some("limit=99999999999999999999999")), None);
    }

    #[test]
    fn decorate_adds_the_node_and_replaces_an_old_one() {
        let mut item = json!({"Id": "abc", "Agent": {"NodeName": "old"}});
        decorate(&mut item, "node-1");
        assert_eq!(item, json!({"Id": "abc", "Agent": {"NodeName": "node-1"}}));

        let mut not_an_object = json!("abc");
        decorate(&mut not_an_object, "node-1");
        assert_eq!(not_an_object, json!("abc"));
    }

    #[test]
    fn decorate_keeps_odd_node_names_as_json() {
        let mut item = json!({});
        decorate(&mut item, "we\"ird\\näme");
        assert_eq!(item["Agent"]["NodeName"], "we\"ird\\näme");
    }

    #[test]
    fn containers_merge_newest_first_and_decorate() {
        let answers = [
            answer("a", json!([container("a2", 200), container("a1", 100)])),
            answer("b", json!([container("b3", 300), container("b1", 50)])),
        ];
        let merged = read(containers(&answers, &ListQuery::default()).expect("merged"));
        assert_eq!(
            ids_and_nodes(&merged),
            pairs(&[("b3", "b"), ("a2", "a"), ("a1", "a"), ("b1", "b")])
        );
        // The engine's own fields are kept untouched.
        assert_eq!(merged[0]["Names"], json!(["/b3"]));
        assert_eq!(merged[0]["State"], "running");
    }

    #[test]
    fn containers_limit_applies_across_nodes() {
        // Each engine already cut its list to 2; the cluster's newest 2 come from both.
        let answers = [
            answer("a", json!([container("a3", 30), container("a2", 20)])),
            answer("b", json!([container("b4", 40), container("b1", 10)])),
            answer("c", json!([])),
        ];
        let query = ListQuery::from_query(Some("all=1&limit=2"));
        let merged = read(containers(&answers, &query).expect("merged"));
        assert_eq!(ids_and_nodes(&merged), pairs(&[("b4", "b"), ("a3", "a")]));

        let query = ListQuery { limit: Some(10) };
        let merged = read(containers(&answers, &query).expect("merged"));
        assert_eq!(merged.as_array().expect("array").len(), 4);
    }

    #[test]
    fn containers_ties_are_ordered_by_id_then_node() {
        let answers = [
            answer("b", json!([container("same", 5), container("y", 5)])),
            answer("a", json!([container("x", 5), container("same", 5)])),
        ];
        let merged = read(containers(&answers, &ListQuery::default()).expect("merged"));
        assert_eq!(
            ids_and_nodes(&merged),
            pairs(&[("same", "a"), ("same", "b"), ("x", "a"), ("y", "b")])
        );
    }

    #[test]
    fn containers_without_a_date_sort_last() {
        let answers = [answer(
            "a",
            json!([{"Id": "undated"}, container("dated", 1), {"Id": "odd", "Created": "x"}]),
        )];
        let merged = read(containers(&answers, &ListQuery::default()).expect("merged"));
        assert_eq!(
            ids_and_nodes(&merged),
            pairs(&[("dated", "a"), ("odd", "a"), ("undated", "a")])
        );
    }

    #[test]
    fn containers_null_and_empty_answers_merge_to_an_empty_array() {
        let answers = [raw("a", "null"), raw("b", "[]")];
        let merged = containers(&answers, &ListQuery::default()).expect("merged");
        assert_eq!(merged, b"[]");
        assert_eq!(
            containers(&[], &ListQuery { limit: Some(3) }).expect("merged"),
            b"[]"
        );
    }

    #[test]
    fn bad_json_names_the_node() {
        let answers = [answer("good", json!([])), raw("broken", "[{\"Id\": ")];
        let err = containers(&answers, &ListQuery::default()).expect_err("bad JSON");
        assert!(matches!(&err, MergeError::Json { node, .. } if node == "broken"));
        assert!(
            err.to_string().starts_with("node broken sent JSON"),
            "{err}"
        );

        for merge in [images, volumes, networks, system_df] {
            let err = merge(&[raw("n7", "not json")]).expect_err("bad JSON");
            assert!(matches!(&err, MergeError::Json { node, .. } if node == "n7"));
        }
    }

    #[test]
    fn wrong_shapes_name_the_node() {
        let err = containers(&[answer("n1", json!({"Id": "x"}))], &ListQuery::default())
            .expect_err("object instead of array");
        assert_eq!(
            err.to_string(),
            "node n1 sent an object where a JSON array was expected"
        );

        let err = images(&[answer("n2", json!([{"Id": "x"}, 3]))]).expect_err("item");
        assert_eq!(
            err.to_string(),
            "node n2 sent a number as a list item where a JSON object was expected"
        );

        let err = volumes(&[answer("n3", json!([]))]).expect_err("array instead of object");
        assert!(
            matches!(&err, MergeError::Shape { node, expected: "JSON object", .. } if node == "n3")
        );

        let err = volumes(&[answer("n4", json!({"Volumes": {}, "Warnings": null}))])
            .expect_err("Volumes as object");
        assert_eq!(
            err.to_string(),
            "node n4 sent an object as Volumes where a JSON array was expected"
        );

        let err = volumes(&[answer("n5", json!({"Volumes": [], "Warnings": [1]}))])
            .expect_err("warning not a string");
        assert!(matches!(&err, MergeError::Shape { node, expected: "string", .. } if node == "n5"));

        let err = networks(&[answer("n6", json!("bridge"))]).expect_err("string");
        assert!(matches!(&err, MergeError::Shape { node, .. } if node == "n6"));

        let err = system_df(&[answer("n8", json!({"LayersSize": "big"}))]).expect_err("size");
        assert_eq!(
            err.to_string(),
            "node n8 sent a string as LayersSize where a number was expected"
        );

        let err = system_df(&[answer("n9", json!({"Images": [null]}))]).expect_err("item");
        assert!(matches!(&err, MergeError::Shape { node, .. } if node == "n9"));
    }

    #[test]
    fn images_stay_per_node_newest_first() {
        let image = |id: &str, created: i64| json!({"Id": id, "RepoTags": ["busybox:latest"], "Created": created, "Size": 10});
        let answers = [
            answer("b", json!([image("sha256:old", 1), image("sha256:new", 9)])),
            answer("a", json!([image("sha256:new", 9)])),
            answer("c", json!(null)),
        ];
        let merged = read(images(&answers).expect("merged"));
        assert_eq!(
            ids_and_nodes(&merged),
            pairs(&[
                ("sha256:new", "a"),
                ("sha256:new", "b"),
                ("sha256:old", "b")
            ])
        );
        assert_eq!(merged[0]["RepoTags"], json!(["busybox:latest"]));
    }

    #[test]
    fn volumes_merge_by_name_and_prefix_warnings() {
        let answers = [
            answer(
                "b",
                json!({"Volumes": [{"Name": "data", "Driver": "local"}, {"Name": "cache", "Driver": "local"}], "Warnings": ["disk nearly full"]}),
            ),
            answer(
                "a",
                json!({"Volumes": [{"Name": "data", "Driver": "local"}], "Warnings": null}),
            ),
            answer("c", json!({"Volumes": null, "Warnings": ["x", "y"]})),
        ];
        let merged = read(volumes(&answers).expect("merged"));
        let names: Vec<(&str, &str)> = merged["Volumes"]
            .as_array()
            .expect("Volumes")
            .iter()
            .map(|v| {
                (
                    v["Name"].as_str().expect("Name"),
                    v["Agent"]["NodeName"].as_str().expect("NodeName"),
                )
            })
            .collect();
        assert_eq!(names, [("cache", "b"), ("data", "a"), ("data", "b")]);
        assert_eq!(
            merged["Warnings"],
            json!(["b: disk nearly full", "c: x", "c: y"])
        );
        assert_eq!(merged["Volumes"][0]["Driver"], "local");
    }

    #[test]
    fn volumes_without_warnings_send_null() {
        let answers = [
            answer("a", json!({"Volumes": null, "Warnings": null})),
            answer("b", json!({"Volumes": []})),
        ];
        let merged = read(volumes(&answers).expect("merged"));
        assert_eq!(merged, json!({"Volumes": [], "Warnings": null}));
        assert_eq!(
            read(volumes(&[]).expect("merged")),
            json!({"Volumes": [], "Warnings": null})
        );
    }

    #[test]
    fn networks_keep_swarm_ones_once_and_local_ones_per_node() {
        let net = |id: &str, name: &str, scope: &str| json!({"Id": id, "Name": name, "Scope": scope, "Driver": "x"});
        let answers = [
            answer(
                "b",
                json!([
                    net("ingress-id", "ingress", "swarm"),
                    net("bridge-b", "bridge", "local"),
                    net("web-id", "web", "swarm")
                ]),
            ),
            answer(
                "a",
                json!([
                    net("bridge-a", "bridge", "local"),
                    net("ingress-id", "ingress", "swarm")
                ]),
            ),
            answer(
                "c",
                json!([
                    net("ingress-id", "ingress", "swarm"),
                    net("host-c", "host", "local"),
                    net("gw-c", "docker_gwbridge", "local")
                ]),
            ),
        ];
        let merged = read(networks(&answers).expect("merged"));
        assert_eq!(
            ids_and_nodes(&merged),
            pairs(&[
                ("bridge-a", "a"),
                ("bridge-b", "b"),
                ("gw-c", "c"),
                ("host-c", "c"),
                // Kept from "b", the first answer that reported it.
                ("ingress-id", "b"),
                ("web-id", "b"),
            ])
        );
    }

    #[test]
    fn networks_with_same_name_and_scope_global_stay_per_node() {
        let answers = [
            answer("a", json!([{"Id": "g", "Name": "g", "Scope": "global"}])),
            answer("b", json!([{"Id": "g", "Name": "g", "Scope": "global"}])),
        ];
        let merged = read(networks(&answers).expect("merged"));
        assert_eq!(ids_and_nodes(&merged), pairs(&[("g", "a"), ("g", "b")]));
    }

    #[test]
    fn system_df_sums_and_concatenates() {
        let answers = [
            answer(
                "a",
                json!({
                    "LayersSize": 1000,
                    "Images": [{"Id": "i1"}],
                    "Containers": [{"Id": "c1"}],
                    "Volumes": [{"Name": "v1"}],
                    "BuildCache": [{"ID": "b1"}],
                    "BuilderSize": 0
                }),
            ),
            answer(
                "b",
                json!({
                    "LayersSize": 234,
                    "Images": [{"Id": "i2"}, {"Id": "i3"}],
                    "Containers": null,
                    "Volumes": [],
                    "BuildCache": null,
                    "BuilderSize": 7
                }),
            ),
            answer("c", json!({"Images": null})),
        ];
        let merged = read(system_df(&answers).expect("merged"));
        assert_eq!(merged["LayersSize"], 1234);
        let nodes = |key: &str| -> Vec<String> {
            merged[key]
                .as_array()
                .expect("list")
                .iter()
                .map(|item| item["Agent"]["NodeName"].as_str().expect("node").to_owned())
                .collect()
        };
        assert_eq!(nodes("Images"), ["a", "b", "b"]);
        assert_eq!(nodes("Containers"), ["a"]);
        assert_eq!(nodes("Volumes"), ["a"]);
        assert_eq!(nodes("BuildCache"), ["a"]);
        assert_eq!(merged["Images"][2]["Id"], "i3");
        assert_eq!(merged["BuildCache"][0]["ID"], "b1");
        // Keys the merge does not know come from the first node.
        assert_eq!(merged["BuilderSize"], 0);
    }

    #[test]
    fn system_df_nulls_become_empty_arrays() {
        let answers = [answer(
            "a",
            json!({"LayersSize": 0, "Images": null, "Containers": null, "Volumes": null, "BuildCache": null}),
        )];
        let merged = read(system_df(&answers).expect("merged"));
        assert_eq!(
            merged,
            json!({"LayersSize": 0, "Images": [], "Containers": [], "Volumes": [], "BuildCache": []})
        );
        assert_eq!(read(system_df(&[]).expect("merged")), merged);
    }

    #[test]
    fn a_large_cluster_merges() {
        // 50 nodes × 100 containers, the size the merge is meant for.
        let answers: Vec<NodeAnswer> = (0..50)
            .map(|n| {
                let items: Vec<Value> = (0..100)
                    .map(|i| container(&format!("{n:02}-{i:03}"), i64::from(i * 50 + n)))
                    .collect();
                answer(&format!("node-{n:02}"), Value::Array(items))
            })
            .collect();
        let merged = read(containers(&answers, &ListQuery { limit: Some(3) }).expect("merged"));
        assert_eq!(
            ids_and_nodes(&merged),
            pairs(&[
                ("49-099", "node-49"),
                ("48-099", "node-48"),
                ("47-099", "node-47"),
            ])
        );
        let all = read(containers(&answers, &ListQuery::default()).expect("merged"));
        let created: Vec<i64> = all
            .as_array()
            .expect("array")
            .iter()
            .map(|c| c["Created"].as_i64().expect("Created"))
            .collect();
        assert_eq!(created.len(), 5000);
        assert!(created.windows(2).all(|w| w[0] >= w[1]));
    }
}
