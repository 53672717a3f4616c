//! Who gets a connection: at most so many open at once for the whole agent and for each
//! client address. A connection over either cap is closed at once, before its TLS
//! handshake costs anything, and the refusals are counted in a log line every few
//! seconds rather than one line each. The other agents of the cluster, whose forwarded
//! requests all come from one address each, count only against the global cap.

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

/// Default for `--max-connections`.
pub const DEFAULT_MAX_CONNECTIONS: usize = 1024;
/// Default for `--max-connections-per-client`.
pub const DEFAULT_MAX_PER_CLIENT: usize = 128;
/// Refusals are summed into one log line per this period.
const WARN_EVERY: Duration = Duration::from_secs(10);

/// The caps and what is open now.
pub struct Admission {
    max_total: usize,
    max_per_client: usize,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    total: usize,
    /// The most open at once since [`Admission::take_peak`] last asked.
    peak: usize,
    by_client: HashMap<IpAddr, usize>,
    refused: u64,
    last_warning: Option<Instant>,
}

/// An admitted connection; its place is given back when dropped.
pub struct Ticket {
    admission: Arc<Admission>,
    client: IpAddr,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        let mut state = self.admission.lock();
        state.total = state.total.saturating_sub(1);
        if let Some(n) = state.by_client.get_mut(&self.client) {
            *n -= 1;
            if *n == 0 {
                state.by_client.remove(&self.client);
            }
        }
    }
}

impl Admission {
    pub fn new(max_total: usize, max_per_client: usize) -> Arc<Self> {
        Arc::new(Self {
            max_total: max_total.max(1),
            max_per_client: max_per_client.max(1),
            state: Mutex::new(State::default()),
        })
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Connections open now.
    pub fn open(&self) -> usize {
        self.lock().total
    }

    /// The most connections open at once since the last call, and how many are open now.
    pub fn take_peak(&self) -> (usize, usize) {
        let mut state = self.lock();
        let peak = state.peak.max(state.total);
        state.peak = state.total;
        (peak, state.total)
    }

    /// A place for a new connection from `client`, or `None` when a cap is reached.
    /// `peer_agent`: the address is another agent's of this cluster.
    pub fn admit(self: &Arc<Self>, client: IpAddr, peer_agent: bool) -> Option<Ticket> {
        let mut state = self.lock();
        let from_client = state.by_client.get(&client).copied().unwrap_or(0);
        let refusal = if state.total >= self.max_total {
            Some(format!(
                "the agent has {} connections open (--max-connections)",
                state.total
            ))
        } else if from_client >= self.max_per_client && !peer_agent {
            Some(format!(
                "{client} has {from_client} connections open (--max-connections-per-client)"
            ))
        } else {
            None
        };
        if let Some(reason) = refusal {
            state.refused += 1;
            let due = state
                .last_warning
                .is_none_or(|at| at.elapsed() >= WARN_EVERY);
            if due {
                tracing::warn!(
                    refused = state.refused,
                    latest = %reason,
                    "connections refused: a connection cap is reached"
                );
                state.refused = 0;
                state.last_warning = Some(Instant::now());
            }
            return None;
        }
        state.total += 1;
        state.peak = state.peak.max(state.total);
        *state.by_client.entry(client).or_insert(0) += 1;
        Some(Ticket {
            admission: Arc::clone(self),
            client,
        })
    }
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_peak_is_the_most_open_since_the_last_look() {
        let admission = Admission::new(100, 100);
        let client = IpAddr::from([127, 0, 0, 1]);
        let tickets: Vec<_> = (0..5)
            .map(|_| admission.admit(client, false).expect("admitted"))
            .collect();
        drop(tickets);
        let _one = admission.admit(client, false).expect("admitted");
        assert_eq!(admission.take_peak(), (5, 1));
        assert_eq!(admission.take_peak(), (1, 1));
    }

    use super::*;

    #[test]
    fn caps_hold_per_client_and_in_all_and_places_come_back() {
        let a = Admission::new(3, 2);
        let one: IpAddr = [127, 0, 0, 2].into();
        let two: IpAddr = [127, 0, 0, 3].into();
        let t1 = a.admit(one, false).expect("first");
        let _t2 = a.admit(one, false).expect("second");
        assert!(a.admit(one, false).is_none(), "per-client cap");
        let _t3 = a.admit(two, false).expect("other client");
        assert!(a.admit(two, false).is_none(), "global cap");
        drop(t1);
        assert_eq!(a.open(), 2);
        assert!(a.admit(one, false).is_some());
    }

    #[test]
    fn peer_agents_count_only_against_the_global_cap() {
        let a = Admission::new(3, 1);
        let peer: IpAddr = [10, 0, 0, 2].into();
        let _t1 = a.admit(peer, true).expect("first");
        let _t2 = a
            .admit(peer, true)
            .expect("second, past the per-client cap");
        let _t3 = a.admit(peer, true).expect("third");
        assert!(a.admit(peer, true).is_none(), "global cap");
    }
}
