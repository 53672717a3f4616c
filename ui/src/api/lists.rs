//! A cluster's lists, merged by the agent: containers, services, tasks, images, volumes and
//! networks, each item naming its node.

use axum::extract::{Path, State};
use axum::routing::{get, MethodRouter};
use axum::{Json, Router};
use serde_json::{json, Value};

use super::cluster::{name_node, partial_of, Cluster, AGENT_TIMEOUT};
use super::containers::{mask_env, masks_env};
use super::{ApiResult, Authed, Shared, CLUSTER};
use crate::agent::Call;

/// Each list's route under the cluster, and the agent's path for it.
const LISTS: [(&str, &str); 6] = [
    ("containers", "/containers/json?all=1"),
    ("services", "/services"),
    ("tasks", "/tasks"),
    ("images", "/images/json"),
    ("volumes", "/volumes"),
    ("networks", "/networks"),
];

pub(super) fn routes() -> Router<Shared> {
    LISTS.iter().fold(Router::new(), |router, (route, path)| {
        router.route(&format!("{CLUSTER}/{route}"), lister(path))
    })
}

/// The route of a cluster-wide list: the agent's `path`, answered as `{items, partial}`.
fn lister(path: &'static str) -> MethodRouter<Shared> {
    get(
        move |State(app): State<Shared>, who: Authed, Path(id): Path<i64>| async move {
            let masked = masks_env(&app, &who);
            list(&Cluster::open(&app, id, &who).await?, path, masked).await
        },
    )
}

/// `masked`: with environment values masked (services and tasks carry theirs).
async fn list(cluster: &Cluster<'_>, path: &str, masked: bool) -> ApiResult<Json<Value>> {
    let (headers, value) = cluster.json(Call::get(path), AGENT_TIMEOUT).await?;
    let mut items = match value {
        Value::Array(items) => items,
        // `/volumes` answers {"Volumes": [...], "Warnings": [...]}.
        Value::Object(mut map) => match map.remove("Volumes") {
            Some(Value::Array(items)) => items,
            _ => Vec::new(),
        },
        _ => Vec::new(),
    };
    if items.iter().any(|i| i["Agent"]["NodeName"].is_null()) {
        if let Some(node) = cluster.sole_node().await {
            for item in &mut items {
                name_node(item, &node);
            }
        }
    }
    if masked {
        items.iter_mut().for_each(mask_env);
    }
    Ok(Json(
        json!({"items": items, "partial": partial_of(&headers)}),
    ))
}
