//! Talking to a cluster's agent: HTTPS verified against the cluster CA, with a short-lived
//! token naming the console user. One [`AgentClient`] per endpoint, kept in
//! [`AgentClients`], holds its connections open between calls.
//!
//! - `token.rs`: the tokens, and the console's own signing key;
//! - [`crate::connector`]: TCP and TLS under the pool, shared with the Prometheus client;
//! - `clients.rs`: the clients, one per endpoint, made again when the endpoint changes;
//! - `docker_stream.rs`: the engine's stdout/stderr framing in what logs and exec answer;
//! - `failing.rs`: the pullers' failed endpoints, each failure logged once while it lasts.

mod clients;
pub mod docker_stream;
mod failing;
mod token;

pub use clients::AgentClients;
pub use failing::Failing;
pub use token::ConsoleKey;

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, Response, StatusCode};
use http_body_util::combinators::UnsyncBoxBody;
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper_util::client::legacy::Client;
use hyper_util::rt::{TokioExecutor, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::CertificateDer;
use serde_json::Value;

use crate::auth::Role;
use crate::connector::{describe as chain, Connector};
use crate::store::Endpoint;
use token::Tokens;

/// How long a connection may wait in the pool for its next call. Below the agent's 30 s
/// wait for a next request, so the pool drops a connection before the agent does.
const POOL_IDLE_TIMEOUT: Duration = Duration::from_secs(20);
/// Connections kept open to one agent between calls (a node list asks every node at once).
const POOL_MAX_IDLE: usize = 8;

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

/// `reason` with what it most likely means when the cause alone would not say. An agent
/// closes a connection before its TLS handshake when the client's address already holds
/// `--max-connections-per-client` connections, and the console is one address holding a
/// connection per open stream.
fn explain(reason: String) -> String {
    if reason.contains("handshake eof") {
        format!(
            "{reason}: the agent closed the connection before TLS, as it does when this \
             console's address holds its --max-connections-per-client connections (128 by \
             default); the console holds one for each open log, event or terminal stream"
        )
    } else {
        reason
    }
}

/// Whom a call is for: the console user and role its token names.
#[derive(Debug, Clone, Copy)]
pub struct Caller<'a> {
    pub user: &'a str,
    pub role: Role,
}

/// The subject of the console's own calls. A ':' is in no user name, so no user's
/// profile mapping can name it.
pub const CONSOLE_SUBJECT: &str = "bosun-ui:usage";

impl Caller<'static> {
    /// The console itself, pulling usage for every user: a `read` token, never one of
    /// the endpoint's profiles, which are there to narrow what people see.
    pub const CONSOLE: Caller<'static> = Caller {
        user: CONSOLE_SUBJECT,
        role: Role::Viewer,
    };
}

/// One request to an agent: `GET path` unless told otherwise.
#[derive(Debug, Clone)]
pub struct Call<'a> {
    method: Method,
    path: String,
    body: Option<Value>,
    target: Option<&'a str>,
    upgrade: bool,
    registry_auth: Option<&'a str>,
}

impl<'a> Call<'a> {
    pub fn new(method: Method, path: impl Into<String>) -> Self {
        Self {
            method,
            path: path.into(),
            body: None,
            target: None,
            upgrade: false,
            registry_auth: None,
        }
    }

    pub fn get(path: impl Into<String>) -> Self {
        Self::new(Method::GET, path)
    }

    /// With a JSON body.
    pub fn json(mut self, body: Value) -> Self {
        self.body = Some(body);
        self
    }

    /// Run on `node` (`X-Agent-Target`), so that a reference cannot resolve elsewhere; an
    /// empty name leaves the placing to the agent.
    pub fn on(mut self, node: &'a str) -> Self {
        self.target = (!node.is_empty()).then_some(node);
        self
    }

    /// With registry credentials for the engine (`X-Registry-Auth`, base64url JSON).
    pub fn registry_auth(mut self, auth: &'a str) -> Self {
        self.registry_auth = Some(auth);
        self
    }

    /// The path and query asked for.
    pub fn path(&self) -> &str {
        &self.path
    }

    /// Ask for a raw stream (exec): the connection is the caller's, never the pool's again.
    pub fn upgrade(mut self) -> Self {
        self.upgrade = true;
        self
    }
}

/// A request's body to an agent: whole for the console's own calls, streamed for a
/// client's request passed on ([`AgentClient::forward`]).
pub type OutBody = UnsyncBoxBody<Bytes, BoxError>;
pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// A whole body.
fn whole(bytes: Bytes) -> OutBody {
    Full::new(bytes)
        .map_err(|never| match never {})
        .boxed_unsync()
}

/// The headers of a client's request that are the client's connection's, or its
/// credentials or claims to the console, rather than the engine's to read: never passed on
/// (nor any `x-bosun-…`, the agents' own between themselves).
const NOT_PASSED_ON: [&str; 14] = [
    "host",
    "authorization",
    "cookie",
    "x-csrf-token",
    "connection",
    "keep-alive",
    "proxy-authorization",
    "proxy-connection",
    "te",
    "trailer",
    "transfer-encoding",
    "upgrade",
    "forwarded",
    "x-forwarded-for",
];

/// One endpoint's agent, ready to be asked: the CA parsed and the TLS configuration made
/// once, its connections kept alive and reused.
pub struct AgentClient {
    url: String,
    host: String,
    /// `https://HOST:PORT`, before each path: the pool's key.
    origin: String,
    tokens: Tokens,
    http: Client<Connector, OutBody>,
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
    pub fn new(
        endpoint: &Endpoint,
        key: &std::sync::Arc<ConsoleKey>,
        edge: &std::sync::Arc<crate::edge::Sessions>,
    ) -> Result<Self, AgentError> {
        let tokens = Tokens::new(endpoint, key)?;
        let (host, port, connector) = if crate::edge::is_edge(&endpoint.url) {
            let connector = Connector::tunnel(std::sync::Arc::clone(edge), endpoint.id);
            (format!("edge-{}", endpoint.id), 443, connector)
        } else {
            let (host, port) = parse_url(&endpoint.url).map_err(AgentError::Config)?;
            let roots = trust(&endpoint.ca_pem).map_err(AgentError::Config)?;
            let connector = Connector::tls(&host, port, roots).map_err(AgentError::Config)?;
            (host, port, connector)
        };
        let http = Client::builder(TokioExecutor::new())
            .pool_timer(TokioTimer::new())
            .pool_idle_timeout(POOL_IDLE_TIMEOUT)
            .pool_max_idle_per_host(POOL_MAX_IDLE)
            .build(connector);
        let origin = if host.contains(':') {
            format!("https://[{host}]:{port}")
        } else {
            format!("https://{host}:{port}")
        };
        Ok(Self {
            url: endpoint.url.clone(),
            host,
            origin,
            tokens,
            http,
        })
    }

    /// A token for `caller`, as this endpoint's agents accept, for a request sent another
    /// way (to one edge agent through its own tunnel).
    pub fn bearer(&self, caller: Caller<'_>) -> Result<String, AgentError> {
        self.tokens.token(caller)
    }

    fn unreachable(&self, reason: String) -> AgentError {
        AgentError::Unreachable {
            url: self.url.clone(),
            reason: explain(reason),
        }
    }

    /// Sends one request, on a kept connection when one is free; the response's body
    /// streams.
    async fn send(
        &self,
        caller: Caller<'_>,
        call: Call<'_>,
    ) -> Result<Response<Incoming>, AgentError> {
        let token = self.tokens.token(caller)?;
        let mut req = Request::builder()
            .method(call.method)
            .uri(format!("{}{}", self.origin, call.path))
            .header(header::HOST, self.host.as_str())
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        if let Some(node) = call.target {
            req = req.header("X-Agent-Target", node);
        }
        if let Some(auth) = call.registry_auth {
            req = req.header("X-Registry-Auth", auth);
        }
        if call.upgrade {
            req = req
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, "tcp");
        }
        let body = match call.body {
            Some(value) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(value.to_string())
            }
            None => Bytes::new(),
        };
        let req = req
            .body(whole(body))
            .map_err(|e| AgentError::Config(e.to_string()))?;
        self.request(req).await
    }

    async fn request(&self, req: Request<OutBody>) -> Result<Response<Incoming>, AgentError> {
        // The pool's own error names only its kind ("client error (Connect)"): its cause
        // says what happened.
        self.http.request(req).await.map_err(|e| {
            use std::error::Error as _;
            self.unreachable(e.source().map_or_else(|| e.to_string(), chain))
        })
    }

    /// Passes a client's request on as it came, for `caller`: the method, `path` (with its
    /// query), the headers the engine reads and the body as it streams, with the console's
    /// token for the caller instead of the client's credentials. An upgrade the client
    /// asked for is asked of the agent. The answer is the agent's, whatever its status.
    pub async fn forward(
        &self,
        caller: Caller<'_>,
        method: Method,
        path: &str,
        headers: &HeaderMap,
        body: OutBody,
    ) -> Result<Response<Incoming>, AgentError> {
        let token = self.tokens.token(caller)?;
        let mut req = Request::builder()
            .method(method)
            .uri(format!("{}{path}", self.origin))
            .header(header::HOST, self.host.as_str())
            .header(header::AUTHORIZATION, format!("Bearer {token}"));
        for (name, value) in headers {
            if !NOT_PASSED_ON.contains(&name.as_str()) && !name.as_str().starts_with("x-bosun-") {
                req = req.header(name, value);
            }
        }
        if let Some(protocol) = upgrade_asked(headers) {
            req = req
                .header(header::CONNECTION, "Upgrade")
                .header(header::UPGRADE, protocol);
        }
        let req = req
            .body(body)
            .map_err(|e| AgentError::Config(e.to_string()))?;
        self.request(req).await
    }

    /// Sends, and checks the answer's head: an error status becomes [`AgentError::Status`]
    /// with the agent's message; otherwise the body (or upgraded stream) is the caller's.
    pub async fn open(
        &self,
        caller: Caller<'_>,
        call: Call<'_>,
    ) -> Result<Response<Incoming>, AgentError> {
        let resp = self.send(caller, call).await?;
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

    /// Sends and reads the whole answer within `timeout`; an error status becomes
    /// [`AgentError::Status`] with the agent's message.
    pub async fn call(
        &self,
        caller: Caller<'_>,
        call: Call<'_>,
        timeout: Duration,
    ) -> Result<(HeaderMap, Bytes), AgentError> {
        let fut = async {
            let (parts, body) = self.open(caller, call).await?.into_parts();
            let bytes = body
                .collect()
                .await
                .map_err(|e| self.unreachable(chain(&e)))?
                .to_bytes();
            Ok((parts.headers, bytes))
        };
        tokio::time::timeout(timeout, fut)
            .await
            .map_err(|_| self.unreachable(format!("no answer within {timeout:?}")))?
    }

    /// [`Self::call`] for an answer that is JSON.
    pub async fn json(
        &self,
        caller: Caller<'_>,
        call: Call<'_>,
        timeout: Duration,
    ) -> Result<(HeaderMap, Value), AgentError> {
        let (headers, bytes) = self.call(caller, call, timeout).await?;
        let value = serde_json::from_slice(&bytes).map_err(|e| AgentError::Bad(e.to_string()))?;
        Ok((headers, value))
    }
}

/// The protocol a request asks to switch to (`Connection: Upgrade` with `Upgrade: P`).
pub fn upgrade_asked(headers: &HeaderMap) -> Option<&http::HeaderValue> {
    headers
        .get_all(header::CONNECTION)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(','))
        .any(|t| t.trim().eq_ignore_ascii_case("upgrade"))
        .then(|| headers.get(header::UPGRADE))
        .flatten()
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

    #[test]
    fn a_connection_closed_before_tls_names_the_agents_connection_cap() {
        let said = explain("tls handshake eof".into());
        assert!(said.starts_with("tls handshake eof: "), "{said}");
        assert!(said.contains("--max-connections-per-client"), "{said}");
        assert_eq!(explain("connection refused".into()), "connection refused");
    }

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
}
