//! The kind of place a request's method, path and headers call for, before the cluster
//! and the client's profile are taken into account.

use http::{HeaderMap, Method};
use smallvec::SmallVec;

use crate::headers::{first_of, MANAGER_OPERATION, TARGET, TARGET_ALIAS};

/// The lists every node answers and the agent merges.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum FanOut {
    Containers,
    Images,
    Volumes,
    Networks,
    SystemDf,
    Events,
}

/// An object that lives on one node.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Object {
    Container(String),
    Exec(String),
}

/// What a request calls for.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Route {
    /// The agent's own API (`/agent/v1/...`, `/metrics`).
    Agent,
    /// `X-Agent-Target` named this node.
    Node(String),
    /// `X-Agent-Target` named a node this agent does not know.
    UnknownNode {
        name: String,
        known: Vec<String>,
    },
    /// A Swarm manager's business: the leader, else any reachable manager.
    Manager,
    /// A network request that is a manager's only if the network is swarm-scoped.
    NetworkScoped(String),
    /// Creating a network: a manager's if it is an overlay (known from the body).
    NetworkCreate,
    FanOut(FanOut),
    /// On the node that holds the object.
    Owner(Object),
    /// The engine behind this agent.
    Local,
}

/// The agent's own API: answered by the agent that receives it, never by an engine.
pub fn is_agent_api(api_path: &str) -> bool {
    api_path == "/agent" || api_path.starts_with("/agent/") || api_path == "/metrics"
}

/// Classifies a request by method, version-less path and headers. `nodes` are the names
/// of the nodes this agent can reach, its own first; `clustered` says whether there are
/// other nodes to consider at all.
pub fn route(
    method: &Method,
    api_path: &str,
    headers: &HeaderMap,
    nodes: &[impl AsRef<str>],
    clustered: bool,
) -> Route {
    if is_agent_api(api_path) {
        return Route::Agent;
    }
    let [target, alias, manager_operation] =
        first_of(headers, [&TARGET, &TARGET_ALIAS, &MANAGER_OPERATION]);
    // `X-Agent-Target`, else its Portainer alias.
    let target = target
        .or(alias)
        .and_then(|v| v.to_str().ok())
        .map(str::trim)
        .filter(|t| !t.is_empty());
    if let Some(name) = target {
        return if nodes.iter().any(|n| n.as_ref() == name) {
            Route::Node(name.to_owned())
        } else {
            Route::UnknownNode {
                name: name.to_owned(),
                known: nodes.iter().map(|n| n.as_ref().to_owned()).collect(),
            }
        };
    }
    if !clustered {
        return Route::Local;
    }
    if manager_operation.is_some() || is_manager_path(api_path) {
        return Route::Manager;
    }
    let segments: SmallVec<[&str; 8]> = api_path.trim_matches('/').split('/').collect();
    if method == Method::GET {
        let fan_out = match segments.as_slice() {
            ["containers", "json"] => Some(FanOut::Containers),
            ["images", "json"] => Some(FanOut::Images),
            ["volumes"] => Some(FanOut::Volumes),
            ["networks"] => Some(FanOut::Networks),
            ["system", "df"] => Some(FanOut::SystemDf),
            ["events"] => Some(FanOut::Events),
            _ => None,
        };
        if let Some(kind) = fan_out {
            return Route::FanOut(kind);
        }
    }
    match segments.as_slice() {
        ["networks", "create"] if method == Method::POST => Route::NetworkCreate,
        ["networks", "prune"] => Route::Local,
        ["networks", id, ..] if method == Method::DELETE || method == Method::GET => {
            Route::NetworkScoped((*id).to_owned())
        }
        ["containers", "create" | "prune" | "json"] => Route::Local,
        ["containers", id, ..] if !id.is_empty() => {
            Route::Owner(Object::Container((*id).to_owned()))
        }
        ["exec", id, ..] if !id.is_empty() => Route::Owner(Object::Exec((*id).to_owned())),
        _ => Route::Local,
    }
}

/// Swarm-wide state: only a manager can answer, and any manager answers for all.
fn is_manager_path(api_path: &str) -> bool {
    let first = api_path.trim_matches('/').split('/').next().unwrap_or("");
    match first {
        "services" | "tasks" | "nodes" | "secrets" | "configs" => true,
        // Joining, leaving, creating and unlocking a swarm are the node's own acts.
        "swarm" => !matches!(
            api_path.trim_end_matches('/'),
            "/swarm/init" | "/swarm/join" | "/swarm/leave" | "/swarm/unlock"
        ),
        _ => false,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use http::HeaderValue;

    fn with(name: http::header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("value"));
        h
    }

    fn clustered(method: Method, path: &str) -> Route {
        route(&method, path, &HeaderMap::new(), &["a", "b"], true)
    }

    #[test]
    fn the_agent_api_is_the_agents() {
        assert_eq!(clustered(Method::GET, "/agent/v1/info"), Route::Agent);
        assert_eq!(clustered(Method::GET, "/agentx"), Route::Local);
        assert_eq!(clustered(Method::GET, "/metrics"), Route::Agent);
        assert_eq!(clustered(Method::GET, "/metricsx"), Route::Local);
    }

    #[test]
    fn targets_are_checked_against_known_nodes() {
        let nodes = ["a", "b"];
        let get = Method::GET;
        assert_eq!(
            route(&get, "/containers/json", &with(TARGET, "b"), &nodes, true),
            Route::Node("b".into())
        );
        assert_eq!(
            route(&get, "/services", &with(TARGET_ALIAS, "a"), &nodes, false),
            Route::Node("a".into())
        );
        assert_eq!(
            route(&get, "/containers/json", &with(TARGET, "zz"), &nodes, true),
            Route::UnknownNode {
                name: "zz".into(),
                known: vec!["a".into(), "b".into()]
            }
        );
        // The header's own name wins over its alias, whichever comes first.
        let mut both = with(TARGET_ALIAS, "a");
        both.insert(TARGET, HeaderValue::from_static("b"));
        assert_eq!(
            route(&get, "/containers/json", &both, &nodes, true),
            Route::Node("b".into())
        );
    }

    #[test]
    fn standalone_runs_everything_locally() {
        let h = HeaderMap::new();
        for path in [
            "/containers/json",
            "/services",
            "/containers/x/logs",
            "/events",
        ] {
            assert_eq!(
                route(&Method::GET, path, &h, &["a"], false),
                Route::Local,
                "{path}"
            );
        }
    }

    #[test]
    fn manager_operations() {
        for path in [
            "/services",
            "/services/create",
            "/tasks",
            "/nodes/x",
            "/secrets",
            "/configs/y",
            "/swarm",
            "/swarm/update",
            "/swarm/unlockkey",
        ] {
            assert_eq!(clustered(Method::POST, path), Route::Manager, "{path}");
        }
        for path in [
            "/swarm/init",
            "/swarm/join",
            "/swarm/leave",
            "/swarm/unlock",
        ] {
            assert_eq!(clustered(Method::POST, path), Route::Local, "{path}");
        }
        assert_eq!(
            route(
                &Method::POST,
                "/containers/create",
                &with(MANAGER_OPERATION, "1"),
                &["a"],
                true
            ),
            Route::Manager
        );
    }

    #[test]
    fn lists_fan_out() {
        assert_eq!(
            clustered(Method::GET, "/containers/json"),
            Route::FanOut(FanOut::Containers)
        );
        assert_eq!(
            clustered(Method::GET, "/images/json"),
            Route::FanOut(FanOut::Images)
        );
        assert_eq!(
            clustered(Method::GET, "/volumes"),
            Route::FanOut(FanOut::Volumes)
        );
        assert_eq!(
            clustered(Method::GET, "/networks"),
            Route::FanOut(FanOut::Networks)
        );
        assert_eq!(
            clustered(Method::GET, "/system/df"),
            Route::FanOut(FanOut::SystemDf)
        );
        assert_eq!(
            clustered(Method::GET, "/events"),
            Route::FanOut(FanOut::Events)
        );
        assert_eq!(clustered(Method::POST, "/volumes/create"), Route::Local);
    }

    #[test]
    fn objects_go_to_their_owner() {
        assert_eq!(
            clustered(Method::GET, "/containers/abc/logs"),
            Route::Owner(Object::Container("abc".into()))
        );
        assert_eq!(
            clustered(Method::POST, "/containers/abc/attach"),
            Route::Owner(Object::Container("abc".into()))
        );
        assert_eq!(
            clustered(Method::DELETE, "/containers/abc"),
            Route::Owner(Object::Container("abc".into()))
        );
        assert_eq!(
            clustered(Method::POST, "/exec/e1/start"),
            Route::Owner(Object::Exec("e1".into()))
        );
        assert_eq!(clustered(Method::POST, "/containers/create"), Route::Local);
        assert_eq!(clustered(Method::POST, "/containers/prune"), Route::Local);
    }

    #[test]
    fn networks_depend_on_their_scope() {
        assert_eq!(
            clustered(Method::POST, "/networks/create"),
            Route::NetworkCreate
        );
        assert_eq!(
            clustered(Method::DELETE, "/networks/n1"),
            Route::NetworkScoped("n1".into())
        );
        assert_eq!(
            clustered(Method::POST, "/networks/n1/connect"),
            Route::Local
        );
    }
}
