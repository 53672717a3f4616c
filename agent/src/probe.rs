//! The health probe behind `bosun-agent healthcheck`: one HTTPS GET to the local agent.
//!
//! The probe checks liveness, not identity: it talks to 127.0.0.1 and so does not verify
//! the agent's certificate (the agent may not even have a CA).

use std::sync::Arc;
use std::time::Duration;

use http::{Request, StatusCode};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{DigitallySignedStruct, SignatureScheme};

#[derive(Debug, thiserror::Error)]
pub enum ProbeError {
    #[error("{0}: not an https://HOST:PORT/PATH URL")]
    Url(String),
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("{0}")]
    Http(#[from] hyper::Error),
    #[error("no answer within {0} s")]
    Timeout(u64),
    #[error("the agent answered {0}: {1}")]
    Status(StatusCode, String),
}

pub async fn probe(url: &str, timeout: Duration) -> Result<(), ProbeError> {
    tokio::time::timeout(timeout, get(url))
        .await
        .map_err(|_| ProbeError::Timeout(timeout.as_secs()))?
}

async fn get(url: &str) -> Result<(), ProbeError> {
    let bad_url = || ProbeError::Url(url.to_owned());
    let uri: http::Uri = url.parse().map_err(|_| bad_url())?;
    if uri.scheme_str() != Some("https") {
        return Err(bad_url());
    }
    let host = uri.host().ok_or_else(bad_url)?.to_owned();
    let port = uri.port_u16().unwrap_or(9001);
    let path = uri
        .path_and_query()
        .map(|p| p.as_str())
        .unwrap_or("/agent/v1/health");

    let mut config = rustls::ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(AnyServer))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    let name =
        ServerName::try_from(host.trim_matches(['[', ']']).to_owned()).map_err(|_| bad_url())?;
    let tcp = tokio::net::TcpStream::connect((host.trim_matches(['[', ']']), port)).await?;
    let tls = tokio_rustls::TlsConnector::from(Arc::new(config))
        .connect(name, tcp)
        .await?;
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls)).await?;
    tokio::spawn(conn);
    let req = Request::get(path)
        .header(http::header::HOST, host.as_str())
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|_| bad_url())?;
    let resp = sender.send_request(req).await?;
    let status = resp.status();
    let body = resp.into_body().collect().await?.to_bytes();
    if status == StatusCode::OK {
        Ok(())
    } else {
        Err(ProbeError::Status(
            status,
            String::from_utf8_lossy(&body).trim().to_owned(),
        ))
    }
}

/// Accepts any server certificate: for clients that check liveness rather than identity
/// (this probe, and benchmarks and tests against a self-signed console).
#[derive(Debug)]
pub struct AnyServer;

impl ServerCertVerifier for AnyServer {
    fn verify_server_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        Ok(ServerCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn verify_tls13_signature(
        &self,
        _message: &[u8],
        _cert: &CertificateDer<'_>,
        _dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        Ok(HandshakeSignatureValid::assertion())
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        rustls::crypto::aws_lc_rs::default_provider()
            .signature_verification_algorithms
            .supported_schemes()
    }
}
