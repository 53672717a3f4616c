//! Console users, for admins: list, create, change role or password, remove.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::{ApiError, ApiResult, Authed, JsonBody, Shared};
use crate::auth::{self, Role};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/users", get(users).post(create_user))
        .route(
            "/api/users/{username}",
            axum::routing::patch(update_user).delete(delete_user),
        )
}

fn check_password(password: &str) -> ApiResult<()> {
    if password.chars().count() < auth::MIN_PASSWORD {
        return Err(ApiError::bad(format!(
            "a password has at least {} characters",
            auth::MIN_PASSWORD
        )));
    }
    Ok(())
}

/// A new user's name and password, as set-up and user creation check them.
pub(super) fn check_new_user(username: &str, password: &str) -> ApiResult<()> {
    if !auth::valid_username(username) {
        return Err(ApiError::bad(
            "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ));
    }
    check_password(password)
}

/// A password's argon2 hash, made off the runtime's workers.
async fn hash(password: String) -> ApiResult<String> {
    auth::spawn_hash(password).await.map_err(ApiError::internal)
}

async fn users(State(app): State<Shared>, who: Authed) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    Ok(Json(json!(app.db.run(|s| s.users()).await?)))
}

#[derive(Deserialize)]
struct NewUser {
    username: String,
    password: String,
    role: Role,
}

async fn create_user(
    State(app): State<Shared>,
    who: Authed,
    JsonBody(body): JsonBody<NewUser>,
) -> ApiResult<Response> {
    let action = Action::start(&who, Role::Admin, "user.create")?;
    check_new_user(&body.username, &body.password)?;
    let hash = hash(body.password).await?;
    let (username, role) = (body.username.clone(), body.role);
    let created = action
        .on(&body.username)
        .run(
            &app,
            app.db.run(move |s| s.create_user(&username, &hash, role)),
        )
        .await?;
    Ok((StatusCode::CREATED, Json(json!(created))).into_response())
}

#[derive(Deserialize)]
struct UserChange {
    role: Option<Role>,
    password: Option<String>,
}

async fn update_user(
    State(app): State<Shared>,
    who: Authed,
    Path(username): Path<String>,
    JsonBody(body): JsonBody<UserChange>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "user.update")?;
    let detail = match (body.role, body.password.is_some()) {
        (Some(role), true) => format!("role {}, password", role.as_str()),
        (Some(role), false) => format!("role {}", role.as_str()),
        (None, true) => "password".to_owned(),
        (None, false) => String::new(),
    };
    let hash = match body.password {
        Some(password) => {
            check_password(&password)?;
            Some(hash(password).await?)
        }
        None => None,
    };
    let (name, role) = (username.clone(), body.role);
    let updated = action
        .on(format!("{username} ({detail})"))
        .run(
            &app,
            app.db
                .run(move |s| s.update_user(&name, role, hash.as_deref())),
        )
        .await?;
    // What the user's sessions keep open ends if their role or password changed.
    app.sessions.changed();
    Ok(Json(json!(updated)))
}

async fn delete_user(
    State(app): State<Shared>,
    who: Authed,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "user.delete")?;
    let name = username.clone();
    action
        .on(username)
        .run(&app, app.db.run(move |s| s.delete_user(&name)))
        .await?;
    app.sessions.changed();
    Ok(Json(json!({})))
}
