//! The evaluator: the rules, the silences and every open alert in memory; observations
//! (a node is down, a container exited, a filesystem is 93 % full) in, transitions out.
//! It does no input or output: the worker in `run.rs` stores and sends what it returns,
//! and the benchmark feeds it synthetic observations.

use std::collections::{BTreeMap, HashMap, HashSet};
use std::sync::Arc;

use serde::{Deserialize, Serialize};

use super::machine::{step, Standing, State, Step};
use super::rule::{Kind, Rule, Source, Subject};
use super::silence::{silenced, Silence, Silenced};
use crate::watch::Severity;

/// What an observation says of its subject.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Reading {
    /// The condition holds or not (a node is down, a container exited).
    Holds(bool),
    /// A figure, compared with the rule's threshold (percent used, load per core).
    Value(f64),
    /// When a container died lately, counted within the rule's window.
    Restarts(Vec<i64>),
    /// A check is not ok: the severity its state stands for (warning, or critical for
    /// critical and unknown), which is the alert's too.
    Check(Severity),
}

/// One thing seen about one subject at one time.
#[derive(Debug, Clone)]
pub struct Observation {
    pub kind: Kind,
    pub endpoint: i64,
    pub node: Option<String>,
    /// A container's labels, where known.
    pub labels: Option<Arc<BTreeMap<String, String>>>,
    /// What the subject is, unique within the endpoint and kind: `n1/fs:/var`.
    pub key: String,
    /// How the subject is shown: a container's name, `n1:/var`.
    pub subject: String,
    pub reading: Reading,
    /// One line: what is seen.
    pub summary: String,
    /// More lines: a container's last log lines.
    pub details: Vec<String>,
    /// When, in Unix seconds.
    pub at: i64,
}

/// After a batch: the open alerts of these kinds on `endpoint` (and `node`, if set) that
/// the batch did not mention no longer hold (the node answered without that filesystem,
/// the update is gone from the list).
#[derive(Debug, Clone)]
pub struct Sweep {
    pub kinds: &'static [Kind],
    pub endpoint: i64,
    pub node: Option<String>,
    pub at: i64,
}

/// An alert that is pending or firing.
#[derive(Debug, Clone, PartialEq)]
pub struct OpenAlert {
    /// Its row; 0 until stored.
    pub id: i64,
    pub rule_id: i64,
    pub kind: Kind,
    pub endpoint: i64,
    pub node: Option<String>,
    pub key: String,
    pub subject: String,
    pub state: State,
    /// Since when the condition holds.
    pub since: i64,
    pub fired_at: Option<i64>,
    /// Covered by a silence when it became pending or fired: not notified.
    pub silenced: bool,
    pub reading: Reading,
    pub summary: String,
    pub details: Vec<String>,
}

/// One transition, for the worker to store (and notify).
#[derive(Debug, Clone)]
pub struct Change {
    pub alert: OpenAlert,
    /// The rule's name and severity when it happened (a removed rule's too).
    pub rule: String,
    pub severity: Severity,
    pub from: State,
    pub to: State,
    pub at: i64,
    /// Why: what was seen.
    pub detail: String,
}

/// The rules, the silences and the open alerts.
#[derive(Default)]
pub struct Evaluator {
    rules: HashMap<i64, Rule>,
    by_kind: HashMap<Kind, Vec<i64>>,
    silences: Vec<Silence>,
    endpoints: HashMap<i64, String>,
    open: HashMap<(i64, String), OpenAlert>,
}

/// Whether `reading` holds for `rule` at `at`.
fn holds(rule: &Rule, reading: &Reading, at: i64) -> bool {
    match reading {
        Reading::Holds(b) => *b,
        Reading::Value(v) => rule.threshold.is_some_and(|t| *v > t),
        Reading::Restarts(times) => {
            let from = at - rule.window.unwrap_or(0);
            let count = times.iter().filter(|t| **t >= from && **t <= at).count();
            rule.threshold.is_some_and(|t| count as f64 >= t)
        }
        Reading::Check(severity) => *severity >= rule.severity,
    }
}

/// The severity of an alert of `rule` that reads `reading`: a check's own, else the rule's.
fn severity_of(rule: &Rule, reading: &Reading) -> Severity {
    match reading {
        Reading::Check(severity) => *severity,
        _ => rule.severity,
    }
}

impl Evaluator {
    /// An evaluator with these rules and silences, and the alerts left open by the last
    /// run (their transitions were stored then, and are not made again). Those of a rule
    /// removed or disabled since resolve at `at`, into `changes`.
    pub fn new(
        rules: Vec<Rule>,
        silences: Vec<Silence>,
        open: Vec<OpenAlert>,
        at: i64,
        changes: &mut Vec<Change>,
    ) -> Self {
        let mut me = Self {
            silences,
            ..Self::default()
        };
        me.open = open
            .into_iter()
            .map(|a| ((a.rule_id, a.key.clone()), a))
            .collect();
        me.set_rules(rules, at, changes);
        me
    }

    pub fn set_endpoints(&mut self, endpoints: HashMap<i64, String>) {
        self.endpoints = endpoints;
    }

    pub fn set_silences(&mut self, silences: Vec<Silence>) {
        self.silences = silences;
    }

    /// New rules; the open alerts of a rule removed or disabled resolve.
    pub fn set_rules(&mut self, rules: Vec<Rule>, at: i64, changes: &mut Vec<Change>) {
        let before = std::mem::replace(
            &mut self.rules,
            rules.into_iter().map(|r| (r.id, r)).collect(),
        );
        self.by_kind.clear();
        let mut ids: Vec<&Rule> = self.rules.values().filter(|r| r.enabled).collect();
        ids.sort_by_key(|r| r.id);
        for rule in ids {
            self.by_kind.entry(rule.kind).or_default().push(rule.id);
        }
        let gone: Vec<(i64, String)> = self
            .open
            .keys()
            .filter(|(rule, _)| !self.rules.get(rule).is_some_and(|r| r.enabled))
            .cloned()
            .collect();
        for slot in gone {
            if let Some(alert) = self.open.remove(&slot) {
                let detail = "the rule was removed or disabled".to_owned();
                let rule = self.rules.get(&slot.0).or_else(|| before.get(&slot.0));
                changes.push(Change {
                    rule: rule.map_or_else(String::new, |r| r.name.clone()),
                    severity: rule.map_or(Severity::Info, |r| severity_of(r, &alert.reading)),
                    from: alert.state,
                    to: State::Resolved,
                    at,
                    detail,
                    alert,
                });
            }
        }
    }

    /// Whether any enabled rule watches `kind`: a source need not report what no rule
    /// reads.
    pub fn watches(&self, kind: Kind) -> bool {
        self.by_kind.contains_key(&kind)
    }

    pub fn rule(&self, id: i64) -> Option<&Rule> {
        self.rules.get(&id)
    }

    pub fn endpoint_name(&self, id: i64) -> &str {
        self.endpoints.get(&id).map_or("", String::as_str)
    }

    pub fn open_alerts(&self) -> impl Iterator<Item = &OpenAlert> {
        self.open.values()
    }

    /// The stored row of an alert made by an earlier change.
    pub fn set_id(&mut self, rule_id: i64, key: &str, id: i64) {
        if let Some(alert) = self.open.get_mut(&(rule_id, key.to_owned())) {
            alert.id = id;
        }
    }

    pub fn id_of(&self, rule_id: i64, key: &str) -> Option<i64> {
        self.open
            .get(&(rule_id, key.to_owned()))
            .map(|a| a.id)
            .filter(|id| *id != 0)
    }

    /// A batch of observations, then its sweep.
    pub fn observe_all(
        &mut self,
        observations: Vec<Observation>,
        sweep: Option<Sweep>,
        changes: &mut Vec<Change>,
    ) {
        let mut seen: HashSet<String> = HashSet::new();
        for obs in observations {
            if sweep.is_some() {
                seen.insert(obs.key.clone());
            }
            self.observe(obs, changes);
        }
        if let Some(sweep) = sweep {
            self.sweep(&sweep, &seen, changes);
        }
    }

    /// One observation, judged by every enabled rule of its kind whose scope takes it.
    pub fn observe(&mut self, obs: Observation, changes: &mut Vec<Change>) {
        let Some(ids) = self.by_kind.get(&obs.kind) else {
            return;
        };
        let subject = Subject {
            endpoint: obs.endpoint,
            node: obs.node.as_deref(),
            labels: obs.labels.as_deref(),
        };
        let takers: Vec<i64> = ids
            .iter()
            .filter(|id| self.rules.get(id).is_some_and(|r| r.scope.takes(&subject)))
            .copied()
            .collect();
        for id in takers {
            self.judge(id, &obs, changes);
        }
    }

    fn judge(&mut self, rule_id: i64, obs: &Observation, changes: &mut Vec<Change>) {
        let Some(rule) = self.rules.get(&rule_id) else {
            return;
        };
        let slot = (rule_id, obs.key.clone());
        let now_holds = holds(rule, &obs.reading, obs.at);
        let (name, severity) = (rule.name.clone(), severity_of(rule, &obs.reading));
        let current = self.open.get(&slot);
        let standing = current.map(|a| Standing {
            state: a.state,
            since: a.since,
        });
        match step(standing, now_holds, obs.at, rule.for_secs) {
            Step::Stay => {
                if let Some(alert) = self.open.get_mut(&slot) {
                    alert.reading = obs.reading.clone();
                }
            }
            Step::To(State::Resolved) => {
                if let Some(alert) = self.open.remove(&slot) {
                    changes.push(Change {
                        rule: name,
                        // The alert's own, not the reading that ends it.
                        severity: severity_of(rule, &alert.reading),
                        from: alert.state,
                        to: State::Resolved,
                        at: obs.at,
                        detail: obs.summary.clone(),
                        alert,
                    });
                }
            }
            Step::To(to) => {
                let silenced = self.is_silenced(rule_id, obs, obs.at);
                let alert = self.open.entry(slot).or_insert_with(|| OpenAlert {
                    id: 0,
                    rule_id,
                    kind: obs.kind,
                    endpoint: obs.endpoint,
                    node: obs.node.clone(),
                    key: obs.key.clone(),
                    subject: obs.subject.clone(),
                    state: State::Inactive,
                    since: obs.at,
                    fired_at: None,
                    silenced,
                    reading: obs.reading.clone(),
                    summary: String::new(),
                    details: Vec::new(),
                });
                let from = alert.state;
                alert.state = to;
                alert.reading = obs.reading.clone();
                alert.summary = obs.summary.clone();
                alert.details = obs.details.clone();
                if to == State::Firing {
                    alert.fired_at = Some(obs.at);
                    alert.silenced = silenced;
                }
                changes.push(Change {
                    alert: alert.clone(),
                    rule: name,
                    severity,
                    from,
                    to,
                    at: obs.at,
                    detail: obs.summary.clone(),
                });
            }
        }
    }

    fn is_silenced(&self, rule_id: i64, obs: &Observation, at: i64) -> bool {
        let alert = Silenced {
            rule_id,
            subject: &obs.subject,
            node: obs.node.as_deref(),
            endpoint: self.endpoint_name(obs.endpoint),
        };
        silenced(&self.silences, &alert, at)
    }

    fn sweep(&mut self, sweep: &Sweep, seen: &HashSet<String>, changes: &mut Vec<Change>) {
        let stale: Vec<(i64, Observation)> = self
            .open
            .values()
            .filter(|a| {
                a.endpoint == sweep.endpoint
                    && sweep.kinds.contains(&a.kind)
                    && (sweep.node.is_none() || a.node == sweep.node)
                    && !seen.contains(&a.key)
            })
            .map(|a| {
                let mut obs = as_observation(a, sweep.at);
                obs.reading = Reading::Holds(false);
                obs.summary = match (a.kind, &a.node) {
                    (Kind::CheckState, Some(node)) => {
                        format!(
                            "check {} on {node} is ok, or no longer runs there",
                            a.subject
                        )
                    }
                    _ => format!("{} is no longer reported", a.subject),
                };
                (a.rule_id, obs)
            })
            .collect();
        // Straight to the rule that opened each: its scope took the subject then.
        for (rule, obs) in stale {
            self.judge(rule, &obs, changes);
        }
    }

    /// Time passes: pending alerts not fed by usage samples fire once their `for` is
    /// over, and restart loops whose window has emptied resolve. Usage alerts move on
    /// their samples' times instead, so a catch-up after a stop judges them as they were.
    pub fn tick(&mut self, at: i64, changes: &mut Vec<Change>) {
        let due: Vec<(i64, Observation)> = self
            .open
            .values()
            .filter(|a| a.kind.source() != Source::Usage)
            .filter(|a| a.state == State::Pending || matches!(a.reading, Reading::Restarts(_)))
            .map(|a| {
                let mut obs = as_observation(a, at);
                if a.kind == Kind::ContainerRestarting && a.state == State::Firing {
                    obs.summary = format!("{} stopped restarting", a.subject);
                }
                (a.rule_id, obs)
            })
            .collect();
        for (rule, obs) in due {
            self.judge(rule, &obs, changes);
        }
    }
}

/// An open alert seen again at `at` as it was last seen.
fn as_observation(a: &OpenAlert, at: i64) -> Observation {
    Observation {
        kind: a.kind,
        endpoint: a.endpoint,
        node: a.node.clone(),
        labels: None,
        key: a.key.clone(),
        subject: a.subject.clone(),
        reading: a.reading.clone(),
        summary: a.summary.clone(),
        details: a.details.clone(),
        at,
    }
}

#[cfg(test)]
mod tests;
