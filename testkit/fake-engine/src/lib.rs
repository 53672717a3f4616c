//! A Docker Engine simulator for tests and benchmarks: one real engine cannot show many
//! nodes, injected latency or a node that dies mid-request, so each [`FakeEngine`] plays
//! one node of a cluster on its own `127.0.0.1` port.
//!
//! What it answers, and where it knowingly differs from a real engine:
//!
//! - Every path may carry a leading `/vX.Y`; it is stripped before matching. Every
//!   response carries `Api-Version: 1.41`, and errors are `{"message": ...}` as
//!   `application/json` with the status Docker uses.
//! - Logs and exec output use the multiplexed framing with the API 1.41 content type
//!   `application/vnd.docker.raw-stream` (engines from API 1.42 on say
//!   `application/vnd.docker.multiplexed-stream` for the same bytes).
//! - `/events` honours the `type`, `container` and `event` filters and ignores
//!   `since`/`until`; `/containers/json` supports the `name`, `id`, `status` and `label`
//!   filters and ignores other keys.
//! - Logs honour `timestamps`, `since` and `until`: the three lines of a container's
//!   history are stamped a second apart from its creation, followed lines when made.
//! - A stopped container exits 0, a killed one 137; `wait` reports that code.
//! - A node outside a swarm reports `NodeID: ""` in `/info`, as the real engine does; a
//!   worker lists no `RemoteManagers`, since a single fake knows no other node.
//! - Requests are recorded without bound: a long benchmark should not rely on
//!   [`FakeEngine::requests`].

#![forbid(unsafe_code)]

mod api;
#[cfg(test)]
mod tests;

use std::future::Future;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError, Weak};
use std::task::Poll;
use std::time::Duration;

use hyper::server::conn::http1;
use hyper::service::service_fn;
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tokio::net::{TcpListener, TcpSocket};
use tokio::sync::{broadcast, watch};
use tokio::task::JoinSet;

use api::State;

/// Image id every fake node has: the same image pulled on every node of a cluster.
pub const SHARED_IMAGE_ID: &str =
    "sha256:5ea7ed0000000000000000000000000000000000000000000000000000000001";

/// What a node is in its swarm.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum SwarmRole {
    Worker,
    Manager { leader: bool },
}

/// How a fake node looks when it starts.
#[derive(Clone, Debug)]
pub struct FakeEngineSpec {
    /// The node's name: `/info` `Name`, node hostname, container name prefix.
    pub name: String,
    /// `/info` `ID`.
    pub engine_id: String,
    /// Synthetic containers on this node; every third one is exited.
    pub containers: usize,
    /// `None`: not in a swarm.
    pub swarm: Option<SwarmRole>,
    /// Added before every response head (not before each chunk of a stream).
    pub latency: Duration,
    /// Labels every container has besides `node` and `index` (a Compose project's, say).
    pub labels: Vec<(String, String)>,
    /// The engine's own labels, `/info` `Labels` (`k=v`).
    pub engine_labels: Vec<String>,
}

impl FakeEngineSpec {
    /// A node with an engine id derived from `name`, 3 containers, no swarm, no latency.
    pub fn new(name: &str) -> Self {
        FakeEngineSpec {
            name: name.to_owned(),
            engine_id: api::uuid_like(&format!("engine:{name}")),
            containers: 3,
            swarm: None,
            latency: Duration::ZERO,
            labels: Vec::new(),
            engine_labels: Vec::new(),
        }
    }
}

/// One request as the fake received it.
#[derive(Clone, Debug)]
pub struct RecordedRequest {
    pub method: String,
    pub path_and_query: String,
    /// Names lower-cased, as hyper hands them over.
    pub headers: Vec<(String, String)>,
}

impl RecordedRequest {
    /// Sent by an agent's usage sampler.
    pub fn is_usage_sampling(&self) -> bool {
        self.headers
            .iter()
            .any(|(k, v)| k == "user-agent" && v.starts_with("bosun-agent-usage/"))
    }
}

/// A running fake node. Clones share the node.
#[derive(Clone)]
pub struct FakeEngine {
    shared: Arc<Shared>,
}

/// Everything the connection tasks of one node share.
pub(crate) struct Shared {
    addr: SocketAddr,
    pub(crate) name: String,
    pub(crate) engine_id: String,
    pub(crate) node_id: String,
    pub(crate) engine_labels: Vec<String>,
    state: Mutex<State>,
    /// Every open `/events` stream subscribes here.
    pub(crate) events: broadcast::Sender<Value>,
    /// Bumped on every container state change, so `wait` and `logs --follow` wake.
    pub(crate) changes: watch::Sender<()>,
    connections: AtomicUsize,
    serving: Mutex<Serving>,
}

/// The listener and every task that belongs to it, so `stop` can end them all at once.
#[derive(Default)]
struct Serving {
    /// Kept here rather than in the accept task so that `stop` closes the port at once,
    /// not whenever the aborted task happens to be dropped.
    listener: Option<TcpListener>,
    tasks: JoinSet<()>,
}

fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    // A test that panicked while holding the lock must not cascade into every other.
    mutex.lock().unwrap_or_else(PoisonError::into_inner)
}

fn bind(addr: SocketAddr) -> io::Result<TcpListener> {
    let socket = TcpSocket::new_v4()?;
    // Lets `restart` take the same port back while old connections sit in TIME_WAIT.
    socket.set_reuseaddr(true)?;
    socket.bind(addr)?;
    socket.listen(1024)
}

impl Shared {
    pub(crate) fn state(&self) -> MutexGuard<'_, State> {
        lock(&self.state)
    }

    /// Runs `task` until it ends or the node stops.
    pub(crate) fn spawn(&self, task: impl Future<Output = ()> + Send + 'static) {
        let mut serving = lock(&self.serving);
        while serving.tasks.try_join_next().is_some() {}
        serving.tasks.spawn(task);
    }

    fn serve(self: &Arc<Self>, listener: TcpListener) {
        let mut serving = lock(&self.serving);
        serving.listener = Some(listener);
        // Weak, so that dropping the last FakeEngine ends the accept loop.
        serving.tasks.spawn(accept_loop(Arc::downgrade(self)));
    }
}

async fn accept_loop(shared: Weak<Shared>) {
    loop {
        let accepted = std::future::poll_fn(|cx| {
            let Some(shared) = shared.upgrade() else {
                return Poll::Ready(None);
            };
            let serving = lock(&shared.serving);
            match &serving.listener {
                Some(listener) => listener.poll_accept(cx).map(Some),
                None => Poll::Ready(None),
            }
        })
        .await;
        let Some(shared) = shared.upgrade() else {
            return;
        };
        match accepted {
            None => return,
            Some(Ok((stream, _))) => {
                shared.connections.fetch_add(1, Ordering::Relaxed);
                let service_shared = shared.clone();
                shared.spawn(async move {
                    let service = service_fn(move |req| api::handle(service_shared.clone(), req));
                    let _ = http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service)
                        .with_upgrades()
                        .await;
                });
            }
            // Out of descriptors or the like: back off instead of spinning.
            Some(Err(_)) => tokio::time::sleep(Duration::from_millis(10)).await,
        }
    }
}

impl FakeEngine {
    /// Binds `127.0.0.1:0` and serves HTTP/1.1 with upgrades.
    pub async fn start(spec: FakeEngineSpec) -> io::Result<FakeEngine> {
        let listener = bind(SocketAddr::from(([127, 0, 0, 1], 0)))?;
        let shared = Arc::new(Shared {
            addr: listener.local_addr()?,
            node_id: api::short_id(&format!("node:{}", spec.name)),
            engine_id: spec.engine_id.clone(),
            engine_labels: spec.engine_labels.clone(),
            state: Mutex::new(State::new(&spec)),
            name: spec.name,
            events: broadcast::channel(1024).0,
            changes: watch::channel(()).0,
            connections: AtomicUsize::new(0),
            serving: Mutex::new(Serving::default()),
        });
        shared.serve(listener);
        Ok(FakeEngine { shared })
    }

    pub fn addr(&self) -> SocketAddr {
        self.shared.addr
    }

    /// `tcp://127.0.0.1:PORT`, for `DOCKER_HOST`.
    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.shared.addr)
    }

    pub fn name(&self) -> String {
        self.shared.name.clone()
    }

    /// Full 64-hex ids of the containers that exist now, most recently created first.
    pub fn container_ids(&self) -> Vec<String> {
        let state = self.shared.state();
        state.containers.iter().map(|c| c.id.clone()).collect()
    }

    /// Names without the leading `/`, in the order of [`FakeEngine::container_ids`].
    pub fn container_names(&self) -> Vec<String> {
        let state = self.shared.state();
        state.containers.iter().map(|c| c.name.clone()).collect()
    }

    pub fn set_latency(&self, latency: Duration) {
        self.shared.state().latency = latency;
    }

    /// While set, every request is answered 500 `{"message":"injected failure"}`.
    pub fn set_failing(&self, failing: bool) {
        self.shared.state().failing = failing;
    }

    pub fn set_role(&self, role: Option<SwarmRole>) {
        self.shared.state().role = role;
    }

    /// Sends `event` as is to every open `/events` stream whose filters it passes.
    pub fn emit_event(&self, event: Value) {
        // No open stream is not an error: the real engine drops events nobody watches.
        let _ = self.shared.events.send(event);
    }

    /// The requests received, but for those of an agent's usage sampler (its
    /// `User-Agent` starts `bosun-agent-usage/`), which runs on its own clock.
    pub fn requests(&self) -> Vec<RecordedRequest> {
        self.shared
            .state()
            .requests
            .iter()
            .filter(|r| !r.is_usage_sampling())
            .cloned()
            .collect()
    }

    /// Connections accepted since start, across restarts.
    pub fn connections_accepted(&self) -> usize {
        self.shared.connections.load(Ordering::Relaxed)
    }

    /// The node dies: the port refuses connections from now on, and every open
    /// connection, streams and upgraded ones included, is dropped mid-way.
    pub fn stop(&self) {
        let mut serving = lock(&self.shared.serving);
        serving.listener = None;
        serving.tasks.abort_all();
    }

    /// Serves again on the same port, with the same containers and swarm objects.
    pub async fn restart(&self) -> io::Result<()> {
        self.stop();
        let mut old = std::mem::take(&mut lock(&self.shared.serving).tasks);
        // Wait for the aborted tasks to be gone, so nothing of the old life answers.
        while old.join_next().await.is_some() {}
        let listener = bind(self.shared.addr)?;
        self.shared.serve(listener);
        Ok(())
    }
}
