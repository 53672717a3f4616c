//! The cluster: which agents exist (SWIM gossip, DNS and static discovery), what each node
//! is (name, engine, Swarm role), and how to reach the others (pinned TLS, agent tokens).
//!
//! An agent without discovery configured is standalone: it knows only itself, and every
//! request runs on its own engine.

pub mod conflicts;
pub mod discovery;
pub mod labels;
pub mod member;
pub mod membership;
pub mod peers;
pub mod seal;
pub mod token;

use std::net::{IpAddr, SocketAddr};
use std::sync::Arc;
use std::time::Duration;

use serde_json::json;
use tokio::sync::watch;
use tokio_util::sync::CancellationToken;

use crate::secret::Secret;
use crate::upstream::UpstreamPool;
pub use discovery::Discovery;
pub use member::{AgentId, MemberState, Node, NodeMeta, Role, View};
use membership::Membership;
pub use peers::Peers;
use token::AgentTokens;

/// How often the agent re-reads its engine's name, Swarm role and leadership.
const META_REFRESH: Duration = Duration::from_secs(2);
const ENGINE_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// Gossip settings; `None` in [`crate::config::AgentConfig`] means standalone.
#[derive(Debug, Clone)]
pub struct ClusterConfig {
    pub gossip_listen: SocketAddr,
    /// The address other agents reach this one at; found from the interfaces (and the
    /// cluster's DNS name) when not given.
    pub advertise: Option<IpAddr>,
    pub discovery: Discovery,
}

#[derive(Debug, thiserror::Error)]
pub enum ClusterError {
    #[error("a cluster needs the cluster secret (--secret-file): it seals gossip and signs agent tokens")]
    NoSecret,
    #[error("--gossip-listen {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Resolver(#[from] discovery::ResolverError),
}

/// The membership and gossip counters as they change; cheap to clone.
#[derive(Clone)]
pub struct Observer {
    view: watch::Receiver<Arc<View>>,
    gossip: Option<Arc<membership::GossipStats>>,
}

impl Observer {
    pub fn view(&self) -> Arc<View> {
        Arc::clone(&self.view.borrow())
    }

    /// Gossip packets received and dropped so far; `None` when standalone.
    pub fn gossip_counts(&self) -> Option<membership::GossipCounts> {
        self.gossip.as_ref().map(|g| g.counts())
    }
}

/// What the rest of the agent knows of the cluster.
pub struct Cluster {
    agent_id: String,
    view: watch::Receiver<Arc<View>>,
    membership: Option<Membership>,
    pub peers: Peers,
    tokens: Option<AgentTokens>,
}

impl Cluster {
    /// Learns this node's metadata from the engine and, when `config` is given, joins the
    /// cluster as the agent `agent_id`. Background tasks end with `shutdown`.
    #[allow(clippy::too_many_arguments)]
    pub async fn start(
        config: Option<ClusterConfig>,
        agent_id: String,
        engine: &UpstreamPool,
        node_name: Option<String>,
        api_listen: SocketAddr,
        cert_sha256: [u8; 32],
        secret: Option<&Secret>,
        shutdown: CancellationToken,
    ) -> Result<Self, ClusterError> {
        let tokens = secret.map(AgentTokens::new);
        let Some(config) = config else {
            let api_addr = advertised(api_listen, None);
            let meta = local_meta(
                engine,
                &agent_id,
                node_name.as_deref(),
                api_addr,
                cert_sha256,
                None,
            )
            .await;
            let me = AgentId {
                gossip: api_addr,
                bump: 0,
                meta,
            };
            let (tx, view) = watch::channel(Arc::new(View::standalone(me)));
            tokio::spawn(refresh_meta(
                MetaSink::Standalone(tx),
                engine.clone(),
                agent_id.clone(),
                node_name,
                api_addr,
                cert_sha256,
                shutdown,
            ));
            return Ok(Self {
                agent_id,
                view,
                membership: None,
                peers: Peers::default(),
                tokens,
            });
        };
        let secret = secret.ok_or(ClusterError::NoSecret)?;
        let resolver = discovery::resolver(config.discovery.dns_server)?;
        let (advertise, listed) = match config.advertise {
            Some(ip) => (ip, false),
            None => advertise_ip(&config, &resolver, engine).await,
        };
        // Gossip only where the cluster's name points (in a Swarm, the overlay network),
        // not on every interface of the container.
        let gossip_listen = if listed {
            SocketAddr::new(advertise, config.gossip_listen.port())
        } else {
            config.gossip_listen
        };
        let api_addr = advertised(api_listen, Some(advertise));
        let meta = local_meta(
            engine,
            &agent_id,
            node_name.as_deref(),
            api_addr,
            cert_sha256,
            None,
        )
        .await;
        let membership = Membership::start(
            gossip_listen,
            advertise,
            meta,
            seal::Sealer::new(secret),
            shutdown.clone(),
        )
        .await
        .map_err(|source| ClusterError::Bind {
            addr: gossip_listen,
            source,
        })?;
        tracing::info!(gossip = %membership.local_addr(), advertise = %advertise, api = %api_addr, "gossip listening");
        if !config.discovery.is_empty() {
            tokio::spawn(discovery::run(
                membership.clone(),
                config.discovery.clone(),
                resolver,
                shutdown.clone(),
            ));
        }
        tokio::spawn(refresh_meta(
            MetaSink::Gossip(membership.clone()),
            engine.clone(),
            agent_id.clone(),
            node_name,
            api_addr,
            cert_sha256,
            shutdown.clone(),
        ));
        tokio::spawn(conflicts::warn_while_running(membership.watch(), shutdown));
        Ok(Self {
            agent_id,
            view: membership.watch(),
            membership: Some(membership),
            peers: Peers::default(),
            tokens,
        })
    }

    pub fn view(&self) -> Arc<View> {
        Arc::clone(&self.view.borrow())
    }

    /// This agent's ID ([`crate::identity`]), as `/agent/v1/info` and gossip show it.
    pub fn agent_id(&self) -> &str {
        &self.agent_id
    }

    /// Whether this agent gossips: its lists are then the cluster's, decorated with nodes.
    pub fn is_clustered(&self) -> bool {
        self.membership.is_some()
    }

    /// A handle that sees the membership and gossip counters as they change, for
    /// reporting them.
    pub fn observer(&self) -> Observer {
        Observer {
            view: self.view.clone(),
            gossip: self.membership.as_ref().map(Membership::stats_handle),
        }
    }

    pub fn gossip_addr(&self) -> Option<SocketAddr> {
        self.membership.as_ref().map(Membership::local_addr)
    }

    pub fn tokens(&self) -> Option<&AgentTokens> {
        self.tokens.as_ref()
    }

    /// `GET /agent/v1/members`.
    pub fn members_json(&self) -> serde_json::Value {
        let view = self.view();
        let conflicts = conflicts::find(&view);
        let now = std::time::SystemTime::now();
        let describe = |id: &AgentId,
                        state: &str,
                        last_seen: std::time::SystemTime,
                        is_self: bool| {
            let unix = last_seen
                .duration_since(std::time::UNIX_EPOCH)
                .map(|d| d.as_secs())
                .unwrap_or(0);
            json!({
                "NodeName": id.meta.node_name,
                "AgentID": id.meta.agent_id,
                "DuplicateID": state != "down" && conflicts::is_duplicate(&conflicts, id),
                "Labels": id.meta.labels,
                "State": state,
                "Self": is_self,
                "Role": id.meta.role.as_str(),
                "Leader": id.meta.leader,
                "EngineID": id.meta.engine_id,
                "SwarmNodeID": id.meta.swarm_node_id,
                "EngineApiVersion": id.meta.engine_api_version,
                "AgentVersion": id.meta.agent_version,
                "EngineReachable": id.meta.engine_up,
                "ApiAddr": id.meta.api_addr.to_string(),
                "GossipAddr": id.gossip.to_string(),
                "LastSeen": unix,
                "LastSeenSecondsAgo": now.duration_since(last_seen).map(|d| d.as_secs()).unwrap_or(0),
            })
        };
        let mut members = vec![describe(&view.me, "alive", now, true)];
        members.extend(view.members.iter().map(|m| {
            let state = match m.state {
                MemberState::Alive => "alive",
                MemberState::Suspect => "suspect",
                MemberState::Down => "down",
            };
            describe(&m.id, state, m.last_seen, false)
        }));
        json!({
            "Members": members,
            "Conflicts": conflicts,
            "Gossip": self.membership.as_ref().map(|m| json!(m.stats())),
        })
    }
}

/// The API address others use: the listening address, or the advertised IP with the
/// listening port when the agent listens on every interface.
fn advertised(listen: SocketAddr, advertise: Option<IpAddr>) -> SocketAddr {
    if listen.ip().is_unspecified() {
        SocketAddr::new(
            advertise
                .unwrap_or_else(|| first_interface_ip().unwrap_or(IpAddr::from([127, 0, 0, 1]))),
            listen.port(),
        )
    } else {
        listen
    }
}

/// The address to gossip from, and whether it is known to be the cluster's network (then
/// gossip binds to it alone):
/// - the listening one, if specific;
/// - in a container whose engine says it is on exactly one overlay network besides the
///   ingress, its address there (in a Swarm, `agent_network`). Swarm lists a task with a
///   health check in DNS only once it is healthy, so DNS cannot tell this at start;
/// - the one of this host's addresses that the cluster's DNS name lists;
/// - else the first non-loopback one.
async fn advertise_ip(
    config: &ClusterConfig,
    resolver: &hickory_resolver::TokioResolver,
    engine: &UpstreamPool,
) -> (IpAddr, bool) {
    if !config.gossip_listen.ip().is_unspecified() {
        return (config.gossip_listen.ip(), false);
    }
    let mine: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    if let Some(ip) = overlay_ip(engine).await.filter(|ip| mine.contains(ip)) {
        return (ip, true);
    }
    if let Some(name) = &config.discovery.cluster_addr {
        for _ in 0..6 {
            let listed = discovery::lookup(resolver, name).await;
            if let Some(ip) = listed.into_iter().find(|ip| mine.contains(ip)) {
                return (ip, true);
            }
            tokio::time::sleep(Duration::from_millis(500)).await;
        }
        tracing::warn!(name = %name, "none of this host's addresses is listed under the cluster name; advertising the first interface address");
    }
    (
        first_interface_ip().unwrap_or(IpAddr::from([127, 0, 0, 1])),
        false,
    )
}

/// This container's address on its one overlay network other than the ingress, as its
/// engine reports it; `None` outside a container or with no or several such networks.
async fn overlay_ip(engine: &UpstreamPool) -> Option<IpAddr> {
    let id = own_container_id()?;
    let container = engine
        .get_json(&format!("/containers/{id}/json"), ENGINE_QUERY_TIMEOUT)
        .await
        .ok()?;
    let mut found = Vec::new();
    for network in container["NetworkSettings"]["Networks"]
        .as_object()?
        .values()
    {
        let (Some(net_id), Some(ip)) = (
            network["NetworkID"].as_str(),
            network["IPAddress"]
                .as_str()
                .and_then(|a| a.parse::<IpAddr>().ok()),
        ) else {
            continue;
        };
        let Ok(net) = engine
            .get_json(&format!("/networks/{net_id}"), ENGINE_QUERY_TIMEOUT)
            .await
        else {
            continue;
        };
        if net["Driver"] == "overlay" && net["Ingress"] != true {
            found.push(ip);
        }
    }
    match found.as_slice() {
        [ip] => Some(*ip),
        [] => None,
        _ => {
            tracing::warn!(addresses = ?found, "on several overlay networks; choosing by DNS");
            None
        }
    }
}

/// The ID of the container this process runs in, read from the engine's bind mounts of
/// `/etc/hostname` and friends.
fn own_container_id() -> Option<String> {
    let mounts = std::fs::read_to_string("/proc/self/mountinfo").ok()?;
    container_id_in(&mounts)
}

fn container_id_in(mountinfo: &str) -> Option<String> {
    mountinfo.lines().find_map(|line| {
        let mount_point = line.split(' ').nth(4)?;
        if !matches!(
            mount_point,
            "/etc/hostname" | "/etc/hosts" | "/etc/resolv.conf"
        ) {
            return None;
        }
        let (_, rest) = line.split_once("/containers/")?;
        let id: String = rest.chars().take_while(|c| c.is_ascii_hexdigit()).collect();
        (id.len() == 64).then_some(id)
    })
}

fn first_interface_ip() -> Option<IpAddr> {
    let mut ifs = if_addrs::get_if_addrs().ok()?;
    ifs.sort_by_key(|i| (!i.ip().is_ipv4(), i.name.clone()));
    ifs.into_iter().map(|i| i.ip()).find(|ip| !ip.is_loopback())
}

/// This node's metadata as its engine tells it now. When the engine does not answer, the
/// node keeps its name, engine and role from `previous` (its identity does not change
/// because its engine is down) and says the engine is unreachable.
pub async fn local_meta(
    engine: &UpstreamPool,
    agent_id: &str,
    name_override: Option<&str>,
    api_addr: SocketAddr,
    cert_sha256: [u8; 32],
    previous: Option<&NodeMeta>,
) -> NodeMeta {
    let host = crate::host::host_name();
    let info = match engine.get_json("/info", ENGINE_QUERY_TIMEOUT).await {
        Ok(info) => info,
        Err(e) => {
            if let Some(previous) = previous {
                if previous.engine_up {
                    tracing::warn!(error = %e, "the engine stopped answering");
                }
                return NodeMeta {
                    engine_up: false,
                    ..previous.clone()
                };
            }
            tracing::warn!(error = %e, "cannot ask the engine about this node; named after the host until it answers");
            serde_json::Value::Null
        }
    };
    let engine_up = !info.is_null();
    let text = |v: &serde_json::Value| v.as_str().filter(|s| !s.is_empty()).map(str::to_owned);
    let swarm = &info["Swarm"];
    let active = swarm["LocalNodeState"] == "active";
    let role = match (active, swarm["ControlAvailable"].as_bool()) {
        (false, _) => Role::Standalone,
        (true, Some(true)) => Role::Manager,
        (true, _) => Role::Worker,
    };
    let swarm_node_id = if active {
        text(&swarm["NodeID"]).unwrap_or_default()
    } else {
        String::new()
    };
    let leader = role == Role::Manager && is_leader(engine, &swarm_node_id).await;
    let api_version = match engine.get_json("/version", ENGINE_QUERY_TIMEOUT).await {
        Ok(v) => text(&v["ApiVersion"]).unwrap_or_default(),
        Err(_) => String::new(),
    };
    let mut meta = NodeMeta {
        node_name: name_override
            .map(str::to_owned)
            .or_else(|| text(&info["Name"]))
            .unwrap_or_else(|| host.clone()),
        engine_id: text(&info["ID"]).unwrap_or_else(|| format!("host:{host}")),
        swarm_node_id,
        role,
        leader,
        engine_api_version: api_version,
        agent_version: crate::VERSION.to_owned(),
        api_addr,
        cert_sha256,
        engine_up,
        agent_id: agent_id.to_owned(),
        labels: Default::default(),
    };
    let dropped = labels::fit(&mut meta, labels::from_info(&info));
    if !dropped.is_empty() && previous.is_none_or(|p| p.labels != meta.labels) {
        tracing::warn!(
            dropped = ?dropped,
            kept = meta.labels.len(),
            limit_bytes = labels::META_MAX,
            "the engine's labels do not all fit in the node's gossip metadata; these are left out of the members list"
        );
    }
    meta
}

async fn is_leader(engine: &UpstreamPool, node_id: &str) -> bool {
    if node_id.is_empty() {
        return false;
    }
    match engine
        .get_json(&format!("/nodes/{node_id}"), ENGINE_QUERY_TIMEOUT)
        .await
    {
        Ok(node) => node["ManagerStatus"]["Leader"].as_bool().unwrap_or(false),
        Err(_) => false,
    }
}

/// Where a node's refreshed metadata goes: straight into a standalone agent's view, or
/// out through gossip.
enum MetaSink {
    Standalone(watch::Sender<Arc<View>>),
    Gossip(Membership),
}

impl MetaSink {
    fn current(&self) -> NodeMeta {
        match self {
            MetaSink::Standalone(view) => view.borrow().me.meta.clone(),
            MetaSink::Gossip(membership) => membership.view().me.meta.clone(),
        }
    }

    fn publish(&self, meta: NodeMeta) {
        match self {
            MetaSink::Standalone(view) => {
                view.send_modify(|v| {
                    let mut me = v.me.clone();
                    me.meta = meta;
                    *v = Arc::new(View::standalone(me));
                });
            }
            MetaSink::Gossip(membership) => membership.update_meta(meta),
        }
    }
}

/// Re-reads this node's metadata from its engine every [`META_REFRESH`] and publishes it
/// when it changed (a promotion, a new leader, an engine gone or back).
async fn refresh_meta(
    sink: MetaSink,
    engine: UpstreamPool,
    agent_id: String,
    name: Option<String>,
    api_addr: SocketAddr,
    cert: [u8; 32],
    shutdown: CancellationToken,
) {
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tokio::time::sleep(META_REFRESH) => {}
        }
        let previous = sink.current();
        let meta = local_meta(
            &engine,
            &agent_id,
            name.as_deref(),
            api_addr,
            cert,
            Some(&previous),
        )
        .await;
        if previous != meta {
            tracing::info!(
                role = meta.role.as_str(),
                leader = meta.leader,
                engine_up = meta.engine_up,
                "node metadata changed"
            );
            sink.publish(meta);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_id_is_read_from_the_engines_bind_mounts() {
        let id = "76a419e793c3".to_owned() + &"ab".repeat(26);
        let mountinfo = format!(
            "1461 1460 0:120 / / rw,relatime - overlay overlay rw\n\
             1475 1461 254:0 /var/lib/docker/containers/{id}/resolv.conf /etc/resolv.conf rw - ext4 /dev/vda rw\n"
        );
        assert_eq!(container_id_in(&mountinfo), Some(id.clone()));
        assert_eq!(
            container_id_in("1461 1460 0:120 / / rw - overlay overlay rw\n"),
            None
        );
        // On the host, other containers' mounts are visible but are not this process's.
        let host =
            format!("88 29 0:50 / /var/lib/docker/containers/{id}/mounts/shm rw - tmpfs shm rw\n");
        assert_eq!(container_id_in(&host), None);
    }
}
