//! What the agent tells Prometheus (`GET /metrics`, OpenMetrics text through
//! `prometheus-client`): every series carries this node's name as `node`.
//!
//! | file | series |
//! | --- | --- |
//! | [`requests`] | requests by placement class and status, their latency, fan-out nodes left out |
//! | [`usage`] | the host's and each container's usage, from the latest sample |
//! | [`state`] | connections, streams, engine connections, gossip members and packets |
//! | [`merge`] | one scrape of every node's series (`?scope=cluster`) |

pub mod merge;
pub mod requests;
pub mod state;
pub mod usage;

use std::borrow::Cow;
use std::collections::BTreeMap;
use std::sync::Arc;

use prometheus_client::registry::Registry;

pub use requests::Requests;

use crate::usage::Usage;

/// The OpenMetrics text format, as Prometheus asks for it.
pub const CONTENT_TYPE: &str = "application/openmetrics-text; version=1.0.0; charset=utf-8";

/// The agent's metrics: its own request metrics, and the collectors read at scrape time.
pub struct Metrics {
    node: String,
    /// Every series, for a client without a label scope.
    registry: Registry,
    requests: Arc<Requests>,
    usage: Arc<Usage>,
    state: state::AgentState,
}

impl Metrics {
    pub fn new(node: &str, usage: Arc<Usage>, state: state::AgentState) -> Self {
        let requests = Arc::new(Requests::default());
        let registry = registry(node, &requests, &usage, &state, &BTreeMap::new());
        Self {
            node: node.to_owned(),
            registry,
            requests,
            usage,
            state,
        }
    }

    pub fn requests(&self) -> &Requests {
        &self.requests
    }

    /// This node's series in the OpenMetrics text format, with only the containers in
    /// `labels`' scope when there is one.
    pub fn encode(&self, labels: &BTreeMap<String, String>) -> String {
        let mut text = String::with_capacity(16 * 1024);
        let scoped;
        let registry = if labels.is_empty() {
            &self.registry
        } else {
            scoped = registry(&self.node, &self.requests, &self.usage, &self.state, labels);
            &scoped
        };
        // Writing to a String cannot fail.
        let _ = prometheus_client::encoding::text::encode(&mut text, registry);
        text
    }
}

fn registry(
    node: &str,
    requests: &Requests,
    usage: &Arc<Usage>,
    state: &state::AgentState,
    labels: &BTreeMap<String, String>,
) -> Registry {
    let mut registry = Registry::with_prefix_and_labels(
        "bosun",
        [(Cow::Borrowed("node"), Cow::Owned(node.to_owned()))].into_iter(),
    );
    requests.register(&mut registry);
    registry.register_collector(Box::new(usage::UsageSeries {
        usage: Arc::clone(usage),
        scope: labels.clone(),
    }));
    registry.register_collector(Box::new(state.clone()));
    registry
}
