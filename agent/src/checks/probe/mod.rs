//! Runs one check once, by kind, within its timeout: what the scheduler calls for every
//! run. A run's answer is a status and a short output (at most [`OUTPUT_LIMIT`] bytes);
//! the scheduler measures the duration and records the result.
//!
//! | kind | file | what it does |
//! | --- | --- | --- |
//! | `http` | [`http`] | one request (TLS done here, to read the certificate's expiry) |
//! | `tcp` | [`tcp`] | one connect |
//! | `dns` | [`dns`] | one look-up, through the system's resolver or a given one |
//! | `container` | [`container`] | the named container's state and health on this node |
//! | `script` | [`script`] | a script in a short-lived sandbox container, Nagios exit codes |

mod container;
mod dns;
mod http;
mod script;
mod tcp;

pub use script::remove_sandboxes;

use std::future::Future;
use std::time::Duration;

use bosun_serve::checks::{Check, Probe, Status, OUTPUT_LIMIT};
use tokio::net::TcpStream;
use tokio_util::sync::CancellationToken;

use crate::upstream::UpstreamPool;

/// What a run needs from the agent: the local engine (container states, sandboxes), the
/// agent's identity (sandbox names and labels) and its stop (a script waiting on its
/// container is cut short by it, not by a new policy).
#[derive(Clone)]
pub struct ProbeContext {
    pub engine: UpstreamPool,
    pub agent_id: String,
    pub node: String,
    pub stop: CancellationToken,
}

/// One run's answer.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Outcome {
    pub status: Status,
    /// At most [`OUTPUT_LIMIT`] bytes.
    pub output: String,
}

impl Outcome {
    pub fn new(status: Status, output: impl Into<String>) -> Self {
        Self {
            status,
            output: output.into(),
        }
    }

    pub fn ok(output: impl Into<String>) -> Self {
        Self::new(Status::Ok, output)
    }

    pub fn critical(output: impl Into<String>) -> Self {
        Self::new(Status::Critical, output)
    }

    pub fn unknown(output: impl Into<String>) -> Self {
        Self::new(Status::Unknown, output)
    }

    /// The output cut to [`OUTPUT_LIMIT`] bytes, on a character's boundary.
    fn bounded(mut self) -> Self {
        cut(&mut self.output, OUTPUT_LIMIT);
        self
    }
}

/// Cuts `text` to at most `limit` bytes without splitting a character.
pub(crate) fn cut(text: &mut String, limit: usize) {
    if text.len() <= limit {
        return;
    }
    let mut end = limit;
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    text.truncate(end);
}

/// The output of a run the agent's stop cut short (never recorded: the agent is going).
const STOPPING: &str = "cut short: the agent is stopping";

/// Runs one check once; never longer than its timeout (plus, for a script, at most 45 s
/// to read its output and remove its container); a timeout is Critical with an output
/// saying so. The agent's stop cuts a run short (a script's after its container is made,
/// so that the run removes it).
pub async fn run(check: &Check, seq: u64, cx: &ProbeContext) -> Outcome {
    let limit = Duration::from_secs(check.timeout_secs.max(1));
    if let Err(e) = check.validate() {
        return Outcome::unknown(format!("the check cannot run: {e}")).bounded();
    }
    let outcome = match &check.probe {
        // The sandbox keeps its own time: on a timeout it kills and removes the container.
        Probe::Script(p) => script::run(check, p, seq, cx, limit).await,
        Probe::Http(p) => timed(limit, cx, http::run(p)).await,
        Probe::Tcp(p) => timed(limit, cx, tcp::run(p)).await,
        Probe::Dns(p) => timed(limit, cx, dns::run(p)).await,
        Probe::Container(p) => timed(limit, cx, container::run(p, cx)).await,
    };
    outcome.bounded()
}

/// `probe` within `limit`, or until the agent stops.
async fn timed(
    limit: Duration,
    cx: &ProbeContext,
    probe: impl Future<Output = Outcome>,
) -> Outcome {
    tokio::select! {
        _ = cx.stop.cancelled() => Outcome::unknown(STOPPING),
        ran = tokio::time::timeout(limit, probe) => ran.unwrap_or_else(|_| {
            Outcome::critical(format!("timed out after {}s", limit.as_secs()))
        }),
    }
}

/// Connects to `host:port`, resolving a name with the agent's resolver (the release binary
/// is static: no NSS); every address is tried in turn.
async fn connect(host: &str, port: u16) -> Result<TcpStream, String> {
    let host = host.trim_matches(['[', ']']);
    let resolver = crate::resolve::system_resolver().map_err(|e| e.to_string())?;
    let found = crate::resolve::lookup(resolver, host).await;
    if found.is_empty() {
        return Err(format!("cannot resolve {host}"));
    }
    let mut last = None;
    for ip in found {
        match TcpStream::connect((ip, port)).await {
            Ok(stream) => {
                let _ = stream.set_nodelay(true);
                return Ok(stream);
            }
            Err(e) => last = Some(format!("cannot connect to {host}:{port} ({ip}): {e}")),
        }
    }
    Err(last.unwrap_or_else(|| format!("cannot connect to {host}:{port}")))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn output_is_cut_on_a_character_boundary() {
        let mut text = "é".repeat(OUTPUT_LIMIT);
        cut(&mut text, OUTPUT_LIMIT);
        assert_eq!(text.len(), OUTPUT_LIMIT);
        let mut text = format!("a{}", "é".repeat(OUTPUT_LIMIT));
        cut(&mut text, OUTPUT_LIMIT);
        assert_eq!(text.len(), OUTPUT_LIMIT - 1);
        assert!(text.ends_with('é'));
        let mut short = String::from("short");
        cut(&mut short, OUTPUT_LIMIT);
        assert_eq!(short, "short");
    }
}
