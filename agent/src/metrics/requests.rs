//! Requests the agent served: how many by placement class and status, how long they
//! took, and which nodes fan-outs answered without.

use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::histogram::{exponential_buckets, Histogram};
use prometheus_client::registry::{Registry, Unit};

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Served {
    /// Where it ran: `here`, `fanout`, `owner`, `manager`, `agent`, ...
    pub class: &'static str,
    pub status: u16,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct Class {
    pub class: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct LeftOut {
    /// The node a fan-out answered without.
    pub peer: String,
}

fn latency() -> Histogram {
    // 0.5 ms to about 16 s.
    Histogram::new(exponential_buckets(0.0005, 2.0, 16))
}

pub struct Requests {
    served: Family<Served, Counter>,
    duration: Family<Class, Histogram, fn() -> Histogram>,
    partial: Family<LeftOut, Counter>,
}

impl Default for Requests {
    fn default() -> Self {
        Self {
            served: Family::default(),
            duration: Family::new_with_constructor(latency),
            partial: Family::default(),
        }
    }
}

impl Requests {
    pub fn register(&self, registry: &mut Registry) {
        registry.register(
            "agent_requests",
            "Requests served, by where they ran and the status answered",
            self.served.clone(),
        );
        registry.register_with_unit(
            "agent_request_duration",
            "Time to the answer's head, by where the request ran (fan-outs: the whole merge)",
            Unit::Seconds,
            self.duration.clone(),
        );
        registry.register(
            "agent_fanout_partial",
            "Fan-out answers given without a node, by that node",
            self.partial.clone(),
        );
    }

    /// One request served. `partial` is the answer's `X-Agent-Partial` header, which
    /// names the nodes left out as `node: reason; node: reason`.
    pub fn served(&self, class: &'static str, status: u16, seconds: f64, partial: Option<&str>) {
        self.served.get_or_create(&Served { class, status }).inc();
        self.duration
            .get_or_create(&Class { class })
            .observe(seconds);
        for part in partial.into_iter().flat_map(|p| p.split("; ")) {
            if let Some((peer, _)) = part.split_once(": ") {
                self.partial
                    .get_or_create(&LeftOut {
                        peer: peer.to_owned(),
                    })
                    .inc();
            }
        }
    }
}
