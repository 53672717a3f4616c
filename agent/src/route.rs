//! Where a request runs, decided once per request, in one place.

use http::HeaderMap;

use crate::proxy::headers::{TARGET, TARGET_ALIAS};

/// The answer to "where does this request run?".
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement {
    /// The agent's own API (`/agent/v1/...`).
    Agent,
    /// The engine behind this agent.
    Local,
    /// `X-Agent-Target` named a node this agent does not know.
    UnknownNode { name: String, known: Vec<String> },
}

/// Places a request by its version-less path and headers. `nodes` are the names of the
/// nodes this agent can reach, its own first.
pub fn place(api_path: &str, headers: &HeaderMap, nodes: &[&str]) -> Placement {
    if api_path == "/agent" || api_path.starts_with("/agent/") {
        return Placement::Agent;
    }
    let target = headers
        .get(TARGET)
        .or_else(|| headers.get(TARGET_ALIAS))
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    match target {
        Some(name) if !nodes.contains(&name) => Placement::UnknownNode {
            name: name.to_owned(),
            known: nodes.iter().map(|n| (*n).to_owned()).collect(),
        },
        _ => Placement::Local,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with_target(name: &str, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(
            http::header::HeaderName::from_bytes(name.as_bytes()).expect("name"),
            HeaderValue::from_str(value).expect("value"),
        );
        h
    }

    #[test]
    fn the_agent_api_is_the_agents() {
        assert_eq!(
            place("/agent/v1/info", &HeaderMap::new(), &["a"]),
            Placement::Agent
        );
        assert_eq!(
            place("/agentx", &HeaderMap::new(), &["a"]),
            Placement::Local
        );
    }

    #[test]
    fn targets_are_checked_against_known_nodes() {
        assert_eq!(
            place("/containers/json", &with_target(TARGET, "a"), &["a"]),
            Placement::Local
        );
        assert_eq!(
            place("/containers/json", &with_target(TARGET_ALIAS, "a"), &["a"]),
            Placement::Local
        );
        assert_eq!(
            place("/containers/json", &with_target(TARGET, "zz"), &["a"]),
            Placement::UnknownNode {
                name: "zz".into(),
                known: vec!["a".into()]
            }
        );
        assert_eq!(
            place("/containers/json", &HeaderMap::new(), &["a"]),
            Placement::Local
        );
    }
}
