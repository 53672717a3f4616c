//! Where a request runs: a pure function of the request, the client's profile and the
//! cluster as this agent sees it, in the order of the routing table (`docs/routing.md`).
//! Nothing here does I/O; `proxy::execute` carries the answer out. What cannot be known
//! without asking (a network's scope, a container's node, the driver in a body) is
//! answered as the choice to make once it is known.

use std::borrow::Cow;

use http::{HeaderMap, Method};

use crate::access::{Profile, Refusal};
use crate::cluster::{Node, Role, View};
use crate::error::{ProxyError, NOT_A_MANAGER};

mod route;

pub use route::{route, FanOut, Object, Route};

/// What placement needs to know of a request.
pub struct Ask<'a> {
    pub method: &'a Method,
    /// The path without its version prefix.
    pub api_path: &'a str,
    pub headers: &'a HeaderMap,
    /// Another agent forwarded it: placement happened there.
    pub forwarded: bool,
    pub profile: &'a Profile,
}

/// Where a request runs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Placement<'v> {
    /// The agent's own API (`/agent/v1/...`).
    Agent,
    /// This node's engine.
    Here,
    /// One node, by name (`X-Agent-Target`).
    Node(&'v Node),
    /// A manager operation: these managers, tried in this order until one serves it.
    Managers(Vec<Node>),
    /// Every one of `nodes` at once, merged; `missing` are named as left out.
    FanOut {
        kind: FanOut,
        nodes: Cow<'v, [Node]>,
        missing: Vec<String>,
    },
    /// The node among `among` that holds the object.
    Owner {
        object: Object,
        among: Cow<'v, [Node]>,
    },
    /// A request on one network: `swarm` when this node's engine says the network is
    /// swarm-scoped (or does not know it), `local` otherwise.
    NetworkScope {
        id: String,
        swarm: Box<Placement<'v>>,
        local: Box<Placement<'v>>,
    },
    /// Creating a network: `overlay` when the specification's driver is `overlay`.
    NetworkDriver {
        overlay: Box<Placement<'v>>,
        other: Box<Placement<'v>>,
    },
    /// `/_ping` on a worker of a cluster with managers: this engine's answer, presented
    /// as a manager's.
    PingAsManager,
    /// `/info` on a worker of a cluster with managers: this engine's answer with the
    /// Swarm state of the first of these managers that answers.
    InfoWithManagers(Vec<Node>),
    /// Nowhere: the reason is the answer.
    Refused(Unplaced),
}

impl Placement<'_> {
    /// The kind of placement, as the agent's request metrics label it.
    pub fn class(&self) -> &'static str {
        match self {
            Placement::Agent => "agent",
            Placement::Here => "here",
            Placement::Node(_) => "node",
            Placement::Managers(_) => "manager",
            Placement::FanOut { .. } => "fanout",
            Placement::Owner { .. } => "owner",
            Placement::NetworkScope { .. } | Placement::NetworkDriver { .. } => "network",
            Placement::PingAsManager | Placement::InfoWithManagers(_) => "presented",
            Placement::Refused(_) => "refused",
        }
    }
}

/// Why a request has no place to run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Unplaced {
    /// `X-Agent-Target` named a node the cluster does not have.
    UnknownNode {
        name: String,
        known: Vec<String>,
    },
    /// The profile does not reach the node the request needs.
    OutOfReach(Refusal),
    NoNodeInReach {
        profile: String,
    },
    NoManagerInReach {
        profile: String,
    },
    /// The cluster is a Swarm and none of its managers can be reached.
    NoManager,
}

impl From<Unplaced> for ProxyError {
    fn from(unplaced: Unplaced) -> Self {
        match unplaced {
            Unplaced::UnknownNode { name, known } => ProxyError::NotFound(format!(
                "no node named {name:?} in this cluster (known nodes: {})",
                known.join(", ")
            )),
            Unplaced::OutOfReach(refusal) => refusal.into(),
            Unplaced::NoNodeInReach { profile } => ProxyError::Forbidden(format!(
                "profile {profile:?} may reach none of this cluster's nodes"
            )),
            Unplaced::NoManagerInReach { profile } => ProxyError::Forbidden(format!(
                "profile {profile:?} may reach none of this cluster's managers"
            )),
            Unplaced::NoManager => ProxyError::Unavailable(NOT_A_MANAGER.into()),
        }
    }
}

/// Places a request. `clustered` says whether this agent has peers to consider at all.
pub fn place<'v>(ask: &Ask<'_>, view: &'v View, clustered: bool) -> Placement<'v> {
    let profile = ask.profile;
    let me = view.me.meta.node_name.as_str();
    let here = || match profile.check_node(me) {
        Ok(()) => Placement::Here,
        Err(refusal) => Placement::Refused(Unplaced::OutOfReach(refusal)),
    };
    // A request another agent forwarded was placed there: it runs here, on this agent's
    // own API when it asks for that.
    if ask.forwarded {
        return match (route::is_agent_api(ask.api_path), here()) {
            (true, Placement::Here) => Placement::Agent,
            (_, placed) => placed,
        };
    }
    let names = view.names();
    // Only a profile limited to some nodes needs a list of its own.
    let in_reach = || -> Cow<'v, [Node]> {
        if profile.nodes.is_none() {
            return Cow::Borrowed(view.nodes());
        }
        view.nodes()
            .iter()
            .filter(|n| profile.reaches(&n.meta.node_name))
            .cloned()
            .collect()
    };
    match route(ask.method, ask.api_path, ask.headers, names, clustered) {
        Route::Agent => Placement::Agent,
        Route::UnknownNode { name, known } => {
            Placement::Refused(Unplaced::UnknownNode { name, known })
        }
        Route::Node(name) => match profile.check_node(&name) {
            Ok(()) => view
                .nodes()
                .iter()
                .find(|n| n.meta.node_name == name)
                .map_or_else(
                    || {
                        Placement::Refused(Unplaced::UnknownNode {
                            name,
                            known: names.to_vec(),
                        })
                    },
                    Placement::Node,
                ),
            Err(refusal) => Placement::Refused(Unplaced::OutOfReach(refusal)),
        },
        Route::Manager => managers(view, profile),
        Route::NetworkScoped(id) => match here() {
            Placement::Here
                if !(view.me.meta.role == Role::Manager || view.managers().is_empty()) =>
            {
                Placement::NetworkScope {
                    id,
                    swarm: Box::new(managers(view, profile)),
                    local: Box::new(Placement::Here),
                }
            }
            other => other,
        },
        Route::NetworkCreate => match here() {
            Placement::Here => Placement::NetworkDriver {
                overlay: Box::new(managers(view, profile)),
                other: Box::new(Placement::Here),
            },
            other => other,
        },
        Route::FanOut(kind) => Placement::FanOut {
            kind,
            nodes: in_reach(),
            missing: view
                .missing()
                .iter()
                .filter(|n| profile.reaches(n))
                .cloned()
                .collect(),
        },
        Route::Owner(object) => {
            let among = in_reach();
            if among.is_empty() {
                Placement::Refused(Unplaced::NoNodeInReach {
                    profile: profile.name.clone(),
                })
            } else {
                Placement::Owner { object, among }
            }
        }
        Route::Local if clustered && (ask.api_path == "/_ping" || ask.api_path == "/info") => {
            match here() {
                Placement::Here => present_as_manager(view, ask.api_path),
                other => other,
            }
        }
        Route::Local => here(),
    }
}

/// A manager operation: here when this node is a manager whose engine is up, else the
/// leader, then the other managers. A cluster without managers lets the local engine
/// answer, unless it is a Swarm.
fn managers<'v>(view: &View, profile: &Profile) -> Placement<'v> {
    let me = &view.me.meta;
    if me.role == Role::Manager && me.engine_up && profile.reaches(&me.node_name) {
        return Placement::Here;
    }
    let all = view.managers();
    let managers: Vec<Node> = all
        .iter()
        .filter(|m| profile.reaches(&m.meta.node_name))
        .cloned()
        .collect();
    if !managers.is_empty() {
        return Placement::Managers(managers);
    }
    if !all.is_empty() {
        return Placement::Refused(Unplaced::NoManagerInReach {
            profile: profile.name.clone(),
        });
    }
    if view.nodes().iter().any(|n| n.meta.role != Role::Standalone) {
        return Placement::Refused(Unplaced::NoManager);
    }
    Placement::Here
}

/// `/_ping` and `/info` through a worker's agent: when the cluster has managers, the
/// endpoint presents itself as one, as `docker stack deploy` and `docker service` require;
/// their requests are then sent to a manager.
fn present_as_manager<'v>(view: &View, api_path: &str) -> Placement<'v> {
    let managers = view.managers();
    if view.me.meta.role == Role::Manager || managers.is_empty() {
        Placement::Here
    } else if api_path == "/_ping" {
        Placement::PingAsManager
    } else {
        Placement::InfoWithManagers(managers)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::headers::TARGET;
    use http::HeaderValue;

    fn with(name: http::header::HeaderName, value: &str) -> HeaderMap {
        let mut h = HeaderMap::new();
        h.insert(name, HeaderValue::from_str(value).expect("value"));
        h
    }

    // -----------------------------------------------------------------------------------
    // Placement against a cluster view and a profile.

    use crate::cluster::member::{AgentId, Member, MemberState, NodeMeta};
    use std::net::SocketAddr;
    use std::time::SystemTime;

    /// A node: `m` manager, `L` leader manager, `w` worker, `s` standalone; `!` engine down.
    fn meta(name: &str, kind: &str, port: u16) -> NodeMeta {
        NodeMeta {
            node_name: name.into(),
            engine_id: format!("E-{name}"),
            swarm_node_id: String::new(),
            role: match kind.trim_end_matches('!') {
                "m" | "L" => Role::Manager,
                "w" => Role::Worker,
                _ => Role::Standalone,
            },
            leader: kind.starts_with('L'),
            engine_api_version: "1.41".into(),
            agent_version: "0".into(),
            api_addr: SocketAddr::from(([127, 0, 0, 1], port)),
            cert_sha256: [0; 32],
            engine_up: !kind.ends_with('!'),
            agent_id: format!("id-{name}"),
            labels: Default::default(),
        }
    }

    /// This node first, then the others, each `(name, kind)`.
    fn view(nodes: &[(&str, &str)]) -> View {
        let mut me = AgentId::placeholder(SocketAddr::from(([127, 0, 0, 1], 1)));
        me.meta = meta(nodes[0].0, nodes[0].1, 1);
        let members = nodes[1..]
            .iter()
            .zip(2..)
            .map(|((name, kind), port)| {
                let meta = meta(name, kind, port);
                Member {
                    id: AgentId {
                        gossip: meta.api_addr,
                        bump: 0,
                        meta,
                    },
                    state: MemberState::Alive,
                    last_seen: SystemTime::now(),
                }
            })
            .collect();
        View::new(me, members)
    }

    fn names(nodes: &[Node]) -> Vec<&str> {
        nodes.iter().map(|n| n.meta.node_name.as_str()).collect()
    }

    fn limited_to(nodes: &[&str]) -> Profile {
        Profile {
            name: "limited".into(),
            nodes: Some(nodes.iter().map(|n| (*n).to_owned()).collect()),
            ..Profile::admin()
        }
    }

    struct Case<'a> {
        method: Method,
        path: &'a str,
        headers: HeaderMap,
        forwarded: bool,
        profile: Profile,
    }

    fn case(method: Method, path: &str) -> Case<'_> {
        Case {
            method,
            path,
            headers: HeaderMap::new(),
            forwarded: false,
            profile: Profile::admin(),
        }
    }

    impl Case<'_> {
        fn on<'v>(&self, view: &'v View) -> Placement<'v> {
            let ask = Ask {
                method: &self.method,
                api_path: self.path,
                headers: &self.headers,
                forwarded: self.forwarded,
                profile: &self.profile,
            };
            place(&ask, view, view.nodes().len() > 1)
        }
    }

    /// A short description of a placement, for tables.
    fn said(p: &Placement<'_>) -> String {
        match p {
            Placement::Agent => "agent".into(),
            Placement::Here => "here".into(),
            Placement::Node(n) => format!("node {}", n.meta.node_name),
            Placement::Managers(m) => format!("managers {}", names(m).join(",")),
            Placement::FanOut { nodes, missing, .. } => {
                format!(
                    "fan-out {} missing {}",
                    names(nodes).join(","),
                    missing.join(",")
                )
            }
            Placement::Owner { among, .. } => format!("owner among {}", names(among).join(",")),
            Placement::NetworkScope { swarm, local, .. } => {
                format!("scope swarm:{} local:{}", said(swarm), said(local))
            }
            Placement::NetworkDriver { overlay, other } => {
                format!("driver overlay:{} other:{}", said(overlay), said(other))
            }
            Placement::PingAsManager => "ping as manager".into(),
            Placement::InfoWithManagers(m) => format!("info with {}", names(m).join(",")),
            Placement::Refused(u) => {
                format!("refused {}", ProxyError::from(u.clone()).status().as_u16())
            }
        }
    }

    #[test]
    fn placement_table() {
        let worker = view(&[("w1", "w"), ("m1", "m"), ("m2", "L"), ("w2", "w")]);
        let manager = view(&[("m1", "m"), ("m2", "L"), ("w1", "w")]);
        let leader_down = view(&[("w1", "w"), ("m1", "m"), ("m2", "L!")]);
        let no_managers = view(&[("w1", "w"), ("w2", "w")]);
        let standalone_peers = view(&[("a", "s"), ("b", "s")]);
        let alone = view(&[("a", "s")]);
        let get = || Method::GET;
        let post = || Method::POST;
        let delete = || Method::DELETE;
        let rows: Vec<(&str, Case<'_>, &View, &str)> = vec![
            ("agent API", case(get(), "/agent/v1/info"), &worker, "agent"),
            // Manager order: the leader, then the others; here when this node manages.
            (
                "a worker sends to the leader first",
                case(get(), "/services"),
                &worker,
                "managers m2,m1",
            ),
            (
                "a manager serves itself",
                case(post(), "/services/create"),
                &manager,
                "here",
            ),
            (
                "a leader with its engine down is passed over",
                case(get(), "/nodes"),
                &leader_down,
                "managers m1",
            ),
            (
                "a Swarm without managers in sight",
                case(get(), "/services"),
                &no_managers,
                "refused 503",
            ),
            (
                "peers without a Swarm: here",
                case(get(), "/services"),
                &standalone_peers,
                "here",
            ),
            ("standalone: here", case(get(), "/services"), &alone, "here"),
            // A forwarded request runs here, whatever it is.
            (
                "forwarded manager op",
                Case {
                    forwarded: true,
                    ..case(get(), "/services")
                },
                &worker,
                "here",
            ),
            (
                "forwarded agent API",
                Case {
                    forwarded: true,
                    ..case(get(), "/agent/v1/metrics")
                },
                &worker,
                "agent",
            ),
            (
                "forwarded list",
                Case {
                    forwarded: true,
                    ..case(get(), "/containers/json")
                },
                &worker,
                "here",
            ),
            (
                "forwarded, node out of reach",
                Case {
                    forwarded: true,
                    profile: limited_to(&["w2"]),
                    ..case(get(), "/info")
                },
                &worker,
                "refused 403",
            ),
            // Lists fan out to the nodes in reach.
            (
                "list",
                case(get(), "/containers/json"),
                &worker,
                "fan-out w1,m1,m2,w2 missing ",
            ),
            (
                "list within reach",
                Case {
                    profile: limited_to(&["w2", "m1"]),
                    ..case(get(), "/images/json")
                },
                &worker,
                "fan-out m1,w2 missing ",
            ),
            // Owners are searched among the nodes in reach.
            (
                "container",
                case(get(), "/containers/web/logs"),
                &worker,
                "owner among w1,m1,m2,w2",
            ),
            (
                "exec within reach",
                Case {
                    profile: limited_to(&["m2"]),
                    ..case(post(), "/exec/e1/start")
                },
                &worker,
                "owner among m2",
            ),
            (
                "no node in reach",
                Case {
                    profile: limited_to(&["elsewhere"]),
                    ..case(get(), "/containers/web/json")
                },
                &worker,
                "refused 403",
            ),
            // Networks: scope and driver decide between here and the managers.
            (
                "network on a worker",
                case(delete(), "/networks/n1"),
                &worker,
                "scope swarm:managers m2,m1 local:here",
            ),
            (
                "network on a manager",
                case(get(), "/networks/n1"),
                &manager,
                "here",
            ),
            (
                "network without managers",
                case(get(), "/networks/n1"),
                &no_managers,
                "here",
            ),
            (
                "network create on a worker",
                case(post(), "/networks/create"),
                &worker,
                "driver overlay:managers m2,m1 other:here",
            ),
            (
                "network create on a manager",
                case(post(), "/networks/create"),
                &manager,
                "driver overlay:here other:here",
            ),
            (
                "network create, this node out of reach",
                Case {
                    profile: limited_to(&["m1"]),
                    ..case(post(), "/networks/create")
                },
                &worker,
                "refused 403",
            ),
            // A worker presents itself as a manager.
            (
                "ping on a worker",
                case(get(), "/_ping"),
                &worker,
                "ping as manager",
            ),
            (
                "info on a worker",
                case(get(), "/info"),
                &worker,
                "info with m2,m1",
            ),
            ("info on a manager", case(get(), "/info"), &manager, "here"),
            (
                "info without managers",
                case(get(), "/info"),
                &no_managers,
                "here",
            ),
            ("info standalone", case(get(), "/info"), &alone, "here"),
            // Targets.
            (
                "target",
                Case {
                    headers: with(TARGET, "m1"),
                    ..case(get(), "/containers/json")
                },
                &worker,
                "node m1",
            ),
            (
                "target out of reach",
                Case {
                    headers: with(TARGET, "m1"),
                    profile: limited_to(&["w1"]),
                    ..case(get(), "/info")
                },
                &worker,
                "refused 403",
            ),
            (
                "unknown target",
                Case {
                    headers: with(TARGET, "zz"),
                    ..case(get(), "/info")
                },
                &worker,
                "refused 404",
            ),
            // Managers within reach.
            (
                "managers within reach",
                Case {
                    profile: limited_to(&["w1", "m1"]),
                    ..case(get(), "/services")
                },
                &worker,
                "managers m1",
            ),
            (
                "no manager in reach",
                Case {
                    profile: limited_to(&["w1", "w2"]),
                    ..case(get(), "/services")
                },
                &worker,
                "refused 403",
            ),
            (
                "everything else here",
                case(post(), "/containers/create"),
                &worker,
                "here",
            ),
            (
                "here out of reach",
                Case {
                    profile: limited_to(&["m1"]),
                    ..case(post(), "/images/create")
                },
                &worker,
                "refused 403",
            ),
        ];
        let mut wrong = Vec::new();
        for (what, case, view, want) in &rows {
            let got = said(&case.on(view));
            if got != *want {
                wrong.push(format!("{what}: got {got:?}, want {want:?}"));
            }
        }
        assert!(wrong.is_empty(), "{}", wrong.join("\n"));
    }

    #[test]
    fn refusals_say_why() {
        let worker = view(&[("w1", "w"), ("m1", "m")]);
        let unknown = Case {
            headers: with(TARGET, "zz"),
            ..case(Method::GET, "/info")
        }
        .on(&worker);
        let Placement::Refused(unplaced) = unknown else {
            panic!("{unknown:?}")
        };
        assert_eq!(
            ProxyError::from(unplaced).to_string(),
            "no node named \"zz\" in this cluster (known nodes: w1, m1)"
        );
        let workers = view(&[("w1", "w"), ("w2", "w")]);
        let no_manager = case(Method::GET, "/services").on(&workers);
        let Placement::Refused(unplaced) = no_manager else {
            panic!("{no_manager:?}")
        };
        assert_eq!(ProxyError::from(unplaced).to_string(), NOT_A_MANAGER);
    }
}
