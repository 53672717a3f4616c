//! Relaying a request to one node, or to the first of several that can serve it, and its
//! answer back without buffering; a switch of protocols becomes a relayed stream.

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;

use crate::body::{self, Body, Keep};
use crate::cluster::Node;
use crate::error::{ProxyError, ENGINE_UNREACHABLE, NOT_A_MANAGER};
use crate::headers;

use super::execute::Executor;
use super::guard::{self, Access};

/// Manager operations are kept to be sent again; a secret or config is at most 1 MB.
const MAX_MANAGER_BODY: usize = 4 << 20;

/// Names the node whose engine gave the answer, in its `X-Agent-Node` header (which the
/// audit line reads too).
fn served_by(resp: &mut Response<Body>, node: &Node) {
    if let Some(value) = &node.header {
        resp.headers_mut().insert(headers::NODE, value.clone());
    }
}

impl Executor<'_> {
    /// Relays a request to `node` and its answer back. On the local engine, an object
    /// outside the client's label scope is answered as missing first.
    pub(super) async fn forward(
        &self,
        node: &Node,
        mut req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        let client_upgrade = prepare(&mut req, upgrade);
        if node.local {
            // Only a profile that restricts anything has an access to check.
            if let Some(access) = req.extensions().get::<Access>().cloned() {
                let path = req.uri().path().to_owned();
                Box::pin(self.check_here(&access, &path))
                    .await?
                    .apply(&mut req)?;
            }
        }
        let keep = req.extensions().get::<Keep>().cloned();
        // Sent from here rather than through `Calls::send`: one state fewer in every
        // request's future, and the request addressed where it is.
        let pool = self.calls.address(node, self.identity, &mut req)?;
        let resp = pool.send(req).await?;
        let mut resp = self.complete(resp, client_upgrade, keep)?;
        served_by(&mut resp, node);
        Ok(resp)
    }

    /// Sends to the first of `candidates` that can serve it: the next is tried when a
    /// node's agent cannot be reached or its engine is down. The body (manager operations
    /// carry small JSON specs) is kept so that it can be sent again, counted against the
    /// agent's body budget.
    pub(super) async fn forward_first(
        &self,
        candidates: &[Node],
        mut req: Request<Body>,
    ) -> Result<Response<Body>, ProxyError> {
        prepare(&mut req, None);
        let (mut parts, body) = req.into_parts();
        let (mut bytes, _held) = self
            .budget
            .collect(
                body,
                MAX_MANAGER_BODY,
                "a manager operation",
                &self.identity.subject,
            )
            .await
            .map_err(guard::budget_error)?;
        let mut failures = Vec::new();
        for node in candidates {
            if node.local {
                if let Some(access) = parts.extensions.get::<Access>().cloned() {
                    let path = parts.uri.path().to_owned();
                    self.check_here(&access, &path).await?.apply_kept(
                        &mut parts.uri,
                        &mut parts.headers,
                        &mut bytes,
                    )?;
                }
            }
            let mut attempt = Request::new(body::full(bytes.clone()));
            *attempt.method_mut() = parts.method.clone();
            *attempt.uri_mut() = parts.uri.clone();
            *attempt.headers_mut() = parts.headers.clone();
            match self.calls.send(node, self.identity, attempt).await {
                Ok(resp) if resp.headers().contains_key(ENGINE_UNREACHABLE) => {
                    failures.push(format!(
                        "{}: its engine is unreachable",
                        node.meta.node_name
                    ));
                }
                Ok(resp) => {
                    let mut resp = self.complete(resp, None, None)?;
                    served_by(&mut resp, node);
                    return Ok(resp);
                }
                Err(ProxyError::Upstream(e)) if e.is_connect() => {
                    failures.push(format!("{}: {e}", node.meta.node_name))
                }
                Err(e) => return Err(e),
            }
            tracing::warn!(node = %node.meta.node_name, "manager unavailable; trying the next");
        }
        if failures.is_empty() {
            return Err(ProxyError::Unavailable(NOT_A_MANAGER.into()));
        }
        Err(ProxyError::Unavailable(format!(
            "{NOT_A_MANAGER} (no manager could serve it: {})",
            failures.join("; ")
        )))
    }

    /// Turns the upstream's answer into the client's, switching protocols when both asked.
    pub(super) fn complete(
        &self,
        mut resp: Response<Incoming>,
        client_upgrade: Option<OnUpgrade>,
        keep: Option<Keep>,
    ) -> Result<Response<Body>, ProxyError> {
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
            self.relays.spawn(client_upgrade, engine_upgrade, keep);
            return Ok(Response::from_parts(parts, body::empty()));
        }
        headers::for_client(resp.headers_mut());
        // The client's connection keeps its own version, whatever the upstream's was.
        *resp.version_mut() = http::Version::HTTP_11;
        Ok(resp.map(Body::from))
    }
}

/// Makes a client's request fit for an upstream, where it is; returns the client's side of
/// a protocol switch, taken before the request is handed on. A client that asks for one
/// always has an `upgrade` to ask the engine for: authorization makes it the client's own.
fn prepare(req: &mut Request<Body>, upgrade: Option<HeaderValue>) -> Option<OnUpgrade> {
    let client_asked = upgrade.is_some() && headers::requested_upgrade(req.headers()).is_some();
    let client_upgrade = client_asked.then(|| hyper::upgrade::on(&mut *req));
    headers::for_engine(req.headers_mut(), upgrade);
    if let Some(origin) = origin_form(req.uri()) {
        *req.uri_mut() = origin;
    }
    client_upgrade
}

/// The request target as the engine should see it (path and query, nothing else), when
/// the client's is not that already.
fn origin_form(uri: &http::Uri) -> Option<http::Uri> {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return None;
    }
    let pq = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    Some(pq.parse().unwrap_or_else(|_| http::Uri::from_static("/")))
}
