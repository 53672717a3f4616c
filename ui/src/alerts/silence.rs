//! Silences (mute, snooze): a rule and/or a subject matcher until a time. A silenced
//! alert is stored as any other, but its notices are not sent.

use serde::{Deserialize, Serialize};

/// A silence as stored.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Silence {
    pub id: i64,
    /// Only this rule's alerts; `None`: every rule's.
    pub rule_id: Option<i64>,
    /// Only alerts whose subject, node or endpoint is this (a trailing `*` takes any
    /// rest); `None`: every subject.
    pub subject: Option<String>,
    /// Until when, in Unix seconds.
    pub until: i64,
    pub comment: String,
    pub created_by: String,
    pub created: i64,
}

/// What a silence is matched against.
#[derive(Debug, Clone, Copy)]
pub struct Silenced<'a> {
    pub rule_id: i64,
    pub subject: &'a str,
    pub node: Option<&'a str>,
    pub endpoint: &'a str,
}

impl Silence {
    /// Whether this silence covers `alert` at `now`.
    pub fn covers(&self, alert: &Silenced<'_>, now: i64) -> bool {
        if now >= self.until {
            return false;
        }
        if self.rule_id.is_some_and(|r| r != alert.rule_id) {
            return false;
        }
        let Some(matcher) = &self.subject else {
            return true;
        };
        let fits = |name: &str| match matcher.strip_suffix('*') {
            Some(prefix) => name.starts_with(prefix),
            None => name == matcher,
        };
        fits(alert.subject) || alert.node.is_some_and(fits) || fits(alert.endpoint)
    }
}

/// Whether any of `silences` covers `alert` at `now`.
pub fn silenced(silences: &[Silence], alert: &Silenced<'_>, now: i64) -> bool {
    silences.iter().any(|s| s.covers(alert, now))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn silence(rule_id: Option<i64>, subject: Option<&str>, until: i64) -> Silence {
        Silence {
            id: 1,
            rule_id,
            subject: subject.map(str::to_owned),
            until,
            comment: String::new(),
            created_by: "admin".into(),
            created: 0,
        }
    }

    #[test]
    fn silences_matching() {
        let web = Silenced {
            rule_id: 2,
            subject: "web-1",
            node: Some("n1"),
            endpoint: "prod",
        };
        let cases = [
            (silence(None, None, 200), 100, true),
            (silence(None, None, 100), 100, false),
            (silence(None, None, 50), 100, false),
            (silence(Some(2), None, 200), 100, true),
            (silence(Some(3), None, 200), 100, false),
            (silence(None, Some("web-1"), 200), 100, true),
            (silence(None, Some("web-2"), 200), 100, false),
            (silence(None, Some("web-*"), 200), 100, true),
            (silence(None, Some("db-*"), 200), 100, false),
            (silence(None, Some("n1"), 200), 100, true),
            (silence(None, Some("prod"), 200), 100, true),
            (silence(Some(2), Some("web-1"), 200), 100, true),
            (silence(Some(3), Some("web-1"), 200), 100, false),
            (silence(Some(2), Some("web-1"), 90), 100, false),
        ];
        for (i, (s, now, covers)) in cases.iter().enumerate() {
            assert_eq!(s.covers(&web, *now), *covers, "case {i}: {s:?}");
        }
        let none: Vec<Silence> = Vec::new();
        assert!(!silenced(&none, &web, 100));
        assert!(silenced(
            &[cases[1].0.clone(), cases[0].0.clone()],
            &web,
            100
        ));
    }
}
