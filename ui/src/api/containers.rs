//! One container: its inspect with its node, and what operators do to it (start, stop,
//! restart, kill, remove). An action goes to the node the container's inspect came from,
//! by full ID, so that the reference cannot resolve elsewhere. The engine's 304 to starting
//! a running or stopping a stopped container is a success: the container is as asked.
//! Also the masking of environment values for viewers, wherever an answer carries an `Env`.

use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::cluster::{container_ref, Cluster, ACTION_TIMEOUT, AGENT_TIMEOUT};
use super::{flag, ApiError, ApiResult, App, Authed, Shared, CLUSTER};
use crate::agent::{AgentError, Call};
use crate::auth::Role;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            &format!("{CLUSTER}/containers/{{cid}}"),
            get(container).delete(remove_container),
        )
        .route(
            &format!("{CLUSTER}/containers/{{cid}}/{{action}}"),
            post(container_action),
        )
}

async fn container(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
) -> ApiResult<Json<Value>> {
    let (cluster, cid) = Cluster::for_object(&app, id, &cid, &who).await?;
    let (mut value, found) = cluster.inspect(cid, AGENT_TIMEOUT).await?;
    if masks_env(&app, &who) {
        mask_env(&mut value);
    }
    if value.is_object() {
        value["Agent"] = json!({ "NodeName": found.node });
    }
    Ok(Json(value))
}

/// What a masked environment value reads as.
pub(super) const MASKED: &str = "<masked>";

/// Whether `who` sees environment values masked: a viewer, when the console masks them.
pub(super) fn masks_env(app: &App, who: &Authed) -> bool {
    app.access.mask_env && who.role < Role::Operator
}

/// Replaces the value of every `NAME=value` in every `Env` list anywhere in `value` (a
/// container's `Config.Env`, a service's or task's `ContainerSpec.Env`) with [`MASKED`];
/// the names stay.
pub(super) fn mask_env(value: &mut Value) {
    match value {
        Value::Object(map) => {
            for (key, inner) in map.iter_mut() {
                match inner {
                    Value::Array(vars) if key == "Env" => {
                        for var in vars.iter_mut() {
                            if let Some(text) = var.as_str() {
                                let name = text.split_once('=').map_or(text, |(n, _)| n);
                                *var = Value::String(format!("{name}={MASKED}"));
                            }
                        }
                    }
                    _ => mask_env(inner),
                }
            }
        }
        Value::Array(items) => items.iter_mut().for_each(mask_env),
        _ => {}
    }
}

/// Finds container `cid`, runs `call(its full ID)` on its node and records it. The answer
/// is `{}`, or `{"note"}` when the container already was as asked (the note is in the
/// audit row's target too).
async fn act_on(
    app: &App,
    cluster: &Cluster<'_>,
    action: Action<'_>,
    cid: &str,
    call: impl FnOnce(&str) -> Call<'static>,
) -> ApiResult<Json<Value>> {
    let found = cluster.find_owner(cid).await;
    let call = call(&found.id).on(&found.node);
    let outcome = match cluster.call(call.clone(), ACTION_TIMEOUT).await {
        Ok(_) => Ok(None),
        Err(AgentError::Status { status, .. }) if status == StatusCode::NOT_MODIFIED => {
            Ok(Some(already(&call)))
        }
        Err(e) => Err(e),
    };
    let target = match &outcome {
        Ok(Some(note)) => format!("{} ({note})", found.name),
        _ => found.name.clone(),
    };
    let note = action
        .at(&cluster.endpoint.name, &found.node)
        .on(target)
        .finish(app, outcome)
        .await?;
    Ok(Json(match note {
        Some(note) => json!({ "note": note }),
        None => json!({}),
    }))
}

/// What a 304 to `call` means: the engine sends one only to a start of a running
/// container and a stop of a stopped one.
fn already(call: &Call<'_>) -> &'static str {
    if call.path().ends_with("/start") {
        "already started"
    } else {
        "already stopped"
    }
}

async fn container_action(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid, action)): Path<(i64, String, String)>,
) -> ApiResult<Json<Value>> {
    let what = format!("container.{action}");
    let act = Action::start(&who, Role::Operator, &what)?;
    let cid = container_ref(&cid)?;
    if !matches!(action.as_str(), "start" | "stop" | "restart" | "kill") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no container action {action:?}"),
        ));
    }
    let cluster = Cluster::open(&app, id, &who).await?;
    act_on(&app, &cluster, act, cid, |full_id| {
        Call::new(Method::POST, format!("/containers/{full_id}/{action}"))
    })
    .await
}

#[derive(Deserialize)]
struct RemoveQuery {
    force: Option<String>,
}

async fn remove_container(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<RemoveQuery>,
) -> ApiResult<Json<Value>> {
    let act = Action::start(&who, Role::Operator, "container.remove")?;
    let (cluster, cid) = Cluster::for_object(&app, id, &cid, &who).await?;
    let force = flag(q.force.as_deref());
    act_on(&app, &cluster, act, cid, |full_id| {
        Call::new(
            Method::DELETE,
            format!("/containers/{full_id}?force={force}"),
        )
    })
    .await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn env_values_are_masked_at_any_depth_and_the_names_stay() {
        let mut value = json!({
            "Config": {"Env": ["SECRET=hunter2", "EMPTY=", "BARE"], "Image": "x"},
            "Spec": {"TaskTemplate": {"ContainerSpec": {"Env": ["TOKEN=a=b"]}}},
            "Other": [{"Env": ["K=v"]}],
        });
        mask_env(&mut value);
        assert_eq!(
            value["Config"]["Env"],
            json!(["SECRET=<masked>", "EMPTY=<masked>", "BARE=<masked>"])
        );
        assert_eq!(
            value["Spec"]["TaskTemplate"]["ContainerSpec"]["Env"],
            json!(["TOKEN=<masked>"])
        );
        assert_eq!(value["Other"][0]["Env"], json!(["K=<masked>"]));
        assert_eq!(value["Config"]["Image"], "x");
        assert!(!value.to_string().contains("hunter2"));
    }
}
