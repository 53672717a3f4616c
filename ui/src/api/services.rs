//! A Swarm service, for operators: scale it, remove it. (The list is in `lists.rs`.)

use axum::extract::{Path, State};
use axum::http::Method;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::cluster::{Cluster, ACTION_TIMEOUT, AGENT_TIMEOUT};
use super::{ApiError, ApiResult, Authed, JsonBody, Shared, CLUSTER};
use crate::agent::Call;
use crate::auth::Role;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            &format!("{CLUSTER}/services/{{sid}}"),
            delete(remove_service),
        )
        .route(
            &format!("{CLUSTER}/services/{{sid}}/scale"),
            post(scale_service),
        )
}

#[derive(Deserialize)]
struct ScaleBody {
    replicas: u64,
}

async fn scale_service(
    State(app): State<Shared>,
    who: Authed,
    Path((id, sid)): Path<(i64, String)>,
    JsonBody(body): JsonBody<ScaleBody>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Operator, "service.scale")?;
    let (cluster, sid) = Cluster::for_object(&app, id, &sid, &who).await?;
    let (_, service) = cluster
        .json(Call::get(format!("/services/{sid}")), AGENT_TIMEOUT)
        .await?;
    let name = service["Spec"]["Name"].as_str().unwrap_or(sid);
    let version = service["Version"]["Index"].as_u64().unwrap_or(0);
    let mut spec = service["Spec"].clone();
    if spec["Mode"]["Replicated"].is_null() {
        return Err(ApiError::bad(format!(
            "service {name} is not replicated: it cannot be scaled"
        )));
    }
    spec["Mode"]["Replicated"]["Replicas"] = json!(body.replicas);
    let update = Call::new(
        Method::POST,
        format!("/services/{sid}/update?version={version}"),
    )
    .json(spec);
    action
        .at(&cluster.endpoint.name, "")
        .on(format!("{name} to {}", body.replicas))
        .run(&app, cluster.call(update, ACTION_TIMEOUT))
        .await?;
    Ok(Json(json!({})))
}

async fn remove_service(
    State(app): State<Shared>,
    who: Authed,
    Path((id, sid)): Path<(i64, String)>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Operator, "service.remove")?;
    let (cluster, sid) = Cluster::for_object(&app, id, &sid, &who).await?;
    let name = cluster
        .json(Call::get(format!("/services/{sid}")), AGENT_TIMEOUT)
        .await
        .ok()
        .and_then(|(_, s)| s["Spec"]["Name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| sid.to_owned());
    let remove = Call::new(Method::DELETE, format!("/services/{sid}"));
    action
        .at(&cluster.endpoint.name, "")
        .on(name)
        .run(&app, cluster.call(remove, ACTION_TIMEOUT))
        .await?;
    Ok(Json(json!({})))
}
