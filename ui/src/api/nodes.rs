//! A cluster's nodes: the agents' membership, with each live node's engine facts, and the
//! agent IDs that more than one engine shows (cloned machines).

use axum::extract::{Path, State};
use axum::routing::get;
use axum::{Json, Router};
use serde_json::{json, Value};

use super::cluster::{Cluster, AGENT_TIMEOUT, STATUS_TIMEOUT};
use super::{ApiResult, Authed, Shared, CLUSTER};
use crate::agent::Call;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/nodes"), get(nodes))
}

async fn nodes(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let cluster = Cluster::open(&app, id, &who).await?;
    let (_, members) = cluster
        .json(Call::get("/agent/v1/members"), AGENT_TIMEOUT)
        .await?;
    let mut items: Vec<Value> = members["Members"].as_array().cloned().unwrap_or_default();
    let infos = futures_util::future::join_all(items.iter().map(|m| {
        let node = m["NodeName"].as_str().unwrap_or_default();
        let alive = m["State"] == "alive";
        let cluster = &cluster;
        async move {
            if !alive {
                return None;
            }
            cluster
                .json(Call::get("/info").on(node), STATUS_TIMEOUT)
                .await
                .ok()
                .map(|(_, info)| info)
        }
    }))
    .await;
    for (item, info) in items.iter_mut().zip(infos) {
        if let (Some(info), true) = (info, item.is_object()) {
            item["Info"] = json!({
                "ServerVersion": info["ServerVersion"],
                "NCPU": info["NCPU"],
                "MemTotal": info["MemTotal"],
                "OperatingSystem": info["OperatingSystem"],
                "KernelVersion": info["KernelVersion"],
                "Containers": info["Containers"],
                "ContainersRunning": info["ContainersRunning"],
            });
        }
    }
    // Agents from before agent IDs send no conflicts: none known.
    let conflicts = match &members["Conflicts"] {
        Value::Array(list) => Value::Array(list.clone()),
        _ => json!([]),
    };
    Ok(Json(
        json!({"items": items, "conflicts": conflicts, "partial": null}),
    ))
}
