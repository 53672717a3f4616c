//! Requests the agent served: how many by placement class and status, how long they
//! took, and which nodes fan-outs answered without.

use std::sync::RwLock;

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
pub struct Peer {
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
    partial: Family<Peer, Counter>,
    /// The series of each class and status served so far, so that counting a request
    /// looks in a short list rather than hashing its labels into both families.
    seen: RwLock<Vec<Series>>,
}

/// The two series one class and status of answer counts in.
struct Series {
    class: &'static str,
    status: u16,
    served: Counter,
    duration: Histogram,
}

impl Default for Requests {
    fn default() -> Self {
        Self {
            served: Family::default(),
            duration: Family::new_with_constructor(latency),
            partial: Family::default(),
            seen: RwLock::default(),
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

    /// One request served. `left_out`: the nodes a merged answer was made without.
    pub fn served(&self, class: &'static str, status: u16, seconds: f64, left_out: &[String]) {
        self.with_series(class, status, |series| {
            series.served.inc();
            series.duration.observe(seconds);
        });
        for peer in left_out {
            self.partial
                .get_or_create(&Peer { peer: peer.clone() })
                .inc();
        }
    }

    fn with_series(&self, class: &'static str, status: u16, count: impl FnOnce(&Series)) {
        let find = |seen: &[Series]| {
            seen.iter()
                .position(|s| s.status == status && s.class == class)
        };
        {
            let seen = self.seen.read().unwrap_or_else(|p| p.into_inner());
            if let Some(at) = find(&seen) {
                return count(&seen[at]);
            }
        }
        let mut seen = self.seen.write().unwrap_or_else(|p| p.into_inner());
        let at = find(&seen).unwrap_or_else(|| {
            seen.push(Series {
                class,
                status,
                served: self.served.get_or_create(&Served { class, status }).clone(),
                duration: self.duration.get_or_create(&Class { class }).clone(),
            });
            seen.len() - 1
        });
        count(&seen[at]);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exposition(requests: &Requests) -> String {
        let mut registry = Registry::default();
        requests.register(&mut registry);
        let mut text = String::new();
        prometheus_client::encoding::text::encode(&mut text, &registry).expect("encode");
        text
    }

    #[test]
    fn each_class_and_status_is_counted_in_its_own_series() {
        let requests = Requests::default();
        requests.served("here", 200, 0.001, &[]);
        requests.served("here", 200, 0.002, &[]);
        requests.served("here", 404, 0.001, &[]);
        requests.served("fanout", 200, 0.3, &["b".into(), "c".into()]);
        let text = exposition(&requests);
        for line in [
            "agent_requests_total{class=\"here\",status=\"200\"} 2",
            "agent_requests_total{class=\"here\",status=\"404\"} 1",
            "agent_requests_total{class=\"fanout\",status=\"200\"} 1",
            "agent_request_duration_seconds_count{class=\"here\"} 3",
            "agent_request_duration_seconds_count{class=\"fanout\"} 1",
            "agent_fanout_partial_total{peer=\"b\"} 1",
            "agent_fanout_partial_total{peer=\"c\"} 1",
        ] {
            assert!(text.contains(line), "{line} not in\n{text}");
        }
    }
}
