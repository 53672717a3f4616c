//! `GET /agent/v1/info`: this node, this agent, its engine.

use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;

use crate::body::Body;
use crate::calls::Calls;
use crate::error::{json_error, json_response};

const ENGINE_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

pub async fn info(calls: &Calls, started: Instant) -> http::Response<Body> {
    match calls
        .engine()
        .get_json("/version", ENGINE_QUERY_TIMEOUT)
        .await
    {
        Ok(version) => json_response(
            StatusCode::OK,
            &json!({
                "NodeName": calls.me(),
                "AgentID": calls.cluster().agent_id(),
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
