//! What a rule is: its kind, severity, scope, duration and threshold, checked as the API
//! receives it; and which subjects its scope takes.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::watch::Severity;

/// What a rule watches.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Kind {
    NodeDown,
    ContainerExited,
    ContainerRestarting,
    ContainerUnhealthy,
    ContainerOom,
    HostCpu,
    HostMemory,
    HostDisk,
    HostLoad,
    ContainerCpu,
    ContainerMemory,
    UpdateAvailable,
    /// A check on a node is warning, critical or unknown.
    CheckState,
}

/// Where a kind's observations come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Source {
    /// The agent's members, asked every few seconds.
    Members,
    /// The engines' events, live.
    Events,
    /// The usage samples the console pulls.
    Usage,
    /// The update puller's findings.
    Updates,
    /// The checks' puller: every check on every node that is not ok.
    Checks,
}

impl Kind {
    pub const ALL: [Kind; 13] = [
        Kind::NodeDown,
        Kind::ContainerExited,
        Kind::ContainerRestarting,
        Kind::ContainerUnhealthy,
        Kind::ContainerOom,
        Kind::HostCpu,
        Kind::HostMemory,
        Kind::HostDisk,
        Kind::HostLoad,
        Kind::ContainerCpu,
        Kind::ContainerMemory,
        Kind::UpdateAvailable,
        Kind::CheckState,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Kind::NodeDown => "node_down",
            Kind::ContainerExited => "container_exited",
            Kind::ContainerRestarting => "container_restarting",
            Kind::ContainerUnhealthy => "container_unhealthy",
            Kind::ContainerOom => "container_oom",
            Kind::HostCpu => "host_cpu",
            Kind::HostMemory => "host_memory",
            Kind::HostDisk => "host_disk",
            Kind::HostLoad => "host_load",
            Kind::ContainerCpu => "container_cpu",
            Kind::ContainerMemory => "container_memory",
            Kind::UpdateAvailable => "update_available",
            Kind::CheckState => "check_state",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|k| k.as_str() == text)
    }

    pub fn source(self) -> Source {
        match self {
            Kind::NodeDown => Source::Members,
            Kind::ContainerExited
            | Kind::ContainerRestarting
            | Kind::ContainerUnhealthy
            | Kind::ContainerOom => Source::Events,
            Kind::HostCpu
            | Kind::HostMemory
            | Kind::HostDisk
            | Kind::HostLoad
            | Kind::ContainerCpu
            | Kind::ContainerMemory => Source::Usage,
            Kind::UpdateAvailable => Source::Updates,
            Kind::CheckState => Source::Checks,
        }
    }

    /// What the threshold means, for the kinds that have one.
    pub fn threshold(self) -> Option<&'static str> {
        match self {
            Kind::ContainerRestarting => Some("restarts within the window"),
            Kind::HostCpu | Kind::ContainerCpu => Some("percent of CPU"),
            Kind::HostMemory | Kind::HostDisk => Some("percent used"),
            Kind::ContainerMemory => Some("percent of the memory limit"),
            Kind::HostLoad => Some("1-minute load per core"),
            _ => None,
        }
    }
}

/// Which subjects a rule takes; every part that is set must match.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Scope {
    /// An endpoint's ID.
    pub endpoint: Option<i64>,
    /// A node's name.
    pub node: Option<String>,
    /// `key=value`: a container label (for container kinds); for checks, `check=<name>`,
    /// `check_id=<id>` or `kind=<http|tcp|dns|container|script>`.
    pub labels: Option<String>,
}

/// A rule as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Rule {
    pub id: i64,
    pub name: String,
    pub kind: Kind,
    /// The alerts' severity. A `check_state` alert takes its check's instead (warning, or
    /// critical for critical and unknown), and this is the least one it fires at.
    pub severity: Severity,
    pub scope: Scope,
    /// How long the condition holds before the alert fires, in seconds.
    #[serde(rename = "for")]
    pub for_secs: i64,
    pub threshold: Option<f64>,
    /// For restart loops: the window the restarts are counted in, in seconds.
    pub window: Option<i64>,
    pub enabled: bool,
}

/// What an observation is about, for the scope to judge.
#[derive(Debug, Clone, Default)]
pub struct Subject<'a> {
    pub endpoint: i64,
    pub node: Option<&'a str>,
    /// A container's labels, where known.
    pub labels: Option<&'a BTreeMap<String, String>>,
}

impl Scope {
    /// Whether the scope takes `subject`. A label selector takes only subjects whose
    /// labels are known and carry it.
    pub fn takes(&self, subject: &Subject<'_>) -> bool {
        if self.endpoint.is_some_and(|e| e != subject.endpoint) {
            return false;
        }
        if let Some(node) = &self.node {
            if subject.node != Some(node.as_str()) {
                return false;
            }
        }
        if let Some(selector) = &self.labels {
            let Some((key, value)) = selector.split_once('=') else {
                return false;
            };
            let Some(labels) = subject.labels else {
                return false;
            };
            if labels.get(key.trim()).map(String::as_str) != Some(value.trim()) {
                return false;
            }
        }
        true
    }
}

/// A rule's fields as the API receives them, all optional for a change.
#[derive(Debug, Clone, Default, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct RuleInput {
    pub name: Option<String>,
    pub kind: Option<String>,
    pub severity: Option<String>,
    pub scope: Option<Scope>,
    #[serde(rename = "for")]
    pub for_secs: Option<i64>,
    pub threshold: Option<Option<f64>>,
    pub window: Option<Option<i64>>,
    pub enabled: Option<bool>,
}

/// Longest `for` and window: a week.
const MAX_SECS: i64 = 7 * 24 * 3600;

impl RuleInput {
    /// `base` changed by this input (a new rule's base is empty), checked.
    pub fn apply(self, mut rule: Rule) -> Result<Rule, String> {
        if let Some(name) = self.name {
            rule.name = name.trim().to_owned();
        }
        if let Some(kind) = self.kind {
            rule.kind = Kind::parse(&kind).ok_or_else(|| {
                let names: Vec<&str> = Kind::ALL.iter().map(|k| k.as_str()).collect();
                format!("kind: {kind:?} is none of {}", names.join(", "))
            })?;
        }
        if let Some(severity) = self.severity {
            rule.severity = Severity::parse(&severity).ok_or_else(|| {
                format!("severity: {severity:?} is none of info, warning, critical")
            })?;
        }
        if let Some(scope) = self.scope {
            rule.scope = scope;
        }
        if let Some(for_secs) = self.for_secs {
            rule.for_secs = for_secs;
        }
        if let Some(threshold) = self.threshold {
            rule.threshold = threshold;
        }
        if let Some(window) = self.window {
            rule.window = window;
        }
        if let Some(enabled) = self.enabled {
            rule.enabled = enabled;
        }
        check(&rule)?;
        Ok(rule)
    }
}

fn check(rule: &Rule) -> Result<(), String> {
    if rule.name.is_empty() || rule.name.chars().count() > 100 {
        return Err("name: 1 to 100 characters".into());
    }
    if !(0..=MAX_SECS).contains(&rule.for_secs) {
        return Err(format!("for: 0 to {MAX_SECS} seconds"));
    }
    match (rule.kind.threshold(), rule.threshold) {
        (Some(what), None) => {
            return Err(format!(
                "threshold: a {} rule needs one ({what})",
                rule.kind.as_str()
            ))
        }
        (Some(_), Some(t)) if !t.is_finite() || t < 0.0 => {
            return Err("threshold: a number, 0 or more".into())
        }
        (None, Some(_)) => {
            return Err(format!("threshold: a {} rule has none", rule.kind.as_str()))
        }
        _ => {}
    }
    if rule.kind == Kind::ContainerRestarting {
        match rule.window {
            Some(w) if (1..=MAX_SECS).contains(&w) => {}
            _ => return Err(format!("window: 1 to {MAX_SECS} seconds")),
        }
    }
    if let Some(selector) = &rule.scope.labels {
        match selector.split_once('=') {
            Some((k, _)) if !k.trim().is_empty() => {}
            _ => return Err(format!("scope.labels: {selector:?} is not key=value")),
        }
    }
    if rule.scope.node.as_deref().is_some_and(str::is_empty) {
        return Err("scope.node: a node's name, or null".into());
    }
    Ok(())
}

impl Rule {
    /// The base a new rule's input is applied to.
    pub fn blank() -> Self {
        Self {
            id: 0,
            name: String::new(),
            kind: Kind::NodeDown,
            severity: Severity::Warning,
            scope: Scope::default(),
            for_secs: 0,
            threshold: None,
            window: None,
            enabled: true,
        }
    }
}

#[cfg(test)]
mod tests;
