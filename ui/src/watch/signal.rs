//! What the rest of the console tells the alerts, beyond what the alerts watch for
//! themselves (events, usage): queued, never waited on.

use std::sync::Mutex;

use tokio::sync::mpsc;

use crate::usage::sample::ClusterAnswer;
use crate::watch::{CheckFinding, UpdateFinding};

/// One thing the alerts should know.
#[derive(Debug)]
pub enum Signal {
    /// An endpoint's current update findings, all of them: what is not in the list has
    /// no update any more.
    Updates {
        endpoint: i64,
        findings: Vec<UpdateFinding>,
    },
    /// An endpoint's new usage samples, as the usage puller stored them.
    Usage {
        endpoint: i64,
        answer: std::sync::Arc<ClusterAnswer>,
    },
    /// An endpoint's checks that are not ok, all of them, after a pull of their results:
    /// a check on a node that is not in the list is ok (or gone).
    Checks {
        endpoint: i64,
        findings: Vec<CheckFinding>,
    },
    /// The rules or silences changed: read them again.
    RulesChanged,
}

/// The queue to the alerts' evaluator; cheap to share.
pub struct Alerts {
    tx: mpsc::UnboundedSender<Signal>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Signal>>>,
}

impl Default for Alerts {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Alerts {
    pub fn signal(&self, signal: Signal) {
        let _ = self.tx.send(signal);
    }

    /// A sender of its own, for a part that outlives no borrow of the console (the usage
    /// puller).
    pub fn sender(&self) -> mpsc::UnboundedSender<Signal> {
        self.tx.clone()
    }

    /// The evaluator's end of the queue; `None` once taken.
    pub fn take_queue(&self) -> Option<mpsc::UnboundedReceiver<Signal>> {
        self.rx.lock().ok()?.take()
    }
}
