//! Registry credentials per endpoint, for admins: added, listed (never the password) and
//! deleted. The password is sealed at rest and passed down to the agents by the update
//! puller and with "check now", and to an engine when an update pulls.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::routing::{delete, get};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::{ApiError, ApiResult, Authed, JsonBody, Shared, CLUSTER};
use crate::auth::Role;
use crate::updates::store::{RegistryEntry, PASSWORD_CONTEXT};

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(
            &format!("{CLUSTER}/registries"),
            get(list_registries).post(add_registry),
        )
        .route(
            &format!("{CLUSTER}/registries/{{rid}}"),
            delete(delete_registry),
        )
}

/// A registry's credentials as an admin gives them.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct NewRegistry {
    registry: String,
    username: String,
    password: String,
}

/// A registry as the engine's auth config names it: a host, with a port maybe.
fn registry_host(text: &str) -> ApiResult<&str> {
    let text = text.trim();
    let ok = !text.is_empty()
        && text.len() <= 255
        && text.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '[')
        && text
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || ".-:[]".contains(c));
    if ok {
        Ok(text)
    } else {
        Err(ApiError::bad(format!(
            "{text:?} is not a registry: give its host, and port if any (registry.example.com:5000)"
        )))
    }
}

async fn list_registries(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Vec<RegistryEntry>>> {
    who.require(Role::Admin)?;
    app.db.run(move |s| s.endpoint(id)).await?;
    Ok(Json(app.db.run(move |s| s.registries(id)).await?))
}

async fn add_registry(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<NewRegistry>,
) -> ApiResult<(StatusCode, Json<RegistryEntry>)> {
    let action = Action::start(&who, Role::Admin, "registry.add")?;
    let endpoint = app.db.run(move |s| s.endpoint(id)).await?;
    let registry = registry_host(&body.registry)?.to_owned();
    let action = action
        .at(&endpoint.name, "")
        .on(format!("{registry} as {}", body.username));
    let username = body.username.trim().to_owned();
    if username.is_empty() || username.len() > 255 || username.chars().any(char::is_control) {
        return action
            .finish(
                &app,
                Err(ApiError::bad("the user name must be 1 to 255 characters")),
            )
            .await;
    }
    if body.password.is_empty() || body.password.len() > 8192 {
        return action
            .finish(
                &app,
                Err(ApiError::bad("the password must be 1 to 8192 bytes")),
            )
            .await;
    }
    let sealed = app.sealer.seal(PASSWORD_CONTEXT, &body.password);
    let work = app
        .db
        .run(move |s| s.put_registry(id, &registry, &username, &sealed));
    let entry = action.run(&app, work).await?;
    Ok((StatusCode::CREATED, Json(entry)))
}

async fn delete_registry(
    State(app): State<Shared>,
    who: Authed,
    Path((id, rid)): Path<(i64, i64)>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "registry.remove")?;
    let endpoint = app.db.run(move |s| s.endpoint(id)).await?;
    let result = app.db.run(move |s| s.delete_registry(id, rid)).await;
    let target = match &result {
        Ok(entry) => entry.registry.clone(),
        Err(_) => format!("registry {rid}"),
    };
    action
        .at(&endpoint.name, "")
        .on(target)
        .finish(&app, result)
        .await?;
    Ok(Json(json!({})))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn registries_are_hosts_with_a_port_maybe() {
        assert_eq!(
            registry_host(" 127.0.0.1:5000 ").expect("ok"),
            "127.0.0.1:5000"
        );
        assert!(registry_host("ghcr.io").is_ok());
        assert!(registry_host("[::1]:5000").is_ok());
        assert!(registry_host("https://ghcr.io").is_err());
        assert!(registry_host("a/b").is_err());
        assert!(registry_host("").is_err());
    }
}
