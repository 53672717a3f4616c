//! The agent's own API under `/agent/v1/`: health (open to all, for probes), info and the
//! cluster's members.

use std::time::Duration;

use http::{Method, Request, StatusCode};
use serde_json::json;

use crate::auth::Identity;
use crate::body::Body;
use crate::proxy::{json_error, json_response, Proxy};

const ENGINE_QUERY_TIMEOUT: Duration = Duration::from_secs(3);

/// `GET /agent/v1/health`: 200 when the agent serves and its engine answers, 503 if not.
pub async fn health(proxy: &Proxy) -> http::Response<Body> {
    match proxy.engine.get("/_ping", ENGINE_QUERY_TIMEOUT).await {
        Ok(_) => json_response(
            StatusCode::OK,
            &json!({ "status": "ok", "node": proxy.node_name() }),
        ),
        Err(e) => json_error(StatusCode::SERVICE_UNAVAILABLE, &e.to_string()),
    }
}

/// Every other `/agent/...` path, for an authenticated client.
pub async fn handle(
    proxy: &Proxy,
    _identity: &Identity,
    req: &Request<Body>,
) -> http::Response<Body> {
    let path = crate::proxy::path::strip_version(req.uri().path());
    match (req.method(), path) {
        (&Method::GET, "/agent/v1/info") => info(proxy).await,
        (&Method::GET, "/agent/v1/members") => json_response(StatusCode::OK, &proxy.cluster.members_json()),
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
async fn info(proxy: &Proxy) -> http::Response<Body> {
    match proxy
        .engine
        .get_json("/version", ENGINE_QUERY_TIMEOUT)
        .await
    {
        Ok(version) => json_response(
            StatusCode::OK,
            &json!({
                "NodeName": proxy.node_name(),
                "AgentVersion": crate::VERSION,
                "EngineVersion": version["Version"],
                "ApiVersion": version["ApiVersion"],
                "MinApiVersion": version["MinAPIVersion"],
                "UptimeSeconds": proxy.started.elapsed().as_secs(),
            }),
        ),
        Err(e) => json_error(StatusCode::BAD_GATEWAY, &e.to_string()),
    }
}
