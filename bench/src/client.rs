//! HTTP/1.1 connections to the targets: the engine's unix socket, HAProxy over TCP, and the
//! agent over TLS with a client certificate or a bearer token.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::header::HeaderValue;
use hyper::{header, Method, Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};
use tokio::task::JoinHandle;
use tokio_rustls::TlsConnector;

/// Upper bound for one request and its whole body, so a stuck target cannot hang a run.
pub const REQUEST_TIMEOUT: Duration = Duration::from_secs(30);
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);

/// How to reach a target; cloned into every load task.
#[derive(Clone)]
pub enum Dial {
    Unix(PathBuf),
    Tcp(SocketAddr),
    Tls {
        addr: SocketAddr,
        connector: TlsConnector,
        name: ServerName<'static>,
    },
    /// `dial`, with `Authorization: <authorization>` on every request sent through
    /// [`Conn`]. Raw streams from [`Dial::connect_stream`] carry only the transport.
    Bearer {
        dial: Box<Dial>,
        authorization: HeaderValue,
    },
}

/// Any byte stream a target is reached over.
pub trait Io: AsyncRead + AsyncWrite + Unpin + Send {}
impl<T: AsyncRead + AsyncWrite + Unpin + Send> Io for T {}

impl Dial {
    /// An HTTP/1.1 connection driven by hyper.
    pub async fn connect(&self) -> Result<Conn> {
        let mut conn = handshake(self.connect_stream().await?).await?;
        if let Dial::Bearer { authorization, .. } = self {
            conn.authorization = Some(authorization.clone());
        }
        Ok(conn)
    }

    /// The same target, every request authenticated by `token` instead of (or on top of)
    /// what the transport presents; the agent decides by the token when there is one.
    pub fn with_bearer(&self, token: &str) -> Result<Dial> {
        let authorization = HeaderValue::from_str(&format!("Bearer {}", token.trim()))
            .context("the token is not a valid header value")?;
        Ok(Dial::Bearer {
            dial: Box::new(self.transport().clone()),
            authorization,
        })
    }

    /// The dial without its token.
    fn transport(&self) -> &Dial {
        match self {
            Dial::Bearer { dial, .. } => dial.transport(),
            other => other,
        }
    }

    /// The raw stream (TLS already established), for reading a response without hyper.
    pub async fn connect_stream(&self) -> Result<Box<dyn Io>> {
        tokio::time::timeout(CONNECT_TIMEOUT, self.open())
            .await
            .with_context(|| format!("connecting to {self} timed out"))?
            .with_context(|| format!("connecting to {self}"))
    }

    async fn open(&self) -> Result<Box<dyn Io>> {
        Ok(match self.transport() {
            Dial::Unix(path) => Box::new(UnixStream::connect(path).await?),
            Dial::Tcp(addr) => Box::new(tcp(*addr).await?),
            Dial::Tls {
                addr,
                connector,
                name,
            } => {
                let stream = tcp(*addr).await?;
                Box::new(connector.connect(name.clone(), stream).await?)
            }
            // transport() has taken every token off.
            Dial::Bearer { .. } => bail!("{self}: no transport under the token"),
        })
    }
}

/// The negotiated TLS version and cipher suite of a fresh connection, for the report.
pub async fn tls_session(dial: &Dial) -> Result<String> {
    let Dial::Tls {
        addr,
        connector,
        name,
    } = dial.transport()
    else {
        bail!("{dial} is not a TLS target");
    };
    let stream = tcp(*addr).await?;
    let tls = tokio::time::timeout(CONNECT_TIMEOUT, connector.connect(name.clone(), stream))
        .await
        .with_context(|| format!("TLS handshake with {dial} timed out"))??;
    let (_, session) = tls.get_ref();
    let version = session
        .protocol_version()
        .map(|v| format!("{v:?}"))
        .unwrap_or_default();
    let suite = session
        .negotiated_cipher_suite()
        .map(|s| format!("{:?}", s.suite()))
        .unwrap_or_default();
    Ok(format!("{version} {suite}"))
}

impl std::fmt::Display for Dial {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Dial::Unix(path) => write!(f, "unix://{}", path.display()),
            Dial::Tcp(addr) => write!(f, "http://{addr}"),
            Dial::Tls { addr, .. } => write!(f, "https://{addr}"),
            Dial::Bearer { dial, .. } => write!(f, "{dial} with a bearer token"),
        }
    }
}

async fn tcp(addr: SocketAddr) -> Result<TcpStream> {
    let stream = TcpStream::connect(addr).await?;
    // Without this, Nagle delays small requests on a kept-alive connection and skews latency.
    stream.set_nodelay(true)?;
    Ok(stream)
}

async fn handshake(io: Box<dyn Io>) -> Result<Conn> {
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io)).await?;
    let driver = tokio::spawn(async move {
        // The connection's end is observed through the sender, which reports its error.
        let _ = conn.await;
    });
    Ok(Conn {
        sender,
        driver,
        authorization: None,
    })
}

/// One kept-alive HTTP/1.1 connection; dropping it closes the socket.
pub struct Conn {
    sender: SendRequest<Full<Bytes>>,
    driver: JoinHandle<()>,
    /// Sent with every request, when the dial carries a token.
    authorization: Option<HeaderValue>,
}

impl Drop for Conn {
    fn drop(&mut self) {
        self.driver.abort();
    }
}

impl Conn {
    /// Sends a request and returns the response head; the caller reads the body.
    pub async fn send(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<Response<Incoming>> {
        let mut request = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        if let Some(authorization) = &self.authorization {
            request = request.header(header::AUTHORIZATION, authorization.clone());
        }
        if body.is_some() {
            request = request.header(header::CONTENT_TYPE, "application/json");
        }
        let request = request.body(Full::new(body.unwrap_or_default()))?;
        self.sender.ready().await?;
        Ok(self.sender.send_request(request).await?)
    }

    /// GET that must answer 200; returns the whole body. Bounded by [`REQUEST_TIMEOUT`].
    pub async fn get_ok(&mut self, path: &str) -> Result<Bytes> {
        let (status, body) =
            tokio::time::timeout(REQUEST_TIMEOUT, self.call(Method::GET, path, None))
                .await
                .with_context(|| format!("GET {path} timed out"))??;
        if status != StatusCode::OK {
            bail!("GET {path}: {status}: {}", snippet(&body));
        }
        Ok(body)
    }

    /// Any request, returning status and whole body. Bounded by [`REQUEST_TIMEOUT`].
    pub async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<Bytes>,
    ) -> Result<(StatusCode, Bytes)> {
        let fut = async {
            let response = self.send(method, path, body).await?;
            let status = response.status();
            let body = response.into_body().collect().await?.to_bytes();
            anyhow::Ok((status, body))
        };
        tokio::time::timeout(REQUEST_TIMEOUT, fut)
            .await
            .with_context(|| format!("{path} timed out"))?
    }
}

/// The start of a body, for error messages.
pub fn snippet(body: &[u8]) -> String {
    let text = String::from_utf8_lossy(&body[..body.len().min(300)]);
    text.trim().to_owned()
}

/// Client side of the agent's mutual TLS, from the files `bosun-agent certs client` writes.
pub fn tls_connector(dir: &Path) -> Result<TlsConnector> {
    let roots = roots(&dir.join("ca.pem"))?;
    let cert = dir.join("cert.pem");
    let chain = CertificateDer::pem_file_iter(&cert)
        .with_context(|| format!("reading {}", cert.display()))?
        .collect::<Result<Vec<_>, _>>()
        .with_context(|| format!("parsing {}", cert.display()))?;
    let key = dir.join("key.pem");
    let key =
        PrivateKeyDer::from_pem_file(&key).with_context(|| format!("reading {}", key.display()))?;

    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots)
        .with_client_auth_cert(chain, key)?;
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

/// Client side of the agent's TLS without a client certificate, for clients that present
/// a bearer token instead; `ca` is the cluster CA's certificate.
pub fn tls_connector_without_certificate(ca: &Path) -> Result<TlsConnector> {
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let mut config = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()?
        .with_root_certificates(roots(ca)?)
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(TlsConnector::from(Arc::new(config)))
}

fn roots(ca: &Path) -> Result<rustls::RootCertStore> {
    let mut roots = rustls::RootCertStore::empty();
    for cert in
        CertificateDer::pem_file_iter(ca).with_context(|| format!("reading {}", ca.display()))?
    {
        roots.add(cert.with_context(|| format!("parsing {}", ca.display()))?)?;
    }
    Ok(roots)
}
