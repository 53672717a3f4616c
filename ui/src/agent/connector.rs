//! The connections under an endpoint's pooled client: TCP to the endpoint's host and port,
//! then TLS verified against the cluster CA, each step within its own timeout. The TLS
//! configuration is made once, with the client; hyper-util's pool keeps the connections.

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

/// Opens connections to one agent. Every connection goes to the endpoint's address,
/// whatever the request's URI says.
#[derive(Clone)]
pub(super) struct Connector {
    host: Arc<str>,
    port: u16,
    server_name: ServerName<'static>,
    tls: TlsConnector,
}

impl Connector {
    pub(super) fn new(host: &str, port: u16, roots: rustls::RootCertStore) -> Result<Self, String> {
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
            server_name,
            tls: TlsConnector::from(Arc::new(tls)),
        })
    }

    async fn connect(self) -> io::Result<TokioIo<AgentStream>> {
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            TcpStream::connect((&*self.host, self.port)),
        )
        .await
        .map_err(|_| timed_out(format!("no connection within {CONNECT_TIMEOUT:?}")))??;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(CONNECT_TIMEOUT, self.tls.connect(self.server_name, tcp))
            .await
            .map_err(|_| timed_out("no TLS handshake within 5 s".into()))??;
        Ok(TokioIo::new(AgentStream(tls)))
    }
}

fn timed_out(message: String) -> io::Error {
    io::Error::new(io::ErrorKind::TimedOut, message)
}

impl tower::Service<Uri> for Connector {
    type Response = TokioIo<AgentStream>;
    type Error = io::Error;
    type Future = Pin<Box<dyn Future<Output = io::Result<Self::Response>> + Send>>;

    fn poll_ready(&mut self, _: &mut Context<'_>) -> Poll<io::Result<()>> {
        Poll::Ready(Ok(()))
    }

    fn call(&mut self, _uri: Uri) -> Self::Future {
        Box::pin(self.clone().connect())
    }
}

/// One TLS connection to an agent, as the pool holds it.
pub(super) struct AgentStream(TlsStream<TcpStream>);

impl Connection for AgentStream {
    fn connected(&self) -> Connected {
        Connected::new()
    }
}

impl AsyncRead for AgentStream {
    fn poll_read(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_read(cx, buf)
    }
}

impl AsyncWrite for AgentStream {
    fn poll_write(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write(cx, buf)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[io::IoSlice<'_>],
    ) -> Poll<io::Result<usize>> {
        Pin::new(&mut self.0).poll_write_vectored(cx, bufs)
    }

    fn is_write_vectored(&self) -> bool {
        self.0.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(&mut self.0).poll_shutdown(cx)
    }
}
