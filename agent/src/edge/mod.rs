//! Edge mode: the agent dials out to the console (`--console-url`) and serves the Docker
//! API and its own API over that one connection, for a host the console cannot reach.
//!
//! | file | does |
//! | --- | --- |
//! | `key.rs` | the agent's own key and the console's, kept in the data directory |
//! | `dial.rs` | TCP (through `HTTPS_PROXY` when set), TLS, the upgrade to a tunnel |
//! | here | the loop: dial, enrol or prove the key, serve the streams, back off, again; on stop, drain |

mod dial;
mod key;

use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

use bosun_serve::listen::{self, Deadlines, Handler, Lingering};
use bosun_serve::tunnel::{self, Ended};
use hyper_util::rt::{TokioIo, TokioTimer};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{LearnedKeys, TrustedKey};
use crate::error::ProxyError;

pub use dial::ConsoleUrl;
pub use key::{EdgeKeys, KeyError};

/// The first wait before dialling again, doubled after each failure up to [`BACKOFF_MAX`],
/// which keeps an agent back within 10 s of its path to the console returning.
const BACKOFF_MIN: Duration = Duration::from_millis(500);
const BACKOFF_MAX: Duration = Duration::from_secs(8);
/// How long a stopping agent waits for the head of a request it will refuse.
const STOPPING_HEAD: Duration = Duration::from_secs(5);

/// What edge mode is told.
#[derive(Debug, Clone)]
pub struct EdgeConfig {
    pub console: ConsoleUrl,
    /// Presented on the first connection only; not needed once enrolled.
    pub enrol_token: Option<String>,
    /// The CA that signed the console's certificate; the node's CAs when not given.
    pub console_ca: Option<PathBuf>,
    /// `HTTPS_PROXY` and `NO_PROXY` as the environment gave them.
    pub https_proxy: Option<String>,
    pub no_proxy: Option<String>,
}

/// Who this agent is to the console.
pub struct Edge {
    pub config: EdgeConfig,
    pub keys: Arc<EdgeKeys>,
    pub agent_id: String,
    pub node: String,
    /// Where the console's key goes, so that the tokens it signs are accepted.
    pub learned: LearnedKeys,
}

/// How a tunnel's streams are served: as the handler serves a connection from the console's
/// address that presented no certificate.
pub struct Serving<H: Handler, L: Lingering> {
    pub handler: Arc<H>,
    pub deadlines: Deadlines,
    /// How long, once the agent is stopping, the requests in flight through the tunnel and
    /// the streams they upgraded to may run on.
    pub grace: Duration,
    /// The upgraded streams (attach, exec), which outlive their requests.
    pub relays: L,
}

impl Edge {
    /// Keeps a tunnel to the console up until `stop` is cancelled: dials, serves, and
    /// after a failure or a lost tunnel dials again, backing off with jitter. Once stopped,
    /// it ends when the requests and streams in flight through the tunnel have, or when
    /// the grace period is over.
    pub async fn run<H: Handler, L: Lingering>(
        self,
        serving: Serving<H, L>,
        stop: CancellationToken,
    ) {
        if let Some(pem) = self.keys.console_key() {
            self.trust(&pem);
        }
        let connector = match dial::Connector::new(&self.config) {
            Ok(c) => c,
            Err(e) => {
                tracing::error!(console = %self.config.console, error = %e, "edge mode cannot start");
                return;
            }
        };
        let serving = Arc::new(serving);
        let mut backoff = BACKOFF_MIN;
        loop {
            let hello = self.hello();
            let dialled = tokio::select! {
                _ = stop.cancelled() => return,
                d = connector.open(hello) => d,
            };
            match dialled {
                Ok(open) => {
                    if let Some(pem) = &open.console_key {
                        if let Err(e) = self.keys.keep_console_key(pem) {
                            tracing::warn!(error = %e, "cannot keep the console's key");
                        }
                        self.trust(pem);
                    }
                    backoff = BACKOFF_MIN;
                    tracing::info!(console = %self.config.console, enrolled = open.enrolled, "edge tunnel up");
                    let peer = open.peer;
                    let served = TaskTracker::new();
                    // Stopping: the request in flight on each stream finishes, no other
                    // starts; cut: the stream ends now (and is stopping too: its child).
                    let cut = CancellationToken::new();
                    let stopping = cut.child_token();
                    let drained = async {
                        tracing::info!(
                            grace_secs = serving.grace.as_secs(),
                            "edge tunnel: no new requests, in-flight ones may finish"
                        );
                        stopping.cancel();
                        listen::drain(&served, &cut, serving.grace, &serving.relays).await;
                    };
                    let ended = tunnel::agent_side(
                        open.io,
                        |stream| {
                            if stopping.is_cancelled() {
                                served.spawn(answer_stopping(stream, cut.clone()));
                                return;
                            }
                            served.spawn(listen::serve_stream(
                                Arc::clone(&serving.handler),
                                serving.handler.connect(peer, None),
                                peer,
                                stream,
                                serving.deadlines,
                                stopping.clone(),
                                cut.clone(),
                            ));
                        },
                        &stop,
                        drained,
                    )
                    .await;
                    // Streams of a dead tunnel go with it.
                    cut.cancel();
                    match ended {
                        Ended::Stopped => return,
                        Ended::Closed => {
                            tracing::warn!(console = %self.config.console, "the console closed the edge tunnel")
                        }
                        Ended::Silent => {
                            tracing::warn!(console = %self.config.console, "the edge tunnel went silent")
                        }
                        Ended::Broken(e) => {
                            tracing::warn!(console = %self.config.console, error = %e, "the edge tunnel broke")
                        }
                    }
                }
                Err(e) => {
                    tracing::warn!(console = %self.config.console, error = %e, retry_in_ms = backoff.as_millis() as u64, "cannot open the edge tunnel")
                }
            }
            let wait = jitter(backoff);
            backoff = (backoff * 2).min(BACKOFF_MAX);
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tokio::time::sleep(wait) => {}
            }
        }
    }

    /// What the agent says when it dials: who it is, its proof, and until it is enrolled,
    /// the enrol token and its public key.
    fn hello(&self) -> dial::Hello {
        let enrol = match self.keys.console_key() {
            Some(_) => None,
            None => self
                .config
                .enrol_token
                .clone()
                .map(|token| (token, self.keys.public_b64())),
        };
        dial::Hello {
            agent_id: self.agent_id.clone(),
            node: self.node.clone(),
            proof: self.keys.proof(&self.agent_id),
            enrol,
        }
    }

    fn trust(&self, pem: &str) {
        match TrustedKey::from_pem(pem.as_bytes()) {
            Some(key) => self.learned.set(key),
            None => tracing::warn!("the console's key is not an Ed25519 or P-256 public key"),
        }
    }
}

/// `wait` plus or minus a fifth, so that the agents of a cluster do not dial in step.
fn jitter(wait: Duration) -> Duration {
    let mut byte = [0u8; 1];
    let _ = getrandom::fill(&mut byte);
    let fifth = wait / 5;
    wait - fifth + fifth * 2 * u32::from(byte[0]) / 255
}

/// Serves a stream the console opened once the agent was stopping: its request is answered
/// 503, in Docker's message shape, and the stream closes.
async fn answer_stopping(stream: tunnel::TunnelStream, cut: CancellationToken) {
    let service = hyper::service::service_fn(|_| async {
        let stopping =
            ProxyError::Unavailable("this agent is stopping: the request was not started".into());
        Ok::<_, std::convert::Infallible>(stopping.into_response())
    });
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(STOPPING_HEAD)
        .keep_alive(false)
        .serve_connection(TokioIo::new(stream), service);
    tokio::select! {
        _ = conn => {}
        _ = cut.cancelled() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jitter_stays_within_a_fifth() {
        for _ in 0..100 {
            let j = jitter(Duration::from_secs(10));
            assert!(
                j >= Duration::from_secs(8) && j <= Duration::from_secs(12),
                "{j:?}"
            );
        }
    }
}
