//! One check on one node whose state is not ok: what the checks' puller hands to the
//! alerts.

use serde::{Deserialize, Serialize};

/// A check's state on one node of one cluster, when it is warning, critical or unknown.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CheckFinding {
    /// The endpoint (cluster) whose node runs it.
    pub endpoint: i64,
    pub endpoint_name: String,
    pub node: String,
    /// The check's id and name.
    pub check: String,
    pub name: String,
    /// `http`, `tcp`, `dns`, `container` or `script`.
    pub kind: String,
    /// `warning`, `critical` or `unknown`.
    pub state: String,
    /// What the last run said (at most 4 KiB).
    pub output: String,
}
