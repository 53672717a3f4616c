//! Personal access tokens (`/api/tokens`): each user makes, lists and deletes their own;
//! admins list and delete anybody's. A token is shown once, when made, and only from a
//! signed-in session: a token cannot make another.

use axum::extract::{Path, Query, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::{flag, ApiError, ApiResult, Authed, JsonBody, Shared};
use crate::auth::{self, personal, Role};

/// The longest a token may be made for.
const MAX_TTL_DAYS: i64 = 3650;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/tokens", get(list).post(create))
        .route("/api/tokens/{id}", delete(remove))
}

#[derive(Deserialize)]
struct NewToken {
    name: String,
    /// Days until it expires; none: it does not.
    ttl_days: Option<i64>,
}

async fn create(
    State(app): State<Shared>,
    who: Authed,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<Response> {
    let name = body.name.trim().to_owned();
    let action = Action::start(&who, Role::Viewer, "token.create")?.on(name.clone());
    let check = if !who.by_session() {
        Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "personal tokens are made from a signed-in session, not with another token",
        ))
    } else if name.is_empty() || name.chars().count() > personal::MAX_NAME {
        Err(ApiError::bad(format!(
            "a token's name is 1 to {} characters",
            personal::MAX_NAME
        )))
    } else if body
        .ttl_days
        .is_some_and(|d| !(1..=MAX_TTL_DAYS).contains(&d))
    {
        Err(ApiError::bad(format!(
            "ttl_days is 1 to {MAX_TTL_DAYS}, or left out for a token that does not expire"
        )))
    } else {
        Ok(())
    };
    let token = personal::new_token();
    let hash = auth::token_hash(&token);
    let expires = body.ttl_days.map(|d| crate::store::now_secs() + d * 86_400);
    let user = who.username.clone();
    let made = action
        .run(&app, async {
            check?;
            app.db
                .run(move |s| s.create_personal_token(&hash, &user, &name, expires))
                .await
                .map_err(ApiError::from)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "personal_token": made})),
    )
        .into_response())
}

#[derive(Deserialize)]
struct ListQuery {
    /// Everybody's (admins).
    all: Option<String>,
}

async fn list(
    State(app): State<Shared>,
    who: Authed,
    Query(q): Query<ListQuery>,
) -> ApiResult<Json<Value>> {
    let user = if flag(q.all.as_deref()) {
        who.require(Role::Admin)?;
        None
    } else {
        Some(who.username.clone())
    };
    let tokens = app
        .db
        .run(move |s| s.personal_tokens(user.as_deref()))
        .await?;
    Ok(Json(json!(tokens)))
}

/// Deletes a token: whatever it keeps open (a followed log, an exec) ends with it.
async fn remove(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Viewer, "token.delete")?.on(id.to_string());
    let owner = (who.role < Role::Admin).then(|| who.username.clone());
    let deleted = action
        .run(&app, async {
            app.db
                .run(move |s| s.delete_personal_token(id, owner.as_deref()))
                .await?
                .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such token of yours"))
        })
        .await?;
    app.sessions.changed();
    Ok(Json(json!(deleted)))
}
