//! Observations from the checks' puller: each check on each node that is not ok is an
//! alert at its state's severity; one gone from the endpoint's next list resolves.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::evaluate::{Observation, Reading, Sweep};
use super::rule::Kind;
use super::Batch;
use crate::watch::{CheckFinding, Severity};

/// How many of a check's output lines go into its notice.
const DETAIL_LINES: usize = 20;

/// The severity a check's state stands for: warning, or critical for critical, unknown
/// and anything this console does not know.
pub fn severity_of(state: &str) -> Severity {
    match state {
        "warning" => Severity::Warning,
        _ => Severity::Critical,
    }
}

/// The alert's key: the node, the check and the severity, so that a check that goes from
/// warning to critical resolves the one alert and fires the other.
fn key(f: &CheckFinding, severity: Severity) -> String {
    format!("{}/check:{}/{}", f.node, f.check, severity.as_str())
}

/// An endpoint's check findings, all of them: each is an alert; those gone from the list
/// (the check is ok again, or was removed, or its node left) resolve.
pub fn checks_batch(endpoint: i64, findings: &[CheckFinding], at: i64) -> Batch {
    let mut observations = Vec::with_capacity(findings.len() * 2);
    for f in findings {
        let severity = severity_of(&f.state);
        let labels: BTreeMap<String, String> = [
            ("check", f.name.as_str()),
            ("check_id", f.check.as_str()),
            ("kind", f.kind.as_str()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        let labels = Some(Arc::new(labels));
        let first = f
            .output
            .lines()
            .find(|l| !l.trim().is_empty())
            .unwrap_or("");
        let said = if first.is_empty() {
            String::new()
        } else {
            format!(": {}", first.trim())
        };
        // The other severity's alert of the same check ends first, with the reason.
        let other = match severity {
            Severity::Warning => Severity::Critical,
            _ => Severity::Warning,
        };
        observations.push(Observation {
            kind: Kind::CheckState,
            endpoint,
            node: Some(f.node.clone()),
            labels: labels.clone(),
            key: key(f, other),
            subject: f.name.clone(),
            reading: Reading::Holds(false),
            summary: format!("check {} on {} is {} now", f.name, f.node, f.state),
            details: Vec::new(),
            at,
        });
        observations.push(Observation {
            kind: Kind::CheckState,
            endpoint,
            node: Some(f.node.clone()),
            labels,
            key: key(f, severity),
            subject: f.name.clone(),
            reading: Reading::Check(severity),
            summary: format!("check {} on {} is {}{said}", f.name, f.node, f.state),
            details: f
                .output
                .lines()
                .take(DETAIL_LINES)
                .map(str::to_owned)
                .collect(),
            at,
        });
    }
    let sweep = Sweep {
        kinds: &[Kind::CheckState],
        endpoint,
        node: None,
        at,
    };
    (observations, Some(sweep))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::defaults::default_rules;
    use crate::alerts::evaluate::{Change, Evaluator};
    use crate::alerts::machine::State;
    use crate::alerts::rule::{Rule, Scope};

    fn finding(node: &str, name: &str, state: &str, output: &str) -> CheckFinding {
        CheckFinding {
            endpoint: 1,
            endpoint_name: "prod".into(),
            node: node.into(),
            check: format!("c-{name}"),
            name: name.into(),
            kind: "http".into(),
            state: state.into(),
            output: output.into(),
        }
    }

    fn numbered(rules: Vec<Rule>) -> Vec<Rule> {
        rules
            .into_iter()
            .enumerate()
            .map(|(i, r)| Rule {
                id: i as i64 + 1,
                ..r
            })
            .collect()
    }

    fn evaluator(rules: Vec<Rule>) -> Evaluator {
        Evaluator::new(numbered(rules), Vec::new(), Vec::new(), 0, &mut Vec::new())
    }

    fn feed(eval: &mut Evaluator, findings: &[CheckFinding], at: i64) -> Vec<Change> {
        let mut changes = Vec::new();
        let (o, s) = checks_batch(1, findings, at);
        eval.observe_all(o, s, &mut changes);
        changes
    }

    /// (subject, node, severity, from, to, at) of each change.
    fn seen(changes: &[Change]) -> Vec<(String, String, Severity, State, State, i64)> {
        changes
            .iter()
            .map(|c| {
                (
                    c.alert.subject.clone(),
                    c.alert.node.clone().unwrap_or_default(),
                    c.severity,
                    c.from,
                    c.to,
                    c.at,
                )
            })
            .collect()
    }

    #[test]
    fn states_fire_at_their_severity_once_and_resolve_when_gone_from_the_list() {
        let mut eval = evaluator(default_rules());
        let web_n1 = finding("n1", "web", "warning", "HTTP 500\nbody: oops");
        let web_n2 = finding("n2", "web", "critical", "connection refused");
        let dns_n1 = finding("n1", "dns", "unknown", "");
        let mut changes = feed(&mut eval, &[web_n1.clone(), web_n2.clone(), dns_n1], 10);
        // The same list again changes nothing.
        changes.extend(feed(&mut eval, &[web_n1.clone(), web_n2.clone()], 20));
        changes.extend(feed(&mut eval, &[web_n2], 30));
        changes.extend(feed(&mut eval, &[], 40));
        use Severity::*;
        use State::*;
        let s = |n: &str, node: &str, sev, from, to, at| {
            (n.to_owned(), node.to_owned(), sev, from, to, at)
        };
        assert_eq!(
            seen(&changes),
            vec![
                s("web", "n1", Warning, Inactive, Firing, 10),
                s("web", "n2", Critical, Inactive, Firing, 10),
                s("dns", "n1", Critical, Inactive, Firing, 10),
                s("dns", "n1", Critical, Firing, Resolved, 20),
                s("web", "n1", Warning, Firing, Resolved, 30),
                s("web", "n2", Critical, Firing, Resolved, 40),
            ]
        );
        let fired = &changes[0].alert;
        assert_eq!(fired.summary, "check web on n1 is warning: HTTP 500");
        assert_eq!(
            fired.details,
            vec!["HTTP 500".to_owned(), "body: oops".into()]
        );
        assert_eq!(changes[2].alert.summary, "check dns on n1 is unknown");
        assert_eq!(changes[0].rule, "Check not ok");
    }

    #[test]
    fn a_warning_that_turns_critical_fires_again_at_the_new_severity() {
        let mut eval = evaluator(default_rules());
        let mut changes = feed(&mut eval, &[finding("n1", "web", "warning", "slow")], 10);
        changes.extend(feed(
            &mut eval,
            &[finding("n1", "web", "critical", "down")],
            20,
        ));
        // Unknown is critical too: nothing moves.
        changes.extend(feed(&mut eval, &[finding("n1", "web", "unknown", "?")], 30));
        changes.extend(feed(
            &mut eval,
            &[finding("n1", "web", "warning", "slow")],
            40,
        ));
        use Severity::*;
        use State::*;
        let moves: Vec<(Severity, State, i64)> =
            changes.iter().map(|c| (c.severity, c.to, c.at)).collect();
        assert_eq!(
            moves,
            vec![
                (Warning, Firing, 10),
                (Warning, Resolved, 20),
                (Critical, Firing, 20),
                (Critical, Resolved, 40),
                (Warning, Firing, 40),
            ]
        );
        assert_eq!(changes[1].detail, "check web on n1 is critical now");
    }

    #[test]
    fn a_sweep_leaves_other_endpoints_and_other_kinds_alone() {
        let mut eval = evaluator(default_rules());
        let changes = feed(&mut eval, &[finding("n1", "web", "critical", "")], 10);
        assert_eq!(changes.len(), 1);
        // Another endpoint's empty list resolves nothing of endpoint 1.
        let mut changes = Vec::new();
        let (o, s) = checks_batch(2, &[], 20);
        eval.observe_all(o, s, &mut changes);
        assert!(changes.is_empty(), "{changes:?}");
        // An update sweep of endpoint 1 does not touch its checks.
        let (o, s) = crate::alerts::run::updates_batch(1, &[], 20);
        eval.observe_all(o, s, &mut changes);
        assert!(changes.is_empty(), "{changes:?}");
        assert_eq!(eval.open_alerts().count(), 1);
    }

    #[test]
    fn a_rule_scoped_to_a_check_or_node_and_one_for_critical_only() {
        let rule = |name: &str, severity, scope| Rule {
            id: 0,
            name: name.into(),
            kind: Kind::CheckState,
            severity,
            scope,
            for_secs: 0,
            threshold: None,
            window: None,
            enabled: true,
        };
        let mut eval = evaluator(vec![
            rule(
                "web checks",
                Severity::Warning,
                Scope {
                    labels: Some("check=web".into()),
                    ..Default::default()
                },
            ),
            rule(
                "n2 critical",
                Severity::Critical,
                Scope {
                    node: Some("n2".into()),
                    ..Default::default()
                },
            ),
        ]);
        let changes = feed(
            &mut eval,
            &[
                finding("n1", "web", "warning", ""),
                finding("n1", "dns", "critical", ""),
                finding("n2", "dns", "warning", ""),
                finding("n2", "tcp", "unknown", ""),
            ],
            10,
        );
        let fired: Vec<(&str, &str, &str)> = changes
            .iter()
            .map(|c| {
                (
                    c.rule.as_str(),
                    c.alert.subject.as_str(),
                    c.alert.node.as_deref().unwrap_or(""),
                )
            })
            .collect();
        assert_eq!(
            fired,
            vec![("web checks", "web", "n1"), ("n2 critical", "tcp", "n2")]
        );
    }

    #[test]
    fn a_duration_holds_a_check_pending_until_it_is_over() {
        let mut rules = default_rules();
        for r in &mut rules {
            if r.kind == Kind::CheckState {
                r.for_secs = 60;
            }
        }
        let mut eval = evaluator(rules);
        let f = [finding("n1", "web", "critical", "")];
        let mut changes = feed(&mut eval, &f, 10);
        changes.extend(feed(&mut eval, &f, 40));
        eval.tick(70, &mut changes);
        let moves: Vec<(State, i64)> = changes.iter().map(|c| (c.to, c.at)).collect();
        assert_eq!(moves, vec![(State::Pending, 10), (State::Firing, 70)]);
        assert_eq!(changes[1].severity, Severity::Critical);
    }
}
