//! The alerts' worker: makes the default rules once, loads the rules, silences and open
//! alerts, follows every endpoint (members, events) and takes the signals (usage samples,
//! update findings, check states, rule changes); each transition is stored and, unless silenced, sent
//! to the notification channels at once.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::defaults::{check_rule, default_rules};
use super::evaluate::{Change, Evaluator, Observation, Reading, Sweep};
use super::machine::State;
use super::rule::Kind;
use super::{from_checks, from_usage, watch_events, watch_members, Batch};
use crate::api::App;
use crate::store::{now_secs, Endpoint, StoreError};
use crate::watch::Signal;
use crate::watch::UpdateFinding;
use crate::watch::{Notice, NoticeState};

/// How often pending alerts and restart windows are looked at: a transition is never
/// held back longer than this.
const TICK: Duration = Duration::from_secs(1);
/// How often the endpoints are listed, to follow new ones and forget removed ones.
const ENDPOINTS_EVERY: Duration = Duration::from_secs(5);
/// How long resolved alerts and their transitions are kept.
const KEEP_RESOLVED: i64 = 90 * 24 * 3600;
/// How often the old ones are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(3600);

/// What is followed of one endpoint, and how to stop following it.
struct Followed {
    endpoint: Endpoint,
    stop: CancellationToken,
}

/// Runs until `stop`.
pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let Some(mut signals) = app.alerts.take_queue() else {
        tracing::error!("alerts: the signal queue was taken already; not evaluating");
        return;
    };
    let loaded = app
        .db
        .run(|s| {
            if s.make_default_alert_rules(&default_rules())? {
                tracing::info!("alerts: the default rules were made");
            }
            if s.make_default_check_rule(&check_rule())? {
                tracing::info!("alerts: the checks' default rule was made");
            }
            Ok::<_, StoreError>((s.alert_rules()?, s.silences()?, s.open_alerts()?))
        })
        .await;
    let (rules, silences, open) = match loaded {
        Ok(l) => l,
        Err(e) => {
            tracing::error!(error = %e, "alerts: cannot load the rules; not evaluating");
            return;
        }
    };
    tracing::info!(rules = rules.len(), open = open.len(), "alerts: evaluating");
    let mut changes = Vec::new();
    let mut eval = Evaluator::new(rules, silences, open, now_secs(), &mut changes);
    apply(&app, &mut eval, changes).await;
    let (tx, mut rx) = mpsc::channel::<Batch>(256);
    let mut followed: HashMap<i64, Followed> = HashMap::new();
    let mut tick = tokio::time::interval(TICK);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut list = tokio::time::interval(ENDPOINTS_EVERY);
    list.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut prune = tokio::time::interval(PRUNE_EVERY);
    prune.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        let mut changes = Vec::new();
        tokio::select! {
            _ = stop.cancelled() => break,
            _ = list.tick() => follow(&app, &mut eval, &mut followed, &tx, &stop).await,
            _ = tick.tick() => eval.tick(now_secs(), &mut changes),
            _ = prune.tick() => {
                let before = now_secs() - KEEP_RESOLVED;
                match app.db.run(move |s| s.prune_alerts(before)).await {
                    Ok(n) => tracing::debug!(alerts = n, "alerts: old resolved alerts deleted"),
                    Err(e) => tracing::error!(error = %e, "alerts: cannot delete old alerts"),
                }
            }
            Some(batch) = rx.recv() => eval.observe_all(batch.0, batch.1, &mut changes),
            Some(signal) = signals.recv() => match signal {
                Signal::Usage { endpoint, answer } => {
                    let batches = from_usage::batches(endpoint, &answer, |k| eval.watches(k));
                    for (observations, sweep) in batches {
                        eval.observe_all(observations, Some(sweep), &mut changes);
                    }
                }
                Signal::Updates { endpoint, findings } => {
                    let (observations, sweep) = updates_batch(endpoint, &findings, now_secs());
                    eval.observe_all(observations, sweep, &mut changes);
                }
                Signal::Checks { endpoint, findings } => {
                    let (observations, sweep) = from_checks::checks_batch(endpoint, &findings, now_secs());
                    eval.observe_all(observations, sweep, &mut changes);
                }
                Signal::RulesChanged => reload(&app, &mut eval, &mut changes).await,
            },
        }
        apply(&app, &mut eval, changes).await;
    }
    for f in followed.into_values() {
        f.stop.cancel();
    }
}

/// Follows the endpoints there are now: new ones and changed ones (again), not removed ones.
async fn follow(
    app: &Arc<App>,
    eval: &mut Evaluator,
    followed: &mut HashMap<i64, Followed>,
    tx: &mpsc::Sender<Batch>,
    stop: &CancellationToken,
) {
    let endpoints = match app.db.run(|s| s.endpoints()).await {
        Ok(list) => list,
        Err(e) => {
            tracing::error!(error = %e, "alerts: cannot list the endpoints");
            return;
        }
    };
    eval.set_endpoints(endpoints.iter().map(|e| (e.id, e.name.clone())).collect());
    followed.retain(|id, f| {
        let keep = endpoints.iter().any(|e| e == &f.endpoint && e.id == *id);
        if !keep {
            f.stop.cancel();
        }
        keep
    });
    for endpoint in endpoints {
        if followed.contains_key(&endpoint.id) {
            continue;
        }
        let child = stop.child_token();
        tokio::spawn(watch_members::watch(
            Arc::clone(&app.agents),
            endpoint.clone(),
            tx.clone(),
            child.clone(),
        ));
        tokio::spawn(watch_events::watch(
            app.db.clone(),
            Arc::clone(&app.agents),
            endpoint.clone(),
            tx.clone(),
            child.clone(),
        ));
        followed.insert(
            endpoint.id,
            Followed {
                endpoint,
                stop: child,
            },
        );
    }
}

/// Reads the rules and silences again.
async fn reload(app: &App, eval: &mut Evaluator, changes: &mut Vec<Change>) {
    match app
        .db
        .run(|s| Ok::<_, StoreError>((s.alert_rules()?, s.silences()?)))
        .await
    {
        Ok((rules, silences)) => {
            eval.set_silences(silences);
            eval.set_rules(rules, now_secs(), changes);
        }
        Err(e) => tracing::error!(error = %e, "alerts: cannot read the rules again"),
    }
}

/// An endpoint's update findings: each is an alert; those gone from the list resolve.
pub fn updates_batch(endpoint: i64, findings: &[UpdateFinding], at: i64) -> Batch {
    let observations = findings
        .iter()
        .map(|f| {
            let newer = f
                .newer_tag
                .as_deref()
                .map_or(String::new(), |t| format!(" {t}"));
            Observation {
                kind: Kind::UpdateAvailable,
                endpoint,
                node: Some(f.node.clone()),
                labels: None,
                key: format!("{}/{}:{}", f.node, f.object, f.name),
                subject: f.name.clone(),
                reading: Reading::Holds(true),
                summary: format!("{}: {} has an update ({}{newer})", f.name, f.image, f.kind),
                details: f.link.iter().cloned().collect(),
                at,
            }
        })
        .collect();
    let sweep = Sweep {
        kinds: &[Kind::UpdateAvailable],
        endpoint,
        node: None,
        at,
    };
    (observations, Some(sweep))
}

/// Stores each transition and sends its notice: firing, and resolved after firing,
/// unless the alert is silenced.
async fn apply(app: &App, eval: &mut Evaluator, changes: Vec<Change>) {
    for change in changes {
        let a = &change.alert;
        let (rule, severity) = (change.rule.clone(), change.severity);
        let endpoint = eval.endpoint_name(a.endpoint).to_owned();
        let known = if a.id != 0 {
            a.id
        } else {
            eval.id_of(a.rule_id, &a.key).unwrap_or(0)
        };
        let stored = {
            let (change, rule, endpoint) = (change.clone(), rule.clone(), endpoint.clone());
            app.db
                .run(move |s| {
                    s.record_alert_change(&change, &rule, severity.as_str(), &endpoint, known)
                })
                .await
        };
        let id = match stored {
            Ok(id) => id,
            Err(e) => {
                tracing::error!(error = %e, "alerts: cannot store a transition");
                continue;
            }
        };
        if change.to != State::Resolved {
            eval.set_id(a.rule_id, &a.key, id);
        }
        let state = match (change.from, change.to) {
            (_, State::Firing) => NoticeState::Firing,
            (State::Firing, State::Resolved) => NoticeState::Resolved,
            _ => continue,
        };
        if a.silenced {
            continue;
        }
        let (summary, details) = match state {
            NoticeState::Firing => (a.summary.clone(), a.details.clone()),
            NoticeState::Resolved => (change.detail.clone(), Vec::new()),
        };
        app.notifier.send(Notice {
            alert_id: id,
            rule_id: a.rule_id,
            rule,
            severity,
            state,
            endpoint,
            node: a.node.clone(),
            subject: a.subject.clone(),
            summary,
            details,
            at: change.at,
        });
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::alerts::machine::State;

    fn finding(name: &str) -> UpdateFinding {
        UpdateFinding {
            endpoint: 1,
            endpoint_name: "prod".into(),
            node: "n1".into(),
            object: "container".into(),
            name: name.into(),
            id: format!("{name}-id"),
            image: "127.0.0.1:5000/app:1.0.0".into(),
            kind: "patch".into(),
            newer_tag: Some("1.0.1".into()),
            newest_digest: None,
            link: None,
        }
    }

    #[test]
    fn update_findings_fire_once_and_resolve_when_gone_from_the_list() {
        let rules: Vec<_> = default_rules()
            .into_iter()
            .enumerate()
            .map(|(i, r)| crate::alerts::rule::Rule {
                id: i as i64 + 1,
                ..r
            })
            .collect();
        let mut eval = Evaluator::new(rules, Vec::new(), Vec::new(), 0, &mut Vec::new());
        let mut changes = Vec::new();
        for at in [10, 20] {
            let (o, s) = updates_batch(1, &[finding("web"), finding("db")], at);
            eval.observe_all(o, s, &mut changes);
        }
        let (o, s) = updates_batch(1, &[finding("db")], 30);
        eval.observe_all(o, s, &mut changes);
        let seen: Vec<(String, State, i64)> = changes
            .iter()
            .map(|c| (c.alert.subject.clone(), c.to, c.at))
            .collect();
        assert_eq!(
            seen,
            vec![
                ("web".to_owned(), State::Firing, 10),
                ("db".to_owned(), State::Firing, 10),
                ("web".to_owned(), State::Resolved, 30),
            ]
        );
        assert!(
            changes[0].alert.summary.contains("patch 1.0.1"),
            "{:?}",
            changes[0]
        );
    }
}
