//! The Docker API proxy: authenticates each request, places it, and relays it to the
//! engine and back without buffering, upgrades and hijacks included.

pub mod error;
pub mod headers;
pub mod path;
mod relay;

use std::sync::Arc;
use std::time::Instant;

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::auth::{self, Authenticator, Identity, Scope};
use crate::body::{Body, Either};
use crate::engine::Engine;
use crate::route::{self, Placement};
use crate::tls::ClientCert;

pub use error::{json_error, json_response, ProxyError};

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    pub engine: Engine,
    pub auth: Authenticator,
    pub node_name: String,
    pub started: Instant,
    /// Upgraded streams (attach, exec, BuildKit) outlive their HTTP exchange; shutdown
    /// waits for them here.
    pub relays: TaskTracker,
    /// Cancelled when the shutdown grace period is over: every stream closes.
    pub hard_stop: CancellationToken,
}

/// What the agent knows about a client connection once TLS is up.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: std::net::SocketAddr,
    pub client_cert: ClientCert,
}

impl Proxy {
    /// Serves one request. Never fails: errors become Docker-shaped responses.
    pub async fn handle(
        self: Arc<Self>,
        conn: Arc<ConnInfo>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        match self.serve(&conn, req).await {
            Ok(resp) => {
                tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
                resp
            }
            Err(e) => {
                let status = e.status();
                if status.is_server_error() {
                    tracing::warn!(%method, %path, peer = %conn.peer, status = status.as_u16(), error = %e, "request failed");
                } else {
                    tracing::info!(%method, %path, peer = %conn.peer, status = status.as_u16(), error = %e, "request refused");
                }
                e.into_response()
            }
        }
    }

    async fn serve(
        &self,
        conn: &ConnInfo,
        req: Request<Incoming>,
    ) -> Result<Response<Body>, ProxyError> {
        let api_path = path::strip_version(req.uri().path());
        if api_path == "/agent/v1/health" && req.method() == http::Method::GET {
            return Ok(crate::api::health(self).await);
        }
        let identity = self.auth.authenticate(
            req.headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
            &conn.client_cert,
        )?;
        let upgrade = upgrade_protocol(&req, api_path);
        authorize(&identity, req.method(), upgrade.is_some())?;
        match route::place(api_path, req.headers(), &[self.node_name.as_str()]) {
            Placement::Agent => Ok(crate::api::handle(self, &identity, &req).await),
            Placement::UnknownNode { name, known } => Err(ProxyError::NotFound(format!(
                "no node named {name:?} in this cluster (known nodes: {})",
                known.join(", ")
            ))),
            Placement::Local => self.forward(req, upgrade).await,
        }
    }

    /// Relays a request to the local engine and its answer back.
    async fn forward(
        &self,
        mut req: Request<Incoming>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        let client_asked = headers::requested_upgrade(req.headers()).is_some();
        // Taken before the request is handed on: it is the client's side of a switch.
        let client_upgrade = client_asked.then(|| hyper::upgrade::on(&mut req));
        let (mut parts, body) = req.into_parts();
        headers::for_engine(&mut parts.headers, upgrade);
        parts.uri = origin_form(&parts.uri);
        let mut resp = self
            .engine
            .send(Request::from_parts(parts, Either::Left(body)))
            .await?;

        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                return Err(ProxyError::BadRequest(
                    "this call streams over a hijacked connection: send 'Connection: Upgrade' and 'Upgrade: tcp'".into(),
                ));
            };
            let engine_upgrade = hyper::upgrade::on(&mut resp);
            let (mut parts, _) = resp.into_parts();
            let protocol = parts
                .headers
                .get(header::UPGRADE)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("tcp"));
            headers::for_client(&mut parts.headers);
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
            relay::spawn(
                &self.relays,
                self.hard_stop.clone(),
                client_upgrade,
                engine_upgrade,
            );
            return Ok(Response::from_parts(parts, crate::body::empty()));
        }

        let (mut parts, body) = resp.into_parts();
        headers::for_client(&mut parts.headers);
        Ok(Response::from_parts(parts, Either::Left(body)))
    }
}

/// The protocol to ask the engine to switch to: the client's own, or `tcp` for a hijack
/// the client did not announce (the engine only tunnels when asked to).
fn upgrade_protocol(req: &Request<Incoming>, api_path: &str) -> Option<HeaderValue> {
    headers::requested_upgrade(req.headers()).or_else(|| {
        path::is_hijack(req.method(), api_path).then(|| HeaderValue::from_static("tcp"))
    })
}

fn authorize(identity: &Identity, method: &http::Method, upgrade: bool) -> Result<(), ProxyError> {
    match identity.scope {
        Scope::Admin => Ok(()),
        Scope::Read if auth::read_allows(method, upgrade) => Ok(()),
        Scope::Read => Err(ProxyError::Forbidden(format!(
            "{} has scope 'read', which allows only GET and HEAD requests without attach or exec",
            identity.subject
        ))),
    }
}

/// The request target as the engine should see it: path and query, nothing else.
fn origin_form(uri: &http::Uri) -> http::Uri {
    let pq = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    pq.parse().unwrap_or_else(|_| http::Uri::from_static("/"))
}
