//! Finding the other agents: the Swarm's DNS name for all tasks of the service
//! (`tasks.agent`), re-resolved for as long as the agent runs, and static `--join` peers.
//! Every address that is not already a live member is announced to, so an agent that
//! started before DNS knew its peers joins them as soon as they appear.

use std::collections::HashSet;
use std::net::SocketAddr;
use std::time::Duration;

use hickory_resolver::TokioResolver;
use tokio_util::sync::CancellationToken;

pub use crate::resolve::{lookup, resolver, system_resolver, ResolverError};

use super::member::MemberState;
use super::membership::Membership;

/// Where to look for peers.
#[derive(Debug, Clone, Default)]
pub struct Discovery {
    /// A DNS name whose A records are the agents (`tasks.agent`); their gossip port is ours.
    pub cluster_addr: Option<String>,
    /// `HOST:PORT` gossip addresses of static peers.
    pub join: Vec<String>,
    /// A DNS server to ask instead of the system's (`IP:PORT`).
    pub dns_server: Option<SocketAddr>,
    pub interval: Duration,
}

impl Discovery {
    pub fn is_empty(&self) -> bool {
        self.cluster_addr.is_none() && self.join.is_empty()
    }
}

/// Every gossip address discovery currently points at.
pub async fn targets(
    resolver: &TokioResolver,
    discovery: &Discovery,
    gossip_port: u16,
) -> Vec<SocketAddr> {
    let mut found = Vec::new();
    if let Some(name) = &discovery.cluster_addr {
        found.extend(
            lookup(resolver, name)
                .await
                .into_iter()
                .map(|ip| SocketAddr::new(ip, gossip_port)),
        );
    }
    for peer in &discovery.join {
        if let Ok(addr) = peer.parse::<SocketAddr>() {
            found.push(addr);
            continue;
        }
        let Some((host, port)) = peer.rsplit_once(':') else {
            continue;
        };
        let Ok(port) = port.parse::<u16>() else {
            continue;
        };
        found.extend(
            lookup(resolver, host)
                .await
                .into_iter()
                .map(|ip| SocketAddr::new(ip, port)),
        );
    }
    found.sort();
    found.dedup();
    found
}

/// Announces to every discovered address that is not a live member, every `interval`,
/// until `shutdown`.
pub async fn run(
    membership: Membership,
    discovery: Discovery,
    resolver: TokioResolver,
    shutdown: CancellationToken,
) {
    let gossip_port = membership.view().me.gossip.port();
    let mut tick = tokio::time::interval(discovery.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut seen: HashSet<SocketAddr> = HashSet::new();
    loop {
        tokio::select! {
            _ = shutdown.cancelled() => return,
            _ = tick.tick() => {}
        }
        let view = membership.view();
        let live: HashSet<SocketAddr> = view
            .members
            .iter()
            .filter(|m| m.state != MemberState::Down)
            .map(|m| m.id.gossip)
            .collect();
        for addr in targets(&resolver, &discovery, gossip_port).await {
            if addr == view.me.gossip || live.contains(&addr) {
                continue;
            }
            if seen.insert(addr) {
                tracing::info!(%addr, "discovered a peer; announcing");
            }
            membership.announce(addr);
        }
    }
}
