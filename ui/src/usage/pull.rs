//! The puller: once per interval, one request per endpoint (cluster) for every node's
//! samples since the newest one stored: `GET /agent/v1/metrics?scope=cluster&since=T`.
//! The agents keep an hour of samples, so a console that was stopped, or an agent that
//! could not be reached, is caught up on the next pull, and what is lost is only what
//! was never sampled or has left the agents' hour. Each answer is also handed to the
//! alerts, which judge the new samples.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::mpsc::UnboundedSender;
use tokio_util::sync::CancellationToken;

use super::sample::ClusterAnswer;
use super::series::Tier;
use super::store::Ingested;
use super::Usage;
use crate::agent::{AgentClients, AgentError, Call, Caller, Failing};
use crate::store::{now_secs, Db, Endpoint, StoreError};
use crate::watch::Signal;

/// How far behind the newest node another may be and still be caught up sample by
/// sample; see [`super::store::UsageStore::since`].
const GRACE: i64 = 120;
/// An hour of a big cluster's samples takes a while to send.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);
/// How often old rows are deleted.
const PRUNE_EVERY: Duration = Duration::from_secs(600);

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("the usage answer: {0}")]
    Answer(#[from] serde_json::Error),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// What the puller remembers of an endpoint between pulls.
#[derive(Debug, Default)]
struct Pulled {
    /// The newest sample's time when its hours were last recomputed; `None` until the
    /// first pull of this run.
    rolled: Option<i64>,
    /// The oldest sample stored since then: a node a little behind the others may have
    /// sent samples of an hour already recomputed.
    pending: Option<i64>,
}

/// Pulls every endpoint's usage each `usage.config.interval` until `stop`, handing each
/// answer to `alerts`.
pub async fn run(
    db: Db,
    agents: Arc<AgentClients>,
    usage: Usage,
    alerts: UnboundedSender<Signal>,
    stop: CancellationToken,
) {
    let mut tick = tokio::time::interval(usage.config.interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut pulled: HashMap<i64, Pulled> = HashMap::new();
    let mut failing = Failing::new("usage");
    let mut pruned: Option<Instant> = None;
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let endpoints = match db.run(|s| s.endpoints()).await {
            Ok(list) => list,
            Err(e) => {
                tracing::error!(error = %e, "usage: cannot list the endpoints");
                continue;
            }
        };
        pulled.retain(|id, _| endpoints.iter().any(|e| e.id == *id));
        failing.retain(&endpoints);
        // Endpoints are asked at once; a slow one delays the next round, not the others.
        let states: Vec<Pulled> = endpoints
            .iter()
            .map(|e| pulled.remove(&e.id).unwrap_or_default())
            .collect();
        let rounds = endpoints.iter().zip(states).map(|(endpoint, mut state)| {
            let (agents, usage, alerts) = (&agents, &usage, &alerts);
            async move {
                let result = pull(agents, usage, alerts, endpoint, &mut state).await;
                (endpoint, state, result)
            }
        });
        for (endpoint, state, result) in futures_util::future::join_all(rounds).await {
            if let Some(done) = failing.note(endpoint, &result) {
                tracing::debug!(endpoint = %endpoint.name, samples = done.samples, "usage: pulled");
            }
            pulled.insert(endpoint.id, state);
        }

        if pruned.is_none_or(|at| at.elapsed() >= PRUNE_EVERY) {
            pruned = Some(Instant::now());
            let ids: Vec<i64> = endpoints.iter().map(|e| e.id).collect();
            let keep = usage.config.retention;
            match usage
                .db
                .run(move |s| s.prune(now_secs(), &keep, &ids))
                .await
            {
                Ok(p) => tracing::debug!(rows = p.rows, series = p.series, "usage: pruned"),
                Err(e) => tracing::error!(error = %e, "usage: cannot delete old rows"),
            }
        }
    }
}

/// Asks `endpoint`'s agent for what is new, stores it, and keeps the hour buckets current
/// (recomputed when a new minute begins, and on the first pull, which may have brought
/// back samples of the hour the console stopped in).
async fn pull(
    agents: &AgentClients,
    usage: &Usage,
    alerts: &UnboundedSender<Signal>,
    endpoint: &Endpoint,
    state: &mut Pulled,
) -> Result<Ingested, PullError> {
    let id = endpoint.id;
    let since = usage.db.run(move |s| s.since(id, GRACE)).await?;
    let client = agents.get(endpoint)?;
    // Nothing stored yet: the agents' whole hour.
    let path = format!(
        "/agent/v1/metrics?scope=cluster&since={}",
        since.unwrap_or(0)
    );
    let (_, body) = client
        .call(Caller::CONSOLE, Call::get(path), PULL_TIMEOUT)
        .await?;
    let answer: ClusterAnswer = serde_json::from_slice(&body)?;
    for missing in &answer.missing {
        tracing::debug!(endpoint = %endpoint.name, node = %missing.node, reason = %missing.reason, "usage: a node did not answer");
    }
    let answer = Arc::new(answer);
    let stored = Arc::clone(&answer);
    let done = usage.db.run(move |s| s.ingest(id, &stored)).await?;
    // The alerts' evaluator may be gone (stopping): the samples are stored all the same.
    let _ = alerts.send(Signal::Usage {
        endpoint: id,
        answer,
    });
    if let Some((oldest, newest)) = done.span {
        let pending = state.pending.map_or(oldest, |p| p.min(oldest));
        state.pending = Some(pending);
        let minute = |t: i64| t.div_euclid(60);
        let due = state.rolled.is_none_or(|r| minute(newest) > minute(r));
        if due {
            let from = pending.min(state.rolled.or(since).unwrap_or(pending));
            usage
                .db
                .run(move |s| s.roll_up(id, Tier::Hour, from, newest))
                .await?;
            state.rolled = Some(newest);
            state.pending = None;
        }
    }
    Ok(done)
}
