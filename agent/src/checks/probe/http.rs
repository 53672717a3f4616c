//! The `http` kind: one request, its status against the expected ones, its body (the first
//! 64 KiB) against a pattern, and for https the server certificate's expiry. The TLS
//! handshake is done here, under hyper's HTTP/1.1 client, so that the certificate the
//! server showed can be read.

use std::sync::{Arc, OnceLock};

use bosun_serve::checks::{HttpProbe, Status};
use http::header::{HeaderName, HeaderValue};
use http::{Method, Request, Uri};
use http_body_util::{BodyExt, Empty};
use hyper_util::rt::TokioIo;
use rustls::pki_types::ServerName;
use tokio::io::{AsyncRead, AsyncWrite};

use super::Outcome;

/// How much of the body is read and matched.
const BODY_LIMIT: usize = 64 * 1024;
const DAY: i64 = 86_400;

pub(super) async fn run(p: &HttpProbe) -> Outcome {
    match request(p).await {
        Ok(outcome) | Err(outcome) => outcome,
    }
}

async fn request(p: &HttpProbe) -> Result<Outcome, Outcome> {
    let uri: Uri = p
        .url
        .parse()
        .map_err(|e| Outcome::unknown(format!("url {:?}: {e}", p.url)))?;
    let https = match uri.scheme_str() {
        Some("https") => true,
        Some("http") => false,
        _ => {
            return Err(Outcome::unknown(format!(
                "url {:?}: http:// or https://",
                p.url
            )))
        }
    };
    let host = uri
        .host()
        .ok_or_else(|| Outcome::unknown(format!("url {:?}: no host", p.url)))?;
    let port = uri.port_u16().unwrap_or(if https { 443 } else { 80 });
    let method = Method::from_bytes(p.method.as_bytes())
        .map_err(|_| Outcome::unknown(format!("method {:?} is not an HTTP method", p.method)))?;
    let path = uri.path_and_query().map_or("/", |pq| pq.as_str());
    let mut req = Request::builder()
        .method(method)
        .uri(path)
        .header(
            http::header::HOST,
            uri.authority().map_or(host, |a| a.as_str()),
        )
        .header(
            http::header::USER_AGENT,
            concat!("bosun-agent/", env!("CARGO_PKG_VERSION"), " (check)"),
        )
        .body(Empty::<bytes::Bytes>::new())
        .map_err(|e| Outcome::unknown(format!("url {:?}: {e}", p.url)))?;
    for (name, value) in &p.headers {
        let name = HeaderName::from_bytes(name.as_bytes())
            .map_err(|_| Outcome::unknown(format!("header {name:?} is not a header name")))?;
        let value = HeaderValue::from_str(value)
            .map_err(|_| Outcome::unknown(format!("header {name}: not a header value")))?;
        req.headers_mut().insert(name, value);
    }
    let pattern = p
        .body_pattern
        .as_deref()
        .map(regex::Regex::new)
        .transpose()
        .map_err(|e| Outcome::unknown(format!("body_pattern is not a regular expression: {e}")))?;

    let tcp = super::connect(host, port)
        .await
        .map_err(Outcome::critical)?;
    let mut findings = Vec::new();
    let (status, body) = if https {
        let name = ServerName::try_from(host.trim_matches(['[', ']']).to_owned())
            .map_err(|_| Outcome::unknown(format!("url {:?}: not a TLS server name", p.url)))?;
        let config = client_config(p.insecure)?;
        let tls = tokio_rustls::TlsConnector::from(config)
            .connect(name, tcp)
            .await
            .map_err(|e| Outcome::critical(tls_failure(host, port, &e)))?;
        let certificate = tls
            .get_ref()
            .1
            .peer_certificates()
            .and_then(|chain| chain.first())
            .map(|der| expiry(der.as_ref(), p.cert_expiry_warn_days));
        match certificate {
            Some(Ok(finding)) => findings.push(finding),
            Some(Err(e)) => findings.push((Status::Unknown, e)),
            None => findings.push((Status::Unknown, "the server showed no certificate".into())),
        }
        exchange(tls, req).await?
    } else {
        exchange(tcp, req).await?
    };

    let reason = status.canonical_reason().unwrap_or("");
    let status_ok = if p.expect_status.is_empty() {
        status.is_success() || status.is_redirection()
    } else {
        p.expect_status.contains(&status.as_u16())
    };
    let expected = if p.expect_status.is_empty() {
        "2xx or 3xx".to_owned()
    } else {
        p.expect_status
            .iter()
            .map(u16::to_string)
            .collect::<Vec<_>>()
            .join(", ")
    };
    let said = format!("HTTP {} {reason}", status.as_u16());
    if status_ok {
        findings.insert(0, (Status::Ok, said.trim_end().to_owned()));
    } else {
        findings.insert(
            0,
            (
                Status::Critical,
                format!("{}, expected {expected}", said.trim_end()),
            ),
        );
    }
    if let Some(pattern) = pattern {
        let text = String::from_utf8_lossy(&body);
        if pattern.is_match(&text) {
            findings.insert(1, (Status::Ok, format!("body matches /{pattern}/")));
        } else {
            findings.insert(
                1,
                (
                    Status::Critical,
                    format!(
                        "body does not match /{pattern}/ (first {} bytes read)",
                        body.len()
                    ),
                ),
            );
        }
    }
    let status = findings.iter().map(|(s, _)| *s).max().unwrap_or(Status::Ok);
    let output = findings
        .into_iter()
        .map(|(_, text)| text)
        .collect::<Vec<_>>()
        .join("; ");
    Ok(Outcome::new(status, output))
}

/// Sends the request on a fresh HTTP/1.1 connection; its status and the first
/// [`BODY_LIMIT`] bytes of its body.
async fn exchange<S>(
    io: S,
    req: Request<Empty<bytes::Bytes>>,
) -> Result<(http::StatusCode, Vec<u8>), Outcome>
where
    S: AsyncRead + AsyncWrite + Send + Unpin + 'static,
{
    let failed = |e: hyper::Error| Outcome::critical(format!("the request failed: {e}"));
    let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(io))
        .await
        .map_err(failed)?;
    let driving = tokio::spawn(conn);
    let result = async {
        let resp = sender.send_request(req).await.map_err(failed)?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut read = Vec::new();
        while read.len() < BODY_LIMIT {
            match body.frame().await {
                None => break,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        let room = BODY_LIMIT - read.len();
                        read.extend_from_slice(&data[..data.len().min(room)]);
                    }
                }
                Some(Err(e)) => {
                    return Err(Outcome::critical(format!(
                        "HTTP {}: the body broke off: {e}",
                        status.as_u16()
                    )))
                }
            }
        }
        Ok((status, read))
    }
    .await;
    // Whatever is left of the body is not wanted: the connection goes.
    driving.abort();
    result
}

/// The certificate's expiry as a finding: expired is critical, within `warn_days` a
/// warning.
fn expiry(der: &[u8], warn_days: Option<u32>) -> Result<(Status, String), String> {
    let (_, cert) = x509_parser::parse_x509_certificate(der)
        .map_err(|e| format!("the server's certificate could not be read: {e}"))?;
    let not_after = cert.validity().not_after.timestamp();
    let now = time::OffsetDateTime::now_utc().unix_timestamp();
    let date = time::OffsetDateTime::from_unix_timestamp(not_after)
        .ok()
        .and_then(|t| {
            t.format(&time::format_description::well_known::Rfc3339)
                .ok()
        })
        .unwrap_or_else(|| not_after.to_string());
    let left = not_after - now;
    if left <= 0 {
        let ago = -left / DAY;
        return Ok((
            Status::Critical,
            format!("certificate expired {ago} days ago ({date})"),
        ));
    }
    let days = left / DAY;
    let status = match warn_days {
        Some(warn) if left < i64::from(warn) * DAY => Status::Warning,
        _ => Status::Ok,
    };
    let within = match (status, warn_days) {
        (Status::Warning, Some(warn)) => format!(", within the {warn} days warned of"),
        _ => String::new(),
    };
    Ok((
        status,
        format!("certificate expires in {days} days ({date}){within}"),
    ))
}

/// Why a handshake failed, with a hint where the agent trusts no CA at all.
fn tls_failure(host: &str, port: u16, e: &std::io::Error) -> String {
    let mut text = format!("TLS handshake with {host}:{port} failed: {e}");
    if crate::tls::node_roots().1 == 0 {
        text.push_str(
            " (the agent found no CA certificates: set SSL_CERT_DIR or SSL_CERT_FILE, or insecure)",
        );
    }
    text
}

/// The TLS client: verifying against the node's CAs, or (`insecure`) accepting any
/// certificate. Made once each.
fn client_config(insecure: bool) -> Result<Arc<rustls::ClientConfig>, Outcome> {
    static VERIFYING: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    static ANY: OnceLock<Arc<rustls::ClientConfig>> = OnceLock::new();
    let slot = if insecure { &ANY } else { &VERIFYING };
    if let Some(config) = slot.get() {
        return Ok(config.clone());
    }
    let provider = rustls::crypto::CryptoProvider::get_default()
        .cloned()
        .unwrap_or_else(|| Arc::new(rustls::crypto::aws_lc_rs::default_provider()));
    let builder = rustls::ClientConfig::builder_with_provider(provider)
        .with_safe_default_protocol_versions()
        .map_err(|e| Outcome::unknown(format!("TLS client: {e}")))?;
    let mut config = if insecure {
        builder
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(crate::probe::AnyServer))
            .with_no_client_auth()
    } else {
        builder
            .with_root_certificates(crate::tls::node_roots().0.clone())
            .with_no_client_auth()
    };
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    Ok(slot.get_or_init(|| Arc::new(config)).clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cert_expiring_in(secs: i64) -> Vec<u8> {
        let mut params = rcgen::CertificateParams::new(vec!["localhost".into()]).unwrap();
        params.not_before = time::OffsetDateTime::now_utc() - time::Duration::days(30);
        params.not_after = time::OffsetDateTime::now_utc() + time::Duration::seconds(secs);
        let key = rcgen::KeyPair::generate().unwrap();
        params.self_signed(&key).unwrap().der().to_vec()
    }

    #[test]
    fn expiry_reads_days_left_and_warns_within() {
        let der = cert_expiring_in(5 * DAY + 60);
        let (status, text) = expiry(&der, Some(14)).unwrap();
        assert_eq!(status, Status::Warning, "{text}");
        assert!(text.contains("expires in 5 days"), "{text}");
        let (status, _) = expiry(&der, Some(3)).unwrap();
        assert_eq!(status, Status::Ok);
        let (status, _) = expiry(&der, None).unwrap();
        assert_eq!(status, Status::Ok);
        let (status, text) = expiry(&cert_expiring_in(-2 * DAY - 60), Some(14)).unwrap();
        assert_eq!(status, Status::Critical, "{text}");
        assert!(text.contains("expired 2 days ago"), "{text}");
        assert!(expiry(b"not a certificate", None).is_err());
    }
}
