//! The checks' puller: every `--checks-pull-interval`, for each endpoint that has had
//! checks, every node's results after the console's cursor
//! (`GET /agent/v1/checks?scope=cluster&cursor=NODE:SEQ,...`) stored as history, until
//! no node holds more; then the alerts told of every check that is not ok, and nodes
//! whose policy is older than the endpoint's sent it again (at most every 30 s).

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use bosun_serve::checks::{ClusterChecks, Status};
use tokio_util::sync::CancellationToken;

use super::push::mark_nodes;
use super::store::Ingest;
use crate::agent::{AgentError, Call, Caller, Failing};
use crate::app::App;
use crate::store::{Endpoint, StoreError};
use crate::watch::{CheckFinding, Signal};

/// One agent gathers every node's answer.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);
/// Asks in one pull, when nodes hold more than one answer's worth.
const MAX_ROUNDS: usize = 50;

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("the check results of endpoint {endpoint}: {reason}")]
    Answer { endpoint: String, reason: String },
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pulls every endpoint's check results each interval until `stop`.
pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(app.checks.pull_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = Failing::new("checks");
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let endpoints = match app
            .db
            .run(|s| {
                let with = s.endpoints_with_checks()?;
                Ok(s.endpoints()?
                    .into_iter()
                    .filter(|e| with.contains(&e.id))
                    .collect::<Vec<_>>())
            })
            .await
        {
            Ok(list) => list,
            Err(e) => {
                tracing::error!(error = %e, "checks: cannot list the endpoints");
                continue;
            }
        };
        failing.retain(&endpoints);
        let rounds = endpoints.iter().map(|endpoint| {
            let app = &app;
            async move { (endpoint, pull(app, endpoint).await) }
        });
        for (endpoint, result) in futures_util::future::join_all(rounds).await {
            if let Some(n) = failing.note(endpoint, &result) {
                tracing::debug!(endpoint = %endpoint.name, results = n, "checks: pulled");
            }
        }
        let cutoff = super::now_ms().saturating_sub(super::store::HISTORY_MS);
        if let Err(e) = app.db.run(move |s| s.prune_check_history(cutoff)).await {
            tracing::warn!(error = %e, "checks: cannot prune the history");
        }
    }
}

/// The `cursor` query value: each node's last result.
fn cursor_param(cursors: &HashMap<String, u64>) -> String {
    let mut pairs: Vec<_> = cursors.iter().collect();
    pairs.sort();
    pairs
        .iter()
        .map(|(node, seq)| format!("{}:{seq}", encode(node)))
        .collect::<Vec<_>>()
        .join(",")
}

/// A node name in a query: what is not a hostname's character, escaped.
fn encode(text: &str) -> String {
    text.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'-' | b'.' | b'_' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// One endpoint's pull: every node's new results stored, the alerts told, lagging nodes
/// sent their policy again; how many results came.
pub async fn pull(app: &App, endpoint: &Endpoint) -> Result<usize, PullError> {
    let id = endpoint.id;
    let mut cursors: HashMap<String, u64> = app
        .db
        .run(move |s| s.check_nodes(id))
        .await?
        .into_iter()
        .map(|n| (n.node, n.cursor))
        .collect();
    let client = match app.agents.get(endpoint) {
        Ok(c) => c,
        Err(e) => {
            mark_nodes(app, id, &e.to_string()).await;
            return Err(e.into());
        }
    };
    let mut count = 0;
    let mut lagging = Vec::new();
    for _ in 0..MAX_ROUNDS {
        let path = format!(
            "/agent/v1/checks?scope=cluster&cursor={}",
            cursor_param(&cursors)
        );
        let body = match client
            .call(Caller::CONSOLE, Call::get(path), PULL_TIMEOUT)
            .await
        {
            Ok((_, body)) => body,
            Err(e) => {
                mark_nodes(app, id, &format!("cannot pull: {e}")).await;
                return Err(e.into());
            }
        };
        let answer: ClusterChecks =
            serde_json::from_slice(&body).map_err(|e| PullError::Answer {
                endpoint: endpoint.name.clone(),
                reason: e.to_string(),
            })?;
        let version = app.db.run(move |s| s.check_config(id)).await?.version;
        let sent = cursors.clone();
        let (outcomes, n) = app
            .db
            .run(move |s| {
                let mut outcomes = Vec::new();
                let mut n = 0;
                for node in &answer.nodes {
                    let cursor = sent.get(&node.node).copied().unwrap_or(0);
                    let got = s.ingest_checks(id, node, cursor)?;
                    if matches!(got, Ingest::Stored { .. }) {
                        n += node.results.iter().filter(|r| r.seq > cursor).count();
                    }
                    outcomes.push((node.node.clone(), node.policy.version, got));
                }
                for missing in &answer.missing {
                    s.set_check_node_error(id, &missing.node, &missing.reason)?;
                }
                Ok((outcomes, n))
            })
            .await?;
        count += n;
        lagging = outcomes
            .iter()
            .filter(|(_, v, _)| *v < version)
            .map(|(node, _, _)| node.clone())
            .collect();
        let mut again = false;
        let rows = app.db.run(move |s| s.check_nodes(id)).await?;
        cursors = rows.into_iter().map(|n| (n.node, n.cursor)).collect();
        for (_, _, got) in &outcomes {
            again |= matches!(
                got,
                Ingest::Stored { more: true } | Ingest::NewEpoch { reask: true }
            );
        }
        if !again {
            break;
        }
    }
    tell(app, endpoint).await?;
    if !lagging.is_empty() && app.checks.may_repush(id) {
        match super::push::push(app, endpoint, Some(&lagging)).await {
            Ok(answer) => {
                tracing::debug!(endpoint = %endpoint.name, nodes = ?lagging, outcomes = answer.nodes.len(), "checks: sent lagging nodes their policy")
            }
            Err(e) => {
                tracing::warn!(endpoint = %endpoint.name, error = %e, "checks: cannot send lagging nodes their policy")
            }
        }
    }
    Ok(count)
}

/// Tells the alerts every (node, check) of the endpoint that is not ok, all of them.
pub async fn tell(app: &App, endpoint: &Endpoint) -> Result<(), StoreError> {
    let id = endpoint.id;
    let (defs, states) = app
        .db
        .run(move |s| Ok((s.check_defs(id)?, s.check_states(id)?)))
        .await?;
    let findings = findings(endpoint, &defs, &states);
    app.alerts.signal(Signal::Checks {
        endpoint: id,
        findings,
    });
    Ok(())
}

/// The states that are not ok, of checks that still exist and have run: a check the agent
/// has not run yet is `unknown` until its first run, which is no finding.
pub fn findings(
    endpoint: &Endpoint,
    defs: &[super::CheckDef],
    states: &[super::store::StateRow],
) -> Vec<CheckFinding> {
    states
        .iter()
        .filter(|s| s.state != Status::Ok && s.status.is_some())
        .filter_map(|s| {
            let def = defs.iter().find(|d| d.id == s.check)?;
            Some(CheckFinding {
                endpoint: endpoint.id,
                endpoint_name: endpoint.name.clone(),
                node: s.node.clone(),
                check: s.check.clone(),
                name: def.name.clone(),
                kind: def.probe.kind().to_owned(),
                state: s.state.as_str().to_owned(),
                output: s.output.clone(),
            })
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn findings_are_the_states_not_ok_of_checks_that_still_exist_and_have_run() {
        use crate::checks::def::CheckInput;
        use crate::checks::store::StateRow;
        let def = CheckInput::parse(
            serde_json::json!({"name": "port", "interval_secs": 1, "timeout_secs": 1,
                "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 9},
                "target": {"by": "all"}})
            .to_string()
            .as_bytes(),
        )
        .expect("valid")
        .with_id("c1");
        let state = |node: &str, check: &str, state: Status| StateRow {
            node: node.into(),
            check: check.into(),
            name: "old name".into(),
            state,
            status: Some(state),
            since_ms: 1,
            at_ms: Some(2),
            output: format!("{node} says"),
            duration_ms: Some(3),
        };
        let endpoint = Endpoint {
            id: 4,
            name: "prod".into(),
            url: "https://localhost:9001".into(),
            ca_pem: String::new(),
            auth: "key".into(),
            secret: None,
            profiles: Default::default(),
        };
        let states = [
            state("n1", "c1", Status::Ok),
            state("n2", "c1", Status::Critical),
            state("n3", "c1", Status::Unknown),
            state("n2", "c9", Status::Critical),
            StateRow {
                status: None,
                at_ms: None,
                ..state("n4", "c1", Status::Unknown)
            },
        ];
        let found = findings(&endpoint, &[def], &states);
        let seen: Vec<(&str, &str)> = found
            .iter()
            .map(|f| (f.node.as_str(), f.state.as_str()))
            .collect();
        assert_eq!(seen, [("n2", "critical"), ("n3", "unknown")]);
        assert_eq!(found[0].name, "port", "the check's current name");
        assert_eq!(
            (found[0].kind.as_str(), found[0].endpoint_name.as_str()),
            ("tcp", "prod")
        );
        assert_eq!(found[0].output, "n2 says");
    }

    #[test]
    fn cursors_name_each_node_and_escape_what_a_hostname_has_not() {
        let cursors = HashMap::from([("node-b".to_owned(), 7), ("node a".to_owned(), 12)]);
        assert_eq!(cursor_param(&cursors), "node%20a:12,node-b:7");
        assert_eq!(cursor_param(&HashMap::new()), "");
    }
}
