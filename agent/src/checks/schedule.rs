//! Runs the policy's checks: one task per check, each on its interval (the first run at a
//! small random delay after the policy is applied), at most `concurrency` runs at once.
//! A new policy stops the tasks of checks it removes or changes and starts new ones at
//! once; a check it leaves as it was keeps its task and its state.
//!
//! A check's state follows its runs' statuses: the first run sets it; after that it
//! changes only when `retries + 1` consecutive runs agree on a new status.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use bosun_serve::checks::{Check, CheckResult, CheckState, Policy, Status};
use tokio::sync::Semaphore;
use tokio::time::Instant;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use super::probe::{self, Outcome, ProbeContext};
use super::results::Ring;

/// The first run of a newly applied check waits up to this long, so that a policy's
/// checks do not all start in the same instant.
const FIRST_RUN_SPREAD_MS: u64 = 500;
/// How long past its timeout a probe may take before the scheduler gives up on it: a
/// script's container is removed within this.
const PROBE_GRACE: Duration = Duration::from_secs(60);

pub fn now_ms() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |d| d.as_millis() as u64)
}

/// One check's state and the run that led to it.
#[derive(Debug, Clone, PartialEq)]
pub struct Machine {
    /// `None`: not run yet.
    state: Option<Status>,
    since_ms: u64,
    /// A status other than the state, and how many runs in a row have had it.
    pending: Option<(Status, u32)>,
    last: Option<CheckResult>,
}

impl Machine {
    pub fn new(now_ms: u64) -> Self {
        Self {
            state: None,
            since_ms: now_ms,
            pending: None,
            last: None,
        }
    }

    /// The state after a run of `status` at `at_ms`.
    pub fn observe(&mut self, status: Status, retries: u32, at_ms: u64) -> Status {
        match self.state {
            None => self.enter(status, at_ms),
            Some(state) if state == status => self.pending = None,
            Some(_) => {
                let runs = match self.pending {
                    Some((pending, runs)) if pending == status => runs + 1,
                    _ => 1,
                };
                if runs > retries {
                    self.enter(status, at_ms);
                } else {
                    self.pending = Some((status, runs));
                }
            }
        }
        self.state.unwrap_or(status)
    }

    fn enter(&mut self, status: Status, at_ms: u64) {
        self.state = Some(status);
        self.since_ms = at_ms;
        self.pending = None;
    }
}

/// What every check's task shares.
struct Shared {
    cx: ProbeContext,
    ring: Arc<Mutex<Ring>>,
    /// Replaced when a policy changes the concurrency; a run takes a permit of the one
    /// current when it starts.
    permits: Mutex<(usize, Arc<Semaphore>)>,
    /// Numbers each run, for the probe (a script's container name).
    runs: AtomicU64,
    /// Runs wait until the previous run's leftovers are removed.
    ready: CancellationToken,
}

struct Task {
    check: Check,
    cancel: CancellationToken,
    machine: Arc<Mutex<Machine>>,
}

#[derive(Default)]
struct Tasks {
    /// Check ids in the policy's order.
    order: Vec<String>,
    by_id: HashMap<String, Task>,
}

/// The running checks.
pub struct Scheduler {
    shared: Arc<Shared>,
    tasks: Mutex<Tasks>,
    /// Every check's task, those a policy dropped included until their run ends.
    tracker: TaskTracker,
}

impl Scheduler {
    /// A scheduler with nothing to run yet; runs start once `ready` is cancelled, and all
    /// end with the agent's stop (`cx.stop`).
    pub fn new(cx: ProbeContext, ring: Arc<Mutex<Ring>>, ready: CancellationToken) -> Self {
        let concurrency = bosun_serve::checks::DEFAULT_CONCURRENCY;
        Self {
            shared: Arc::new(Shared {
                cx,
                ring,
                permits: Mutex::new((concurrency, Arc::new(Semaphore::new(concurrency)))),
                runs: AtomicU64::new(0),
                ready,
            }),
            tasks: Mutex::new(Tasks::default()),
            tracker: TaskTracker::new(),
        }
    }

    /// Waits, once the agent's stop is cancelled, for every task to end: between runs they
    /// end at once, and a run in progress ends with its probe.
    pub async fn runs_ended(&self) {
        self.shared.cx.stop.cancelled().await;
        self.tracker.close();
        self.tracker.wait().await;
    }

    /// Runs `policy`'s checks from now on.
    pub fn apply(&self, policy: &Policy) {
        {
            let mut permits = lock(&self.shared.permits);
            if permits.0 != policy.concurrency {
                *permits = (
                    policy.concurrency,
                    Arc::new(Semaphore::new(policy.concurrency)),
                );
            }
        }
        let mut tasks = lock(&self.tasks);
        let mut before = std::mem::take(&mut tasks.by_id);
        let mut by_id = HashMap::with_capacity(policy.checks.len());
        for check in &policy.checks {
            let task = match before.remove(&check.id) {
                Some(task) if task.check == *check => task,
                Some(changed) => {
                    changed.cancel.cancel();
                    self.spawn(check.clone())
                }
                None => self.spawn(check.clone()),
            };
            by_id.insert(check.id.clone(), task);
        }
        for (_, removed) in before {
            removed.cancel.cancel();
        }
        tasks.order = policy.checks.iter().map(|c| c.id.clone()).collect();
        tasks.by_id = by_id;
    }

    /// Every check's state, in the policy's order.
    pub fn states(&self) -> Vec<CheckState> {
        let tasks = lock(&self.tasks);
        tasks
            .order
            .iter()
            .filter_map(|id| tasks.by_id.get(id))
            .map(|task| {
                let machine = lock(&task.machine);
                CheckState {
                    check: task.check.id.clone(),
                    name: task.check.name.clone(),
                    state: machine.state.unwrap_or(Status::Unknown),
                    since_ms: machine.since_ms,
                    last: machine.last.clone(),
                }
            })
            .collect()
    }

    fn spawn(&self, check: Check) -> Task {
        let cancel = self.shared.cx.stop.child_token();
        let machine = Arc::new(Mutex::new(Machine::new(now_ms())));
        self.tracker.spawn(run_check(
            Arc::clone(&self.shared),
            check.clone(),
            Arc::clone(&machine),
            cancel.clone(),
        ));
        Task {
            check,
            cancel,
            machine,
        }
    }
}

/// Runs one check on its interval until `cancel`.
async fn run_check(
    shared: Arc<Shared>,
    check: Check,
    machine: Arc<Mutex<Machine>>,
    cancel: CancellationToken,
) {
    tokio::select! {
        _ = cancel.cancelled() => return,
        _ = shared.ready.cancelled() => {}
    }
    let interval = Duration::from_secs(check.interval_secs);
    let mut next = Instant::now() + first_delay();
    loop {
        tokio::select! {
            _ = cancel.cancelled() => return,
            _ = tokio::time::sleep_until(next) => {}
        }
        let permits = Arc::clone(&lock(&shared.permits).1);
        let permit = tokio::select! {
            _ = cancel.cancelled() => return,
            permit = permits.acquire_owned() => permit,
        };
        let started = Instant::now();
        next = started + interval;
        let run = shared.runs.fetch_add(1, Ordering::Relaxed) + 1;
        let limit = Duration::from_secs(check.timeout_secs) + PROBE_GRACE;
        // A run is not cut short by a new policy: a script's container is removed by the
        // probe itself, which stopping it half-way would prevent.
        let outcome = tokio::time::timeout(limit, probe::run(&check, run, &shared.cx))
            .await
            .unwrap_or_else(|_| Outcome {
                status: Status::Critical,
                output: format!("the probe gave no outcome within {} s", limit.as_secs()),
            });
        let duration_ms = started.elapsed().as_millis() as u64;
        drop(permit);
        if cancel.is_cancelled() {
            return;
        }
        record(&shared, &check, &machine, outcome, duration_ms);
    }
}

fn record(
    shared: &Shared,
    check: &Check,
    machine: &Mutex<Machine>,
    outcome: Outcome,
    duration_ms: u64,
) {
    let at_ms = now_ms();
    let mut machine = lock(machine);
    let state = machine.observe(outcome.status, check.retries, at_ms);
    let result = lock(&shared.ring).push(CheckResult {
        seq: 0,
        check: check.id.clone(),
        name: check.name.clone(),
        at_ms,
        status: outcome.status,
        state,
        output: outcome.output,
        duration_ms,
    });
    if result.status != Status::Ok || result.state != Status::Ok {
        tracing::debug!(check = %check.id, status = result.status.as_str(), state = result.state.as_str(), "check run");
    }
    machine.last = Some(result);
}

fn first_delay() -> Duration {
    let mut bytes = [0u8; 8];
    let _ = getrandom::fill(&mut bytes);
    Duration::from_millis(u64::from_le_bytes(bytes) % (FIRST_RUN_SPREAD_MS + 1))
}

fn lock<T>(m: &Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|p| p.into_inner())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_first_run_sets_the_state_at_once() {
        let mut m = Machine::new(0);
        assert_eq!(m.observe(Status::Critical, 3, 10), Status::Critical);
        assert_eq!(m.since_ms, 10);
    }

    #[test]
    fn a_new_status_needs_retries_plus_one_runs_in_a_row() {
        let mut m = Machine::new(0);
        m.observe(Status::Ok, 2, 1);
        assert_eq!(m.observe(Status::Critical, 2, 2), Status::Ok);
        assert_eq!(m.observe(Status::Critical, 2, 3), Status::Ok);
        assert_eq!(m.observe(Status::Critical, 2, 4), Status::Critical);
        assert_eq!(m.since_ms, 4);
        // An interruption starts the count again.
        assert_eq!(m.observe(Status::Ok, 2, 5), Status::Critical);
        assert_eq!(m.observe(Status::Warning, 2, 6), Status::Critical);
        assert_eq!(m.observe(Status::Ok, 2, 7), Status::Critical);
        assert_eq!(m.observe(Status::Ok, 2, 8), Status::Critical);
        assert_eq!(m.observe(Status::Critical, 2, 9), Status::Critical);
        assert_eq!(m.since_ms, 4, "a run of the state itself changes nothing");
        assert_eq!(m.observe(Status::Ok, 2, 10), Status::Critical);
        assert_eq!(m.observe(Status::Ok, 2, 11), Status::Critical);
        assert_eq!(m.observe(Status::Ok, 2, 12), Status::Ok);
    }

    #[test]
    fn without_retries_every_change_is_at_once() {
        let mut m = Machine::new(0);
        for (status, at) in [
            (Status::Ok, 1),
            (Status::Warning, 2),
            (Status::Unknown, 3),
            (Status::Ok, 4),
        ] {
            assert_eq!(m.observe(status, 0, at), status);
            assert_eq!(m.since_ms, at);
        }
    }
}
