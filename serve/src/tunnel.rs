//! The edge tunnel: one TLS connection an agent dials out to the console, upgraded from an
//! HTTP request to [`PATH`], then carrying many streams with yamux. The console opens a
//! stream for each HTTP/1.1 connection it wants to the agent (calls, log and event
//! streams, exec sessions), and the agent serves each stream as it serves a TCP connection.

use std::future::Future;
use std::io;
use std::time::Duration;

use tokio::io::{AsyncRead, AsyncWrite};
use tokio::sync::{mpsc, oneshot};
use tokio_util::compat::{Compat, FuturesAsyncReadCompatExt, TokioAsyncReadCompatExt};
use tokio_util::sync::CancellationToken;

/// Where an agent asks to open its tunnel.
pub const PATH: &str = "/api/edge/connect";
/// The protocol its `Upgrade` header names.
pub const PROTOCOL: &str = "bosun-tunnel/1";
/// The agent's ID ([`crate::checks`]' node identity), on every connect.
pub const AGENT_ID: &str = "x-bosun-agent-id";
/// The agent's node name.
pub const NODE: &str = "x-bosun-node";
/// The agent's version.
pub const VERSION: &str = "x-bosun-agent-version";
/// The enrol token, on the first connect only.
pub const ENROL_TOKEN: &str = "x-bosun-enrol-token";
/// The agent's public key, base64 of its 32 bytes, on the first connect.
pub const AGENT_KEY: &str = "x-bosun-agent-key";
/// On every connect: a token the agent's key signed ([`Proof`]).
pub const PROOF: &str = "x-bosun-agent-proof";
/// In the console's answer: its public key (base64 of the PEM), which signs the tokens
/// that arrive through the tunnel.
pub const CONSOLE_KEY: &str = "x-bosun-console-key";
/// What a proof's `aud` says.
pub const PROOF_AUDIENCE: &str = "bosun-edge";
/// How long a proof is good for.
pub const PROOF_TTL: u64 = 60;

/// How often the console opens an empty stream, so that both sides learn of a dead path.
pub const HEARTBEAT: Duration = Duration::from_secs(5);
/// An agent that saw no stream this long takes its tunnel for dead and dials again.
pub const SILENCE: Duration = Duration::from_secs(15);
/// How long a stopping agent waits for the console to take its tunnel's close.
const CLOSING: Duration = Duration::from_secs(2);

/// What an agent's key signs on each connect.
#[derive(Debug, serde::Serialize, serde::Deserialize)]
pub struct Proof {
    /// The agent's ID.
    pub sub: String,
    pub aud: String,
    pub iat: u64,
    pub exp: u64,
}

/// One stream of a tunnel, read and written like a socket.
pub type TunnelStream = Compat<yamux::Stream>;

type Asked = oneshot::Sender<io::Result<TunnelStream>>;

/// The console's side of a tunnel: opens streams to the agent; cheap to clone.
#[derive(Clone)]
pub struct Opener {
    asks: mpsc::Sender<Asked>,
    closed: CancellationToken,
}

impl Opener {
    /// A new stream to the agent.
    pub async fn open(&self) -> io::Result<TunnelStream> {
        let gone = || io::Error::new(io::ErrorKind::ConnectionAborted, "the tunnel is closed");
        let (tx, rx) = oneshot::channel();
        self.asks.send(tx).await.map_err(|_| gone())?;
        rx.await.map_err(|_| gone())?
    }

    /// Ends the tunnel now, the streams on it included.
    pub fn close(&self) {
        self.closed.cancel();
    }

    pub fn is_closed(&self) -> bool {
        self.closed.is_cancelled()
    }

    /// Ends when the tunnel has.
    pub async fn closed(&self) {
        self.closed.cancelled().await
    }
}

fn config() -> yamux::Config {
    let mut config = yamux::Config::default();
    config.set_max_num_streams(1024);
    config
}

/// The console's side of an upgraded connection: the opener, and the tunnel's progress,
/// which ends with the tunnel (closed, broken, or every opener dropped).
pub fn console_side<T>(io: T) -> (Opener, impl Future<Output = ()> + Send)
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let (asks, mut asked) = mpsc::channel::<Asked>(64);
    let closed = CancellationToken::new();
    let opener = Opener {
        asks,
        closed: closed.clone(),
    };
    let mut conn = yamux::Connection::new(io.compat(), config(), yamux::Mode::Server);
    let driving = async move {
        let mut waiting: Option<Asked> = None;
        let stop = closed.clone();
        let stopped = stop.cancelled();
        tokio::pin!(stopped);
        std::future::poll_fn(|cx| {
            use std::task::Poll;
            if stopped.as_mut().poll(cx).is_ready() {
                return Poll::Ready(());
            }
            loop {
                if waiting.is_none() {
                    match asked.poll_recv(cx) {
                        Poll::Ready(Some(ask)) => waiting = Some(ask),
                        Poll::Ready(None) => return Poll::Ready(()),
                        Poll::Pending => break,
                    }
                }
                match conn.poll_new_outbound(cx) {
                    Poll::Ready(result) => {
                        let failed = result.is_err();
                        if let Some(ask) = waiting.take() {
                            let _ = ask.send(result.map(|s| s.compat()).map_err(io::Error::other));
                        }
                        if failed {
                            return Poll::Ready(());
                        }
                    }
                    Poll::Pending => break,
                }
            }
            loop {
                match conn.poll_next_inbound(cx) {
                    // The console serves nothing over a tunnel.
                    Poll::Ready(Some(Ok(_))) => continue,
                    Poll::Ready(_) => return Poll::Ready(()),
                    Poll::Pending => return Poll::Pending,
                }
            }
        })
        .await;
        closed.cancel();
        // Dropped, not closed gracefully: its streams end now, a followed log included.
        drop(conn);
    };
    (opener, driving)
}

/// Why an agent's tunnel ended.
#[derive(Debug)]
pub enum Ended {
    /// Asked to stop.
    Stopped,
    /// The console closed it.
    Closed,
    /// No stream for [`SILENCE`].
    Silent,
    Broken(io::Error),
}

/// The agent's side of an upgraded connection: each stream the console opens goes to
/// `serve`, until the tunnel ends or `stop` is cancelled. Once stopped, the tunnel is
/// carried on until `drained` ends (the caller's wait for its streams to finish, bounded
/// by its grace period), then closes. Streams the console opens meanwhile still go to
/// `serve`, which answers them as a stopping server does: the console learns the agent is
/// stopping, and its heartbeat, answered, does not take the tunnel for dead.
pub async fn agent_side<T>(
    io: T,
    mut serve: impl FnMut(TunnelStream),
    stop: &CancellationToken,
    drained: impl Future<Output = ()>,
) -> Ended
where
    T: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let mut conn = yamux::Connection::new(io.compat(), config(), yamux::Mode::Client);
    let ended = loop {
        let next = tokio::time::timeout(
            SILENCE,
            std::future::poll_fn(|cx| conn.poll_next_inbound(cx)),
        );
        tokio::select! {
            _ = stop.cancelled() => break Ended::Stopped,
            next = next => match next {
                Err(_) => break Ended::Silent,
                Ok(Some(Ok(stream))) => serve(stream.compat()),
                Ok(Some(Err(e))) => break Ended::Broken(io::Error::other(e)),
                Ok(None) => break Ended::Closed,
            },
        }
    };
    if let Ended::Stopped = ended {
        let carrying = async {
            while let Some(Ok(stream)) = std::future::poll_fn(|cx| conn.poll_next_inbound(cx)).await
            {
                serve(stream.compat());
            }
        };
        tokio::select! {
            // First: the drain tells `serve` it is stopping before any new stream is taken.
            biased;
            _ = drained => {}
            _ = carrying => {}
        }
        let _ = tokio::time::timeout(CLOSING, std::future::poll_fn(|cx| conn.poll_close(cx))).await;
    }
    // Dropped, not closed gracefully: what still runs on it ends now.
    drop(conn);
    ended
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[tokio::test]
    async fn streams_the_console_opens_reach_the_agent_and_closing_ends_both_sides() {
        let (console_io, agent_io) = tokio::io::duplex(64 << 10);
        let (opener, driving) = console_side(console_io);
        tokio::spawn(driving);
        let stop = CancellationToken::new();
        let agent = tokio::spawn({
            let stop = stop.clone();
            async move {
                agent_side(
                    agent_io,
                    |mut stream| {
                        tokio::spawn(async move {
                            let mut buf = [0u8; 5];
                            stream.read_exact(&mut buf).await.unwrap();
                            stream.write_all(&buf).await.unwrap();
                            stream.flush().await.unwrap();
                        });
                    },
                    &stop,
                    std::future::ready(()),
                )
                .await
            }
        });
        for _ in 0..3 {
            let mut stream = opener.open().await.unwrap();
            stream.write_all(b"hello").await.unwrap();
            stream.flush().await.unwrap();
            let mut back = [0u8; 5];
            stream.read_exact(&mut back).await.unwrap();
            assert_eq!(&back, b"hello");
        }
        let mut held = opener.open().await.unwrap();
        opener.close();
        let mut rest = Vec::new();
        let read = tokio::time::timeout(Duration::from_secs(2), held.read_to_end(&mut rest)).await;
        assert!(
            read.is_ok(),
            "a stream open when the tunnel closes ends with it"
        );
        let ended = tokio::time::timeout(Duration::from_secs(5), agent)
            .await
            .expect("the agent learns of the close")
            .unwrap();
        assert!(
            matches!(ended, Ended::Closed | Ended::Broken(_)),
            "{ended:?}"
        );
        assert!(opener.open().await.is_err());
    }

    #[tokio::test]
    async fn a_stopped_agent_finishes_the_streams_open_and_answers_new_ones_as_stopping() {
        let (console_io, agent_io) = tokio::io::duplex(64 << 10);
        let (opener, driving) = console_side(console_io);
        tokio::spawn(driving);
        let stop = CancellationToken::new();
        let served = tokio_util::task::TaskTracker::new();
        // The agent's answer waits for this, as a long request waits for its engine.
        let release = CancellationToken::new();
        let (got_tx, mut got) = mpsc::unbounded_channel::<()>();
        let agent = tokio::spawn({
            let (stop, served, release) = (stop.clone(), served.clone(), release.clone());
            async move {
                let drained = {
                    let served = served.clone();
                    async move {
                        served.close();
                        served.wait().await;
                    }
                };
                agent_side(
                    agent_io,
                    |mut stream| {
                        let (release, got_tx) = (release.clone(), got_tx.clone());
                        // What the owner of `serve` does once it is stopping.
                        if stop.is_cancelled() {
                            served.spawn(async move {
                                let _ = stream.write_all(b"stopping").await;
                                let _ = stream.shutdown().await;
                            });
                            return;
                        }
                        served.spawn(async move {
                            let mut buf = [0u8; 5];
                            if stream.read_exact(&mut buf).await.is_err() {
                                return;
                            }
                            let _ = got_tx.send(());
                            release.cancelled().await;
                            let _ = stream.write_all(&buf).await;
                            let _ = stream.flush().await;
                        });
                    },
                    &stop,
                    drained,
                )
                .await
            }
        });
        let mut in_flight = opener.open().await.unwrap();
        in_flight.write_all(b"hello").await.unwrap();
        in_flight.flush().await.unwrap();
        tokio::time::timeout(Duration::from_secs(5), got.recv())
            .await
            .expect("the agent reads the open stream")
            .unwrap();

        stop.cancel();
        // Past the stop: a new stream is answered as stopping, not served.
        let late = async {
            let mut late = opener.open().await?;
            late.write_all(b"later").await?;
            late.flush().await?;
            let mut back = Vec::new();
            late.read_to_end(&mut back).await?;
            Ok::<_, io::Error>(back)
        };
        let back = tokio::time::timeout(Duration::from_secs(5), late)
            .await
            .expect("a stream opened after the stop ends within 5 s")
            .expect("a stream opened after the stop is answered");
        assert_eq!(back, b"stopping");
        assert!(
            got.try_recv().is_err(),
            "a stream opened after the stop was served"
        );
        assert!(
            !agent.is_finished(),
            "the agent left before its stream was done"
        );

        release.cancel();
        let mut back = [0u8; 5];
        tokio::time::timeout(Duration::from_secs(5), in_flight.read_exact(&mut back))
            .await
            .expect("the open stream's answer within 5 s")
            .expect("the open stream is answered in full after the stop");
        assert_eq!(&back, b"hello");
        let ended = tokio::time::timeout(Duration::from_secs(5), agent)
            .await
            .expect("the agent's side ends once its streams are done")
            .unwrap();
        assert!(matches!(ended, Ended::Stopped), "{ended:?}");
    }
}
