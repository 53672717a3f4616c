//! `GET /agent/v1/health`: open to all, for probes; asks the engine at most once a second.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;

use crate::body::Body;
use crate::calls::Calls;
use crate::error::{json_error, json_response};

const ENGINE_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// How long one answer of the health endpoint serves every caller.
const HEALTH_TTL: Duration = Duration::from_secs(1);

/// The last answer of `GET /agent/v1/health`. The endpoint is open to anyone, so the
/// engine is asked at most once per second, whatever the number of callers: those that
/// come while it is being asked wait for that answer.
#[derive(Default)]
pub struct HealthCache {
    last: tokio::sync::Mutex<Option<(Instant, Result<(), String>)>>,
}

impl HealthCache {
    /// 200 when the agent serves and its engine answers, 503 with the reason otherwise.
    pub async fn answer(&self, calls: &Calls) -> http::Response<Body> {
        let mut last = self.last.lock().await;
        let fresh = last
            .as_ref()
            .filter(|(at, _)| at.elapsed() < HEALTH_TTL)
            .map(|(_, r)| r.clone());
        let result = match fresh {
            Some(r) => r,
            None => {
                let r = calls
                    .engine()
                    .get("/_ping", ENGINE_QUERY_TIMEOUT)
                    .await
                    .map(|_| ())
                    .map_err(|e| e.to_string());
                *last = Some((Instant::now(), r.clone()));
                r
            }
        };
        drop(last);
        match result {
            Ok(()) => json_response(
                StatusCode::OK,
                &json!({ "status": "ok", "node": calls.me() }),
            ),
            Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, &e),
        }
    }
}
