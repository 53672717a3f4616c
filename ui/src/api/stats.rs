//! A container's resource use now: the engine's stats, with CPU and memory worked out as
//! `docker stats` shows them.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::cluster::{Cluster, AGENT_TIMEOUT};
use super::{ApiError, ApiResult, Authed, Shared, CLUSTER};
use crate::agent::Call;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/containers/{{cid}}/stats"), get(stats))
}

async fn stats(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
) -> ApiResult<Json<Value>> {
    let (cluster, cid) = Cluster::for_object(&app, id, &cid, &who).await?;
    let (_, mut s) = cluster
        .json(
            Call::get(format!("/containers/{cid}/stats?stream=false")),
            AGENT_TIMEOUT,
        )
        .await?;
    let cpu = |v: &Value| v["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let system = |v: &Value| v["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let cpu_delta = cpu(&s["cpu_stats"]) - cpu(&s["precpu_stats"]);
    let system_delta = system(&s["cpu_stats"]) - system(&s["precpu_stats"]);
    let cpus = s["cpu_stats"]["online_cpus"].as_f64().unwrap_or(1.0);
    let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    };
    if !s.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the stats are not a JSON object",
        ));
    }
    let cache = s["memory_stats"]["stats"]["inactive_file"]
        .as_f64()
        .or_else(|| s["memory_stats"]["stats"]["cache"].as_f64())
        .unwrap_or(0.0);
    let usage = (s["memory_stats"]["usage"].as_f64().unwrap_or(0.0) - cache).max(0.0);
    s["cpu_percent"] = json!((cpu_percent * 100.0).round() / 100.0);
    s["memory_usage"] = json!(usage as u64);
    s["memory_limit"] = s["memory_stats"]["limit"].clone();
    Ok(Json(s))
}
