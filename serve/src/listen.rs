//! Serving HTTP/1.1 over TLS: the accept loop, the deadlines every connection keeps, and a
//! shutdown that stops accepting, lets in-flight work finish for a grace period, then
//! closes what is left.

use std::convert::Infallible;
use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use futures_util::FutureExt;
use http::{Request, Response};
use hyper::body::Incoming;
use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::CertificateDer;
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::lanes::Lanes;

/// How long each step of a connection may take. Streams are never timed out.
#[derive(Debug, Clone, Copy)]
pub struct Deadlines {
    /// From accept to the end of the TLS handshake.
    pub handshake: Duration,
    /// For a request head to arrive.
    pub header_read: Duration,
    /// From the handshake to the first request head; `None`: only `header_read`.
    pub first_request: Option<Duration>,
}

/// What outlives its HTTP exchange (upgraded streams) and must drain too.
pub trait Lingering: Send + Sync {
    /// Takes no more.
    fn close(&self);
    /// Ends when the last one has.
    fn wait(&self) -> impl Future<Output = ()> + Send;
    /// Ends every one now.
    fn stop(&self);
}

/// Nothing outlives its exchange.
pub struct NoLingering;

impl Lingering for NoLingering {
    fn close(&self) {}
    async fn wait(&self) {}
    fn stop(&self) {}
}

/// How a server answers: what it learns of each connection once its TLS session is up,
/// and its answer to each request.
pub trait Handler: Send + Sync + 'static {
    /// What a connection's requests share.
    type Conn: Send + Sync + 'static;
    type Body: http_body::Body<Data = bytes::Bytes, Error: Into<Box<dyn std::error::Error + Send + Sync>>>
        + Send
        + 'static;

    /// A new connection from `peer`, which presented `certificates` (checked here, if at
    /// all).
    fn connect(
        &self,
        peer: SocketAddr,
        certificates: Option<&[CertificateDer<'static>]>,
    ) -> Self::Conn;

    /// Answers one request; never fails.
    fn answer(
        self: Arc<Self>,
        conn: Arc<Self::Conn>,
        req: Request<Incoming>,
    ) -> impl Future<Output = Response<Self::Body>> + Send + 'static;
}

/// Long enough to stand for never, short enough to add to an instant.
const NEVER: Duration = Duration::from_secs(365 * 86_400);

/// A listener with its TLS set-up, ready to serve.
pub struct Server<H> {
    pub listener: TcpListener,
    pub acceptor: TlsAcceptor,
    pub handler: Arc<H>,
    pub deadlines: Deadlines,
    /// How long in-flight requests and streams may run on once asked to stop.
    pub grace: Duration,
    /// Threads of their own that serve the connections ([`crate::lanes`]); 0: the
    /// runtime that runs the server serves them too.
    pub lanes: usize,
}

impl<H: Handler> Server<H> {
    /// Serves until `stop` is cancelled, then drains: `admit` decides per accepted
    /// socket, before TLS costs anything, and what it returns is held for the
    /// connection's life.
    pub async fn run<T: Send + 'static>(
        self,
        stop: CancellationToken,
        admit: impl Fn(SocketAddr) -> Option<T>,
        lingering: &impl Lingering,
    ) {
        let conns = TaskTracker::new();
        let hard_stop = CancellationToken::new();
        // What the connections watch: the hard stop's child, so that it ends them too.
        let graceful = hard_stop.child_token();
        let lanes = match self.lanes {
            0 => None,
            n => match Lanes::start(n, "bosun-lane") {
                Ok(lanes) => Some(lanes),
                Err(e) => {
                    tracing::warn!(error = %e, "no lanes could be started: connections are served on the main runtime");
                    None
                }
            },
        };
        loop {
            tokio::select! {
                _ = stop.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        let Some(ticket) = admit(peer) else {
                            drop(stream);
                            continue;
                        };
                        let connection = Connection {
                            stream,
                            peer,
                            acceptor: self.acceptor.clone(),
                            handler: Arc::clone(&self.handler),
                            deadlines: self.deadlines,
                            stop: graceful.clone(),
                            hard_stop: hard_stop.clone(),
                        };
                        match &lanes {
                            None => {
                                conns.spawn(serve_connection(connection, ticket));
                            }
                            Some(lanes) => {
                                // The socket moves to the lane's own reactor.
                                let Ok(socket) = connection.stream.into_std() else {
                                    continue;
                                };
                                let Connection { peer, acceptor, handler, deadlines, stop, hard_stop, .. } = connection;
                                lanes.spawn(conns.track_future(async move {
                                    let Ok(stream) = TcpStream::from_std(socket) else {
                                        return;
                                    };
                                    serve_connection(
                                        Connection { stream, peer, acceptor, handler, deadlines, stop, hard_stop },
                                        ticket,
                                    )
                                    .await;
                                }));
                            }
                        }
                    }
                    Err(e) => {
                        // Out of descriptors, usually: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(self.listener);
        graceful.cancel();
        tracing::info!(
            grace_secs = self.grace.as_secs(),
            "shutting down: no new connections, in-flight requests may finish"
        );
        drain(&conns, &hard_stop, self.grace, lingering).await;
        // What still runs on the lanes ends with them.
        drop(lanes);
    }
}

/// Once the connections in `conns` have been asked to stop: lets them and what lingers
/// finish within `grace`, then cancels `hard_stop` and stops what lingers, and waits 2 s
/// more for them to end.
pub async fn drain(
    conns: &TaskTracker,
    hard_stop: &CancellationToken,
    grace: Duration,
    lingering: &impl Lingering,
) {
    conns.close();
    lingering.close();
    let drained = tokio::time::timeout(grace, async {
        conns.wait().await;
        lingering.wait().await;
    })
    .await;
    if drained.is_err() {
        tracing::warn!("grace period over: closing the remaining streams");
        hard_stop.cancel();
        lingering.stop();
        let _ = tokio::time::timeout(Duration::from_secs(2), async {
            conns.wait().await;
            lingering.wait().await;
        })
        .await;
    }
}

/// One accepted socket and what serving it needs.
struct Connection<H> {
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    handler: Arc<H>,
    deadlines: Deadlines,
    stop: CancellationToken,
    hard_stop: CancellationToken,
}

async fn serve_connection<H: Handler, T>(c: Connection<H>, _ticket: T) {
    let peer = c.peer;
    let _ = c.stream.set_nodelay(true);
    let handshake_by = tokio::time::Instant::now() + c.deadlines.handshake;
    // Nothing is set up for a connection until its client sends something: an idle one
    // costs a socket and a task, not TLS buffers.
    if !matches!(
        tokio::time::timeout_at(handshake_by, c.stream.readable()).await,
        Ok(Ok(()))
    ) {
        tracing::debug!(%peer, "nothing sent before the handshake deadline; closing");
        return;
    }
    let stream = match tokio::time::timeout_at(handshake_by, c.acceptor.accept(c.stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let info = Arc::new(
        c.handler
            .connect(peer, stream.get_ref().1.peer_certificates()),
    );
    serve_http(
        Exchange {
            handler: c.handler,
            info,
            peer,
            deadlines: c.deadlines,
            stop: c.stop,
            hard_stop: c.hard_stop,
        },
        stream,
    )
    .await
}

/// Serves requests on a connection that is already secured (a stream of an edge tunnel,
/// inside the tunnel's TLS), until it closes: once `stop` is cancelled, the request in
/// flight finishes and no other starts; once `hard_stop` is, the connection ends at once.
/// `stop` is `hard_stop`'s child (`hard_stop.child_token()`), so that a hard stop alone
/// ends the connection too, while the connection watches one token.
pub async fn serve_stream<H, S>(
    handler: Arc<H>,
    info: H::Conn,
    peer: SocketAddr,
    io: S,
    deadlines: Deadlines,
    stop: CancellationToken,
    hard_stop: CancellationToken,
) where
    H: Handler,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    serve_http(
        Exchange {
            handler,
            info: Arc::new(info),
            peer,
            deadlines,
            stop,
            hard_stop,
        },
        io,
    )
    .await
}

/// What serving HTTP on one connection needs.
struct Exchange<H: Handler> {
    handler: Arc<H>,
    info: Arc<H::Conn>,
    peer: SocketAddr,
    deadlines: Deadlines,
    stop: CancellationToken,
    hard_stop: CancellationToken,
}

async fn serve_http<H, S>(c: Exchange<H>, io: S)
where
    H: Handler,
    S: tokio::io::AsyncRead + tokio::io::AsyncWrite + Send + Unpin + 'static,
{
    let peer = c.peer;
    let asked = Arc::new(AtomicBool::new(false));
    let service = {
        let asked = Arc::clone(&asked);
        let handler = Arc::clone(&c.handler);
        let info = c.info;
        service_fn(move |req| {
            asked.store(true, Ordering::Relaxed);
            let answer = Arc::clone(&handler).answer(Arc::clone(&info), req);
            // Polled where it lies: an `async` block would move the answer's whole
            // future into its own state at the first poll, a copy per request.
            answer.map(Ok::<_, Infallible>)
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(c.deadlines.header_read)
        .serve_connection(TokioIo::new(io), service)
        .with_upgrades();
    tokio::pin!(conn);
    let first_request = tokio::time::sleep(c.deadlines.first_request.unwrap_or(NEVER));
    tokio::pin!(first_request);
    let mut waiting_for_first = c.deadlines.first_request.is_some();
    loop {
        tokio::select! {
            result = conn.as_mut() => return log_end(peer, result),
            _ = &mut first_request, if waiting_for_first => {
                if !asked.load(Ordering::Relaxed) {
                    tracing::debug!(%peer, "no request soon enough after the handshake; closing");
                    return;
                }
                waiting_for_first = false;
            }
            // Also on a hard stop, whose child `stop` is: the connection then ends below
            // at once.
            _ = c.stop.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    result = conn.as_mut() => log_end(peer, result),
                    _ = c.hard_stop.cancelled() => {}
                }
                return;
            }
        }
    }
}

fn log_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}
