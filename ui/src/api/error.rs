//! The API's error answer, `{"message": ...}` with a status, and how the database's and the
//! agents' and Prometheus's errors become one.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::Json;
use serde_json::json;

use crate::agent::AgentError;
use crate::store::StoreError;
use crate::usage::prometheus::PrometheusError;

#[derive(Debug)]
pub struct ApiError {
    pub(super) status: StatusCode,
    pub(super) message: String,
}

pub type ApiResult<T> = Result<T, ApiError>;

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    pub(super) fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }

    pub(super) fn internal(message: impl Into<String>) -> Self {
        Self::new(StatusCode::INTERNAL_SERVER_ERROR, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match e {
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Sql(_) | StoreError::Stopping => {
                tracing::error!(error = %e, "database");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, e.to_string())
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        let status = match &e {
            // The agent refused the console's token: not the browser's session.
            AgentError::Status { status, .. } if *status == StatusCode::UNAUTHORIZED => {
                StatusCode::BAD_GATEWAY
            }
            AgentError::Status { status, .. } => *status,
            AgentError::Config(_) => StatusCode::BAD_REQUEST,
            AgentError::Unreachable { .. } | AgentError::Bad(_) => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, e.to_string())
    }
}

impl From<PrometheusError> for ApiError {
    fn from(e: PrometheusError) -> Self {
        // The history's source failed, not the request: the console is a gateway to it.
        tracing::warn!(error = %e, "usage history from Prometheus");
        Self::new(StatusCode::BAD_GATEWAY, e.to_string())
    }
}

impl From<axum::extract::rejection::JsonRejection> for ApiError {
    /// A body that is not the JSON a route takes: axum's reason, in the API's error shape.
    fn from(e: axum::extract::rejection::JsonRejection) -> Self {
        Self::new(e.status(), e.body_text())
    }
}

/// A JSON request body; one that is not the JSON the route takes is answered in the API's
/// error shape (`{"message"}`) rather than axum's plain text.
pub struct JsonBody<T>(pub T);

impl<T, S> axum::extract::FromRequest<S> for JsonBody<T>
where
    axum::Json<T>:
        axum::extract::FromRequest<S, Rejection = axum::extract::rejection::JsonRejection>,
    S: Send + Sync,
{
    type Rejection = ApiError;

    async fn from_request(req: axum::extract::Request, state: &S) -> Result<Self, ApiError> {
        let axum::Json(value) = axum::Json::<T>::from_request(req, state).await?;
        Ok(Self(value))
    }
}
