//! Runs one check once. This build probes tcp only: a connect within the check's timeout;
//! the other kinds answer unknown, saying they are not built here.

use std::time::Duration;

use bosun_serve::checks::{Check, Probe, Status, OUTPUT_LIMIT};

/// What a probe needs of the agent: the node's engine and who the agent is.
pub struct ProbeContext {
    pub engine: crate::upstream::UpstreamPool,
    pub agent_id: String,
    pub node: String,
}

/// One run's status and what it said (at most [`OUTPUT_LIMIT`] bytes).
pub struct Outcome {
    pub status: Status,
    pub output: String,
}

/// Runs one check once; never longer than its timeout (plus cleanup of a script's
/// container); a timeout is Critical with output saying so.
pub async fn run(check: &Check, _seq: u64, _cx: &ProbeContext) -> Outcome {
    let timeout = Duration::from_secs(check.timeout_secs);
    match &check.probe {
        Probe::Tcp(p) => {
            let target = format!("{}:{}", p.host, p.port);
            match tokio::time::timeout(timeout, tokio::net::TcpStream::connect(&target)).await {
                Ok(Ok(_)) => outcome(Status::Ok, format!("connected to {target}")),
                Ok(Err(e)) => outcome(Status::Critical, format!("connect to {target}: {e}")),
                Err(_) => outcome(
                    Status::Critical,
                    format!(
                        "connect to {target}: no answer within {}s",
                        check.timeout_secs
                    ),
                ),
            }
        }
        other => outcome(
            Status::Unknown,
            format!("{} checks are not built into this agent", other.kind()),
        ),
    }
}

/// Removes the sandbox containers a previous run of this agent left behind.
pub async fn remove_leftovers(_cx: &ProbeContext) {}

fn outcome(status: Status, mut output: String) -> Outcome {
    if output.len() > OUTPUT_LIMIT {
        let mut end = OUTPUT_LIMIT;
        while !output.is_char_boundary(end) {
            end -= 1;
        }
        output.truncate(end);
    }
    Outcome { status, output }
}
