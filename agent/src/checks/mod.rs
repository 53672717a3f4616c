//! Checks the console assigns: this node's signed policy, verified, kept and run on a
//! schedule, and the results of its runs, buffered for the console to pull.
//!
//! | part | file |
//! | --- | --- |
//! | the handle: apply a policy, read results and states | this file |
//! | a signed policy's signature, claims, node and version | [`verify`] |
//! | the accepted policy on disk, verified again at start | [`keep`] |
//! | the bounded results ring, its cursor and its lost count | [`results`] |
//! | one task per check, the concurrency limit, the retries state machine | [`schedule`] |
//! | one run of one check, by kind | [`probe`] |

pub mod keep;
pub mod probe;
pub mod results;
pub mod schedule;
pub mod verify;

use std::future::Future;
use std::path::PathBuf;
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bosun_serve::checks::{
    NodeChecks, Policy, PolicyStatus, PushOutcome, PushOutcomeKind, Refusal,
};
use tokio_util::sync::CancellationToken;

use crate::auth::{now_secs, TrustedKey};
use crate::upstream::UpstreamPool;
use probe::ProbeContext;
use results::Ring;
use schedule::Scheduler;
use verify::{Change, Refused, Verifier};

/// How long the start waits for the previous run's sandbox containers to be removed
/// before it runs checks anyway.
const LEFTOVERS_TIMEOUT: Duration = Duration::from_secs(60);

/// How checks run: `--check-results` and `--policy-public-key`.
#[derive(Clone)]
pub struct ChecksConfig {
    /// How many results the ring holds.
    pub results: usize,
    /// Keys trusted to sign policies; none: the token keys (`--jwt-public-key`).
    pub policy_keys: Vec<TrustedKey>,
}

impl Default for ChecksConfig {
    fn default() -> Self {
        Self {
            results: results::DEFAULT_CAPACITY,
            policy_keys: Vec::new(),
        }
    }
}

/// The policy running here and the last one refused.
#[derive(Default)]
struct Running {
    policy: Option<Policy>,
    applied_at: Option<u64>,
    refused: Option<Refusal>,
}

/// This node's checks.
pub struct Checks {
    node: String,
    agent_id: String,
    /// Made at start: a cursor of another epoch means nothing here.
    epoch: String,
    data_dir: PathBuf,
    verifier: Verifier,
    ring: Arc<Mutex<Ring>>,
    scheduler: Scheduler,
    running: Mutex<Running>,
    /// For removing this agent's sandbox containers when it stops.
    cleanup: ProbeContext,
}

impl Checks {
    /// Removes the previous run's leftover sandbox containers, runs the policy kept in
    /// `data_dir` if it still verifies, and runs what is applied later, until `stop`.
    pub fn start(
        config: &ChecksConfig,
        engine: UpstreamPool,
        node: String,
        agent_id: String,
        data_dir: PathBuf,
        jwt_keys: &[TrustedKey],
        stop: CancellationToken,
    ) -> Arc<Self> {
        let ring = Arc::new(Mutex::new(Ring::new(config.results)));
        let ready = CancellationToken::new();
        let cx = |engine: UpstreamPool| ProbeContext {
            engine,
            agent_id: agent_id.clone(),
            node: node.clone(),
            stop: stop.clone(),
        };
        let scheduler = Scheduler::new(cx(engine.clone()), Arc::clone(&ring), ready.clone());
        let cleanup = cx(engine);
        let at_stop = cleanup.clone();
        tokio::spawn(async move {
            sweep(&cleanup, LEFTOVERS_TIMEOUT, async {}, "a previous run").await;
            ready.cancel();
        });
        let checks = Arc::new(Self {
            epoch: epoch(),
            verifier: Verifier::new(&config.policy_keys, jwt_keys),
            node,
            agent_id,
            data_dir,
            ring,
            scheduler,
            running: Mutex::new(Running::default()),
            cleanup: at_stop,
        });
        checks.run_kept();
        checks
    }

    /// Once the agent's stop is cancelled: waits for the runs in progress to end (a script
    /// run, cut short, removes its own container), then removes any sandbox container of
    /// this agent's still on the engine. A stopping agent leaves none behind. Bounded by
    /// `within`.
    pub async fn remove_sandboxes(&self, within: Duration) {
        let runs_ended = self.scheduler.runs_ended();
        sweep(&self.cleanup, within, runs_ended, "this run").await;
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Runs the kept policy, verified as if it had just arrived; a bad one is refused
    /// and recorded.
    fn run_kept(&self) {
        let path = keep::path(&self.data_dir);
        let jws = match keep::load(&self.data_dir) {
            Ok(Some(jws)) => jws,
            Ok(None) => return,
            Err(e) => {
                self.refuse(Refused {
                    version: None,
                    reason: format!("the kept policy cannot be read: {e}"),
                });
                return;
            }
        };
        match self.verifier.verify(&jws, &self.node) {
            Ok(policy) => {
                tracing::info!(
                    version = policy.version,
                    checks = policy.checks.len(),
                    "checks: running the kept policy"
                );
                self.scheduler.apply(&policy);
                let mut running = lock(&self.running);
                running.policy = Some(policy);
                running.applied_at = Some(now_secs());
            }
            Err(refused) => self.refuse(Refused {
                version: refused.version,
                reason: format!(
                    "the policy kept in {} is not run: {}",
                    path.display(),
                    refused.reason
                ),
            }),
        }
    }

    /// Verifies `jws`, and runs and keeps it if it may replace the running policy.
    pub fn apply(&self, jws: &str) -> PushOutcome {
        let verified = self.verifier.verify(jws, &self.node);
        let mut running = lock(&self.running);
        let running_version = running.policy.as_ref().map(|p| p.version);
        let outcome = |outcome, version, reason| PushOutcome {
            node: self.node.clone(),
            outcome,
            version,
            reason,
        };
        let policy = match verified
            .and_then(|p| verify::compare(running.policy.as_ref(), &p).map(|change| (p, change)))
        {
            Ok((_, Change::Same)) => {
                return outcome(PushOutcomeKind::Unchanged, running_version, None)
            }
            Ok((policy, Change::Newer)) => policy,
            Err(refused) => {
                let reason = refused.reason.clone();
                record_refusal(&mut running, refused);
                return outcome(PushOutcomeKind::Refused, running_version, Some(reason));
            }
        };
        if let Err(e) = keep::store(&self.data_dir, jws.trim()) {
            let refused = Refused {
                version: Some(policy.version),
                reason: format!("it cannot be kept, so it would not outlive a restart: {e}"),
            };
            let reason = refused.reason.clone();
            record_refusal(&mut running, refused);
            return outcome(PushOutcomeKind::Refused, running_version, Some(reason));
        }
        tracing::info!(
            version = policy.version,
            checks = policy.checks.len(),
            "checks: policy applied"
        );
        self.scheduler.apply(&policy);
        let version = policy.version;
        running.policy = Some(policy);
        running.applied_at = Some(now_secs());
        running.refused = None;
        outcome(PushOutcomeKind::Applied, Some(version), None)
    }

    fn refuse(&self, refused: Refused) {
        record_refusal(&mut lock(&self.running), refused);
    }

    /// The running policy and its status.
    pub fn policy(&self) -> (Option<Policy>, PolicyStatus) {
        let running = lock(&self.running);
        (running.policy.clone(), status(&running))
    }

    /// Results after `cursor` (which acknowledges every result up to it), at most
    /// `limit`, and every check's state.
    pub fn read(&self, cursor: u64, limit: usize) -> NodeChecks {
        let read = lock(&self.ring).read(cursor, limit);
        let policy = status(&lock(&self.running));
        NodeChecks {
            node: self.node.clone(),
            agent_id: self.agent_id.clone(),
            epoch: self.epoch.clone(),
            policy,
            first_seq: read.first_seq,
            next_seq: read.next_seq,
            lost: read.lost,
            capacity: read.capacity,
            results: read.results,
            states: self.scheduler.states(),
        }
    }
}

fn record_refusal(running: &mut Running, refused: Refused) {
    tracing::warn!(version = ?refused.version, reason = %refused.reason, "checks: policy refused");
    running.refused = Some(Refusal {
        at: now_secs(),
        version: refused.version,
        reason: refused.reason,
    });
}

fn status(running: &Running) -> PolicyStatus {
    PolicyStatus {
        version: running.policy.as_ref().map_or(0, |p| p.version),
        checks: running.policy.as_ref().map_or(0, |p| p.checks.len()),
        applied_at: running.applied_at,
        refused: running.refused.clone(),
    }
}

/// Once `after` is done, removes this agent's sandbox containers within `within`, and says
/// in the log what it removed or why it could not; the next start tries again.
async fn sweep(
    cx: &ProbeContext,
    within: Duration,
    after: impl Future<Output = ()>,
    left_by: &str,
) {
    let sweep = async {
        after.await;
        probe::remove_sandboxes(cx).await
    };
    match tokio::time::timeout(within, sweep).await {
        Ok(Ok(0)) => {}
        Ok(Ok(removed)) => {
            tracing::info!(
                removed,
                "checks: removed the sandbox containers left by {left_by}"
            )
        }
        Ok(Err(e)) => tracing::warn!(
            error = %e,
            "checks: could not remove the sandbox containers left by {left_by}"
        ),
        Err(_) => tracing::warn!(
            "checks: the sandbox containers left by {left_by} were not all removed within {} s",
            within.as_secs()
        ),
    }
}

/// Random hex, new at each start.
fn epoch() -> String {
    let mut bytes = [0u8; 8];
    if getrandom::fill(&mut bytes).is_err() {
        let nanos = std::time::SystemTime::now()
            .duration_since(std::time::UNIX_EPOCH)
            .map_or(0, |d| d.as_nanos() as u64);
        bytes = (nanos ^ u64::from(std::process::id())).to_le_bytes();
    }
    bosun_serve::hex::encode(&bytes)
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}
