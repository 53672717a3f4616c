//! The console's audit log, for admins, filtered and newest first.

use axum::extract::{Query, State};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::{ApiResult, Authed, Shared};
use crate::auth::Role;
use crate::store::AuditFilter;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route("/api/audit", get(audit_log))
}

#[derive(Deserialize)]
struct AuditQuery {
    user: Option<String>,
    action: Option<String>,
    endpoint: Option<String>,
    result: Option<String>,
    since: Option<i64>,
    limit: Option<usize>,
}

async fn audit_log(
    State(app): State<Shared>,
    who: Authed,
    Query(q): Query<AuditQuery>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    let some = |s: Option<String>| s.filter(|s| !s.is_empty());
    let filter = AuditFilter {
        user: some(q.user),
        action: some(q.action),
        endpoint: some(q.endpoint),
        result: some(q.result),
        since: q.since,
        limit: q.limit.unwrap_or(200).clamp(1, 1000),
    };
    Ok(Json(json!(
        app.db.run(move |s| s.audit_rows(&filter)).await?
    )))
}
