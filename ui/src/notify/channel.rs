//! A channel as configured: its name, settings, which notices it takes, and how long it
//! gathers a burst before sending.

use std::time::Duration;

use serde::{Deserialize, Serialize};

use super::settings::Settings;
use crate::watch::notice::{Notice, NoticeState, Severity};

/// Which notices a channel receives.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Filter {
    /// The rules' IDs; `None` for every rule.
    #[serde(default)]
    pub rules: Option<Vec<i64>>,
    #[serde(default = "least")]
    pub min_severity: Severity,
    #[serde(default = "yes")]
    pub firing: bool,
    #[serde(default = "yes")]
    pub resolved: bool,
}

fn least() -> Severity {
    Severity::Info
}

fn yes() -> bool {
    true
}

impl Default for Filter {
    fn default() -> Self {
        Self {
            rules: None,
            min_severity: Severity::Info,
            firing: true,
            resolved: true,
        }
    }
}

impl Filter {
    pub fn takes(&self, notice: &Notice) -> bool {
        let state = match notice.state {
            NoticeState::Firing => self.firing,
            NoticeState::Resolved => self.resolved,
        };
        let rule = self
            .rules
            .as_ref()
            .is_none_or(|rules| rules.contains(&notice.rule_id));
        state && rule && notice.severity >= self.min_severity
    }
}

/// How a burst is gathered: sent once no notice came for `quiet` (2 s), and at the
/// latest `longest` (4 s) after its first notice, so that a steady stream still goes out.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Grouping {
    #[serde(default = "quiet_ms")]
    pub quiet_ms: u64,
    #[serde(default = "longest_ms")]
    pub longest_ms: u64,
}

fn quiet_ms() -> u64 {
    2_000
}

fn longest_ms() -> u64 {
    4_000
}

/// A window may be made longer, not unbounded.
pub const LONGEST_WINDOW_MS: u64 = 60_000;

impl Default for Grouping {
    fn default() -> Self {
        Self {
            quiet_ms: quiet_ms(),
            longest_ms: longest_ms(),
        }
    }
}

impl Grouping {
    pub fn quiet(&self) -> Duration {
        Duration::from_millis(self.quiet_ms)
    }

    pub fn longest(&self) -> Duration {
        Duration::from_millis(self.longest_ms)
    }

    /// `None` when it is fine, else why not.
    pub fn problem(&self) -> Option<&'static str> {
        if self.longest_ms > LONGEST_WINDOW_MS {
            Some("grouping.longest_ms: at most 60000")
        } else if self.quiet_ms > self.longest_ms {
            Some("grouping.quiet_ms: at most grouping.longest_ms")
        } else {
            None
        }
    }
}

/// One configured channel, its settings opened.
#[derive(Debug, Clone)]
pub struct Channel {
    pub id: i64,
    pub name: String,
    pub enabled: bool,
    pub settings: Settings,
    pub filter: Filter,
    pub grouping: Grouping,
}

impl Channel {
    pub fn kind(&self) -> &'static str {
        self.settings.kind()
    }

    /// The channel as the browser sees it: secrets masked.
    pub fn public(&self) -> serde_json::Value {
        let (settings, secrets) = self.settings.masked();
        serde_json::json!({
            "id": self.id,
            "name": self.name,
            "kind": self.kind(),
            "enabled": self.enabled,
            "settings": settings,
            "secrets": secrets,
            "filter": self.filter,
            "grouping": self.grouping,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn notice(rule_id: i64, severity: Severity, state: NoticeState) -> Notice {
        Notice {
            alert_id: 1,
            rule_id,
            rule: "r".into(),
            severity,
            state,
            endpoint: "local".into(),
            node: None,
            subject: "web".into(),
            summary: "s".into(),
            details: vec![],
            at: 0,
        }
    }

    #[test]
    fn a_filter_takes_its_rules_severities_and_states() {
        let filter = Filter {
            rules: Some(vec![7]),
            min_severity: Severity::Warning,
            firing: true,
            resolved: false,
        };
        assert!(filter.takes(&notice(7, Severity::Critical, NoticeState::Firing)));
        assert!(filter.takes(&notice(7, Severity::Warning, NoticeState::Firing)));
        assert!(!filter.takes(&notice(7, Severity::Info, NoticeState::Firing)));
        assert!(!filter.takes(&notice(8, Severity::Critical, NoticeState::Firing)));
        assert!(!filter.takes(&notice(7, Severity::Critical, NoticeState::Resolved)));
        assert!(Filter::default().takes(&notice(8, Severity::Info, NoticeState::Resolved)));
    }
}
