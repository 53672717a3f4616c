//! The agent's own API under `/agent/v1/`: health (open to all, for probes), info and the
//! cluster's members.

use std::time::{Duration, Instant};

use http::{Method, Request, StatusCode};
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

/// Every other `/agent/...` path, for an authenticated client.
pub async fn handle(calls: &Calls, started: Instant, req: &Request<Body>) -> http::Response<Body> {
    let path = crate::path::strip_version(req.uri().path());
    match (req.method(), path) {
        (&Method::GET, "/agent/v1/info") => info(calls, started).await,
        (&Method::GET, "/agent/v1/members") => {
            json_response(StatusCode::OK, &calls.cluster().members_json())
        }
        (_, "/agent/v1/info" | "/agent/v1/health" | "/agent/v1/members") => {
            json_error(StatusCode::METHOD_NOT_ALLOWED, "only GET is allowed here")
        }
        _ => json_error(
            StatusCode::NOT_FOUND,
            &format!("no agent API at {path} (try /agent/v1/info, /agent/v1/members or /agent/v1/health)"),
        ),
    }
}

/// `GET /agent/v1/info`: this node, this agent, its engine.
async fn info(calls: &Calls, started: Instant) -> http::Response<Body> {
    match calls
        .engine()
        .get_json("/version", ENGINE_QUERY_TIMEOUT)
        .await
    {
        Ok(version) => json_response(
            StatusCode::OK,
            &json!({
                "NodeName": calls.me(),
                "AgentVersion": crate::VERSION,
                "EngineVersion": version["Version"],
                "ApiVersion": version["ApiVersion"],
                "MinApiVersion": version["MinAPIVersion"],
                "UptimeSeconds": started.elapsed().as_secs(),
            }),
        ),
        Err(e) => json_error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}
