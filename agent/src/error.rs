//! The agent's own failures, each knowing its status, answered in Docker's error shape so
//! that every Docker client prints the message.

use http::{header, HeaderValue, Response, StatusCode};

use crate::auth::AuthError;
use crate::body::{self, Body};
use crate::upstream::UpstreamError;

/// Docker's own words when no manager can be reached.
pub const NOT_A_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";

/// Set on an agent's answer when its own engine could not be reached: the request was not
/// served, and whoever forwarded it may try another node.
pub const ENGINE_UNREACHABLE: http::HeaderName =
    http::HeaderName::from_static("x-agent-engine-unreachable");

#[derive(Debug, thiserror::Error)]
pub enum ProxyError {
    /// The client did not prove who it is.
    #[error(transparent)]
    Unauthenticated(#[from] AuthError),
    /// The client is known but may not do this.
    #[error("{0}")]
    Forbidden(String),
    #[error("{0}")]
    NotFound(String),
    #[error("{0}")]
    BadRequest(String),
    /// The name fits objects on several nodes.
    #[error("{0}")]
    Conflict(String),
    /// No node that could serve this is reachable.
    #[error("{0}")]
    Unavailable(String),
    /// Some nodes failed and the client asked for all or nothing.
    #[error("{0}")]
    Partial(String),
    /// The engine could not be reached or broke off.
    #[error(transparent)]
    Upstream(#[from] UpstreamError),
    /// The engine answered something the agent cannot pass on.
    #[error("{0}")]
    BadUpstream(String),
}

/// A profile's refusal is the client's to fix: 403, with the refusal's words.
impl From<crate::access::Refusal> for ProxyError {
    fn from(refusal: crate::access::Refusal) -> Self {
        Self::Forbidden(refusal.to_string())
    }
}

impl ProxyError {
    pub fn status(&self) -> StatusCode {
        match self {
            Self::Unauthenticated(_) => StatusCode::UNAUTHORIZED,
            Self::Forbidden(_) => StatusCode::FORBIDDEN,
            Self::NotFound(_) => StatusCode::NOT_FOUND,
            Self::BadRequest(_) => StatusCode::BAD_REQUEST,
            Self::Conflict(_) => StatusCode::CONFLICT,
            Self::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Partial(_) => StatusCode::BAD_GATEWAY,
            Self::Upstream(UpstreamError::Timeout { .. }) => StatusCode::GATEWAY_TIMEOUT,
            Self::Upstream(UpstreamError::Saturated { .. }) => StatusCode::SERVICE_UNAVAILABLE,
            Self::Upstream(_) | Self::BadUpstream(_) => StatusCode::BAD_GATEWAY,
        }
    }

    pub fn into_response(self) -> Response<Body> {
        let status = self.status();
        let mut resp = json_error(status, &self.to_string());
        if matches!(self, Self::Upstream(UpstreamError::Connect { .. })) {
            resp.headers_mut()
                .insert(ENGINE_UNREACHABLE, HeaderValue::from_static("1"));
        }
        if status == StatusCode::UNAUTHORIZED {
            resp.headers_mut().insert(
                header::WWW_AUTHENTICATE,
                HeaderValue::from_static("Bearer realm=\"bosun\""),
            );
        }
        resp
    }
}

/// `{"message": ...}` with `Content-Type: application/json` exactly: the CLI parses the
/// message only for that type.
pub fn json_error(status: StatusCode, message: &str) -> Response<Body> {
    json_response(status, &serde_json::json!({ "message": message }))
}

pub fn json_response(status: StatusCode, value: &serde_json::Value) -> Response<Body> {
    let mut bytes = serde_json::to_vec(value).unwrap_or_else(|_| b"{}".to_vec());
    bytes.push(b'\n');
    let mut resp = Response::new(body::full(bytes));
    *resp.status_mut() = status;
    resp.headers_mut().insert(
        header::CONTENT_TYPE,
        HeaderValue::from_static("application/json"),
    );
    resp
}

#[cfg(test)]
mod tests {
    use super::*;
    use http_body_util::BodyExt;

    #[tokio::test]
    async fn errors_have_dockers_shape() {
        let resp = ProxyError::Unauthenticated(AuthError::Missing).into_response();
        assert_eq!(resp.status(), StatusCode::UNAUTHORIZED);
        assert_eq!(resp.headers()[header::CONTENT_TYPE], "application/json");
        let bytes = resp.into_body().collect().await.expect("body").to_bytes();
        let v: serde_json::Value = serde_json::from_slice(&bytes).expect("json");
        assert!(v["message"]
            .as_str()
            .expect("message")
            .starts_with("authentication required"));
    }
}
