//! Sessions: the first admin's set-up, logging in and out, and [`Authed`], the logged-in
//! user every other route asks for.

use axum::extract::{FromRequestParts, State};
use axum::http::request::Parts;
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::users::check_new_user;
use super::{ApiError, ApiResult, App, ClientAddr, Shared};
use crate::agent::Caller;
use crate::auth::{self, Role};

pub const COOKIE: &str = "bosun_session";
const SESSION_SECS: i64 = 12 * 3600;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/setup", get(setup_state).post(setup))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/session", get(session))
}

/// A logged-in user. State-changing requests must carry the session's CSRF token.
pub struct Authed {
    pub username: String,
    pub role: Role,
    pub csrf: String,
    token_hash: String,
}

impl Authed {
    /// Refused (403) unless the user's role is at least `role`.
    pub(super) fn require(&self, role: Role) -> ApiResult<()> {
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

    /// The user as the agents hear of them.
    pub(super) fn caller(&self) -> Caller<'_> {
        Caller {
            user: &self.username,
            role: self.role,
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
        let lookup = token_hash.clone();
        let session = app
            .db
            .run(move |s| s.session(&lookup))
            .await?
            .ok_or_else(unauthorized)?;
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
async fn open_session(app: &App, username: &str, role: Role) -> ApiResult<Response> {
    let token = auth::random_token();
    let csrf = auth::random_token();
    let (hash, user, kept_csrf) = (auth::token_hash(&token), username.to_owned(), csrf.clone());
    let expires = crate::store::now_secs() + SESSION_SECS;
    app.db
        .run(move |s| s.create_session(&hash, &user, &kept_csrf, expires))
        .await?;
    let mut resp = Json(json!({
        "user": {"username": username, "role": role},
        "csrf": csrf,
    }))
    .into_response();
    resp.headers_mut()
        .insert(header::SET_COOKIE, session_cookie(&token, SESSION_SECS));
    Ok(resp)
}

async fn setup_state(State(app): State<Shared>) -> ApiResult<Json<Value>> {
    let has_admin = app.db.run(|s| s.has_admin()).await?;
    Ok(Json(json!({ "needed": !has_admin })))
}

async fn setup(State(app): State<Shared>, Json(body): Json<LoginBody>) -> ApiResult<Response> {
    check_new_user(&body.username, &body.password)?;
    if app.db.run(|s| s.has_admin()).await? {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the console is set up already: log in",
        ));
    }
    let hash = auth::spawn_hash(body.password)
        .await
        .map_err(ApiError::internal)?;
    let username = body.username.clone();
    app.db
        .run(move |s| s.create_first_admin(&username, &hash))
        .await?;
    Action::by(&body.username, "setup").record(&app, None).await;
    open_session(&app, &body.username, Role::Admin).await
}

async fn login(
    State(app): State<Shared>,
    axum::Extension(ClientAddr(addr)): axum::Extension<ClientAddr>,
    Json(body): Json<LoginBody>,
) -> ApiResult<Response> {
    const WRONG: &str = "wrong user name or password";
    if body.username.is_empty() || body.username.len() > 64 || body.password.len() > 1024 {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, WRONG));
    }
    let keys = [
        format!("user:{}", body.username),
        format!("addr:{}", addr.ip()),
    ];
    // Counted as a failure before the password is checked, so that parallel attempts
    // cannot all pass the limit; a success takes it back.
    if !app.limiter.attempt(&keys) {
        Action::by(&body.username, "login_failed")
            .record(&app, Some("too many failed logins"))
            .await;
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            "too many failed logins; wait a few minutes",
        ));
    }
    let username = body.username.clone();
    let found = app.db.run(move |s| s.credentials(&username)).await?;
    let (hash, role) = found.unzip();
    let verified = auth::spawn_verify(body.password, hash).await;
    match role {
        Some(role) if verified => {
            app.limiter.succeeded(&keys);
            Action::by(&body.username, "login").record(&app, None).await;
            open_session(&app, &body.username, role).await
        }
        _ => {
            let refused = Err::<Response, _>(ApiError::new(StatusCode::UNAUTHORIZED, WRONG));
            Action::by(&body.username, "login_failed")
                .finish(&app, refused)
                .await
        }
    }
}

async fn logout(State(app): State<Shared>, who: Authed) -> ApiResult<Response> {
    let token_hash = who.token_hash.clone();
    app.db.run(move |s| s.delete_session(&token_hash)).await?;
    Action::start(&who, Role::Viewer, "logout")?
        .record(&app, None)
        .await;
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
