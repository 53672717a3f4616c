//! What the alerts hand to the notification channels, and the handle that queues it. The
//! deliveries happen elsewhere, off the caller's path: [`Notifier::send`] never waits.

use std::sync::Mutex;

use serde::{Deserialize, Serialize};
use tokio::sync::mpsc;

use crate::watch::UpdateFinding;

/// How bad an alert is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Severity {
    Info,
    Warning,
    Critical,
}

impl Severity {
    pub fn as_str(self) -> &'static str {
        match self {
            Severity::Info => "info",
            Severity::Warning => "warning",
            Severity::Critical => "critical",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "info" => Some(Severity::Info),
            "warning" => Some(Severity::Warning),
            "critical" => Some(Severity::Critical),
            _ => None,
        }
    }
}

/// Whether an alert has started or ended.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NoticeState {
    Firing,
    Resolved,
}

/// One alert's transition, as the channels receive it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Notice {
    /// The stored alert's ID.
    pub alert_id: i64,
    /// The rule's ID and name.
    pub rule_id: i64,
    pub rule: String,
    pub severity: Severity,
    pub state: NoticeState,
    pub endpoint: String,
    pub node: Option<String>,
    /// What the alert is about: a container's name, a node, a filesystem's mount point.
    pub subject: String,
    /// One line: what happened.
    pub summary: String,
    /// More lines: a container's last log lines, figures.
    pub details: Vec<String>,
    /// When the transition happened, in Unix seconds.
    pub at: i64,
}

/// What the notification worker is handed.
#[derive(Debug)]
pub enum Outgoing {
    Notice(Notice),
    /// An endpoint's current update findings, all of them (for MQTT's update sensors).
    Updates {
        endpoint: i64,
        findings: Vec<UpdateFinding>,
    },
}

/// The queue to the notification worker; cheap to share.
pub struct Notifier {
    tx: mpsc::UnboundedSender<Outgoing>,
    rx: Mutex<Option<mpsc::UnboundedReceiver<Outgoing>>>,
}

impl Default for Notifier {
    fn default() -> Self {
        let (tx, rx) = mpsc::unbounded_channel();
        Self {
            tx,
            rx: Mutex::new(Some(rx)),
        }
    }
}

impl Notifier {
    /// Queues a notice for the channels whose filters take it.
    pub fn send(&self, notice: Notice) {
        let _ = self.tx.send(Outgoing::Notice(notice));
    }

    /// Queues an endpoint's update findings.
    pub fn updates(&self, endpoint: i64, findings: Vec<UpdateFinding>) {
        let _ = self.tx.send(Outgoing::Updates { endpoint, findings });
    }

    /// The worker's end of the queue; `None` once taken.
    pub fn take_queue(&self) -> Option<mpsc::UnboundedReceiver<Outgoing>> {
        self.rx.lock().ok()?.take()
    }
}
