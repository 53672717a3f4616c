//! The `http` kind against a server in the test: up with the body expected, failing with
//! 500, slower than the check's timeout; and over TLS with a self-signed certificate that
//! expires in 5 days.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http_body_util::Full;
use hyper::body::Incoming;
use hyper::{Request, Response};
use hyper_util::rt::TokioIo;
use serde_json::json;
use tokio::io::{AsyncRead, AsyncWrite};

use super::*;

/// A server on loopback: `/ok` answers 200 with a known body, `/fail` 500, `/slow` after
/// 30 s. Stops when dropped.
struct Server {
    addr: SocketAddr,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for Server {
    fn drop(&mut self) {
        self.task.abort();
    }
}

impl Server {
    async fn start(tls: Option<tokio_rustls::TlsAcceptor>) -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let addr = listener.local_addr().expect("address");
        let task = tokio::spawn(async move {
            loop {
                let Ok((tcp, _)) = listener.accept().await else {
                    continue;
                };
                let tls = tls.clone();
                tokio::spawn(async move {
                    match tls {
                        Some(acceptor) => {
                            if let Ok(stream) = acceptor.accept(tcp).await {
                                serve(stream).await;
                            }
                        }
                        None => serve(tcp).await,
                    }
                });
            }
        });
        Self { addr, task }
    }

    fn url(&self, scheme: &str, path: &str) -> String {
        format!("{scheme}://localhost:{}{path}", self.addr.port())
    }
}

async fn serve<S: AsyncRead + AsyncWrite + Send + Unpin + 'static>(io: S) {
    let _ = hyper::server::conn::http1::Builder::new()
        .serve_connection(TokioIo::new(io), hyper::service::service_fn(answer))
        .await;
}

async fn answer(req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
    let (status, body) = match req.uri().path() {
        "/ok" => (200, "all good: bosun-ok"),
        "/fail" => (500, "broken"),
        "/slow" => {
            tokio::time::sleep(Duration::from_secs(30)).await;
            (200, "late")
        }
        _ => (404, "no such page"),
    };
    Ok(Response::builder()
        .status(status)
        .body(Full::new(Bytes::from_static(body.as_bytes())))
        .expect("a response"))
}

#[tokio::test(flavor = "multi_thread")]
async fn http_up_failing_and_too_slow() {
    let server = Server::start(None).await;
    let cx = context();
    let http = |id: &str, timeout: u64, extra: serde_json::Value| {
        let mut probe = json!({"kind": "http"});
        probe
            .as_object_mut()
            .unwrap()
            .extend(extra.as_object().unwrap().clone());
        check(id, timeout, probe)
    };

    let up = http(
        "up",
        5,
        json!({"url": server.url("http", "/ok"), "body_pattern": "good: bosun-[a-z]+"}),
    );
    let outcome = run_once(&up, &cx, 1).await;
    assert_status(&outcome, Status::Ok);
    assert!(
        outcome.output.starts_with("HTTP 200 OK"),
        "{}",
        outcome.output
    );
    assert!(
        outcome.output.contains("body matches"),
        "{}",
        outcome.output
    );

    let wrong_body = http(
        "wrong-body",
        5,
        json!({"url": server.url("http", "/ok"), "body_pattern": "^bad$"}),
    );
    let outcome = run_once(&wrong_body, &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("does not match"),
        "{}",
        outcome.output
    );

    let failing = http("failing", 5, json!({"url": server.url("http", "/fail")}));
    let outcome = run_once(&failing, &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("HTTP 500") && outcome.output.contains("expected 2xx or 3xx"),
        "{}",
        outcome.output
    );

    let expected_500 = http(
        "expected-500",
        5,
        json!({"url": server.url("http", "/fail"), "expect_status": [500, 503]}),
    );
    assert_status(&run_once(&expected_500, &cx, 1).await, Status::Ok);

    let slow = http("slow", 2, json!({"url": server.url("http", "/slow")}));
    let outcome = run_once(&slow, &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert_eq!(outcome.output, "timed out after 2s");

    drop(server);
    let down = http("down", 5, json!({"url": up_url_of_closed_port()}));
    let outcome = run_once(&down, &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("cannot connect"),
        "{}",
        outcome.output
    );
}

fn up_url_of_closed_port() -> String {
    format!("http://127.0.0.1:{}/ok", free_port("127.0.0.1"))
}

/// A TLS acceptor with a self-signed certificate for `localhost` that expires `valid_for`
/// from now.
fn self_signed(valid_for: time::Duration) -> tokio_rustls::TlsAcceptor {
    let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).expect("params");
    let now = time::OffsetDateTime::now_utc();
    params.not_before = now - time::Duration::days(30);
    params.not_after = now + valid_for;
    let key = rcgen::KeyPair::generate().expect("a key");
    let cert = params.self_signed(&key).expect("a certificate");
    let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
    let config = rustls::ServerConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .expect("TLS versions")
        .with_no_client_auth()
        .with_single_cert(
            vec![cert.der().clone()],
            rustls::pki_types::PrivatePkcs8KeyDer::from(key.serialize_der()).into(),
        )
        .expect("the server's certificate");
    tokio_rustls::TlsAcceptor::from(Arc::new(config))
}

#[tokio::test(flavor = "multi_thread")]
async fn https_certificate_near_its_expiry_warns() {
    let server = Server::start(Some(self_signed(
        time::Duration::days(5) + time::Duration::hours(1),
    )))
    .await;
    let cx = context();
    let https = |id: &str, insecure: bool, warn: u32| {
        check(
            id,
            5,
            json!({"kind": "http", "url": server.url("https", "/ok"), "insecure": insecure,
                   "cert_expiry_warn_days": warn, "body_pattern": "bosun-ok"}),
        )
    };

    let outcome = run_once(&https("warned", true, 14), &cx, 1).await;
    assert_status(&outcome, Status::Warning);
    assert!(outcome.output.contains("HTTP 200 OK"), "{}", outcome.output);
    assert!(
        outcome.output.contains("certificate expires in 5 days"),
        "{}",
        outcome.output
    );

    let outcome = run_once(&https("not-yet", true, 3), &cx, 1).await;
    assert_status(&outcome, Status::Ok);
    assert!(
        outcome.output.contains("expires in 5 days"),
        "{}",
        outcome.output
    );

    // Verified, a certificate no CA of the node signed is refused.
    let outcome = run_once(&https("verified", false, 14), &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("TLS handshake with localhost"),
        "{}",
        outcome.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn https_expired_certificate_is_critical() {
    let server = Server::start(Some(self_signed(-time::Duration::days(3)))).await;
    let cx = context();
    let expired = check(
        "expired",
        5,
        json!({"kind": "http", "url": server.url("https", "/ok"), "insecure": true}),
    );
    let outcome = run_once(&expired, &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("certificate expired 3 days ago"),
        "{}",
        outcome.output
    );
}
