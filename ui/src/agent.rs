//! Talking to a cluster's agent: HTTPS verified against the cluster CA, with a short-lived
//! token naming the console user, signed with the cluster secret or the console's key.

use std::sync::Arc;
use std::time::Duration;

use base64::Engine as _;
use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, ServerName};
use serde_json::Value;

use bosun_agent::auth::Claims;
use bosun_agent::secret::Secret;

use crate::auth::Role;
use crate::profiles::ProfileMap;
use crate::store::Endpoint;

/// How long a token the console mints is valid.
const TOKEN_TTL: u64 = 60;
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error("endpoint {0}")]
    Config(String),
    #[error("cannot reach the agent at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The agent (or the engine behind it) answered with an error: passed on as is.
    #[error("{message}")]
    Status { status: StatusCode, message: String },
    #[error("the agent's answer: {0}")]
    Bad(String),
}

/// The console's own Ed25519 key, for endpoints that trust it instead of sharing the
/// cluster secret.
pub struct ConsoleKey {
    encoding: EncodingKey,
    public_pem: String,
}

impl ConsoleKey {
    /// A new key, as PKCS#8 DER.
    pub fn generate() -> Result<Vec<u8>, String> {
        let rng = aws_lc_rs::rand::SystemRandom::new();
        aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .map(|doc| doc.as_ref().to_vec())
            .map_err(|e| e.to_string())
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        use aws_lc_rs::signature::KeyPair as _;
        let pair =
            aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(der).map_err(|e| e.to_string())?;
        // SubjectPublicKeyInfo for Ed25519: a fixed prefix and the 32-byte key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let b64 = base64::engine::general_purpose::STANDARD.encode(&spki);
        Ok(Self {
            encoding: EncodingKey::from_ed_der(der),
            public_pem: format!("-----BEGIN PUBLIC KEY-----\n{b64}\n-----END PUBLIC KEY-----\n"),
        })
    }

    pub fn public_pem(&self) -> &str {
        &self.public_pem
    }
}

#[derive(Debug, Clone, Copy, Default)]
pub struct SendOptions<'a> {
    pub target: Option<&'a str>,
    pub upgrade: bool,
}

/// One endpoint's agent, ready to be asked.
pub struct AgentClient {
    url: String,
    host: String,
    port: u16,
    server_name: ServerName<'static>,
    tls: Arc<rustls::ClientConfig>,
    signer: Signer,
    profiles: ProfileMap,
}

enum Signer {
    Secret(Secret),
    Key(Arc<ConsoleKey>),
}

/// Checks an endpoint's URL: `https://HOST[:PORT]`, nothing after.
pub fn parse_url(url: &str) -> Result<(String, u16), String> {
    let rest = url
        .strip_prefix("https://")
        .ok_or("the URL must start with https://")?;
    let rest = rest.trim_end_matches('/');
    if rest.is_empty() || rest.contains('/') || rest.contains('@') {
        return Err("the URL must be https://HOST:PORT".into());
    }
    let (host, port) = match rest.rsplit_once(':') {
        Some((h, p)) if !h.ends_with(']') || h.starts_with('[') => match p.parse::<u16>() {
            Ok(port) => (h.to_owned(), port),
            Err(_) if rest.starts_with('[') && rest.ends_with(']') => (rest.to_owned(), 9001),
            Err(_) => return Err(format!("bad port {p:?}")),
        },
        _ => (rest.to_owned(), 9001),
    };
    Ok((host.trim_matches(['[', ']']).to_owned(), port))
}

/// Checks a CA certificate PEM and makes the trust store for it.
pub fn trust(ca_pem: &str) -> Result<rustls::RootCertStore, String> {
    let mut roots = rustls::RootCertStore::empty();
    let mut n = 0;
    for cert in CertificateDer::pem_slice_iter(ca_pem.as_bytes()) {
        let cert = cert.map_err(|e| format!("the CA certificate: {e}"))?;
        roots
            .add(cert)
            .map_err(|e| format!("the CA certificate: {e}"))?;
        n += 1;
    }
    if n == 0 {
        return Err("no certificate in the CA PEM".into());
    }
    Ok(roots)
}

impl AgentClient {
    pub fn new(endpoint: &Endpoint, key: &Arc<ConsoleKey>) -> Result<Self, AgentError> {
        let (host, port) = parse_url(&endpoint.url).map_err(AgentError::Config)?;
        let roots = trust(&endpoint.ca_pem).map_err(AgentError::Config)?;
        bosun_agent::tls::install_crypto_provider();
        let mut tls = rustls::ClientConfig::builder()
            .with_root_certificates(roots)
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let server_name = ServerName::try_from(host.clone())
            .map_err(|_| AgentError::Config(format!("bad host {host:?}")))?;
        let signer = match (endpoint.auth.as_str(), &endpoint.secret) {
            ("secret", Some(secret)) => Signer::Secret(
                Secret::from_text(secret).map_err(|e| AgentError::Config(e.to_string()))?,
            ),
            ("key", _) => Signer::Key(Arc::clone(key)),
            _ => return Err(AgentError::Config("has no secret".into())),
        };
        Ok(Self {
            url: endpoint.url.clone(),
            host,
            port,
            server_name,
            tls: Arc::new(tls),
            signer,
            profiles: endpoint.profiles.clone(),
        })
    }

    /// What a token for `user` with `role` claims: the profile the endpoint maps them to,
    /// or else the role's scope.
    fn claims(&self, user: &str, role: Role) -> Claims {
        let now = crate::store::now_secs() as u64;
        let profile = self.profiles.pick(user, role).map(str::to_owned);
        Claims {
            sub: user.to_owned(),
            exp: now + TOKEN_TTL,
            iat: Some(now),
            nbf: None,
            // A token that names a profile carries no scope, as the agent's own tokens
            // do: an agent that knows no profiles refuses it rather than reading the
            // role's wider scope from it.
            scope: profile.is_none().then(|| role.agent_scope()),
            profile,
        }
    }

    fn token(&self, user: &str, role: Role) -> Result<String, AgentError> {
        let claims = self.claims(user, role);
        let signed = match &self.signer {
            Signer::Secret(secret) => bosun_agent::auth::sign(secret, &claims),
            Signer::Key(key) => {
                jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key.encoding)
            }
        };
        signed.map_err(|e| AgentError::Config(format!("cannot sign a token: {e}")))
    }

    fn unreachable(&self, reason: impl std::fmt::Display) -> AgentError {
        AgentError::Unreachable {
            url: self.url.clone(),
            reason: reason.to_string(),
        }
    }

    /// Sends one request on a new connection; the response's body streams. `target` names
    /// the node to run it on (`X-Agent-Target`); `upgrade` asks for a raw stream (exec).
    async fn send(
        &self,
        user: &str,
        role: Role,
        method: Method,
        path: &str,
        body: Option<Value>,
        opts: SendOptions<'_>,
    ) -> Result<Response<Incoming>, AgentError> {
        let token = self.token(user, role)?;
        let tcp = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio::net::TcpStream::connect((self.host.as_str(), self.port)),
        )
        .await
        .map_err(|_| self.unreachable(format!("no connection within {CONNECT_TIMEOUT:?}")))?
        .map_err(|e| self.unreachable(e))?;
        let _ = tcp.set_nodelay(true);
        let tls = tokio::time::timeout(
            CONNECT_TIMEOUT,
            tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
                .connect(self.server_name.clone(), tcp),
        )
        .await
        .map_err(|_| self.unreachable("no TLS handshake within 5 s"))?
        .map_err(|e| self.unreachable(e))?;
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .map_err(|e| self.unreachable(e))?;
        tokio::spawn(async move {
            let _ = conn.with_upgrades().await;
        });
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, self.host.as_str())
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(node) = opts.target {
            req = req.header("X-Agent-Target", node);
        }
        if opts.upgrade {
            req = req
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, "tcp");
        }
        let body = match body {
            Some(value) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(Full::new(body))
            .map_err(|e| AgentError::Config(e.to_string()))?;
        sender
            .send_request(req)
            .await
            .map_err(|e| self.unreachable(e))
    }

    /// Sends, and checks the answer's head: an error status becomes [`AgentError::Status`]
    /// with the agent's message; otherwise the body (or upgraded stream) is the caller's.
    pub async fn open(
        &self,
        user: &str,
        role: Role,
        method: Method,
        path: &str,
        body: Option<Value>,
        opts: SendOptions<'_>,
    ) -> Result<Response<Incoming>, AgentError> {
        let resp = self.send(user, role, method, path, body, opts).await?;
        let status = resp.status();
        if status.is_success() || status == StatusCode::SWITCHING_PROTOCOLS {
            return Ok(resp);
        }
        let body = resp
            .into_body()
            .collect()
            .await
            .map(|b| b.to_bytes())
            .unwrap_or_default();
        Err(AgentError::Status {
            status,
            message: error_message(&body, status),
        })
    }

    /// Sends and reads the whole answer; an error status becomes [`AgentError::Status`] with
    /// the agent's message.
    #[allow(clippy::too_many_arguments)]
    pub async fn call(
        &self,
        user: &str,
        role: Role,
        method: Method,
        path: &str,
        body: Option<Value>,
        opts: SendOptions<'_>,
        timeout: Duration,
    ) -> Result<(HeaderMap, Bytes), AgentError> {
        let fut = async {
            let (parts, body) = self
                .open(user, role, method, path, body, opts)
                .await?
                .into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| self.unreachable(e))?
                .to_bytes();
            Ok((parts.headers, bytes))
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| self.unreachable(format!("no answer within {timeout:?}")))?
    }

    /// A GET whose answer is JSON, run on `target` if given.
    pub async fn get_json(
        &self,
        user: &str,
        role: Role,
        path: &str,
        target: Option<&str>,
        timeout: Duration,
    ) -> Result<(HeaderMap, Value), AgentError> {
        let opts = SendOptions {
            target,
            upgrade: false,
        };
        let (headers, bytes) = self
            .call(user, role, Method::GET, path, None, opts, timeout)
            .await?;
        let value = serde_json::from_slice(&bytes).map_err(|e| AgentError::Bad(e.to_string()))?;
        Ok((headers, value))
    }
}

/// The message of a Docker-shaped error body, or the body itself.
pub fn error_message(body: &[u8], status: StatusCode) -> String {
    serde_json::from_slice::<Value>(body)
        .ok()
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or_else(|| {
            let text = String::from_utf8_lossy(body).trim().to_owned();
            if text.is_empty() {
                status.to_string()
            } else {
                text
            }
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_agent::auth::Scope;

    #[test]
    fn endpoint_urls_are_https_host_and_port() {
        assert_eq!(
            parse_url("https://node-1:9001").expect("ok"),
            ("node-1".into(), 9001)
        );
        assert_eq!(
            parse_url("https://10.0.0.5/").expect("ok"),
            ("10.0.0.5".into(), 9001)
        );
        assert_eq!(
            parse_url("https://[::1]:9443").expect("ok"),
            ("::1".into(), 9443)
        );
        assert!(parse_url("http://node:9001").is_err());
        assert!(parse_url("https://node:9001/path").is_err());
        assert!(parse_url("https://user@node:9001").is_err());
        assert!(parse_url("https://node:x").is_err());
    }

    #[test]
    fn tokens_name_the_mapped_profile_or_else_the_roles_scope() {
        let (ca, _key_pem) = bosun_agent::tls::pki::Ca::generate("test CA").expect("CA");
        let secret = Secret::generate().expect("secret");
        let secret_text = String::from_utf8(secret.as_bytes().to_vec()).expect("hex");
        let endpoint = Endpoint {
            id: 1,
            name: "e".into(),
            url: "https://localhost:9001".into(),
            ca_pem: ca.cert_pem().to_owned(),
            auth: "secret".into(),
            secret: Some(secret_text),
            profiles: ProfileMap::from_json(&serde_json::json!({
                "roles": {"operator": "watcher"},
                "users": {"alice": "payments"},
            }))
            .expect("valid"),
        };
        let key = ConsoleKey::from_pkcs8(&ConsoleKey::generate().expect("key")).expect("load");
        let client = AgentClient::new(&endpoint, &Arc::new(key)).expect("client");
        let auth = bosun_agent::auth::Authenticator::new(Some(&secret), vec![]);
        let profile_of = |user: &str, role: Role| {
            let token = client.token(user, role).expect("token");
            let who = auth.verify_token(&token).expect("the agent accepts it");
            assert_eq!(who.subject, user);
            who.profile
        };
        assert_eq!(profile_of("alice", Role::Viewer), "payments");
        assert_eq!(profile_of("olga", Role::Operator), "watcher");
        assert_eq!(profile_of("olga", Role::Admin), "admin");
        assert_eq!(profile_of("victor", Role::Viewer), "read");
        let mapped = client.claims("olga", Role::Operator);
        assert_eq!(
            (mapped.profile.as_deref(), mapped.scope),
            (Some("watcher"), None)
        );
        let unmapped = client.claims("victor", Role::Viewer);
        assert_eq!(
            (unmapped.profile, unmapped.scope),
            (None, Some(Scope::Read))
        );
    }

    #[test]
    fn the_console_key_signs_tokens_an_agent_accepts() {
        let der = ConsoleKey::generate().expect("key");
        let key = ConsoleKey::from_pkcs8(&der).expect("load");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.pem");
        std::fs::write(&path, key.public_pem()).expect("write");
        let trusted = bosun_agent::auth::TrustedKey::read(&path).expect("the agent reads it");
        let claims = Claims {
            sub: "alice".into(),
            exp: crate::store::now_secs() as u64 + 60,
            iat: Some(crate::store::now_secs() as u64),
            nbf: None,
            scope: Some(Scope::Read),
            profile: None,
        };
        let token = jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, &key.encoding)
            .expect("sign");
        let auth = bosun_agent::auth::Authenticator::new(None, vec![trusted]);
        let who = auth.verify_token(&token).expect("the agent accepts it");
        assert_eq!(who.subject, "alice");
        assert_eq!(who.profile, "read");
    }
}
