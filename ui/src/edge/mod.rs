//! Edge endpoints: clusters whose agents dial in to the console, because the console
//! cannot reach them. An admin makes an enrol token; an agent's first connection presents
//! it with the agent's public key, which the console pins; later connections prove that
//! key. Every call to an edge endpoint's agents then goes over a stream of one of their
//! tunnels.
//!
//! - `store.rs`: the enrol tokens and the enrolled agents;
//! - `admit.rs`: who may open a tunnel: the token or the pinned key checked;
//! - here: the tunnels connected now, by endpoint, and their heartbeat;
//! - [`crate::api`]'s `edge.rs`: the routes, the tunnel's upgrade among them.

pub mod admit;
pub mod store;

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Mutex;

use bosun_serve::tunnel::{Opener, HEARTBEAT};
use serde::Serialize;

/// An edge endpoint's URL: `edge://NAME`; it names no address.
pub const SCHEME: &str = "edge://";

pub fn is_edge(url: &str) -> bool {
    url.starts_with(SCHEME)
}

/// One agent's tunnel, connected now.
#[derive(Clone)]
pub struct Live {
    pub agent_id: String,
    pub node: String,
    pub version: String,
    /// The address it came from.
    pub address: String,
    pub since: u64,
    pub opener: Opener,
    serial: u64,
}

/// What the API shows of a tunnel.
#[derive(Debug, Clone, Serialize)]
pub struct LiveView {
    pub endpoint: i64,
    pub agent_id: String,
    pub node: String,
    pub version: String,
    pub address: String,
    pub since: u64,
}

/// The tunnels connected now, by endpoint.
#[derive(Default)]
pub struct Sessions {
    live: Mutex<HashMap<i64, Vec<Live>>>,
    serial: AtomicU64,
}

impl Sessions {
    fn live(&self) -> std::sync::MutexGuard<'_, HashMap<i64, Vec<Live>>> {
        self.live.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a new tunnel; an older one of the same agent is closed. Returns what
    /// [`Sessions::remove`] takes.
    pub fn add(
        &self,
        endpoint: i64,
        agent_id: &str,
        node: &str,
        version: &str,
        address: &str,
        opener: Opener,
    ) -> u64 {
        let serial = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        let mut live = self.live();
        let agents = live.entry(endpoint).or_default();
        agents.retain(|l| {
            let same = l.agent_id == agent_id;
            if same {
                l.opener.close();
            }
            !same
        });
        agents.push(Live {
            agent_id: agent_id.to_owned(),
            node: node.to_owned(),
            version: version.to_owned(),
            address: address.to_owned(),
            since: bosun_serve::clock::now_secs(),
            opener,
            serial,
        });
        serial
    }

    /// Forgets a tunnel that ended, unless a newer one of the agent took its place.
    pub fn remove(&self, endpoint: i64, serial: u64) {
        let mut live = self.live();
        if let Some(agents) = live.get_mut(&endpoint) {
            agents.retain(|l| l.serial != serial);
            if agents.is_empty() {
                live.remove(&endpoint);
            }
        }
    }

    /// A tunnel to reach the endpoint's cluster through: the most recent one open.
    pub fn opener(&self, endpoint: i64) -> Option<Opener> {
        self.live()
            .get(&endpoint)?
            .iter()
            .rev()
            .find(|l| !l.opener.is_closed())
            .map(|l| l.opener.clone())
    }

    /// The agent's own tunnel, when it is connected.
    pub fn opener_of(&self, agent_id: &str) -> Option<Opener> {
        self.live()
            .values()
            .flatten()
            .find(|l| l.agent_id == agent_id && !l.opener.is_closed())
            .map(|l| l.opener.clone())
    }

    /// Closes the agent's tunnel now, the streams on it included; whether one was open.
    pub fn close_agent(&self, agent_id: &str) -> bool {
        let mut closed = false;
        for agents in self.live().values() {
            for l in agents.iter().filter(|l| l.agent_id == agent_id) {
                l.opener.close();
                closed = true;
            }
        }
        closed
    }

    /// Closes every tunnel: the console is stopping.
    pub fn close_all(&self) {
        for agents in self.live().values() {
            for l in agents {
                l.opener.close();
            }
        }
    }

    /// Every tunnel connected now.
    pub fn list(&self) -> Vec<LiveView> {
        let live = self.live();
        let mut views: Vec<LiveView> = live
            .iter()
            .flat_map(|(endpoint, agents)| {
                agents.iter().map(move |l| LiveView {
                    endpoint: *endpoint,
                    agent_id: l.agent_id.clone(),
                    node: l.node.clone(),
                    version: l.version.clone(),
                    address: l.address.clone(),
                    since: l.since,
                })
            })
            .collect();
        views.sort_by(|a, b| (a.endpoint, &a.node).cmp(&(b.endpoint, &b.node)));
        views
    }
}

/// What a heartbeat asks: the agent's health, which it answers from a cache and leaves out
/// of its audit.
const HEARTBEAT_ASK: &[u8] =
    b"GET /agent/v1/health HTTP/1.1\r\nHost: edge\r\nConnection: close\r\n\r\n";

/// Asks the agent's health on a new stream every [`HEARTBEAT`] until the tunnel ends, so that
/// a dead path is found by both sides: here no answer within [`HEARTBEAT`] closes the
/// tunnel, there the agent misses the streams and dials again.
pub async fn heartbeat(opener: Opener) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut tick = tokio::time::interval(HEARTBEAT);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick.tick().await;
    loop {
        tokio::select! {
            _ = opener.closed() => return,
            _ = tick.tick() => {}
        }
        let beat = async {
            let mut stream = opener.open().await?;
            stream.write_all(HEARTBEAT_ASK).await?;
            stream.flush().await?;
            let mut status = [0u8; 9];
            stream.read_exact(&mut status).await?;
            Ok::<_, std::io::Error>(status.starts_with(b"HTTP/1.1 "))
        };
        if !matches!(tokio::time::timeout(HEARTBEAT, beat).await, Ok(Ok(true))) {
            tracing::warn!("an edge tunnel missed its heartbeat; closing it");
            opener.close();
            return;
        }
    }
}

/// How long a request to one agent through its own tunnel may take.
const ASK_TIMEOUT: std::time::Duration = std::time::Duration::from_secs(10);

/// Sends one request to the agent at the other end of `opener` (not whichever agent of its
/// endpoint the pooled client would pick), with `bearer`, and reads its JSON answer.
pub async fn ask(
    opener: &Opener,
    method: http::Method,
    path: &str,
    bearer: &str,
    body: Option<serde_json::Value>,
) -> Result<(http::StatusCode, serde_json::Value), String> {
    use http_body_util::{BodyExt, Full};
    let work = async {
        let stream = opener.open().await.map_err(|e| e.to_string())?;
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake(hyper_util::rt::TokioIo::new(stream))
                .await
                .map_err(|e| e.to_string())?;
        tokio::spawn(conn);
        let body = body.map(|b| b.to_string()).unwrap_or_default();
        let req = http::Request::builder()
            .method(method)
            .uri(path)
            .header(http::header::HOST, "edge")
            .header(http::header::AUTHORIZATION, format!("Bearer {bearer}"))
            .header(http::header::CONTENT_TYPE, "application/json")
            .body(Full::new(bytes::Bytes::from(body)))
            .map_err(|e| e.to_string())?;
        let resp = sender.send_request(req).await.map_err(|e| e.to_string())?;
        let status = resp.status();
        let bytes = resp
            .into_body()
            .collect()
            .await
            .map_err(|e| e.to_string())?
            .to_bytes();
        let value = serde_json::from_slice(&bytes).unwrap_or_else(
            |_| serde_json::json!({"message": String::from_utf8_lossy(&bytes).trim()}),
        );
        Ok((status, value))
    };
    tokio::time::timeout(ASK_TIMEOUT, work)
        .await
        .map_err(|_| format!("no answer through the tunnel within {ASK_TIMEOUT:?}"))?
}
