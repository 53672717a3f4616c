//! Endpoints, one a cluster: listed with their agents' state now, added, their profile
//! mapping changed and removed by admins; and the console's public key for agents to trust.

use axum::extract::{Path, State};
use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::cluster::{partial_of, Cluster, STATUS_TIMEOUT};
use super::{ApiError, ApiResult, App, Authed, JsonBody, Shared, CLUSTER};
use crate::agent::Call;
use crate::auth::Role;
use crate::profiles::ProfileMap;
use crate::store::Endpoint;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/endpoints", get(endpoints).post(create_endpoint))
        .route(
            CLUSTER,
            get(endpoint).patch(update_endpoint).delete(delete_endpoint),
        )
        .route("/api/console-key", get(console_key))
}

/// An endpoint's state as its agent tells it now.
async fn endpoint_status(app: &App, endpoint: &Endpoint, who: &Authed) -> Value {
    let cluster = match Cluster::of(app, endpoint.clone(), who) {
        Ok(c) => c,
        Err(e) => return json!({"reachable": false, "error": e.to_string()}),
    };
    let members = cluster.json(Call::get("/agent/v1/members"), STATUS_TIMEOUT);
    let containers = cluster.json(Call::get("/containers/json?all=1"), STATUS_TIMEOUT);
    let (members, containers) = tokio::join!(members, containers);
    match (members, containers) {
        (Ok((_, members)), Ok((headers, containers))) => {
            let (up, total) = node_counts(&members);
            let items = containers.as_array().cloned().unwrap_or_default();
            let running = items.iter().filter(|c| c["State"] == "running").count();
            json!({
                "reachable": true,
                "error": null,
                "partial": partial_of(&headers),
                "nodes_up": up,
                "nodes_total": total,
                "containers_running": running,
                "containers_total": items.len(),
            })
        }
        (Err(e), _) | (_, Err(e)) => json!({"reachable": false, "error": e.to_string()}),
    }
}

/// Nodes with a live agent, and all nodes, counted by name.
fn node_counts(members: &Value) -> (usize, usize) {
    let mut all: Vec<(&str, bool)> = members["Members"]
        .as_array()
        .map(|a| {
            a.iter()
                .map(|m| {
                    (
                        m["NodeName"].as_str().unwrap_or_default(),
                        m["State"] == "alive",
                    )
                })
                .collect()
        })
        .unwrap_or_default();
    all.sort_by(|a, b| a.0.cmp(b.0).then(b.1.cmp(&a.1)));
    all.dedup_by(|a, b| a.0 == b.0);
    (all.iter().filter(|(_, up)| *up).count(), all.len())
}

/// An endpoint as the API shows it, with its state now. Its profile mapping names users,
/// so only admins see it, as only they see the users.
async fn endpoint_json(app: &App, endpoint: &Endpoint, who: &Authed) -> Value {
    let mut v = json!(endpoint);
    v["status"] = endpoint_status(app, endpoint, who).await;
    if who.role == Role::Admin {
        v["profiles"] = json!(endpoint.profiles);
    }
    v
}

async fn endpoints(State(app): State<Shared>, who: Authed) -> ApiResult<Json<Value>> {
    let list = app.db.run(|s| s.endpoints()).await?;
    let shown =
        futures_util::future::join_all(list.iter().map(|e| endpoint_json(&app, e, &who))).await;
    Ok(Json(Value::Array(shown)))
}

async fn endpoint(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let endpoint = app.db.run(move |s| s.endpoint(id)).await?;
    Ok(Json(endpoint_json(&app, &endpoint, &who).await))
}

#[derive(Deserialize)]
struct NewEndpoint {
    name: String,
    url: String,
    ca_pem: String,
    auth: String,
    secret: Option<String>,
    /// `{"roles": {...}, "users": {...}}`; absent or `null`: no mapping.
    #[serde(default)]
    profiles: Value,
}

/// The agent profile mapping of a request body, or a 400 saying what is wrong with it.
fn profile_map(value: &Value) -> ApiResult<ProfileMap> {
    ProfileMap::from_json(value).map_err(|e| ApiError::bad(e.to_string()))
}

/// Checks a new endpoint and stores it.
async fn add_endpoint(app: &App, body: &NewEndpoint) -> ApiResult<Endpoint> {
    let name = body.name.trim();
    if name.is_empty() || name.len() > 100 {
        return Err(ApiError::bad("a name is 1 to 100 characters"));
    }
    crate::agent::parse_url(body.url.trim()).map_err(ApiError::bad)?;
    crate::agent::trust(&body.ca_pem).map_err(ApiError::bad)?;
    let profiles = profile_map(&body.profiles)?;
    let secret = match body.auth.as_str() {
        "secret" => {
            let secret = body.secret.as_deref().map(str::trim).unwrap_or_default();
            bosun_serve::secret::Secret::from_text(secret)
                .map_err(|e| ApiError::bad(format!("the cluster secret: {e}")))?;
            Some(secret.to_owned())
        }
        "key" => None,
        other => {
            return Err(ApiError::bad(format!(
                "auth is \"secret\" or \"key\", not {other:?}"
            )))
        }
    };
    let (name, url) = (
        name.to_owned(),
        body.url.trim().trim_end_matches('/').to_owned(),
    );
    let (ca_pem, auth) = (body.ca_pem.clone(), body.auth.clone());
    Ok(app
        .db
        .run(move |s| s.create_endpoint(&name, &url, &ca_pem, &auth, secret.as_deref(), &profiles))
        .await?)
}

async fn create_endpoint(
    State(app): State<Shared>,
    who: Authed,
    JsonBody(body): JsonBody<NewEndpoint>,
) -> ApiResult<Response> {
    let endpoint = Action::start(&who, Role::Admin, "endpoint.create")?
        .at(body.name.trim(), "")
        .on(body.url.trim())
        .run(&app, add_endpoint(&app, &body))
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(endpoint_json(&app, &endpoint, &who).await),
    )
        .into_response())
}

#[derive(Deserialize)]
struct EndpointChange {
    /// The whole new mapping; `{}` removes it.
    profiles: Option<Value>,
}

async fn update_endpoint(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    JsonBody(body): JsonBody<EndpointChange>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "endpoint.update")?;
    let name = app
        .db
        .run(move |s| s.endpoint(id))
        .await
        .map(|e| e.name)
        .unwrap_or_else(|_| id.to_string());
    let result = match body.profiles.as_ref().map(profile_map) {
        None => Err(ApiError::bad("nothing to change: send profiles")),
        Some(Err(e)) => Err(e),
        Some(Ok(profiles)) => app
            .db
            .run(move |s| s.set_endpoint_profiles(id, &profiles))
            .await
            .map_err(ApiError::from),
    };
    let detail = match &result {
        Ok(endpoint) => format!("profiles {}", endpoint.profiles.describe()),
        Err(_) => "profiles".to_owned(),
    };
    let endpoint = action
        .at(&name, "")
        .on(format!("{name} ({detail})"))
        .finish(&app, result)
        .await?;
    // Its tokens name other profiles now: a new client, with new connections.
    if let Err(e) = app.agents.replace(&endpoint) {
        tracing::debug!(error = %e, "the endpoint has no client");
    }
    Ok(Json(endpoint_json(&app, &endpoint, &who).await))
}

async fn delete_endpoint(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "endpoint.delete")?;
    let result = app.db.run(move |s| s.delete_endpoint(id)).await;
    let name = result.as_ref().map(|e| e.name.clone()).unwrap_or_default();
    action.at(&name, "").on(&name).finish(&app, result).await?;
    app.agents.forget(id);
    Ok(Json(json!({})))
}

async fn console_key(State(app): State<Shared>, _who: Authed) -> Json<Value> {
    Json(json!({ "public_key_pem": app.key.public_pem() }))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn node_counts_are_by_name_alive_first() {
        let members = json!({"Members": [
            {"NodeName": "a", "State": "alive"},
            {"NodeName": "b", "State": "down"},
            {"NodeName": "b", "State": "alive"},
            {"NodeName": "c", "State": "down"},
        ]});
        assert_eq!(node_counts(&members), (2, 3));
    }
}
