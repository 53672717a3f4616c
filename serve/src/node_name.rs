//! The one thing Bosun adds to Docker's JSON: `"Agent": {"NodeName": "<node>"}` on an item
//! of a cluster-wide answer, naming the node it came from (Docker clients ignore the key).

use serde_json::{Map, Value};

/// The key Bosun adds to an item.
pub const KEY: &str = "Agent";

/// One node's name, escaped once as the member `"Agent":{"NodeName":"<node>"}`, to splice
/// into the bytes of JSON objects without parsing them again.
#[derive(Debug, Clone)]
pub struct NodeName {
    member: Vec<u8>,
}

impl NodeName {
    pub fn new(node: &str) -> Self {
        // `Value`'s Display is its JSON and cannot fail: the name is escaped without an
        // error path.
        let name = Value::String(node.to_owned()).to_string();
        let mut member = Vec::with_capacity(name.len() + 22);
        member.extend_from_slice(b"\"Agent\":{\"NodeName\":");
        member.extend_from_slice(name.as_bytes());
        member.push(b'}');
        Self { member }
    }

    /// Writes `object`, the text of one JSON object that has no `Agent` key yet, to `out`
    /// with the member added before its closing brace.
    pub fn splice(&self, object: &[u8], out: &mut Vec<u8>) {
        let object = object.trim_ascii_end();
        let Some((b'}', body)) = object.split_last() else {
            out.extend_from_slice(object);
            return;
        };
        out.reserve(object.len() + self.member.len() + 1);
        out.extend_from_slice(body);
        if !body.get(1..).unwrap_or_default().trim_ascii().is_empty() {
            out.push(b',');
        }
        out.extend_from_slice(&self.member);
        out.push(b'}');
    }
}

/// Sets `"Agent": {"NodeName": node}` on a JSON object, replacing an `Agent` it had;
/// anything but an object is left as it is.
pub fn set(item: &mut Value, node: &str) {
    if let Value::Object(map) = item {
        let mut agent = Map::with_capacity(1);
        agent.insert("NodeName".to_owned(), Value::String(node.to_owned()));
        map.insert(KEY.to_owned(), Value::Object(agent));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn spliced(node: &str, object: &str) -> Value {
        let mut out = Vec::new();
        NodeName::new(node).splice(object.as_bytes(), &mut out);
        serde_json::from_slice(&out).expect("JSON")
    }

    #[test]
    fn splicing_adds_the_member_to_any_object() {
        assert_eq!(
            spliced("n", r#"{"a":1}"#),
            json!({"a": 1, "Agent": {"NodeName": "n"}})
        );
        assert_eq!(spliced("n", "{ }  "), json!({"Agent": {"NodeName": "n"}}));
        assert_eq!(
            spliced("od\"d\\nöde", r#"{"a":{"b":[1]}}"#),
            json!({"a": {"b": [1]}, "Agent": {"NodeName": "od\"d\\nöde"}})
        );
    }

    #[test]
    fn setting_replaces_an_old_node_and_leaves_non_objects() {
        let mut item = json!({"Id": "abc", "Agent": {"NodeName": "old"}});
        set(&mut item, "node-1");
        assert_eq!(item, json!({"Id": "abc", "Agent": {"NodeName": "node-1"}}));
        let mut text = json!("abc");
        set(&mut text, "node-1");
        assert_eq!(text, json!("abc"));
    }
}
