//! One run of each kind of check, through `bosun_agent::checks::probe::run` with the
//! machine's real engine: http against a server in the test (up, failing, too slow, and
//! over TLS with a certificate about to expire), tcp on an open and a closed port, dns
//! against a responder in the test, container states of real containers, and scripts in
//! real sandbox containers (exit codes, timeout, memory limit, read-only root, no network,
//! read-only mounts, a run cut short by the agent's stop).
//!
//! Every test has its own agent id, so that parallel tests never see each other's sandbox
//! containers; every container a test makes itself is named `bosun-it-...`.

use std::sync::atomic::{AtomicU32, Ordering};

use bosun_agent::checks::probe::{self, Outcome, ProbeContext};
use bosun_agent::upstream::{EngineAddr, UpstreamPool};
use bosun_serve::checks::{Check, Probe, Status};
use tokio_util::sync::CancellationToken;

use crate::harness::*;

mod engine_state;
mod net;
mod sandbox;
mod web;

/// A context for the machine's engine with an agent id no other test uses.
fn context() -> ProbeContext {
    static N: AtomicU32 = AtomicU32::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    // The first 8 characters name the sandboxes: they differ between tests too.
    let tag = nanos ^ std::process::id().rotate_left(12) ^ n.wrapping_mul(0x9e37_79b9);
    ProbeContext {
        engine: UpstreamPool::new(EngineAddr::Unix(bosun_testkit::https::ENGINE_SOCKET.into())),
        agent_id: format!("{tag:08x}-bosun-it-{}-{n}", std::process::id()),
        node: "test-node".into(),
        stop: CancellationToken::new(),
    }
}

/// A check of `probe` (JSON without the `kind`'s fields' defaults) with `timeout_secs`.
fn check(id: &str, timeout_secs: u64, probe: serde_json::Value) -> Check {
    let check = Check {
        id: id.into(),
        name: format!("check {id}"),
        interval_secs: 60,
        timeout_secs,
        retries: 0,
        probe: serde_json::from_value::<Probe>(probe.clone())
            .unwrap_or_else(|e| panic!("a probe: {e}: {probe}")),
    };
    check.validate().expect("a valid check");
    check
}

/// Runs a check once, asserting that it took no longer than its timeout plus `grace`
/// seconds.
async fn run_once(check: &Check, cx: &ProbeContext, grace: u64) -> Outcome {
    let started = std::time::Instant::now();
    let outcome = probe::run(check, 1, cx).await;
    let took = started.elapsed().as_secs_f64();
    assert!(
        took <= (check.timeout_secs + grace) as f64,
        "{}: {took:.1}s, beyond its {}s timeout: {outcome:?}",
        check.id,
        check.timeout_secs
    );
    outcome
}

/// Asserts a status, showing the output otherwise.
fn assert_status(outcome: &Outcome, status: Status) {
    assert_eq!(outcome.status, status, "output: {}", outcome.output);
}

/// The containers on the engine labelled with this agent's id.
fn labelled(cx: &ProbeContext) -> Vec<String> {
    let filter = format!("label=bosun.check.agent={}", cx.agent_id);
    engine_ok(&["ps", "-a", "-q", "--filter", &filter])
        .lines()
        .map(str::to_owned)
        .collect()
}
