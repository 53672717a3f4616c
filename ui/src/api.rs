//! The JSON API under `/api/` (documented in `docs/console-api.md`): sessions, users,
//! endpoints, a cluster's objects through its agent, and the audit log.

use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::body::Body;
use axum::extract::{FromRequestParts, Path, Query, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};

use crate::agent::{AgentClient, AgentError, ConsoleKey, SendOptions};
use crate::auth::{self, LoginLimiter, Role};
use crate::profiles::ProfileMap;
use crate::store::{AuditEntry, AuditFilter, Endpoint, Store, StoreError};

pub const COOKIE: &str = "bosun_session";
const SESSION_SECS: i64 = 12 * 3600;
const AGENT_TIMEOUT: Duration = Duration::from_secs(15);
const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Stopping or restarting waits for the container's stop timeout.
const ACTION_TIMEOUT: Duration = Duration::from_secs(120);
/// The most of a container's log or an exec's output read into one answer.
const MAX_OUTPUT: usize = 32 << 20;

/// Everything the handlers share.
pub struct App {
    pub store: Store,
    pub key: Arc<ConsoleKey>,
    pub limiter: LoginLimiter,
}

type Shared = Arc<App>;

/// The client's address, put on each request by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

// ---------------------------------------------------------------------------------------
// Errors.

#[derive(Debug)]
pub struct ApiError {
    status: StatusCode,
    message: String,
}

impl ApiError {
    pub fn new(status: StatusCode, message: impl Into<String>) -> Self {
        Self {
            status,
            message: message.into(),
        }
    }

    fn bad(message: impl Into<String>) -> Self {
        Self::new(StatusCode::BAD_REQUEST, message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        (self.status, Json(json!({ "message": self.message }))).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> Self {
        let status = match e {
            StoreError::Conflict(_) => StatusCode::CONFLICT,
            StoreError::NotFound(_) => StatusCode::NOT_FOUND,
            StoreError::Sql(_) => {
                tracing::error!(error = %e, "database");
                StatusCode::INTERNAL_SERVER_ERROR
            }
        };
        Self::new(status, e.to_string())
    }
}

impl From<AgentError> for ApiError {
    fn from(e: AgentError) -> Self {
        let status = match &e {
            // The agent refused the console's token: not the browser's session.
            AgentError::Status { status, .. } if *status == StatusCode::UNAUTHORIZED => {
                StatusCode::BAD_GATEWAY
            }
            AgentError::Status { status, .. } => *status,
            AgentError::Config(_) => StatusCode::BAD_REQUEST,
            AgentError::Unreachable { .. } | AgentError::Bad(_) => StatusCode::BAD_GATEWAY,
        };
        Self::new(status, e.to_string())
    }
}

type ApiResult<T> = Result<T, ApiError>;

// ---------------------------------------------------------------------------------------
// Sessions.

/// A logged-in user. State-changing requests must carry the session's CSRF token.
pub struct Authed {
    pub username: String,
    pub role: Role,
    pub csrf: String,
    token_hash: String,
}

impl Authed {
    fn require(&self, role: Role) -> ApiResult<()> {
        if self.role >= role {
            Ok(())
        } else {
            Err(ApiError::new(
                StatusCode::FORBIDDEN,
                format!(
                    "this needs the {} role; {} is {}",
                    role.as_str(),
                    self.username,
                    self.role.as_str()
                ),
            ))
        }
    }
}

fn cookie_token(headers: &HeaderMap) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == COOKIE)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<Shared> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "log in first");
        let token = cookie_token(&parts.headers).ok_or_else(unauthorized)?;
        let token_hash = auth::token_hash(&token);
        let session = app.store.session(&token_hash)?.ok_or_else(unauthorized)?;
        let safe = parts.method == Method::GET || parts.method == Method::HEAD;
        if !safe {
            let sent = parts
                .headers
                .get("x-csrf-token")
                .and_then(|v| v.to_str().ok())
                .unwrap_or_default();
            if !auth::same(sent, &session.csrf) {
                return Err(ApiError::new(
                    StatusCode::FORBIDDEN,
                    "missing or wrong X-CSRF-Token",
                ));
            }
        }
        Ok(Self {
            username: session.username,
            role: session.role,
            csrf: session.csrf,
            token_hash,
        })
    }
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .expect("a cookie of visible ASCII")
}

/// Opens a session and answers as `/api/login` does.
fn open_session(app: &App, username: &str, role: Role) -> ApiResult<Response> {
    let token = auth::random_token();
    let csrf = auth::random_token();
    app.store.create_session(
        &auth::token_hash(&token),
        username,
        &csrf,
        crate::store::now_secs() + SESSION_SECS,
    )?;
    let mut resp = Json(json!({
        "user": {"username": username, "role": role},
        "csrf": csrf,
    }))
    .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&token, SESSION_SECS));
    Ok(resp)
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

fn check_new_user(username: &str, password: &str) -> ApiResult<()> {
    if !auth::valid_username(username) {
        return Err(ApiError::bad(
            "a user name is 1 to 64 letters, digits, '.', '_', '-' or '@'",
        ));
    }
    if password.chars().count() < auth::MIN_PASSWORD {
        return Err(ApiError::bad(format!(
            "a password has at least {} characters",
            auth::MIN_PASSWORD
        )));
    }
    Ok(())
}

fn audit(app: &App, entry: AuditEntry<'_>) {
    if let Err(e) = app.store.audit(&entry) {
        tracing::error!(error = %e, action = entry.action, "cannot write the audit log");
    }
}

async fn setup_state(State(app): State<Shared>) -> ApiResult<Json<Value>> {
    Ok(Json(json!({ "needed": !app.store.has_admin()? })))
}

async fn setup(State(app): State<Shared>, Json(body): Json<LoginBody>) -> ApiResult<Response> {
    check_new_user(&body.username, &body.password)?;
    if app.store.has_admin()? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the console is set up already: log in",
        ));
    }
    let hash = auth::hash_password(&body.password)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    app.store.create_first_admin(&body.username, &hash)?;
    audit(
        &app,
        AuditEntry {
            user: &body.username,
            action: "setup",
            target: &body.username,
            ..Default::default()
        },
    );
    open_session(&app, &body.username, Role::Admin)
}

async fn login(
    State(app): State<Shared>,
    axum::Extension(ClientAddr(addr)): axum::Extension<ClientAddr>,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    if body.username.is_empty() || body.username.len() > 64 || body.password.len() > 1024 {
        return Err(ApiError::new(
            StatusCode::UNAUTHORIZED,
            "wrong user name or password",
        ));
    }
    let keys = [
        format!("user:{}", body.username),
        format!("addr:{}", addr.ip()),
    ];
    // Counted as a failure before the password is checked, so that parallel attempts
    // cannot all pass the limit; a success takes it back.
    if !app.limiter.attempt(&keys) {
        audit(
            &app,
            AuditEntry {
                user: &body.username,
                action: "login_failed",
                target: &body.username,
                error: Some("too many failed logins"),
                ..Default::default()
            },
        );
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a few minutes",
        ));
    }
    let found = app.store.credentials(&body.username)?;
    let hash = found
        .as_ref()
        .map(|(h, _)| h.as_str())
        .unwrap_or(auth::decoy_hash());
    let password = body.password.clone();
    let hash_owned = hash.to_owned();
    let ok = tokio::task::spawn_blocking(move || auth::verify_password(&password, &hash_owned))
        .await
        .unwrap_or(false);
    match found {
        Some((_, role)) if ok => {
            app.limiter.succeeded(&keys);
            audit(
                &app,
                AuditEntry {
                    user: &body.username,
                    action: "login",
                    target: &body.username,
                    ..Default::default()
                },
            );
            open_session(&app, &body.username, role)
        }
        _ => {
            audit(
                &app,
                AuditEntry {
                    user: &body.username,
                    action: "login_failed",
                    target: &body.username,
                    error: Some("wrong user name or password"),
                    ..Default::default()
                },
            );
            Err(ApiError::new(
                StatusCode::UNAUTHORIZED,
                "wrong user name or password",
            ))
        }
    }
}

async fn logout(State(app): State<Shared>, who: Authed) -> ApiResult<Response> {
    app.store.delete_session(&who.token_hash)?;
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            action: "logout",
            target: &who.username,
            ..Default::default()
        },
    );
    let mut resp = Json(json!({})).into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie("", 0));
    Ok(resp)
}

async fn session(who: Authed) -> Json<Value> {
    Json(json!({
        "user": {"username": who.username, "role": who.role},
        "csrf": who.csrf,
    }))
}

// ---------------------------------------------------------------------------------------
// Users.

async fn users(State(app): State<Shared>, who: Authed) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    Ok(Json(json!(app.store.users()?)))
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
    Json(body): Json<NewUser>,
) -> ApiResult<Response> {
    who.require(Role::Admin)?;
    check_new_user(&body.username, &body.password)?;
    let hash = auth::hash_password(&body.password)
        .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?;
    let result = app.store.create_user(&body.username, &hash, body.role);
    let error = result.as_ref().err().map(|e| e.to_string());
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            action: "user.create",
            target: &body.username,
            error: error.as_deref(),
            ..Default::default()
        },
    );
    Ok((StatusCode::CREATED, Json(json!(result?))).into_response())
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
    Json(body): Json<UserChange>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    let hash = match &body.password {
        Some(p) => {
            check_password(p)?;
            Some(
                auth::hash_password(p)
                    .map_err(|e| ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, e))?,
            )
        }
        None => None,
    };
    let result = app.store.update_user(&username, body.role, hash.as_deref());
    let error = result.as_ref().err().map(|e| e.to_string());
    let detail = match (body.role, body.password.is_some()) {
        (Some(role), true) => format!("role {}, password", role.as_str()),
        (Some(role), false) => format!("role {}", role.as_str()),
        (None, true) => "password".to_owned(),
        (None, false) => String::new(),
    };
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            action: "user.update",
            target: &format!("{username} ({detail})"),
            error: error.as_deref(),
            ..Default::default()
        },
    );
    Ok(Json(json!(result?)))
}

async fn delete_user(
    State(app): State<Shared>,
    who: Authed,
    Path(username): Path<String>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    let result = app.store.delete_user(&username);
    let error = result.as_ref().err().map(|e| e.to_string());
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            action: "user.delete",
            target: &username,
            error: error.as_deref(),
            ..Default::default()
        },
    );
    result?;
    Ok(Json(json!({})))
}

// ---------------------------------------------------------------------------------------
// Endpoints.

fn client(app: &App, endpoint: &Endpoint) -> ApiResult<AgentClient> {
    Ok(AgentClient::new(endpoint, &app.key)?)
}

/// An endpoint's state as its agent tells it now.
async fn endpoint_status(app: &App, endpoint: &Endpoint, who: &Authed) -> Value {
    let client = match client(app, endpoint) {
        Ok(c) => c,
        Err(e) => return json!({"reachable": false, "error": e.message}),
    };
    let members = client.get_json(
        &who.username,
        who.role,
        "/agent/v1/members",
        None,
        STATUS_TIMEOUT,
    );
    let containers = client.get_json(
        &who.username,
        who.role,
        "/containers/json?all=1",
        None,
        STATUS_TIMEOUT,
    );
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

fn partial_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-agent-partial")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// An endpoint as the API shows it. Its profile mapping names users, so only admins see
/// it, as only they see the users.
fn endpoint_json(endpoint: &Endpoint, status: Value, who: &Authed) -> Value {
    let mut v = json!(endpoint);
    v["status"] = status;
    if who.role == Role::Admin {
        v["profiles"] = json!(endpoint.profiles);
    }
    v
}

async fn endpoints(State(app): State<Shared>, who: Authed) -> ApiResult<Json<Value>> {
    let list = app.store.endpoints()?;
    let statuses =
        futures_util::future::join_all(list.iter().map(|e| endpoint_status(&app, e, &who))).await;
    Ok(Json(Value::Array(
        list.iter()
            .zip(statuses)
            .map(|(e, s)| endpoint_json(e, s, &who))
            .collect(),
    )))
}

async fn endpoint(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let endpoint = app.store.endpoint(id)?;
    let status = endpoint_status(&app, &endpoint, &who).await;
    Ok(Json(endpoint_json(&endpoint, status, &who)))
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

async fn create_endpoint(
    State(app): State<Shared>,
    who: Authed,
    Json(body): Json<NewEndpoint>,
) -> ApiResult<Response> {
    who.require(Role::Admin)?;
    let result = (|| {
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
                bosun_agent::secret::Secret::from_text(secret)
                    .map_err(|e| ApiError::bad(format!("the cluster secret: {e}")))?;
                Some(secret)
            }
            "key" => None,
            other => {
                return Err(ApiError::bad(format!(
                    "auth is \"secret\" or \"key\", not {other:?}"
                )))
            }
        };
        Ok(app.store.create_endpoint(
            name,
            body.url.trim().trim_end_matches('/'),
            &body.ca_pem,
            &body.auth,
            secret,
            &profiles,
        )?)
    })();
    let error = result.as_ref().err().map(|e| e.message.clone());
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            endpoint: body.name.trim(),
            action: "endpoint.create",
            target: body.url.trim(),
            error: error.as_deref(),
            ..Default::default()
        },
    );
    let endpoint = result?;
    let status = endpoint_status(&app, &endpoint, &who).await;
    Ok((
        StatusCode::CREATED,
        Json(endpoint_json(&endpoint, status, &who)),
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
    Json(body): Json<EndpointChange>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    let name = app
        .store
        .endpoint(id)
        .map(|e| e.name)
        .unwrap_or_else(|_| id.to_string());
    let result = (|| {
        let Some(profiles) = &body.profiles else {
            return Err(ApiError::bad("nothing to change: send profiles"));
        };
        let profiles = profile_map(profiles)?;
        Ok(app.store.set_endpoint_profiles(id, &profiles)?)
    })();
    let error = result.as_ref().err().map(|e| e.message.clone());
    let detail = match &result {
        Ok(endpoint) => format!("profiles {}", endpoint.profiles.describe()),
        Err(_) => "profiles".to_owned(),
    };
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            endpoint: &name,
            action: "endpoint.update",
            target: &format!("{name} ({detail})"),
            error: error.as_deref(),
            ..Default::default()
        },
    );
    let endpoint = result?;
    let status = endpoint_status(&app, &endpoint, &who).await;
    Ok(Json(endpoint_json(&endpoint, status, &who)))
}

async fn delete_endpoint(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    let result = app.store.delete_endpoint(id);
    let error = result.as_ref().err().map(|e| e.to_string());
    let name = result.as_ref().map(|e| e.name.clone()).unwrap_or_default();
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            endpoint: &name,
            action: "endpoint.delete",
            target: &name,
            error: error.as_deref(),
            ..Default::default()
        },
    );
    result?;
    Ok(Json(json!({})))
}

async fn console_key(State(app): State<Shared>, _who: Authed) -> Json<Value> {
    Json(json!({ "public_key_pem": app.key.public_pem() }))
}

// ---------------------------------------------------------------------------------------
// A cluster's objects.

/// The endpoint and a client for it.
fn open(app: &App, id: i64) -> ApiResult<(Endpoint, AgentClient)> {
    let endpoint = app.store.endpoint(id)?;
    let client = client(app, &endpoint)?;
    Ok((endpoint, client))
}

async fn list(app: &App, who: &Authed, id: i64, path: &str) -> ApiResult<Json<Value>> {
    let (_, client) = open(app, id)?;
    let (headers, value) = client
        .get_json(&who.username, who.role, path, None, AGENT_TIMEOUT)
        .await?;
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
        if let Some(node) = sole_node(&client, who).await {
            for item in &mut items {
                name_node(item, &node);
            }
        }
    }
    Ok(Json(
        json!({"items": items, "partial": partial_of(&headers)}),
    ))
}

/// The node of a standalone agent (one that gossips with no other), whose answers are
/// the engine's own and name no node.
async fn sole_node(client: &AgentClient, who: &Authed) -> Option<String> {
    let (_, members) = client
        .get_json(
            &who.username,
            who.role,
            "/agent/v1/members",
            None,
            STATUS_TIMEOUT,
        )
        .await
        .ok()?;
    match members["Members"].as_array().map(Vec::as_slice) {
        Some([only]) => only["NodeName"].as_str().map(str::to_owned),
        _ => None,
    }
}

/// Adds `"Agent": {"NodeName": node}` to an object that names no node.
fn name_node(item: &mut Value, node: &str) {
    if item.is_object() && item["Agent"]["NodeName"].is_null() {
        item["Agent"] = json!({ "NodeName": node });
    }
}

async fn nodes(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let (_, client) = open(&app, id)?;
    let (_, members) = client
        .get_json(
            &who.username,
            who.role,
            "/agent/v1/members",
            None,
            AGENT_TIMEOUT,
        )
        .await?;
    let mut items: Vec<Value> = members["Members"].as_array().cloned().unwrap_or_default();
    let infos = futures_util::future::join_all(items.iter().map(|m| {
        let node = m["NodeName"].as_str().unwrap_or_default().to_owned();
        let alive = m["State"] == "alive";
        let client = &client;
        let who = &who;
        async move {
            if !alive {
                return None;
            }
            client
                .get_json(
                    &who.username,
                    who.role,
                    "/info",
                    Some(&node),
                    STATUS_TIMEOUT,
                )
                .await
                .ok()
                .map(|(_, info)| info)
        }
    }))
    .await;
    for (item, info) in items.iter_mut().zip(infos) {
        if let (Some(info), true) = (info, item.is_object()) {
            item["Info"] = json!({
                "ServerVersion": info["ServerVersion"],
                "NCPU": info["NCPU"],
                "MemTotal": info["MemTotal"],
                "OperatingSystem": info["OperatingSystem"],
                "KernelVersion": info["KernelVersion"],
                "Containers": info["Containers"],
                "ContainersRunning": info["ContainersRunning"],
            });
        }
    }
    Ok(Json(json!({"items": items, "partial": null})))
}

/// The route of a cluster-wide list: the agent's `path`, answered as `{items, partial}`.
fn lister(path: &'static str) -> axum::routing::MethodRouter<Shared> {
    get(
        move |State(app): State<Shared>, who: Authed, Path(id): Path<i64>| async move {
            list(&app, &who, id, path).await
        },
    )
}

/// A container ID or name, checked before it goes into a path.
fn container_ref(cid: &str) -> ApiResult<&str> {
    let ok = cid.len() <= 128
        && cid.starts_with(|c: char| c.is_ascii_alphanumeric())
        && cid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(cid)
    } else {
        Err(ApiError::bad(format!(
            "{cid:?} is not a container name or ID"
        )))
    }
}

async fn container(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
) -> ApiResult<Json<Value>> {
    let cid = container_ref(&cid)?;
    let (_, client) = open(&app, id)?;
    let (_, mut value) = client
        .get_json(
            &who.username,
            who.role,
            &format!("/containers/{cid}/json"),
            None,
            AGENT_TIMEOUT,
        )
        .await?;
    let found = place(&client, &who, cid, Some(&value)).await;
    if value.is_object() {
        value["Agent"] = json!({ "NodeName": found.node });
    }
    Ok(Json(value))
}

/// Where a container is: its node, name and full ID. The reference is resolved by the
/// agent's inspect (exact, as the engine resolves it), the node from the cluster's list
/// filtered by that full ID.
struct Located {
    node: String,
    name: String,
    id: String,
}

async fn locate(client: &AgentClient, who: &Authed, cid: &str) -> Located {
    let inspect = client
        .get_json(
            &who.username,
            who.role,
            &format!("/containers/{cid}/json"),
            None,
            STATUS_TIMEOUT,
        )
        .await
        .ok()
        .map(|(_, inspect)| inspect);
    place(client, who, cid, inspect.as_ref()).await
}

/// [`locate`] from the container's inspect, when the caller has it already.
async fn place(client: &AgentClient, who: &Authed, cid: &str, inspect: Option<&Value>) -> Located {
    let mut found = Located {
        node: String::new(),
        name: cid.to_owned(),
        id: cid.to_owned(),
    };
    let Some(inspect) = inspect else {
        return found;
    };
    if let Some(id) = inspect["Id"].as_str() {
        found.id = id.to_owned();
    }
    if let Some(name) = inspect["Name"].as_str() {
        found.name = name.trim_start_matches('/').to_owned();
    }
    let filter = json!({ "id": [found.id] }).to_string();
    let path = format!("/containers/json?all=1&filters={}", percent_encode(&filter));
    if let Ok((_, list)) = client
        .get_json(&who.username, who.role, &path, None, STATUS_TIMEOUT)
        .await
    {
        if let Some(node) = list
            .as_array()
            .and_then(|a| a.iter().find(|c| c["Id"] == found.id.as_str()))
            .and_then(|c| c["Agent"]["NodeName"].as_str())
        {
            found.node = node.to_owned();
        }
    }
    if found.node.is_empty() {
        if let Some(sole) = sole_node(client, who).await {
            found.node = sole;
        }
    }
    found
}

fn percent_encode(text: &str) -> String {
    text.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
                (b as char).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// Runs a state-changing call for a container or service and records it.
#[allow(clippy::too_many_arguments)]
async fn act(
    app: &App,
    who: &Authed,
    endpoint: &Endpoint,
    client: &AgentClient,
    node: &str,
    action: &str,
    target: &str,
    method: Method,
    path: &str,
    body: Option<Value>,
) -> ApiResult<Bytes> {
    // Run where the object is, so that the reference cannot resolve elsewhere.
    let opts = SendOptions {
        target: (!node.is_empty()).then_some(node),
        upgrade: false,
    };
    let result = client
        .call(
            &who.username,
            who.role,
            method,
            path,
            body,
            opts,
            ACTION_TIMEOUT,
        )
        .await;
    let error = result.as_ref().err().map(|e| e.to_string());
    audit(
        app,
        AuditEntry {
            user: &who.username,
            endpoint: &endpoint.name,
            node,
            action,
            target,
            error: error.as_deref(),
        },
    );
    Ok(result?.1)
}

async fn container_action(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid, action)): Path<(i64, String, String)>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let cid = container_ref(&cid)?;
    if !matches!(action.as_str(), "start" | "stop" | "restart" | "kill") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            format!("no container action {action:?}"),
        ));
    }
    let (endpoint, client) = open(&app, id)?;
    let found = locate(&client, &who, cid).await;
    act(
        &app,
        &who,
        &endpoint,
        &client,
        &found.node,
        &format!("container.{action}"),
        &found.name,
        Method::POST,
        &format!("/containers/{}/{action}", found.id),
        None,
    )
    .await?;
    Ok(Json(json!({})))
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
    who.require(Role::Operator)?;
    let cid = container_ref(&cid)?;
    let (endpoint, client) = open(&app, id)?;
    let found = locate(&client, &who, cid).await;
    let force = matches!(q.force.as_deref(), Some("1" | "true"));
    act(
        &app,
        &who,
        &endpoint,
        &client,
        &found.node,
        "container.remove",
        &found.name,
        Method::DELETE,
        &format!("/containers/{}?force={force}", found.id),
        None,
    )
    .await?;
    Ok(Json(json!({})))
}

#[derive(Deserialize)]
struct ExecBody {
    cmd: Vec<String>,
}

async fn exec(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Json(body): Json<ExecBody>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let cid = container_ref(&cid)?;
    if body.cmd.is_empty() {
        return Err(ApiError::bad("cmd is empty"));
    }
    let (endpoint, client) = open(&app, id)?;
    let found = locate(&client, &who, cid).await;
    let result = run_exec(&client, &who, &found.id, &body.cmd).await;
    let error = result.as_ref().err().map(|e| e.message.clone());
    audit(
        &app,
        AuditEntry {
            user: &who.username,
            endpoint: &endpoint.name,
            node: &found.node,
            action: "container.exec",
            target: &format!("{}: {}", found.name, body.cmd.join(" ")),
            error: error.as_deref(),
        },
    );
    let (exit_code, output) = result?;
    Ok(Json(json!({"exit_code": exit_code, "output": output})))
}

/// Creates an exec, runs it to its end (at most a minute) and returns its exit code and
/// output, stdout and stderr interleaved.
async fn run_exec(
    client: &AgentClient,
    who: &Authed,
    cid: &str,
    cmd: &[String],
) -> ApiResult<(i64, String)> {
    let (_, created) = client
        .call(
            &who.username,
            who.role,
            Method::POST,
            &format!("/containers/{cid}/exec"),
            Some(json!({"AttachStdout": true, "AttachStderr": true, "Cmd": cmd})),
            SendOptions::default(),
            AGENT_TIMEOUT,
        )
        .await?;
    let exec_id = serde_json::from_slice::<Value>(&created)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_owned))
        .ok_or_else(|| ApiError::new(StatusCode::BAD_GATEWAY, "no exec ID in the answer"))?;
    let resp = client
        .open(
            &who.username,
            who.role,
            Method::POST,
            &format!("/exec/{exec_id}/start"),
            Some(json!({"Detach": false, "Tty": false})),
            SendOptions {
                target: None,
                upgrade: true,
            },
        )
        .await?;
    let status = resp.status();
    let mut raw = Vec::new();
    let read = async {
        if status == StatusCode::SWITCHING_PROTOCOLS {
            use tokio::io::AsyncReadExt;
            let upgraded = hyper::upgrade::on(resp)
                .await
                .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
            let io = hyper_util::rt::TokioIo::new(upgraded);
            io.take(MAX_OUTPUT as u64)
                .read_to_end(&mut raw)
                .await
                .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
            Ok(())
        } else {
            raw = http_body_util::Limited::new(resp.into_body(), MAX_OUTPUT)
                .collect()
                .await
                .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?
                .to_bytes()
                .to_vec();
            Ok::<(), ApiError>(())
        }
    };
    tokio::time::timeout(Duration::from_secs(60), read)
        .await
        .map_err(|_| {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the command ran over a minute")
        })??;
    let output = String::from_utf8_lossy(&demux(&raw).0).into_owned();
    // The command ran: its output stands even if its exit code cannot be read.
    let exit_code = client
        .get_json(
            &who.username,
            who.role,
            &format!("/exec/{exec_id}/json"),
            None,
            AGENT_TIMEOUT,
        )
        .await
        .ok()
        .and_then(|(_, inspect)| inspect["ExitCode"].as_i64())
        .unwrap_or(-1);
    Ok((exit_code, output))
}

/// Docker's multiplexed stream (8-byte frame headers) to its payload; the rest that is not
/// a whole frame yet is returned second. Text that is not multiplexed (a TTY) is kept as is.
fn demux(raw: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while rest.len() >= 8 {
        let multiplexed = matches!(rest[0], 0..=2) && rest[1..4] == [0, 0, 0];
        if !multiplexed {
            out.extend_from_slice(rest);
            return (out, &[]);
        }
        let size = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() < 8 + size {
            break;
        }
        out.extend_from_slice(&rest[8..8 + size]);
        rest = &rest[8 + size..];
    }
    (out, rest)
}

#[derive(Deserialize)]
struct LogsQuery {
    tail: Option<String>,
    follow: Option<String>,
    timestamps: Option<String>,
}

async fn logs(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<LogsQuery>,
) -> ApiResult<Response> {
    let cid = container_ref(&cid)?.to_owned();
    let (_, client) = open(&app, id)?;
    let tail = match q.tail.as_deref() {
        None | Some("") => "200".to_owned(),
        Some("all") => "all".to_owned(),
        Some(n) => n
            .parse::<u32>()
            .map_err(|_| ApiError::bad("tail is a number or \"all\""))?
            .to_string(),
    };
    let follow = matches!(q.follow.as_deref(), Some("1" | "true"));
    let timestamps = matches!(q.timestamps.as_deref(), Some("1" | "true"));
    let (_, inspect) = client
        .get_json(
            &who.username,
            who.role,
            &format!("/containers/{cid}/json"),
            None,
            AGENT_TIMEOUT,
        )
        .await?;
    let tty = inspect["Config"]["Tty"] == true;
    let path = format!(
        "/containers/{cid}/logs?stdout=1&stderr=1&tail={tail}&follow={follow}&timestamps={timestamps}"
    );
    let resp = client
        .open(
            &who.username,
            who.role,
            Method::GET,
            &path,
            None,
            SendOptions::default(),
        )
        .await?;
    let mut body = resp.into_body();
    if !follow {
        let raw = tokio::time::timeout(
            AGENT_TIMEOUT,
            http_body_util::Limited::new(body, MAX_OUTPUT).collect(),
        )
        .await
        .map_err(|_| ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the logs took too long"))?
        .map_err(|_| {
            ApiError::new(
                StatusCode::BAD_GATEWAY,
                "the log is over 32 MiB: ask for fewer lines with tail",
            )
        })?
        .to_bytes();
        let text = if tty { raw.to_vec() } else { demux(&raw).0 };
        return Ok((
            [(header::CONTENT_TYPE, "text/plain; charset=utf-8")],
            String::from_utf8_lossy(&text).into_owned(),
        )
            .into_response());
    }
    // Follow: each line as a server-sent event, for as long as the browser listens.
    let stream = async_stream(move |tx| async move {
        let mut pending: Vec<u8> = Vec::new();
        let mut line = Vec::new();
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                // The browser left: stop reading, and the agent's stream closes.
                _ = tx.closed() => return,
            };
            let Some(Ok(frame)) = frame else { break };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            let text = if tty {
                std::mem::take(&mut pending)
            } else {
                let (out, rest) = demux(&pending);
                pending = rest.to_vec();
                out
            };
            for b in text {
                if b != b'\n' {
                    line.push(b);
                }
                // A line ends at a newline, or at 64 KiB for output that has none.
                if b == b'\n' || line.len() >= 64 * 1024 {
                    let event = sse_data(&String::from_utf8_lossy(&line));
                    line.clear();
                    if tx.send(event).await.is_err() {
                        return;
                    }
                }
            }
        }
        if !line.is_empty() {
            let _ = tx.send(sse_data(&String::from_utf8_lossy(&line))).await;
        }
    });
    Ok(sse_response(stream))
}

fn sse_data(text: &str) -> Bytes {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.trim_end_matches('\r').split(['\n', '\r']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

fn sse_response(
    stream: impl futures_util::Stream<Item = Result<Bytes, Infallible>> + Send + 'static,
) -> Response {
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .expect("a response")
}

/// A stream fed by a task through a small channel; the task ends when the reader goes.
fn async_stream<F, Fut>(produce: F) -> impl futures_util::Stream<Item = Result<Bytes, Infallible>>
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    tokio::spawn(produce(tx));
    futures_util::stream::unfold(
        rx,
        |mut rx| async move { rx.recv().await.map(|b| (Ok(b), rx)) },
    )
}

async fn events(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Response> {
    let (_, client) = open(&app, id)?;
    let sole = sole_node(&client, &who).await;
    let resp = client
        .open(
            &who.username,
            who.role,
            Method::GET,
            "/events",
            None,
            SendOptions::default(),
        )
        .await?;
    let mut body = resp.into_body();
    let stream = async_stream(move |tx| async move {
        // A comment first, so the browser knows the stream is open.
        if tx.send(Bytes::from_static(b": open\n\n")).await.is_err() {
            return;
        }
        let mut pending: Vec<u8> = Vec::new();
        loop {
            let frame = tokio::select! {
                frame = body.frame() => frame,
                _ = tx.closed() => return,
                _ = tokio::time::sleep(Duration::from_secs(15)) => {
                    if tx.send(Bytes::from_static(b": keep-alive\n\n")).await.is_err() {
                        return;
                    }
                    continue;
                }
            };
            let Some(Ok(frame)) = frame else { break };
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(at) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                let text = String::from_utf8_lossy(&line);
                let text = text.trim();
                if text.is_empty() {
                    continue;
                }
                let event = match (&sole, serde_json::from_str::<Value>(text)) {
                    (Some(node), Ok(mut event)) if event["Agent"]["NodeName"].is_null() => {
                        name_node(&mut event, node);
                        sse_data(&event.to_string())
                    }
                    _ => sse_data(text),
                };
                if tx.send(event).await.is_err() {
                    return;
                }
            }
        }
    });
    Ok(sse_response(stream))
}

async fn stats(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
) -> ApiResult<Json<Value>> {
    let cid = container_ref(&cid)?;
    let (_, client) = open(&app, id)?;
    let (_, mut s) = client
        .get_json(
            &who.username,
            who.role,
            &format!("/containers/{cid}/stats?stream=false"),
            None,
            AGENT_TIMEOUT,
        )
        .await?;
    let cpu = |v: &Value| v["cpu_usage"]["total_usage"].as_f64().unwrap_or(0.0);
    let system = |v: &Value| v["system_cpu_usage"].as_f64().unwrap_or(0.0);
    let cpu_delta = cpu(&s["cpu_stats"]) - cpu(&s["precpu_stats"]);
    let system_delta = system(&s["cpu_stats"]) - system(&s["precpu_stats"]);
    let cpus = s["cpu_stats"]["online_cpus"].as_f64().unwrap_or(1.0);
    let cpu_percent = if cpu_delta > 0.0 && system_delta > 0.0 {
        cpu_delta / system_delta * cpus * 100.0
    } else {
        0.0
    };
    if !s.is_object() {
        return Err(ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the stats are not a JSON object",
        ));
    }
    let cache = s["memory_stats"]["stats"]["inactive_file"]
        .as_f64()
        .or_else(|| s["memory_stats"]["stats"]["cache"].as_f64())
        .unwrap_or(0.0);
    let usage = (s["memory_stats"]["usage"].as_f64().unwrap_or(0.0) - cache).max(0.0);
    s["cpu_percent"] = json!((cpu_percent * 100.0).round() / 100.0);
    s["memory_usage"] = json!(usage as u64);
    s["memory_limit"] = s["memory_stats"]["limit"].clone();
    Ok(Json(s))
}

#[derive(Deserialize)]
struct ScaleBody {
    replicas: u64,
}

async fn scale_service(
    State(app): State<Shared>,
    who: Authed,
    Path((id, sid)): Path<(i64, String)>,
    Json(body): Json<ScaleBody>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let sid = container_ref(&sid)?;
    let (endpoint, client) = open(&app, id)?;
    let (_, service) = client
        .get_json(
            &who.username,
            who.role,
            &format!("/services/{sid}"),
            None,
            AGENT_TIMEOUT,
        )
        .await?;
    let name = service["Spec"]["Name"].as_str().unwrap_or(sid).to_owned();
    let version = service["Version"]["Index"].as_u64().unwrap_or(0);
    let mut spec = service["Spec"].clone();
    if spec["Mode"]["Replicated"].is_null() {
        return Err(ApiError::bad(format!(
            "service {name} is not replicated: it cannot be scaled"
        )));
    }
    spec["Mode"]["Replicated"]["Replicas"] = json!(body.replicas);
    act(
        &app,
        &who,
        &endpoint,
        &client,
        "",
        "service.scale",
        &format!("{name} to {}", body.replicas),
        Method::POST,
        &format!("/services/{sid}/update?version={version}"),
        Some(spec),
    )
    .await?;
    Ok(Json(json!({})))
}

async fn remove_service(
    State(app): State<Shared>,
    who: Authed,
    Path((id, sid)): Path<(i64, String)>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let sid = container_ref(&sid)?;
    let (endpoint, client) = open(&app, id)?;
    let name = client
        .get_json(
            &who.username,
            who.role,
            &format!("/services/{sid}"),
            None,
            AGENT_TIMEOUT,
        )
        .await
        .ok()
        .and_then(|(_, s)| s["Spec"]["Name"].as_str().map(str::to_owned))
        .unwrap_or_else(|| sid.to_owned());
    act(
        &app,
        &who,
        &endpoint,
        &client,
        "",
        "service.remove",
        &name,
        Method::DELETE,
        &format!("/services/{sid}"),
        None,
    )
    .await?;
    Ok(Json(json!({})))
}

// ---------------------------------------------------------------------------------------
// The audit log.

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
    Ok(Json(json!(app.store.audit_rows(&filter)?)))
}

async fn not_found() -> ApiError {
    ApiError::new(StatusCode::NOT_FOUND, "no such API route")
}

/// The API's routes.
pub fn routes() -> Router<Shared> {
    let e = "/api/endpoints/{id}";
    Router::new()
        .route("/api/setup", get(setup_state).post(setup))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/session", get(session))
        .route("/api/users", get(users).post(create_user))
        .route(
            "/api/users/{username}",
            axum::routing::patch(update_user).delete(delete_user),
        )
        .route("/api/endpoints", get(endpoints).post(create_endpoint))
        .route(
            e,
            get(endpoint).patch(update_endpoint).delete(delete_endpoint),
        )
        .route("/api/console-key", get(console_key))
        .route(&format!("{e}/nodes"), get(nodes))
        .route(&format!("{e}/containers"), lister("/containers/json?all=1"))
        .route(
            &format!("{e}/containers/{{cid}}"),
            get(container).delete(remove_container),
        )
        .route(&format!("{e}/containers/{{cid}}/logs"), get(logs))
        .route(&format!("{e}/containers/{{cid}}/stats"), get(stats))
        .route(&format!("{e}/containers/{{cid}}/exec"), post(exec))
        .route(
            &format!("{e}/containers/{{cid}}/{{action}}"),
            post(container_action),
        )
        .route(&format!("{e}/services"), lister("/services"))
        .route(
            &format!("{e}/services/{{sid}}"),
            axum::routing::delete(remove_service),
        )
        .route(&format!("{e}/services/{{sid}}/scale"), post(scale_service))
        .route(&format!("{e}/tasks"), lister("/tasks"))
        .route(&format!("{e}/images"), lister("/images/json"))
        .route(&format!("{e}/volumes"), lister("/volumes"))
        .route(&format!("{e}/networks"), lister("/networks"))
        .route(&format!("{e}/events"), get(events))
        .route("/api/audit", get(audit_log))
        .route("/api/{*rest}", axum::routing::any(not_found))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_joins_frames_and_keeps_a_partial_one() {
        let mut raw = vec![1, 0, 0, 0, 0, 0, 0, 3];
        raw.extend_from_slice(b"ab\n");
        raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        raw.extend_from_slice(b"err\n");
        raw.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 9, b'x']);
        let (out, rest) = demux(&raw);
        assert_eq!(out, b"ab\nerr\n");
        assert_eq!(rest.len(), 9);
        let (tty, rest) = demux(b"plain text from a tty\n");
        assert_eq!(tty, b"plain text from a tty\n");
        assert!(rest.is_empty());
    }

    #[test]
    fn sse_data_splits_lines() {
        assert_eq!(&sse_data("a\nb")[..], b"data: a\ndata: b\n\n");
    }

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

    #[test]
    fn container_references_are_names_or_ids_only() {
        assert!(container_ref("web-1.a_b").is_ok());
        assert!(container_ref("../../secrets").is_err());
        assert!(container_ref("..").is_err());
        assert!(container_ref("a?b").is_err());
        assert!(container_ref("").is_err());
    }
}
