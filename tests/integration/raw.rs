//! A raw HTTP/1.1 client over TLS for the agent (and one over the engine's socket): for
//! tests that look at exact status codes, headers and bytes.
#![allow(dead_code)]

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
use tokio::net::{TcpStream, UnixStream};

use crate::harness::{engine, Pki};

/// Long enough for a loaded machine, short enough that a hang fails instead of blocking CI.
pub const LIVENESS: Duration = Duration::from_secs(20);
pub const ENGINE_SOCKET: &str = "/var/run/docker.sock";

pub type ReqBody = Full<Bytes>;

pub fn tls_config(pki: &Pki, with_cert: bool) -> Arc<rustls::ClientConfig> {
    bosun_agent::tls::install_crypto_provider();
    let mut roots = rustls::RootCertStore::empty();
    for cert in CertificateDer::pem_file_iter(pki.client.join("ca.pem")).expect("read ca.pem") {
        roots.add(cert.expect("parse ca.pem")).expect("add CA");
    }
    let builder = rustls::ClientConfig::builder().with_root_certificates(roots);
    let mut config = if with_cert {
        let chain = CertificateDer::pem_file_iter(pki.client.join("cert.pem"))
            .expect("read cert.pem")
            .collect::<Result<Vec<_>, _>>()
            .expect("parse cert.pem");
        let key = PrivateKeyDer::from_pem_file(pki.client.join("key.pem")).expect("key.pem");
        builder
            .with_client_auth_cert(chain, key)
            .expect("client certificate and key match")
    } else {
        builder.with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Arc::new(config)
}

pub async fn tls_stream(
    pki: &Pki,
    addr: SocketAddr,
    with_cert: bool,
) -> std::io::Result<tokio_rustls::client::TlsStream<TcpStream>> {
    let tcp = TcpStream::connect(addr).await?;
    let name = ServerName::try_from("localhost").expect("server name");
    tokio_rustls::TlsConnector::from(tls_config(pki, with_cert))
        .connect(name, tcp)
        .await
}

/// A raw HTTP/1.1 connection to the agent, able to follow upgrades.
pub async fn connect(pki: &Pki, addr: SocketAddr, with_cert: bool) -> SendRequest<ReqBody> {
    let tls = tokio::time::timeout(LIVENESS, tls_stream(pki, addr, with_cert))
        .await
        .expect("TLS handshake within the liveness limit")
        .expect("TLS handshake with the agent");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
        .await
        .expect("HTTP/1.1 handshake");
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender
}

/// A raw HTTP/1.1 connection straight to the engine's socket: the ground truth.
pub async fn connect_engine() -> SendRequest<ReqBody> {
    let stream = UnixStream::connect(ENGINE_SOCKET)
        .await
        .expect("connect to the engine's socket");
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .expect("HTTP/1.1 handshake with the engine");
    tokio::spawn(async move {
        let _ = conn.with_upgrades().await;
    });
    sender
}

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

/// Sends and waits for the response head only.
pub async fn send(sender: &mut SendRequest<ReqBody>, req: Request<ReqBody>) -> Response<Incoming> {
    let what = format!("{} {}", req.method(), req.uri());
    tokio::time::timeout(LIVENESS, async {
        sender.ready().await.expect("connection ready");
        sender.send_request(req).await
    })
    .await
    .unwrap_or_else(|_| panic!("{what}: no response head within {LIVENESS:?}"))
    .unwrap_or_else(|e| panic!("{what}: {e}"))
}

pub async fn body_of(resp: Response<Incoming>) -> Bytes {
    tokio::time::timeout(LIVENESS, resp.into_body().collect())
        .await
        .expect("body within the liveness limit")
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

pub fn header_str<'a>(headers: &'a HeaderMap, name: &str) -> Option<&'a str> {
    headers.get(name).map(|v| v.to_str().expect("ASCII header"))
}

/// The harness's blocking helpers (docker CLI, agent start and exit) run here, so that the
/// runtime's other tasks (a fake engine, an open stream) keep going meanwhile.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}

pub fn engine_ok(args: &[&str]) -> String {
    let out = blocking(|| engine(args));
    assert!(
        out.status.success(),
        "docker {} (direct to the engine) failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

pub fn engine_name() -> String {
    engine_ok(&["info", "--format", "{{.Name}}"])
}
