//! Checks as the console writes them and the agents run them: a check and its probe, the
//! signed policy that carries one node's checks, and the results an agent reports. The
//! console signs and sends these shapes; the agent verifies and answers with them.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// The JWS `typ` header of a signed policy: a policy is never read as an access token,
/// nor an access token as a policy.
pub const POLICY_TYP: &str = "bosun-check-policy+jwt";
/// The `kind` claim every policy carries.
pub const POLICY_KIND: &str = "bosun-check-policy";
/// Checks one agent runs at once unless the policy says otherwise.
pub const DEFAULT_CONCURRENCY: usize = 10;
/// How much of a check's output is kept.
pub const OUTPUT_LIMIT: usize = 4096;
/// The longest interval and timeout a check may have.
pub const MAX_SECS: u64 = 24 * 3600;

/// One check: what to probe, how often, and how patient to be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Check {
    /// Stable across edits; letters, digits, `-` and `_`, at most 64.
    pub id: String,
    pub name: String,
    pub interval_secs: u64,
    pub timeout_secs: u64,
    /// Consecutive results of a new status needed before the state changes to it.
    #[serde(default)]
    pub retries: u32,
    pub probe: Probe,
}

/// What a check does, by kind.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(tag = "kind", rename_all = "lowercase")]
pub enum Probe {
    Http(HttpProbe),
    Tcp(TcpProbe),
    Dns(DnsProbe),
    Container(ContainerProbe),
    Script(ScriptProbe),
}

impl Probe {
    pub fn kind(&self) -> &'static str {
        match self {
            Probe::Http(_) => "http",
            Probe::Tcp(_) => "tcp",
            Probe::Dns(_) => "dns",
            Probe::Container(_) => "container",
            Probe::Script(_) => "script",
        }
    }
}

fn get() -> String {
    "GET".into()
}

/// An HTTP(S) request and what its answer must be.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct HttpProbe {
    #[serde(default = "get")]
    pub method: String,
    pub url: String,
    /// Statuses that pass; empty: any 2xx or 3xx.
    #[serde(default)]
    pub expect_status: Vec<u16>,
    /// A regular expression the body (its first 64 KiB) must match.
    #[serde(default)]
    pub body_pattern: Option<String>,
    /// Warning when the server's certificate expires within this many days (https only).
    #[serde(default)]
    pub cert_expiry_warn_days: Option<u32>,
    /// Accept a certificate no known root signed (the expiry is still read).
    #[serde(default)]
    pub insecure: bool,
    #[serde(default)]
    pub headers: BTreeMap<String, String>,
}

/// A TCP connect.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TcpProbe {
    pub host: String,
    pub port: u16,
}

fn a_record() -> String {
    "A".into()
}

/// A DNS lookup and, optionally, an answer that must be among the results.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DnsProbe {
    pub name: String,
    /// A, AAAA, CNAME, MX, TXT, NS, SRV.
    #[serde(default = "a_record")]
    pub record: String,
    #[serde(default)]
    pub expect: Option<String>,
    /// A resolver as `IP:PORT`; `None`: the system's.
    #[serde(default)]
    pub server: Option<String>,
}

/// A named container on the node is running, and healthy where it has a health check.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ContainerProbe {
    pub container: String,
}

fn memory_mb() -> u64 {
    64
}
fn cpus() -> f64 {
    0.5
}
fn pids() -> i64 {
    64
}

/// A script or argv run in a short-lived container: no privileges, a read-only root, no
/// network unless asked, only the listed host paths mounted, read-only.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ScriptProbe {
    pub image: String,
    /// A shell script, run with `/bin/sh -c`. Exactly one of `script` and `argv`.
    #[serde(default)]
    pub script: Option<String>,
    #[serde(default)]
    pub argv: Vec<String>,
    #[serde(default = "memory_mb")]
    pub memory_mb: u64,
    #[serde(default = "cpus")]
    pub cpus: f64,
    #[serde(default = "pids")]
    pub pids: i64,
    #[serde(default)]
    pub network: bool,
    /// Host paths, each mounted read-only at the same path.
    #[serde(default)]
    pub mounts: Vec<String>,
    #[serde(default)]
    pub env: BTreeMap<String, String>,
    #[serde(default)]
    pub user: Option<String>,
}

fn default_concurrency() -> usize {
    DEFAULT_CONCURRENCY
}

/// The claims of a signed policy: the checks one node runs. A node keeps running its
/// latest policy until a newer one replaces it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Policy {
    /// Always [`POLICY_KIND`].
    pub kind: String,
    /// The node this policy is for; any other node refuses it.
    pub node: String,
    /// Greater than every version before it: a node never goes back to an older one.
    pub version: u64,
    /// Seconds since the epoch.
    pub issued_at: u64,
    #[serde(default = "default_concurrency")]
    pub concurrency: usize,
    pub checks: Vec<Check>,
}

/// A check's status, in Nagios's terms: a script's exit code 0, 1, 2, anything else.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Status {
    Ok,
    Warning,
    Critical,
    Unknown,
}

impl Status {
    pub fn from_exit_code(code: i64) -> Self {
        match code {
            0 => Status::Ok,
            1 => Status::Warning,
            2 => Status::Critical,
            _ => Status::Unknown,
        }
    }

    pub fn as_str(self) -> &'static str {
        match self {
            Status::Ok => "ok",
            Status::Warning => "warning",
            Status::Critical => "critical",
            Status::Unknown => "unknown",
        }
    }
}

/// One run of one check on one node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckResult {
    /// The node's sequence number for it: one more than the result before.
    pub seq: u64,
    /// The check's id.
    pub check: String,
    pub name: String,
    /// When the run ended, milliseconds since the epoch.
    pub at_ms: u64,
    /// This run's status.
    pub status: Status,
    /// The check's state after this run, retries counted.
    pub state: Status,
    /// The first [`OUTPUT_LIMIT`] bytes of what the run said.
    pub output: String,
    pub duration_ms: u64,
}

/// A check's current state on a node.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckState {
    pub check: String,
    pub name: String,
    pub state: Status,
    /// Since when, milliseconds since the epoch.
    pub since_ms: u64,
    pub last: Option<CheckResult>,
}

/// Why a node refused a policy.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Refusal {
    /// Seconds since the epoch.
    pub at: u64,
    /// The refused policy's version, where it could be read.
    pub version: Option<u64>,
    pub reason: String,
}

/// The policy a node runs, and the last one it refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyStatus {
    /// 0: none yet.
    pub version: u64,
    pub checks: usize,
    /// Seconds since the epoch.
    pub applied_at: Option<u64>,
    pub refused: Option<Refusal>,
}

/// `GET /agent/v1/checks`: one node's results after a cursor, and its checks' states.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct NodeChecks {
    pub node: String,
    pub agent_id: String,
    /// Changes when the agent starts: a cursor from another epoch means nothing here.
    pub epoch: String,
    pub policy: PolicyStatus,
    /// The oldest result still held; 0: none.
    pub first_seq: u64,
    /// The sequence number the next result will get.
    pub next_seq: u64,
    /// Results dropped from the full buffer before any reader had them.
    pub lost: u64,
    /// How many results the buffer holds.
    pub capacity: usize,
    /// Results after the cursor, oldest first.
    pub results: Vec<CheckResult>,
    pub states: Vec<CheckState>,
}

/// A node left out of a cluster-wide answer, and why.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct MissingNode {
    pub node: String,
    pub reason: String,
}

/// `GET /agent/v1/checks?scope=cluster`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ClusterChecks {
    pub nodes: Vec<NodeChecks>,
    pub missing: Vec<MissingNode>,
}

/// `PUT /agent/v1/checks/policies`: signed policies by node name.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PolicyPush {
    pub policies: BTreeMap<String, String>,
}

/// What became of one node's policy.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum PushOutcomeKind {
    /// Verified, stored and running.
    Applied,
    /// The node already runs this very policy.
    Unchanged,
    /// Not signed by a trusted key, altered, older than the one running, or for another
    /// node.
    Refused,
    /// The node could not be asked.
    Unreachable,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushOutcome {
    pub node: String,
    pub outcome: PushOutcomeKind,
    /// The version the node runs after this push.
    pub version: Option<u64>,
    pub reason: Option<String>,
}

/// The answer to a push: one outcome per node named in it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PushAnswer {
    pub nodes: Vec<PushOutcome>,
}

/// Whether an id is one a check may have.
pub fn valid_id(id: &str) -> bool {
    !id.is_empty()
        && id.len() <= 64
        && id
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

impl Check {
    /// What is wrong with the check, the field named; the console checks before it
    /// signs, the agent again before it runs.
    pub fn validate(&self) -> Result<(), String> {
        if !valid_id(&self.id) {
            return Err(format!(
                "id {:?}: letters, digits, - and _, at most 64",
                self.id
            ));
        }
        if self.name.trim().is_empty() || self.name.len() > 200 {
            return Err("name: 1 to 200 characters".into());
        }
        if !(1..=MAX_SECS).contains(&self.interval_secs) {
            return Err(format!("interval_secs: 1 to {MAX_SECS}"));
        }
        if !(1..=MAX_SECS).contains(&self.timeout_secs) {
            return Err(format!("timeout_secs: 1 to {MAX_SECS}"));
        }
        if self.retries > 100 {
            return Err("retries: at most 100".into());
        }
        match &self.probe {
            Probe::Http(p) => {
                if !(p.url.starts_with("http://") || p.url.starts_with("https://")) {
                    return Err(format!("url {:?}: http:// or https://", p.url));
                }
                if p.method.is_empty() || !p.method.bytes().all(|b| b.is_ascii_uppercase()) {
                    return Err(format!("method {:?}: GET, HEAD, POST, ...", p.method));
                }
                if let Some(s) = p.expect_status.iter().find(|s| !(100..=599).contains(*s)) {
                    return Err(format!("expect_status: {s} is not an HTTP status"));
                }
            }
            Probe::Tcp(p) => {
                if p.host.trim().is_empty() || p.port == 0 {
                    return Err("tcp: a host and a port above 0".into());
                }
            }
            Probe::Dns(p) => {
                if p.name.trim().is_empty() {
                    return Err("dns: a name to resolve".into());
                }
                if !["A", "AAAA", "CNAME", "MX", "TXT", "NS", "SRV"].contains(&p.record.as_str()) {
                    return Err(format!(
                        "record {:?}: A, AAAA, CNAME, MX, TXT, NS or SRV",
                        p.record
                    ));
                }
            }
            Probe::Container(p) => {
                if p.container.trim().is_empty() {
                    return Err("container: a container's name or id".into());
                }
            }
            Probe::Script(p) => {
                if p.image.trim().is_empty() {
                    return Err("script: an image to run it in".into());
                }
                match (&p.script, p.argv.is_empty()) {
                    (Some(s), true) if !s.trim().is_empty() => {}
                    (None, false) => {}
                    _ => return Err("script: exactly one of script and argv".into()),
                }
                if !(4..=65_536).contains(&p.memory_mb) {
                    return Err("memory_mb: 4 to 65536".into());
                }
                if !(p.cpus > 0.0 && p.cpus <= 64.0) {
                    return Err("cpus: above 0, at most 64".into());
                }
                if !(1..=32_768).contains(&p.pids) {
                    return Err("pids: 1 to 32768".into());
                }
                if let Some(m) = p
                    .mounts
                    .iter()
                    .find(|m| !m.starts_with('/') || m.contains(':'))
                {
                    return Err(format!("mounts: {m:?} is not an absolute host path"));
                }
            }
        }
        Ok(())
    }
}

impl Policy {
    /// What is wrong with the policy, beyond its signature.
    pub fn validate(&self) -> Result<(), String> {
        if self.kind != POLICY_KIND {
            return Err(format!("kind {:?} is not {POLICY_KIND:?}", self.kind));
        }
        if !(1..=1000).contains(&self.concurrency) {
            return Err("concurrency: 1 to 1000".into());
        }
        let mut ids = std::collections::BTreeSet::new();
        for check in &self.checks {
            check
                .validate()
                .map_err(|e| format!("check {:?}: {e}", check.id))?;
            if !ids.insert(check.id.as_str()) {
                return Err(format!("check {:?} appears twice", check.id));
            }
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn exit_codes_read_as_nagios_does() {
        assert_eq!(Status::from_exit_code(0), Status::Ok);
        assert_eq!(Status::from_exit_code(1), Status::Warning);
        assert_eq!(Status::from_exit_code(2), Status::Critical);
        assert_eq!(Status::from_exit_code(3), Status::Unknown);
        assert_eq!(Status::from_exit_code(137), Status::Unknown);
        assert_eq!(Status::from_exit_code(-1), Status::Unknown);
    }

    #[test]
    fn a_check_reads_from_its_json_with_defaults() {
        let check: Check = serde_json::from_value(serde_json::json!({
            "id": "disk", "name": "disk", "interval_secs": 30, "timeout_secs": 5,
            "probe": {"kind": "script", "image": "bosun-test:latest", "script": "exit 1"}
        }))
        .unwrap();
        check.validate().unwrap();
        let Probe::Script(s) = &check.probe else {
            panic!("{check:?}")
        };
        assert_eq!((s.memory_mb, s.pids, s.network), (64, 64, false));
        assert_eq!(check.retries, 0);
    }

    #[test]
    fn a_bad_check_names_its_field() {
        let mut check: Check = serde_json::from_value(serde_json::json!({
            "id": "web", "name": "web", "interval_secs": 10, "timeout_secs": 5,
            "probe": {"kind": "http", "url": "ftp://x"}
        }))
        .unwrap();
        assert!(check.validate().unwrap_err().starts_with("url"));
        check.probe = Probe::Script(ScriptProbe {
            image: "i".into(),
            script: Some("true".into()),
            argv: vec!["true".into()],
            memory_mb: 64,
            cpus: 0.5,
            pids: 64,
            network: false,
            mounts: vec![],
            env: BTreeMap::new(),
            user: None,
        });
        assert!(check.validate().unwrap_err().contains("exactly one"));
        check.id = "a b".into();
        assert!(check.validate().unwrap_err().starts_with("id"));
    }
}
