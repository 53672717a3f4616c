//! A raw HTTP/1.1 client over TLS (and one over the engine's socket): for tests that look at
//! exact status codes, headers and bytes. Every wait is bounded, so that a hang fails the
//! test instead of blocking it.

use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use serde_json::Value;
use tokio::io::{AsyncRead, AsyncWrite};
use tokio::net::{TcpStream, UnixStream};

use crate::Pki;

/// Long enough for a loaded machine, short enough that a hang fails instead of blocking CI.
pub const LIVENESS: Duration = Duration::from_secs(20);
pub const ENGINE_SOCKET: &str = "/var/run/docker.sock";

pub type ReqBody = Full<Bytes>;

/// A client configuration that trusts the CA certificates of `ca_pem` and, given a
/// certificate chain and its key (PEM), shows them; speaking HTTP/1.1.
pub fn verifying(ca_pem: &[u8], identity: Option<(&[u8], &[u8])>) -> Arc<rustls::ClientConfig> {
    bosun_agent::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_slice_iter(ca_pem) {
        roots
            .add(cert.expect("parse the CA certificate"))
            .expect("add CA");
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let config = match identity {
        Some((chain, key)) => {
            let chain = CertificateDer::pem_slice_iter(chain)
                .collect::<Result<Vec<_>, _>>()
                .expect("parse the client certificate");
            let key = PrivateKeyDer::from_pem_slice(key).expect("parse the client key");
            builder
                .with_client_auth_cert(chain, key)
                .expect("client certificate and key match")
        }
        None => builder.with_no_client_auth(),
    };
    http11(config)
}

/// A client configuration that takes any server certificate (the console's own is
/// self-signed) and shows none; speaking HTTP/1.1.
pub fn any_server() -> Arc<rustls::ClientConfig> {
    bosun_agent::tls::install_crypto_provider();
    let config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(bosun_agent::probe::AnyServer))
        .with_no_client_auth();
    http11(config)
}

fn http11(mut config: rustls::ClientConfig) -> Arc<rustls::ClientConfig> {
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

/// A TLS connection to `addr` as `localhost`, with `tls`.
pub async fn tls_stream_with(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    tokio_rustls::TlsConnector::from(tls)
        .connect(name, tcp)
        .await
}

/// A TLS connection to an agent of `pki`'s cluster (see [`Pki::client_tls`]).
pub async fn tls_stream(
    pki: &Pki,
    addr: SocketAddr,
    with_cert: bool,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    tls_stream_with(addr, pki.client_tls(with_cert)).await
}

/// An HTTP/1.1 client on `io`, its connection driven (and able to follow upgrades) by a
/// task of its own.
pub async fn handshake<IO>(io: IO) -> SendRequest<ReqBody>
where
    IO: AsyncRead + AsyncWrite + Unpin + Send + 'static,
{
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender
}

/// A raw HTTP/1.1 connection over TLS to `addr`, with `tls`, able to follow upgrades.
pub async fn connect_with(
    addr: SocketAddr,
    tls: Arc<rustls::ClientConfig>,
) -> SendRequest<ReqBody> {
    let tls = tokio::time::timeout(LIVENESS, tls_stream_with(addr, tls))
        .await
        .expect("TLS handshake within the liveness limit")
        .unwrap_or_else(|e| panic!("TLS handshake with {addr}: {e}"));
    handshake(tls).await
}

/// A raw HTTP/1.1 connection to an agent of `pki`'s cluster, able to follow upgrades.
pub async fn connect(pki: &Pki, addr: SocketAddr, with_cert: bool) -> SendRequest<ReqBody> {
    connect_with(addr, pki.client_tls(with_cert)).await
}

/// A raw HTTP/1.1 connection straight to the engine's socket: the ground truth.
pub async fn connect_engine() -> SendRequest<ReqBody> {
    let stream = UnixStream::connect(ENGINE_SOCKET)
        .await
        .expect("connect to the engine's socket");
    handshake(stream).await
}

/// `METHOD path` with `Host: localhost`.
pub fn request(method: &str, path: &str) -> http::request::Builder {
    Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "localhost")
}

pub fn empty(builder: http::request::Builder) -> Request<ReqBody> {
    builder.body(Full::default()).expect("request")
}

pub fn with_json(builder: http::request::Builder, body: &Value) -> Request<ReqBody> {
    builder
        .header(header::CONTENT_TYPE, "application/json")
        .body(Full::new(Bytes::from(body.to_string())))
        .expect("request")
}

/// Sends and waits for the response head only, for at most [`LIVENESS`].
pub async fn send(sender: &mut SendRequest<ReqBody>, req: Request<ReqBody>) -> Response<Incoming> {
    send_within(sender, req, LIVENESS).await
}

/// [`send`], for at most `limit`.
pub async fn send_within(
    sender: &mut SendRequest<ReqBody>,
    req: Request<ReqBody>,
    limit: Duration,
) -> Response<Incoming> {
    let what = format!("{} {}", req.method(), req.uri());
    tokio::time::timeout(limit, async {
        sender.ready().await.expect("connection ready");
        sender.send_request(req).await
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: no response head within {limit:?}"))
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

/// The whole body, for at most [`LIVENESS`].
pub async fn body_of(resp: Response<Incoming>) -> Bytes {
    body_within(resp, LIVENESS).await
}

/// [`body_of`], for at most `limit`.
pub async fn body_within(resp: Response<Incoming>, limit: Duration) -> Bytes {
    tokio::time::timeout(limit, resp.into_body().collect())
        .await
        .unwrap_or_else(|_| panic!("no whole body within {limit:?}"))
        .expect("body")
        .to_bytes()
}

/// Sends and reads the whole answer.
pub async fn roundtrip(
    sender: &mut SendRequest<ReqBody>,
    req: Request<ReqBody>,
) -> (http::response::Parts, Bytes) {
    let (parts, body) = send(sender, req).await.into_parts();
    let bytes = body_of(Response::from_parts(parts.clone(), body)).await;
    (parts, bytes)
}

pub fn json_of(bytes: &[u8]) -> Value {
    serde_json::from_slice(bytes)
        .unwrap_or_else(|e| panic!("not JSON ({e}): {}", String::from_utf8_lossy(bytes)))
}

/// The `message` of a Docker-shaped JSON error, if the body is one.
pub fn message_of(bytes: &[u8]) -> Option<String> {
    serde_json::from_slice::<Value>(bytes)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
}

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}
