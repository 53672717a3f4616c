//! The access checks a request passes on its way in, in order: no body on a read, a
//! websocket attach that really asks for a websocket, the profile's sections, then what a
//! restricted profile changes about the request itself (a list narrowed to its scope, a
//! specification checked against its create rules and given its labels). The checks that
//! need the object itself run where the object lives (`Proxy::check_scope`).

use std::sync::Arc;

use http::{header, HeaderValue, Method, Request};

use crate::access::{canonical, create, scope, Operation, Profile};
use crate::body::{self, Body, Budget, BudgetError, Held};

use crate::error::ProxyError;

/// The most of a specification the agent reads to check it.
pub const MAX_SPEC_BODY: usize = 1 << 20;

/// The profile and operation of a request, carried in its extensions to where it runs.
#[derive(Clone)]
pub struct Access {
    pub profile: Arc<Profile>,
    pub op: Operation,
    /// The specification the request carries, as checked and labelled.
    pub spec: Option<Arc<serde_json::Value>>,
}

/// A request after [`specification`]: its body as the engine will get it.
pub struct Checked {
    pub req: Request<Body>,
    /// Keeps the body's bytes counted against the budget until dropped.
    pub held: Option<Held>,
    pub spec: Option<Arc<serde_json::Value>>,
}

/// `GET` and `HEAD` carry no body in Docker's API: one that does is refused before any of
/// it is read or forwarded.
pub fn no_body_on_reads<B: http_body::Body>(req: &Request<B>) -> Result<(), ProxyError> {
    // Most reads: hyper saw neither a length nor a chunked body.
    if req.body().is_end_stream() || (req.method() != Method::GET && req.method() != Method::HEAD) {
        return Ok(());
    }
    let headers = req.headers();
    let chunked = headers.contains_key(header::TRANSFER_ENCODING);
    let length = headers
        .get(header::CONTENT_LENGTH)
        .map(|v| v.to_str().ok().and_then(|s| s.trim().parse::<u64>().ok()));
    match length {
        Some(None) => Err(ProxyError::BadRequest(
            "Content-Length is not a number".into(),
        )),
        Some(Some(n)) if n > 0 => Err(ProxyError::BadRequest(format!(
            "a {} request carries no body in the Docker API; this one sends {n} bytes",
            req.method()
        ))),
        _ if chunked => Err(ProxyError::BadRequest(format!(
            "a {} request carries no body in the Docker API; this one sends a chunked body",
            req.method()
        ))),
        _ => Ok(()),
    }
}

/// `GET /containers/{id}/attach/ws` must be a websocket handshake. Sent without one, the
/// engine attaches to the container's output, fails the handshake and blocks for good,
/// freezing the container.
pub fn websocket_attach<B>(req: &Request<B>, api_path: &str) -> Result<(), ProxyError> {
    if !api_path.trim_end_matches('/').ends_with("/attach/ws") {
        return Ok(());
    }
    let segments: Vec<&str> = api_path.trim_matches('/').split('/').collect();
    if !matches!(segments.as_slice(), ["containers", _, "attach", "ws"]) {
        return Ok(());
    }
    let headers = req.headers();
    let upgrade_ws = headers
        .get(header::UPGRADE)
        .and_then(|v| v.to_str().ok())
        .is_some_and(|v| v.trim().eq_ignore_ascii_case("websocket"));
    let connection_upgrade = super::headers::requested_upgrade(headers).is_some();
    let has_key = headers.contains_key(header::SEC_WEBSOCKET_KEY);
    if req.method() == Method::GET && upgrade_ws && connection_upgrade && has_key {
        Ok(())
    } else {
        Err(ProxyError::BadRequest(
            "/attach/ws is a websocket: send GET with 'Connection: Upgrade', 'Upgrade: websocket' and 'Sec-WebSocket-Key'".into(),
        ))
    }
}

/// The oldest API version a restricted profile may speak: before 1.24 the engine let
/// `start` replace the host configuration that was checked at create (privileges, binds,
/// capabilities).
pub const MIN_RESTRICTED_API: (u32, u32) = (1, 24);

/// Refuses an API version older than [`MIN_RESTRICTED_API`] to a restricted profile.
pub fn api_version(access: &Access, path: &str) -> Result<(), ProxyError> {
    if access.profile.is_unrestricted() {
        return Ok(());
    }
    let Some(version) = crate::path::version(path) else {
        return Ok(());
    };
    let parsed = version
        .split_once('.')
        .and_then(|(a, b)| Some((a.parse::<u32>().ok()?, b.parse::<u32>().ok()?)));
    match parsed {
        Some(v) if v >= MIN_RESTRICTED_API => Ok(()),
        _ => Err(ProxyError::BadRequest(format!(
            "profile {:?} speaks API version {}.{} or later, not {version}",
            access.profile.name, MIN_RESTRICTED_API.0, MIN_RESTRICTED_API.1
        ))),
    }
}

/// A list, prune or event stream under a label scope: the engine is asked only for what
/// is inside it.
pub fn narrow(access: &Access, req: &mut Request<Body>) -> Result<(), ProxyError> {
    if !access.profile.is_scoped() {
        return Ok(());
    }
    if access.op.whole_engine {
        return Err(ProxyError::Forbidden(format!(
            "profile {:?} has a label scope, and {} reports on every object of the engine",
            access.profile.name,
            req.uri().path()
        )));
    }
    if access.op.lists.is_none() {
        return Ok(());
    }
    let query =
        scope::narrow_query(&access.profile, req.uri().query()).map_err(ProxyError::BadRequest)?;
    let uri: http::Uri = format!("{}?{query}", req.uri().path())
        .parse()
        .map_err(|e| ProxyError::BadRequest(format!("request target: {e}")))?;
    *req.uri_mut() = uri;
    Ok(())
}

/// A specification under a profile with create rules or a scope: read (within the body
/// budget), checked, labelled, and sent on as the bytes the engine gets.
pub async fn specification(
    budget: &Budget,
    access: &Access,
    client: &str,
    req: Request<Body>,
) -> Result<Checked, ProxyError> {
    let unchanged = |req| Checked {
        req,
        held: None,
        spec: None,
    };
    let Some(kind) = access.op.creates else {
        return Ok(unchanged(req));
    };
    let profile = &access.profile;
    if profile.create.is_unrestricted() && !profile.is_scoped() {
        return Ok(unchanged(req));
    }
    let (mut parts, body) = req.into_parts();
    let (bytes, held) = budget
        .collect(body, MAX_SPEC_BODY, "a specification", client)
        .await
        .map_err(budget_error)?;
    let mut spec: serde_json::Value = if bytes.is_empty() {
        serde_json::Value::Object(Default::default())
    } else {
        serde_json::from_slice(&bytes)
            .map_err(|e| ProxyError::BadRequest(format!("the request body is not JSON: {e}")))?
    };
    canonical::canonicalize(kind, &mut spec).map_err(ProxyError::BadRequest)?;
    create::apply(profile, kind, &mut spec).map_err(ProxyError::from)?;
    let bytes = serde_json::to_vec(&spec)
        .map_err(|e| ProxyError::BadRequest(format!("the request body: {e}")))?;
    parts.headers.remove(header::TRANSFER_ENCODING);
    parts
        .headers
        .insert(header::CONTENT_LENGTH, HeaderValue::from(bytes.len()));
    parts.headers.insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    Ok(Checked {
        req: Request::from_parts(parts, body::full(bytes)),
        held: Some(held),
        spec: Some(Arc::new(spec)),
    })
}

pub fn budget_error(e: BudgetError) -> ProxyError {
    match e {
        BudgetError::Busy { .. } | BudgetError::Share { .. } => {
            ProxyError::Unavailable(e.to_string())
        }
        BudgetError::TooLarge { .. } | BudgetError::Slow(_) | BudgetError::Read(_) => {
            ProxyError::BadRequest(e.to_string())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bytes::Bytes;
    use http_body_util::Full;

    /// A request as hyper hands it on: with a body that has not ended when its headers
    /// announce one.
    fn req(method: Method, headers: &[(&str, &str)]) -> Request<Full<Bytes>> {
        let mut b = Request::builder()
            .method(method)
            .uri("/containers/x/attach/ws");
        let mut announced = false;
        for (k, v) in headers {
            b = b.header(*k, *v);
            announced |= *k == "transfer-encoding" || (*k == "content-length" && *v != "0");
        }
        let body = if announced { "{}" } else { "" };
        b.body(Full::new(Bytes::from_static(body.as_bytes())))
            .expect("request")
    }

    #[test]
    fn reads_carry_no_body() {
        assert!(no_body_on_reads(&req(Method::GET, &[])).is_ok());
        assert!(no_body_on_reads(&req(Method::GET, &[("content-length", "0")])).is_ok());
        assert!(no_body_on_reads(&req(Method::GET, &[("content-length", "4194304")])).is_err());
        assert!(no_body_on_reads(&req(Method::HEAD, &[("transfer-encoding", "chunked")])).is_err());
        assert!(no_body_on_reads(&req(Method::POST, &[("content-length", "9")])).is_ok());
    }

    #[test]
    fn websocket_attach_needs_a_handshake() {
        let path = "/containers/x/attach/ws";
        assert!(websocket_attach(&req(Method::GET, &[]), path).is_err());
        assert!(websocket_attach(&req(Method::GET, &[("upgrade", "websocket")]), path).is_err());
        let handshake = [
            ("connection", "Upgrade"),
            ("upgrade", "websocket"),
            ("sec-websocket-key", "dGhlIHNhbXBsZSBub25jZQ=="),
        ];
        assert!(websocket_attach(&req(Method::GET, &handshake), path).is_ok());
        assert!(websocket_attach(&req(Method::GET, &[]), "/containers/x/json").is_ok());
    }
}
