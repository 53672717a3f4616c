//! Checks of one endpoint's cluster: the checks (everyone signed in reads, admins write,
//! every write audited and followed at once by a signed push to the nodes), the
//! concurrency setting, each check's state per node with each node's policy status, a
//! check's history, and "push now".

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post, put};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::{ApiError, ApiResult, App, Authed, Shared, CLUSTER};
use crate::auth::Role;
use crate::checks::{push, CheckInput};
use crate::store::Endpoint;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(&format!("{CLUSTER}/checks"), get(list).post(create))
        .route(&format!("{CLUSTER}/checks/status"), get(status))
        .route(&format!("{CLUSTER}/checks/push"), post(push_now))
        .route(&format!("{CLUSTER}/checks/settings"), put(settings))
        .route(
            &format!("{CLUSTER}/checks/{{cid}}"),
            put(update).delete(remove),
        )
        .route(&format!("{CLUSTER}/checks/{{cid}}/history"), get(history))
}

async fn endpoint(app: &App, id: i64) -> ApiResult<Endpoint> {
    Ok(app.db.run(move |s| s.endpoint(id)).await?)
}

/// Sends the new version to the nodes; a node that cannot be reached now is sent it by
/// the puller later, and shows why meanwhile.
async fn push_after_change(app: &App, endpoint: &Endpoint) {
    if let Err(e) = push::push(app, endpoint, None).await {
        tracing::warn!(endpoint = %endpoint.name, error = %e, "checks: cannot send the new policies");
    }
}

async fn list(
    State(app): State<Shared>,
    _who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    endpoint(&app, id).await?;
    let (config, defs) = app
        .db
        .run(move |s| Ok((s.check_config(id)?, s.check_defs(id)?)))
        .await?;
    Ok(Json(json!({
        "checks": defs,
        "version": config.version,
        "concurrency": config.concurrency,
    })))
}

async fn create(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<Response> {
    let action = Action::start(&who, Role::Admin, "check.create")?;
    let input = CheckInput::parse(&body).map_err(ApiError::bad)?;
    let endpoint = endpoint(&app, id).await?;
    let target = input.describe();
    let (def, _) = action
        .at(&endpoint.name, "")
        .on(target)
        .run(&app, app.db.run(move |s| s.create_check(id, input)))
        .await?;
    push_after_change(&app, &endpoint).await;
    Ok((StatusCode::CREATED, Json(json!(def))).into_response())
}

async fn update(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "check.update")?;
    let input = CheckInput::parse(&body).map_err(ApiError::bad)?;
    let endpoint = endpoint(&app, id).await?;
    let target = format!("{cid} {}", input.describe());
    let (def, _) = action
        .at(&endpoint.name, "")
        .on(target)
        .run(&app, app.db.run(move |s| s.update_check(id, &cid, input)))
        .await?;
    push_after_change(&app, &endpoint).await;
    Ok(Json(json!(def)))
}

async fn remove(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
) -> ApiResult<StatusCode> {
    let action = Action::start(&who, Role::Admin, "check.delete")?;
    let endpoint = endpoint(&app, id).await?;
    let target = cid.clone();
    action
        .at(&endpoint.name, "")
        .on(target)
        .run(&app, app.db.run(move |s| s.delete_check(id, &cid)))
        .await?;
    push_after_change(&app, &endpoint).await;
    if let Err(e) = crate::checks::pull::tell(&app, &endpoint).await {
        tracing::warn!(error = %e, "checks: cannot tell the alerts of a deleted check");
    }
    Ok(StatusCode::NO_CONTENT)
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Settings {
    concurrency: usize,
}

async fn settings(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "checks.settings")?;
    let settings: Settings =
        serde_json::from_slice(&body).map_err(|e| ApiError::bad(format!("the settings: {e}")))?;
    if !(1..=1000).contains(&settings.concurrency) {
        return Err(ApiError::bad("concurrency: 1 to 1000"));
    }
    let endpoint = endpoint(&app, id).await?;
    let n = settings.concurrency;
    let version = action
        .at(&endpoint.name, "")
        .on(format!("concurrency {n}"))
        .run(&app, app.db.run(move |s| s.set_check_concurrency(id, n)))
        .await?;
    push_after_change(&app, &endpoint).await;
    Ok(Json(json!({"concurrency": n, "version": version})))
}

async fn push_now(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "checks.push")?;
    let endpoint = endpoint(&app, id).await?;
    let action = action.at(&endpoint.name, "").on("every node");
    let work = async {
        push::push(&app, &endpoint, None)
            .await
            .map_err(|e| match e {
                push::PushError::Agent(a) => ApiError::from(a),
                push::PushError::Store(s) => ApiError::from(s),
                other => ApiError::new(StatusCode::BAD_GATEWAY, other.to_string()),
            })
    };
    let answer = action.run(&app, work).await?;
    Ok(Json(json!(answer)))
}

async fn status(
    State(app): State<Shared>,
    _who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    endpoint(&app, id).await?;
    let (config, defs, states, nodes) = app
        .db
        .run(move |s| {
            Ok((
                s.check_config(id)?,
                s.check_defs(id)?,
                s.check_states(id)?,
                s.check_nodes(id)?,
            ))
        })
        .await?;
    let rows: Vec<Value> = states
        .iter()
        .filter_map(|s| {
            let def = defs.iter().find(|d| d.id == s.check)?;
            Some(json!({
                "check": s.check,
                "name": def.name,
                "kind": def.probe.kind(),
                "node": s.node,
                "state": s.state,
                "status": s.status,
                "since_ms": s.since_ms,
                "at_ms": s.at_ms,
                "output": s.output,
                "duration_ms": s.duration_ms,
            }))
        })
        .collect();
    let nodes: Vec<Value> = nodes
        .iter()
        .map(|n| {
            json!({
                "node": n.node,
                "agent_id": n.agent_id,
                "epoch": n.epoch,
                "policy_version": n.policy_version,
                "want_version": config.version,
                "applied_at": n.applied_at,
                "refused": n.refused,
                "lost": n.lost,
                "agent_lost": n.agent_lost,
                "last_pull_at": n.last_pull_at,
                "error": n.error,
            })
        })
        .collect();
    Ok(Json(
        json!({"rows": rows, "nodes": nodes, "version": config.version}),
    ))
}

#[derive(Deserialize)]
struct HistoryQuery {
    node: Option<String>,
    since: Option<String>,
}

/// The longest history asked for: all that is kept.
const MAX_SINCE_SECS: u64 = 30 * 24 * 3600;

async fn history(
    State(app): State<Shared>,
    _who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<HistoryQuery>,
) -> ApiResult<Json<Value>> {
    endpoint(&app, id).await?;
    let since = match q.since.as_deref().map(str::trim).filter(|s| !s.is_empty()) {
        None => 3600,
        Some(text) => match text.parse::<u64>() {
            Ok(n) if (1..=MAX_SINCE_SECS).contains(&n) => n,
            _ => {
                return Err(ApiError::bad(format!(
                    "since: {text:?} is not a number of seconds from 1 to {MAX_SINCE_SECS}"
                )))
            }
        },
    };
    let known = cid.clone();
    let exists = app
        .db
        .run(move |s| Ok(s.check_defs(id)?.iter().any(|d| d.id == known)))
        .await?;
    if !exists {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no check {cid:?} on this endpoint"),
        ));
    }
    let from = crate::checks::now_ms().saturating_sub(since * 1000);
    let node = q.node.filter(|n| !n.is_empty());
    let points = app
        .db
        .run(move |s| s.check_history(id, &cid, node.as_deref(), from))
        .await?;
    Ok(Json(json!({"points": points})))
}
