//! The connections under the console's pooled HTTP clients (agents, Prometheus): TCP to
//! one host and port, then, for HTTPS, TLS verified against given roots, each step within
//! its own timeout. The TLS configuration is made once, with the client; hyper-util's pool
//! keeps the connections.

use std::future::Future;
use std::io;
use std::pin::Pin;
use std::sync::Arc;
use std::task::{Context, Poll};
use std::time::Duration;

use http::Uri;
use hyper_util::client::legacy::connect::{Connected, Connection};
use hyper_util::rt::TokioIo;
use rustls_pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::net::TcpStream;
use tokio_rustls::client::TlsStream;
use tokio_rustls::TlsConnector;

/// How long the TCP connection may take, and then the TLS handshake.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

/// Opens connections to one server. Every connection goes to its address, whatever the
/// request's URI says.
#[derive(Clone)]
pub struct Connector {
    host: Arc<str>,
    port: u16,
    tls: Option<(TlsConnector, ServerName<'static>)>,
    /// An edge endpoint: each connection is a new stream of one of its agents' tunnels.
    tunnel: Option<(Arc<crate::edge::Sessions>, i64)>,
}

impl Connector {
    /// Plain TCP.
    pub fn plain(host: &str, port: u16) -> Self {
        Self {
            host: host.into(),
            port,
            tls: None,
            tunnel: None,
        }
    }

    /// Streams of the tunnels of edge endpoint `endpoint`'s agents.
    pub fn tunnel(sessions: Arc<crate::edge::Sessions>, endpoint: i64) -> Self {
        Self {
            host: "edge".into(),
            port: 0,
            tls: None,
            tunnel: Some((sessions, endpoint)),
        }
    }

    /// TLS over TCP, the server's certificate verified against `roots` for `host`.
    pub fn tls(host: &str, port: u16, roots: rustls::RootCertStore) -> Result<Self, String> {
        bosun_serve::tls::install_crypto_provider();
        let mut tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name =
            ServerName::try_from(host.to_owned()).map_err(|_| format!("bad host {host:?}"))?;
        Ok(Self {
            host: host.into(),
            port,
            tls: Some((TlsConnector::from(Arc::new(tls)), server_name)),
            tunnel: None,
        })
    }

    async fn connect(self) -> io::Result<TokioIo<Stream>> {
        if let Some((sessions, endpoint)) = &self.tunnel {
            let opener = sessions.opener(*endpoint).ok_or_else(|| {
                io::Error::new(
                    io::ErrorKind::NotConnected,
                    "no agent of this edge endpoint is connected",
                )
            })?;
            let stream = tokio::time::timeout(CONNECT_TIMEOUT, opener.open())
                .await
                .map_err(|_| {
                    io::Error::new(
                        io::ErrorKind::TimedOut,
                        format!("no tunnel stream within {CONNECT_TIMEOUT:?}"),
                    )
                })??;
            return Ok(TokioIo::new(Stream::Tunnel(Box::new(stream))));
        }
        let timed_out = |what: &str| {
            io::Error::new(
                io::ErrorKind::TimedOut,
                format!("no {what} within {CONNECT_TIMEOUT:?}"),
            )
        };
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((&*self.host, self.port)),
        )
        .await
        .map_err(|_| timed_out("connection"))??;
        let _ = tcp.set_nodelay(true);
        let Some((tls, name)) = self.tls else {
            return Ok(TokioIo::new(Stream::Plain(tcp)));
        };
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, tls.connect(name, tcp))
            .await
            .map_err(|_| timed_out("TLS handshake"))??;
        Ok(TokioIo::new(Stream::Tls(Box::new(tls))))
    }
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<Stream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect())
    }
}

/// A client's error and its causes, as one line: `A: B: C`.
pub fn describe(error: &dyn std::error::Error) -> String {
    let mut text = error.to_string();
    let mut next = error.source();
    while let Some(cause) = next {
        text.push_str(": ");
        text.push_str(&cause.to_string());
        next = cause.source();
    }
    text
}

/// One connection, as the pool holds it.
pub enum Stream {
    Plain(TcpStream),
    Tls(Box<TlsStream<TcpStream>>),
    Tunnel(Box<bosun_serve::tunnel::TunnelStream>),
}

impl Connection for Stream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for Stream {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_read(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
            Stream::Tunnel(s) => Pin::new(s.as_mut()).poll_read(cx, buf),
        }
    }
}

impl AsyncWrite for Stream {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write(cx, buf),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
            Stream::Tunnel(s) => Pin::new(s.as_mut()).poll_write(cx, buf),
        }
    }

    fn poll_write_vectored(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_write_vectored(cx, bufs),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
            Stream::Tunnel(s) => Pin::new(s.as_mut()).poll_write_vectored(cx, bufs),
        }
    }

    fn is_write_vectored(&self) -> bool {
        match self {
            Stream::Plain(s) => s.is_write_vectored(),
            Stream::Tls(s) => s.is_write_vectored(),
            Stream::Tunnel(s) => s.is_write_vectored(),
        }
    }

    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_flush(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_flush(cx),
            Stream::Tunnel(s) => Pin::new(s.as_mut()).poll_flush(cx),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match self.get_mut() {
            Stream::Plain(s) => Pin::new(s).poll_shutdown(cx),
            Stream::Tls(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
            Stream::Tunnel(s) => Pin::new(s.as_mut()).poll_shutdown(cx),
        }
    }
}
