//! The agent's state at scrape time: client connections, long-lived streams, connections
//! to the engine, gossip members by state and packets dropped, image update checks.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;

use crate::admission::Admission;
use crate::cluster::{MemberState, Observer};
use crate::updates::registry::Counters;
use crate::upstream::UpstreamPool;

#[derive(Clone)]
pub struct AgentState {
    pub admission: Arc<Admission>,
    /// How many long-lived requests are held now.
    pub open_streams: Arc<dyn Fn() -> usize + Send + Sync>,
    pub engine: UpstreamPool,
    pub cluster: Observer,
    /// Update checks run, registry requests made and images that could not be checked.
    pub updates: Arc<Counters>,
}

impl std::fmt::Debug for AgentState {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("AgentState")
    }
}

fn gauge(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    value: i64,
) -> Result<(), std::fmt::Error> {
    let metric = ConstGauge::new(value);
    metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)
}

impl Collector for AgentState {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        gauge(
            &mut encoder,
            "agent_connections",
            "Client connections open",
            self.admission.open() as i64,
        )?;
        gauge(
            &mut encoder,
            "agent_streams",
            "Long-lived requests held (logs -f, events, attach, exec)",
            (self.open_streams)() as i64,
        )?;
        gauge(
            &mut encoder,
            "agent_engine_connections",
            "Connections open to this node's engine",
            self.engine.open_connections() as i64,
        )?;
        let view = self.cluster.view();
        let mut members = encoder.encode_descriptor(
            "agent_gossip_members",
            "Cluster members this agent knows, by state",
            None,
            MetricType::Gauge,
        )?;
        for (state, label) in [
            (MemberState::Alive, "alive"),
            (MemberState::Suspect, "suspect"),
            (MemberState::Down, "down"),
        ] {
            let n = view.members.iter().filter(|m| m.state == state).count() as i64;
            ConstGauge::new(n).encode(members.encode_family(&[("state", label)])?)?;
        }
        for (name, help, value) in [
            (
                "agent_update_checks",
                "Image update checks run",
                &self.updates.checks,
            ),
            (
                "agent_update_registry_requests",
                "Manifest and tag-list requests made to registries by update checks",
                &self.updates.registry_requests,
            ),
            (
                "agent_update_errors",
                "Images an update check could not check",
                &self.updates.errors,
            ),
        ] {
            let metric = ConstCounter::new(value.load(Ordering::Relaxed));
            metric.encode(encoder.encode_descriptor(name, help, None, metric.metric_type())?)?;
        }
        if let Some(counts) = self.cluster.gossip_counts() {
            let mut packets = encoder.encode_descriptor(
                "agent_gossip_packets",
                "Gossip packets received, and those dropped before the protocol saw them, by why",
                None,
                MetricType::Counter,
            )?;
            for (outcome, n) in [
                ("received", counts.received),
                ("forged", counts.dropped_forged),
                ("stale", counts.dropped_stale),
                ("malformed", counts.dropped_malformed),
            ] {
                ConstCounter::new(n).encode(packets.encode_family(&[("outcome", outcome)])?)?;
            }
        }
        Ok(())
    }
}
