//! A cluster's volumes: removing one from its node, and pruning unused ones.

use axum::extract::rejection::JsonRejection;
use axum::extract::{Path, Query, State};
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde_json::Value;

use super::node_objects::{self, object_ref, OnNode, PruneScope, Removal};
use super::{flag, ApiResult, Authed, Shared, CLUSTER};
use crate::auth::Role;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(&format!("{CLUSTER}/volumes/prune"), post(prune))
        .route(&format!("{CLUSTER}/volumes/{{name}}"), delete(remove))
}

async fn remove(
    State(app): State<Shared>,
    who: Authed,
    Path((id, name)): Path<(i64, String)>,
    Query(q): Query<OnNode>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let name = object_ref(&name)?;
    let force = flag(q.force.as_deref());
    let removal = Removal {
        what: "volume.remove",
        path: format!("/volumes/{name}?force={force}"),
        node: &q.node,
        target: name,
    };
    Ok(Json(node_objects::remove(&app, &who, id, removal).await?))
}

async fn prune(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    scope: Result<Json<PruneScope>, JsonRejection>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let Json(scope) = scope?;
    Ok(Json(
        node_objects::prune(&app, &who, id, "volumes", &scope).await?,
    ))
}
