//! Upstreams: the local Docker Engine and the other nodes' agents, each reached through a
//! pool of kept-alive HTTP/1.1 connections. Each connection is its own hyper handshake, so
//! an upgraded one (attach, exec) simply leaves the pool. A log stream from the engine is
//! read at a pace (`paced.rs`).

use std::future::Future;
use std::path::PathBuf;
use std::pin::Pin;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bytes::Bytes;
use http::{header, Request, Response};
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper::client::conn::http1::{self, SendRequest};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::net::{TcpStream, UnixStream};
use tokio_rustls::TlsConnector;

use crate::body::{self, Body};

mod paced;
use paced::Paced;

/// Idle connections kept for reuse; more are closed once their response is done.
const MAX_IDLE: usize = 64;
/// An idle connection unused this long is closed, so that what a burst opened (and the
/// buffers it grew) does not stay once the burst is over.
const IDLE_FOR: Duration = Duration::from_secs(5);
/// Connections open to one upstream at once, streams included; a request beyond waits
/// for one to close.
pub const MAX_CONNECTIONS: usize = 512;
/// How long a request waits for a connection to an upstream that has `MAX_CONNECTIONS`.
const CONNECTION_WAIT: Duration = Duration::from_secs(30);

/// Where the engine listens.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum EngineAddr {
    Unix(PathBuf),
    Tcp(String),
}

impl EngineAddr {
    /// Parses `DOCKER_HOST` forms: `unix:///path`, `tcp://host:port`, or a bare socket path.
    pub fn parse(s: &str) -> Result<Self, String> {
        if let Some(path) = s.strip_prefix("unix://") {
            if path.is_empty() {
                return Err(format!("{s}: no socket path"));
            }
            return Ok(Self::Unix(PathBuf::from(path)));
        }
        if let Some(rest) = s.strip_prefix("tcp://") {
            let hostport = rest.trim_end_matches('/');
            if hostport.is_empty() {
                return Err(format!("{s}: no host"));
            }
            let hostport = if hostport
                .rsplit_once(':')
                .is_some_and(|(_, p)| p.parse::<u16>().is_ok())
            {
                hostport.to_owned()
            } else {
                format!("{hostport}:2375")
            };
            return Ok(Self::Tcp(hostport));
        }
        if s.starts_with('/') {
            return Ok(Self::Unix(PathBuf::from(s)));
        }
        Err(format!(
            "{s}: not a Docker host URL (unix:///var/run/docker.sock or tcp://HOST:PORT)"
        ))
    }
}

impl std::fmt::Display for EngineAddr {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Self::Unix(p) => write!(f, "unix://{}", p.display()),
            Self::Tcp(h) => write!(f, "tcp://{h}"),
        }
    }
}

/// Where an upstream connection goes, and how.
#[derive(Clone)]
pub enum Dialer {
    Unix(PathBuf),
    Tcp(String),
    /// Another node's agent, over TLS.
    Tls {
        addr: std::net::SocketAddr,
        connector: TlsConnector,
        server_name: ServerName<'static>,
    },
}

#[derive(Debug, thiserror::Error)]
pub enum UpstreamError {
    #[error(
        "Cannot connect to the Docker daemon at {addr}. Is the docker daemon running? ({source})"
    )]
    Connect {
        addr: String,
        source: std::io::Error,
    },
    #[error("cannot reach {addr}: {source}")]
    PeerConnect {
        addr: String,
        source: std::io::Error,
    },
    #[error("{addr} failed the request: {source}")]
    Http { addr: String, source: hyper::Error },
    #[error("{addr} did not answer within {secs} s")]
    Timeout { addr: String, secs: u64 },
    #[error("{addr} answered {status}: {message}")]
    Status {
        addr: String,
        status: u16,
        message: String,
    },
    #[error("{addr} sent JSON that could not be read: {reason}")]
    Json { addr: String, reason: String },
    #[error("{addr} already has {max} connections open and none closed within {secs} s")]
    Saturated { addr: String, max: usize, secs: u64 },
}

impl UpstreamError {
    /// Whether the request never reached the upstream, so another may be tried.
    pub fn is_connect(&self) -> bool {
        matches!(self, Self::Connect { .. } | Self::PeerConnect { .. })
    }
}

/// A connection's own progress: reading, writing, and ending.
type Driving = Pin<Box<dyn Future<Output = ()> + Send>>;

/// `GET .../logs`: a long answer of one chunk per line.
fn is_log_stream(req: &Request<Body>) -> bool {
    req.method() == http::Method::GET && req.uri().path().ends_with("/logs")
}

/// A connection in the pool.
struct Pooled {
    sender: SendRequest<Body>,
    since: Instant,
    lane: usize,
}

/// A client for one upstream (an engine or a peer agent), cheap to clone.
#[derive(Clone)]
pub struct UpstreamPool {
    inner: Arc<Inner>,
}

struct Inner {
    dialer: Dialer,
    /// How errors name this upstream: "the Docker daemon at unix://...", "agent node-2 at ...".
    label: String,
    /// Every connection not being handed a request right now, with when it was last
    /// handed one and the lane that drives it, the most recent last. One is idle when its
    /// sender is ready; one still streaming an answer is not, and is passed over. A lane
    /// takes only its own connections, so that a request and its answer stay on the lane's
    /// thread ([`bosun_serve::lanes`]); a lane that has none yet takes another's idle one
    /// rather than open a new one, so that light traffic keeps to one connection.
    pooled: Mutex<Vec<Pooled>>,
    /// Whether a task closes connections idle for [`IDLE_FOR`].
    reaping: AtomicBool,
    /// One permit per open connection.
    connections: Arc<tokio::sync::Semaphore>,
}

impl UpstreamPool {
    /// The local engine.
    pub fn new(addr: EngineAddr) -> Self {
        let label = format!("the Docker daemon at {addr}");
        let dialer = match addr {
            EngineAddr::Unix(path) => Dialer::Unix(path),
            EngineAddr::Tcp(hostport) => Dialer::Tcp(hostport),
        };
        Self::with_dialer(dialer, label)
    }

    pub fn with_dialer(dialer: Dialer, label: String) -> Self {
        Self {
            inner: Arc::new(Inner {
                dialer,
                label,
                pooled: Mutex::new(Vec::new()),
                reaping: AtomicBool::new(false),
                connections: Arc::new(tokio::sync::Semaphore::new(MAX_CONNECTIONS)),
            }),
        }
    }

    /// What errors call this upstream.
    pub fn label(&self) -> &str {
        &self.inner.label
    }

    /// Sends a request, on an idle connection when there is one. Returns as soon as the
    /// response head arrives; the body streams afterwards.
    pub async fn send(&self, mut req: Request<Body>) -> Result<Response<Incoming>, UpstreamError> {
        // Asked in HTTP/1.0, the engine cannot cut its logs into a chunk per line: the
        // answer is its bytes until the connection closes, read as much at a time as has
        // arrived. The connection then closes, so it does not go back to the pool.
        let closes = is_log_stream(&req);
        if closes {
            *req.version_mut() = http::Version::HTTP_10;
        }
        // A pooled connection the engine has closed in the meantime hands the request
        // back untouched; it then goes out on a fresh one. A log stream, which closes its
        // connection, always opens its own, driven on this thread: a borrowed one would
        // carry the whole stream across threads.
        while let Some((mut sender, lane)) = if closes { None } else { self.take_idle() } {
            match sender.try_send_request(req).await {
                Ok(resp) => {
                    if !closes {
                        self.recycle(sender, lane);
                    }
                    return Ok(resp);
                }
                Err(mut e) => match e.take_message() {
                    Some(back) => req = back,
                    None => return Err(self.http_error(e.into_error())),
                },
            }
        }
        // Boxed: dialling (a TLS handshake, for a peer) is rare next to a reused
        // connection, and its state would otherwise enlarge every request's future.
        let mut sender = match Box::pin(self.connect(closes)).await {
            Ok((sender, driving)) => {
                tokio::spawn(driving);
                sender
            }
            Err(e) => return Err(e),
        };
        let resp = sender
            .send_request(req)
            .await
            .map_err(|e| self.http_error(e))?;
        if !closes {
            // Driven from here: the task was spawned on this thread's runtime.
            self.recycle(sender, bosun_serve::lanes::current());
        }
        Ok(resp)
    }

    /// The most recently used idle connection this lane drives, or another lane's when this
    /// one drives none, with the lane that drives it. A lane never borrows one that the
    /// process's own runtime drives (lane 0: background work, the edge tunnel): its
    /// threads sleep between tasks, and waking one twice per request would be paid on
    /// every request of a lane that keeps borrowing it. A closed one is never ready; the
    /// reaper forgets it.
    fn take_idle(&self) -> Option<(SendRequest<Body>, usize)> {
        let lane = bosun_serve::lanes::current();
        let mut pooled = self.inner.pooled.lock().unwrap_or_else(|p| p.into_inner());
        // One pass, newest first: this lane's first ready connection ends it; on the way,
        // whether this lane drives any, and another lane's newest ready one to borrow.
        let mut own = None;
        let mut drives_some = false;
        let mut borrowable = None;
        for (at, p) in pooled.iter().enumerate().rev() {
            if p.lane == lane {
                if p.sender.is_ready() {
                    own = Some(at);
                    break;
                }
                drives_some |= !p.sender.is_closed();
            } else if borrowable.is_none() && (lane == 0 || p.lane != 0) && p.sender.is_ready() {
                borrowable = Some(at);
            }
        }
        let at = own.or(if drives_some { None } else { borrowable })?;
        let taken = pooled.remove(at);
        Some((taken.sender, taken.lane))
    }

    /// Puts a connection back at once, its answer still streaming: it is idle again when
    /// that answer has been read to the end. Beyond [`MAX_IDLE`] idle ones, the least
    /// recently used idle one is closed. `lane` drives the connection.
    fn recycle(&self, sender: SendRequest<Body>, lane: usize) {
        let inner = &self.inner;
        if !inner.reaping.load(Ordering::Relaxed) && !inner.reaping.swap(true, Ordering::Relaxed) {
            tokio::spawn(reap_idle(Arc::downgrade(inner)));
        }
        let mut pooled = inner.pooled.lock().unwrap_or_else(|p| p.into_inner());
        pooled.push(Pooled {
            sender,
            since: Instant::now(),
            lane,
        });
        if pooled.len() > MAX_IDLE {
            let idle = pooled.iter().filter(|p| p.sender.is_ready()).count();
            if idle > MAX_IDLE {
                if let Some(oldest) = pooled.iter().position(|p| p.sender.is_ready()) {
                    pooled.remove(oldest);
                }
            }
        }
    }

    /// Connections open to this upstream now.
    pub fn open_connections(&self) -> usize {
        MAX_CONNECTIONS - self.inner.connections.available_permits()
    }

    /// A new connection; `paced`: one for a log stream, read at a pace when it goes to
    /// an engine (a peer agent gathers its own).
    async fn connect(&self, paced: bool) -> Result<(SendRequest<Body>, Driving), UpstreamError> {
        let permit = tokio::time::timeout(
            CONNECTION_WAIT,
            Arc::clone(&self.inner.connections).acquire_owned(),
        )
        .await
        .ok()
        .and_then(Result::ok)
        .ok_or_else(|| UpstreamError::Saturated {
            addr: self.inner.label.clone(),
            max: MAX_CONNECTIONS,
            secs: CONNECTION_WAIT.as_secs(),
        })?;
        match &self.inner.dialer {
            Dialer::Unix(path) => {
                let stream =
                    UnixStream::connect(path)
                        .await
                        .map_err(|source| UpstreamError::Connect {
                            addr: format!("unix://{}", path.display()),
                            source,
                        })?;
                self.engine_handshake(stream, paced, permit).await
            }
            Dialer::Tcp(hostport) => {
                let stream =
                    connect_tcp(hostport)
                        .await
                        .map_err(|source| UpstreamError::Connect {
                            addr: format!("tcp://{hostport}"),
                            source,
                        })?;
                let _ = stream.set_nodelay(true);
                self.engine_handshake(stream, paced, permit).await
            }
            Dialer::Tls {
                addr,
                connector,
                server_name,
            } => {
                let peer_err = |source| UpstreamError::PeerConnect {
                    addr: self.inner.label.clone(),
                    source,
                };
                let stream = TcpStream::connect(addr).await.map_err(peer_err)?;
                let _ = stream.set_nodelay(true);
                let stream = connector
                    .connect(server_name.clone(), stream)
                    .await
                    .map_err(peer_err)?;
                self.handshake(stream, permit).await
            }
        }
    }

    /// [`UpstreamPool::handshake`] on a connection to an engine, read at a pace if `paced`.
    async fn engine_handshake<S>(
        &self,
        stream: S,
        paced: bool,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(SendRequest<Body>, Driving), UpstreamError>
    where
        S: paced::Rejoin + Send + 'static,
        S::Std: Send,
    {
        if !paced {
            return self.handshake(stream, permit).await;
        }
        let stream = Paced::new(stream).map_err(|source| UpstreamError::Connect {
            addr: self.inner.label.clone(),
            source,
        })?;
        self.handshake(stream, permit).await
    }

    /// Starts HTTP/1.1 on a new connection, which holds `permit` for as long as it lives;
    /// the connection makes progress only while its driving future is polled.
    async fn handshake<S>(
        &self,
        stream: S,
        permit: tokio::sync::OwnedSemaphorePermit,
    ) -> Result<(SendRequest<Body>, Driving), UpstreamError>
    where
        S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
    {
        let (sender, conn) = http1::Builder::new()
            .handshake(TokioIo::new(stream))
            .await
            .map_err(|e| self.http_error(e))?;
        let driving = Box::pin(async move {
            let _ = conn.with_upgrades().await;
            drop(permit);
        });
        Ok((sender, driving))
    }

    fn http_error(&self, source: hyper::Error) -> UpstreamError {
        UpstreamError::Http {
            addr: self.inner.label.clone(),
            source,
        }
    }

    /// A `GET` whose answer the agent reads itself, bounded by `timeout`; a status other
    /// than 2xx is an error carrying the engine's message.
    pub async fn get(&self, path: &str, timeout: Duration) -> Result<Bytes, UpstreamError> {
        self.get_with(path, &[], timeout).await
    }

    /// [`UpstreamPool::get`] with extra request headers.
    pub async fn get_with(
        &self,
        path: &str,
        headers: &[(&'static str, String)],
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let mut builder = Request::get(path).header(header::HOST, "docker");
        for (name, value) in headers {
            builder = builder.header(*name, value.as_str());
        }
        self.ask(builder, body::empty(), timeout).await
    }

    /// Builds the request and reads its whole answer: [`UpstreamPool::read_answer`].
    async fn ask(
        &self,
        builder: http::request::Builder,
        body: Body,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let req = builder.body(body).map_err(|e| UpstreamError::Json {
            addr: self.inner.label.clone(),
            reason: e.to_string(),
        })?;
        self.read_answer(req, timeout).await
    }

    /// Sends a request and reads its whole answer within `timeout`; a status other than
    /// 2xx is an error carrying the upstream's message.
    pub async fn read_answer(
        &self,
        req: Request<Body>,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let addr = || self.inner.label.clone();
        let fetch = async {
            let resp = self.send(req).await?;
            let status = resp.status();
            let bytes: Bytes = resp
                .into_body()
                .collect()
                .await
                .map_err(|e| self.http_error(e))?
                .to_bytes();
            if !status.is_success() {
                return Err(UpstreamError::Status {
                    addr: addr(),
                    status: status.as_u16(),
                    message: error_message(&bytes),
                });
            }
            Ok(bytes)
        };
        tokio::time::timeout(timeout, fetch)
            .await
            .map_err(|_| UpstreamError::Timeout {
                addr: addr(),
                secs: timeout.as_secs(),
            })?
    }

    /// A `POST` of a JSON body whose answer the agent reads itself, bounded by `timeout`;
    /// a status other than 2xx is an error carrying the engine's message.
    pub async fn post_json(
        &self,
        path: &str,
        body: &serde_json::Value,
        timeout: Duration,
    ) -> Result<Bytes, UpstreamError> {
        let builder = Request::post(path)
            .header(header::HOST, "docker")
            .header(header::CONTENT_TYPE, "application/json");
        self.ask(builder, body::full(body.to_string()), timeout)
            .await
    }

    /// [`UpstreamPool::get`], read as JSON.
    pub async fn get_json(
        &self,
        path: &str,
        timeout: Duration,
    ) -> Result<serde_json::Value, UpstreamError> {
        let bytes = self.get(path, timeout).await?;
        serde_json::from_slice(&bytes).map_err(|e| UpstreamError::Json {
            addr: self.inner.label.clone(),
            reason: e.to_string(),
        })
    }
}

/// The `message` of a Docker-shaped error body, or the body itself.
pub fn error_message(body: &[u8]) -> String {
    serde_json::from_slice::<serde_json::Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| String::from_utf8_lossy(body).trim().to_owned())
}

/// Closes the pool's connections that stayed idle for [`IDLE_FOR`], until the pool is gone.
async fn reap_idle(inner: std::sync::Weak<Inner>) {
    let mut tick = tokio::time::interval(IDLE_FOR);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    loop {
        tick.tick().await;
        let Some(inner) = inner.upgrade() else { return };
        let mut pooled = inner.pooled.lock().unwrap_or_else(|p| p.into_inner());
        pooled.retain(|p| {
            !(p.sender.is_closed() || (p.sender.is_ready() && p.since.elapsed() >= IDLE_FOR))
        });
    }
}

/// Connects to `HOST:PORT`, resolving a name with hickory: the release binary is static, and
/// a static glibc cannot load the NSS modules `getaddrinfo` needs.
async fn connect_tcp(hostport: &str) -> std::io::Result<TcpStream> {
    if let Ok(addr) = hostport.parse::<std::net::SocketAddr>() {
        return TcpStream::connect(addr).await;
    }
    let invalid = || std::io::Error::new(std::io::ErrorKind::InvalidInput, "expected HOST:PORT");
    let (host, port) = hostport.rsplit_once(':').ok_or_else(invalid)?;
    let port: u16 = port.parse().map_err(|_| invalid())?;
    let resolver =
        crate::resolve::system_resolver().map_err(|e| std::io::Error::other(e.to_string()))?;
    let found = crate::resolve::lookup(resolver, host).await;
    let mut last = std::io::Error::new(
        std::io::ErrorKind::NotFound,
        format!("no address found for {host}"),
    );
    for ip in found {
        match TcpStream::connect((ip, port)).await {
            Ok(stream) => return Ok(stream),
            Err(e) => last = e,
        }
    }
    Err(last)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn docker_host_forms_parse() {
        assert_eq!(
            EngineAddr::parse("unix:///var/run/docker.sock"),
            Ok(EngineAddr::Unix("/var/run/docker.sock".into()))
        );
        assert_eq!(
            EngineAddr::parse("tcp://10.0.0.1:2376"),
            Ok(EngineAddr::Tcp("10.0.0.1:2376".into()))
        );
        assert_eq!(
            EngineAddr::parse("tcp://engine"),
            Ok(EngineAddr::Tcp("engine:2375".into()))
        );
        assert_eq!(
            EngineAddr::parse("/run/docker.sock"),
            Ok(EngineAddr::Unix("/run/docker.sock".into()))
        );
        assert!(EngineAddr::parse("http://x").is_err());
        assert!(EngineAddr::parse("unix://").is_err());
    }

    /// An engine on a unix socket that answers every request with the number of the
    /// connection it came on (from 1, in the order accepted), `/slow` after 300 ms; it
    /// tells the connection of each `/slow` as soon as that arrives.
    async fn numbering_engine(path: PathBuf) -> tokio::sync::mpsc::UnboundedReceiver<usize> {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let listener = tokio::net::UnixListener::bind(path).unwrap();
        let (arrived, slow) = tokio::sync::mpsc::unbounded_channel();
        tokio::spawn(async move {
            let mut number = 0;
            while let Ok((mut socket, _)) = listener.accept().await {
                number += 1;
                let arrived = arrived.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 4096];
                    let mut seen = Vec::new();
                    loop {
                        let Ok(n) = socket.read(&mut buf).await else {
                            return;
                        };
                        if n == 0 {
                            return;
                        }
                        seen.extend_from_slice(&buf[..n]);
                        while let Some(end) = seen.windows(4).position(|w| w == b"\r\n\r\n") {
                            if seen.starts_with(b"GET /slow") {
                                let _ = arrived.send(number);
                                tokio::time::sleep(Duration::from_millis(300)).await;
                            }
                            seen.drain(..end + 4);
                            let body = number.to_string();
                            let answer = format!(
                                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\n\r\n{body}",
                                body.len()
                            );
                            if socket.write_all(answer.as_bytes()).await.is_err() {
                                return;
                            }
                        }
                    }
                });
            }
        });
        slow
    }

    /// Sends `GET path` on a lane and says which lane and which engine connection.
    async fn ask_on_lane(
        lanes: &bosun_serve::lanes::Lanes,
        pool: &UpstreamPool,
        path: &'static str,
    ) -> tokio::sync::oneshot::Receiver<(usize, String)> {
        let pool = pool.clone();
        let (done, answered) = tokio::sync::oneshot::channel();
        lanes.spawn(async move {
            let body = pool.get(path, Duration::from_secs(5)).await.unwrap();
            let _ = done.send((
                bosun_serve::lanes::current(),
                String::from_utf8_lossy(&body).into_owned(),
            ));
        });
        answered
    }

    async fn until_idle(lanes: &bosun_serve::lanes::Lanes) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while lanes.running() > 0 {
            assert!(Instant::now() < deadline, "the jobs ended");
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
    }

    #[tokio::test]
    async fn a_lane_takes_its_own_connections_and_another_lanes_only_while_it_has_none() {
        let dir = tempfile::tempdir().unwrap();
        let socket = dir.path().join("engine.sock");
        let mut slow = numbering_engine(socket.clone()).await;
        let pool = UpstreamPool::new(EngineAddr::Unix(socket));
        let lanes = bosun_serve::lanes::Lanes::start(2, "pool-test").unwrap();

        // Background work off the lanes (this test's own runtime, lane 0) opens the first
        // connection; no lane ever borrows it.
        let off_lanes = pool.get("/_ping", Duration::from_secs(5)).await.unwrap();
        assert_eq!(&off_lanes[..], b"1");

        // One request at a time, on lanes in turn: lane 1 opens a connection of its own;
        // lane 2 has none yet and takes lane 1's, so that one serves them both.
        for expected_lane in [1, 2] {
            let (lane, conn) = ask_on_lane(&lanes, &pool, "/_ping").await.await.unwrap();
            assert_eq!((lane, conn.as_str()), (expected_lane, "2"));
            until_idle(&lanes).await;
        }

        // Two at once: lane 1's request takes its idle connection; lane 2's, while that is
        // busy, opens the third and drives it.
        let first = ask_on_lane(&lanes, &pool, "/slow").await;
        assert_eq!(
            slow.recv().await,
            Some(2),
            "lane 1's request on connection 2"
        );
        let second = ask_on_lane(&lanes, &pool, "/slow").await;
        assert_eq!(first.await.unwrap(), (1, "2".to_owned()));
        assert_eq!(second.await.unwrap(), (2, "3".to_owned()));
        until_idle(&lanes).await;

        // From now on each lane has an idle connection of its own and takes it, and so does
        // the work off the lanes.
        for expected in [(1, "2"), (2, "3"), (1, "2"), (2, "3")] {
            let (lane, conn) = ask_on_lane(&lanes, &pool, "/_ping").await.await.unwrap();
            assert_eq!((lane, conn.as_str()), expected);
            until_idle(&lanes).await;
        }
        let off_lanes = pool.get("/_ping", Duration::from_secs(5)).await.unwrap();
        assert_eq!(&off_lanes[..], b"1");
    }
}
