//! The evaluator over sequences of observations: once per transition, silences, sweeps,
//! ticks, and a restart that goes on from the stored open alerts.

use super::*;
use crate::alerts::defaults::default_rules;
use crate::alerts::rule::Scope;

fn rules() -> Vec<Rule> {
    default_rules()
        .into_iter()
        .enumerate()
        .map(|(i, r)| Rule {
            id: i as i64 + 1,
            ..r
        })
        .collect()
}

fn rule_of(kind: Kind) -> i64 {
    rules()
        .into_iter()
        .find(|r| r.kind == kind)
        .map(|r| r.id)
        .expect("a default rule")
}

fn disk(node: &str, percent: f64, at: i64) -> Observation {
    Observation {
        kind: Kind::HostDisk,
        endpoint: 1,
        node: Some(node.into()),
        labels: None,
        key: format!("{node}/fs:/"),
        subject: format!("{node}:/"),
        reading: Reading::Value(percent),
        summary: format!("{percent} %"),
        details: Vec::new(),
        at,
    }
}

fn exited(holds: bool, at: i64) -> Observation {
    Observation {
        kind: Kind::ContainerExited,
        reading: Reading::Holds(holds),
        key: "n1/ctr:web".into(),
        subject: "web".into(),
        ..disk("n1", 0.0, at)
    }
}

fn moves(changes: &[Change]) -> Vec<(State, State, i64)> {
    changes.iter().map(|c| (c.from, c.to, c.at)).collect()
}

#[test]
fn a_full_disk_fires_after_its_duration_once_and_resolves_once() {
    let mut eval = Evaluator::new(rules(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    // The default: over 90 % for 5 minutes; a sample every 10 s.
    for t in (0..1000).step_by(10) {
        let percent = if (100..=600).contains(&t) { 95.0 } else { 50.0 };
        eval.observe(disk("n1", percent, t), &mut changes);
    }
    use State::*;
    assert_eq!(
        moves(&changes),
        vec![
            (Inactive, Pending, 100),
            (Pending, Firing, 400),
            (Firing, Resolved, 610)
        ]
    );
}

#[test]
fn an_exit_fires_at_once_and_resolves_when_it_runs_again() {
    let mut eval = Evaluator::new(rules(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    eval.observe(exited(true, 10), &mut changes);
    eval.observe(exited(true, 11), &mut changes);
    eval.tick(20, &mut changes);
    eval.observe(exited(false, 30), &mut changes);
    eval.observe(exited(false, 31), &mut changes);
    use State::*;
    assert_eq!(
        moves(&changes),
        vec![(Inactive, Firing, 10), (Firing, Resolved, 30)]
    );
}

#[test]
fn a_pending_node_down_fires_on_the_tick_after_its_for() {
    let mut eval = Evaluator::new(rules(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    let down = Observation {
        kind: Kind::NodeDown,
        reading: Reading::Holds(true),
        key: "node:n2".into(),
        ..disk("n2", 0.0, 100)
    };
    eval.observe(down, &mut changes);
    eval.tick(159, &mut changes);
    assert_eq!(changes.len(), 1);
    eval.tick(160, &mut changes);
    eval.tick(161, &mut changes);
    assert_eq!(
        moves(&changes),
        vec![
            (State::Inactive, State::Pending, 100),
            (State::Pending, State::Firing, 160)
        ]
    );
}

#[test]
fn silenced_alerts_are_marked() {
    let silence = Silence {
        id: 1,
        rule_id: Some(rule_of(Kind::ContainerExited)),
        subject: Some("web".into()),
        until: 1000,
        comment: String::new(),
        created_by: "admin".into(),
        created: 0,
    };
    let mut eval = Evaluator::new(rules(), vec![silence], Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    eval.observe(exited(true, 10), &mut changes);
    assert!(changes[0].alert.silenced);
    eval.observe(exited(false, 20), &mut changes);
    eval.observe(exited(true, 2000), &mut changes);
    assert!(!changes[2].alert.silenced, "the silence ended at 1000");
}

#[test]
fn a_sweep_resolves_what_is_no_longer_reported() {
    let mut eval = Evaluator::new(rules(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    let sweep = |at| Sweep {
        kinds: &[Kind::HostDisk],
        endpoint: 1,
        node: Some("n1".into()),
        at,
    };
    for t in (0..400).step_by(10) {
        eval.observe_all(vec![disk("n1", 99.0, t)], Some(sweep(t)), &mut changes);
    }
    assert_eq!(changes.last().map(|c| c.to), Some(State::Firing));
    // Another node's batch does not touch n1's alert; n1's batch without it does.
    eval.observe_all(
        Vec::new(),
        Some(Sweep {
            node: Some("n2".into()),
            ..sweep(400)
        }),
        &mut changes,
    );
    assert_eq!(changes.len(), 2);
    eval.observe_all(Vec::new(), Some(sweep(410)), &mut changes);
    assert_eq!(
        changes.last().map(|c| (c.from, c.to)),
        Some((State::Firing, State::Resolved))
    );
}

#[test]
fn a_restart_goes_on_from_the_open_alerts() {
    let mut eval = Evaluator::new(rules(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    eval.observe(exited(true, 10), &mut changes);
    let open: Vec<OpenAlert> = eval.open_alerts().cloned().collect();
    let mut again = Evaluator::new(rules(), Vec::new(), open, 0, &mut Vec::new());
    let mut after = Vec::new();
    again.observe(exited(true, 20), &mut after);
    again.tick(30, &mut after);
    assert!(after.is_empty(), "{after:?}");
    again.observe(exited(false, 40), &mut after);
    assert_eq!(moves(&after), vec![(State::Firing, State::Resolved, 40)]);

    // A rule disabled while the console was stopped: its open alert resolves at start.
    eval.observe(exited(true, 50), &mut changes);
    let open: Vec<OpenAlert> = eval.open_alerts().cloned().collect();
    let disabled: Vec<Rule> = rules()
        .into_iter()
        .map(|r| Rule {
            enabled: false,
            ..r
        })
        .collect();
    let mut at_start = Vec::new();
    Evaluator::new(disabled, Vec::new(), open, 60, &mut at_start);
    assert_eq!(moves(&at_start), vec![(State::Firing, State::Resolved, 60)]);
    assert_eq!(at_start[0].rule, "Container exited");
}

#[test]
fn restart_loops_count_within_the_window_and_resolve_when_it_empties() {
    let mut eval = Evaluator::new(rules(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    let loop_at = |times: Vec<i64>, at| Observation {
        kind: Kind::ContainerRestarting,
        reading: Reading::Restarts(times),
        ..exited(true, at)
    };
    eval.observe(loop_at(vec![0, 10], 10), &mut changes);
    assert!(changes.is_empty(), "two restarts are below three");
    eval.observe(loop_at(vec![0, 10, 20], 20), &mut changes);
    assert_eq!(changes.len(), 1);
    // The default window is 10 minutes: empty of restarts 600 s after the first.
    eval.tick(600, &mut changes);
    assert_eq!(changes.len(), 1);
    eval.tick(601, &mut changes);
    assert_eq!(moves(&changes)[1], (State::Firing, State::Resolved, 601));
}

#[test]
fn scope_and_disabled_rules() {
    let mut rules = rules();
    for r in &mut rules {
        if r.kind == Kind::HostDisk {
            r.scope = Scope {
                node: Some("n2".into()),
                ..Scope::default()
            };
            r.for_secs = 0;
        }
    }
    let mut eval = Evaluator::new(rules.clone(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let mut changes = Vec::new();
    eval.observe(disk("n1", 99.0, 0), &mut changes);
    assert!(changes.is_empty());
    eval.observe(disk("n2", 99.0, 0), &mut changes);
    assert_eq!(changes.len(), 1);
    for r in &mut rules {
        r.enabled = false;
    }
    eval.set_rules(rules, 5, &mut changes);
    assert_eq!(moves(&changes)[1], (State::Firing, State::Resolved, 5));
    assert!(!eval.watches(Kind::HostDisk));
}
