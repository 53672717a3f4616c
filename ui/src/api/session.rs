//! Sessions: the first admin's set-up, logging in and out, [`Authed`], the logged-in
//! user every other route asks for, and `crate::app::SessionChanges`, which lets what a session
//! keeps open (streams, terminals) end when the session does.

use std::future::Future;
use std::net::{IpAddr, Ipv4Addr};
use std::time::Duration;

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
use super::{ApiError, ApiResult, App, ClientAddr, JsonBody, Shared};
use crate::agent::Caller;
use crate::auth::{self, personal, Role};
use crate::store::Db;

pub const COOKIE: &str = "bosun_session";
pub(super) const SESSION_SECS: i64 = 12 * 3600;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/setup", get(setup_state).post(setup))
        .route("/api/login", post(login))
        .route("/api/logout", post(logout))
        .route("/api/session", get(session))
}

/// How often an open stream's session is looked at even when nothing is told: a session
/// also ends by expiring.
const RECHECK: Duration = Duration::from_secs(60);

/// A logged-in user: by the session cookie, whose state-changing requests must carry the
/// session's CSRF token, or by a personal token (`Authorization: Bearer bosun_pat_…`),
/// which a browser never sends by itself and so needs none.
pub struct Authed {
    pub username: String,
    pub role: Role,
    /// Empty for a personal token.
    pub csrf: String,
    /// Where the request came from, as the audit log records it.
    pub address: IpAddr,
    credential: Credential,
    token_hash: String,
    db: Db,
    changes: tokio::sync::watch::Receiver<u64>,
}

/// What a request presented.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Credential {
    Session,
    PersonalToken,
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

    /// Resolves once this session no longer stands as it was when the request came: the
    /// user logged out, was removed, got another role or a new password, or the session
    /// expired. Whatever a request keeps open (an event stream, a terminal) ends with it.
    pub fn ended(&self) -> impl Future<Output = ()> + Send + 'static {
        let (db, token_hash, role) = (self.db.clone(), self.token_hash.clone(), self.role);
        let credential = self.credential;
        let mut changes = self.changes.clone();
        async move {
            loop {
                tokio::select! {
                    told = changes.changed() => if told.is_err() { return },
                    _ = tokio::time::sleep(RECHECK) => {}
                }
                let hash = token_hash.clone();
                let now = db
                    .run(move |s| match credential {
                        Credential::Session => Ok(s.session(&hash)?.map(|s| s.role)),
                        Credential::PersonalToken => {
                            Ok(s.personal_token_user(&hash)?.map(|u| u.role))
                        }
                    })
                    .await;
                match now {
                    Ok(Some(now)) if now == role => {}
                    Ok(_) => return,
                    // The database did not answer: the session is not known to have ended.
                    Err(e) => tracing::warn!(error = %e, "cannot look a session up"),
                }
            }
        }
    }

    /// Whether the request came with the session cookie, not a personal token.
    pub(super) fn by_session(&self) -> bool {
        self.credential == Credential::Session
    }

    /// The user as the agents hear of them.
    pub(super) fn caller(&self) -> Caller<'_> {
        Caller {
            user: &self.username,
            role: self.role,
        }
    }
}

/// The client's address the server put on the request.
fn client_address(parts: &Parts) -> IpAddr {
    parts
        .extensions
        .get::<ClientAddr>()
        .map_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED), |c| c.0)
}

/// The value of cookie `name` the browser sent.
pub(super) fn cookie_value(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get_all(header::COOKIE)
        .iter()
        .filter_map(|v| v.to_str().ok())
        .flat_map(|v| v.split(';'))
        .filter_map(|kv| kv.trim().split_once('='))
        .find(|(k, _)| *k == name)
        .map(|(_, v)| v.to_owned())
}

impl FromRequestParts<Shared> for Authed {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, app: &Shared) -> Result<Self, ApiError> {
        let unauthorized = || ApiError::new(StatusCode::UNAUTHORIZED, "log in first");
        // Subscribed before the session is read, so that a change after the read is seen.
        let changes = app.sessions.subscribe();
        if let Some(token) = bearer(&parts.headers) {
            return Self::by_token(parts, app, &token, changes).await;
        }
        let token = cookie_value(&parts.headers, COOKIE).ok_or_else(unauthorized)?;
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
            address: client_address(parts),
            credential: Credential::Session,
            token_hash,
            db: app.db.clone(),
            changes,
        })
    }
}

/// The credential of `Authorization: Bearer …`, if any.
fn bearer(headers: &HeaderMap) -> Option<String> {
    let value = headers.get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

impl Authed {
    /// A request with a bearer credential: a personal token, known and unexpired, of a
    /// user who still exists.
    async fn by_token(
        parts: &Parts,
        app: &Shared,
        token: &str,
        changes: tokio::sync::watch::Receiver<u64>,
    ) -> Result<Self, ApiError> {
        let refused = |why: &str| ApiError::new(StatusCode::UNAUTHORIZED, why.to_owned());
        if !personal::is_personal(token) {
            return Err(refused(
                "the bearer token is not a console personal token (bosun_pat_…)",
            ));
        }
        let token_hash = auth::token_hash(token);
        let lookup = token_hash.clone();
        let user = app
            .db
            .run(move |s| s.personal_token_user(&lookup))
            .await?
            .ok_or_else(|| refused("the personal token is unknown, expired or deleted"))?;
        Ok(Self {
            username: user.username,
            role: user.role,
            csrf: String::new(),
            address: client_address(parts),
            credential: Credential::PersonalToken,
            token_hash,
            db: app.db.clone(),
            changes,
        })
    }
}

#[derive(Deserialize)]
struct LoginBody {
    username: String,
    password: String,
}

pub(super) fn session_cookie(token: &str, max_age: i64) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{COOKIE}={token}; HttpOnly; Secure; SameSite=Strict; Path=/; Max-Age={max_age}"
    ))
    .expect("a cookie of visible ASCII")
}

/// Opens a session for `username`: its token (the cookie's value) and CSRF token.
pub(super) async fn start_session(app: &App, username: &str) -> ApiResult<(String, String)> {
    let token = auth::random_token();
    let csrf = auth::random_token();
    let (hash, user, kept_csrf) = (auth::token_hash(&token), username.to_owned(), csrf.clone());
    let expires = crate::store::now_secs() + SESSION_SECS;
    app.db
        .run(move |s| s.create_session(&hash, &user, &kept_csrf, expires))
        .await?;
    Ok((token, csrf))
}

/// Opens a session and answers as `/api/login` does.
async fn open_session(app: &App, username: &str, role: Role) -> ApiResult<Response> {
    let (token, csrf) = start_session(app, username).await?;
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
    let has_users = app.db.run(|s| s.has_users()).await?;
    Ok(Json(json!({ "needed": !has_users })))
}

async fn setup(
    State(app): State<Shared>,
    axum::Extension(ClientAddr(addr)): axum::Extension<ClientAddr>,
    JsonBody(body): JsonBody<LoginBody>,
) -> ApiResult<Response> {
    check_new_user(&body.username, &body.password)?;
    // Only a console with no user at all is set up here, so that no later state (say, a
    // provider's sign-in that would leave no admin) reopens it to whoever asks first.
    if app.db.run(|s| s.has_users()).await? {
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
    Action::by(&body.username, "setup")
        .from(addr)
        .record(&app, None)
        .await;
    open_session(&app, &body.username, Role::Admin).await
}

async fn login(
    State(app): State<Shared>,
    axum::Extension(ClientAddr(addr)): axum::Extension<ClientAddr>,
    JsonBody(body): JsonBody<LoginBody>,
) -> ApiResult<Response> {
    const WRONG: &str = "wrong user name or password";
    if body.username.is_empty() || body.username.len() > 64 || body.password.len() > 1024 {
        return Err(ApiError::new(StatusCode::UNAUTHORIZED, WRONG));
    }
    // Counted as a failure before the password is checked, so that parallel attempts
    // cannot all pass the limit; a success takes it back.
    if let Err(throttled) = app.access.limiter.attempt(&body.username, addr) {
        if app
            .access
            .limiter
            .first_refusal(throttled, &body.username, addr)
        {
            Action::by(&body.username, "login_failed")
                .from(addr)
                .record(&app, Some(&throttled.to_string()))
                .await;
        }
        return Err(ApiError::new(
            StatusCode::TOO_MANY_REQUESTS,
            throttled.to_string(),
        ));
    }
    let username = body.username.clone();
    let found = app.db.run(move |s| s.credentials(&username)).await?;
    let (hash, role) = found.unzip();
    // A provider's user has no password: checked against the decoy like an unknown name,
    // so that the time taken does not tell which names sign in elsewhere.
    let hash = hash.filter(|h| !h.is_empty());
    let verified = auth::spawn_verify(body.password, hash).await;
    match role {
        Some(role) if verified => {
            app.access.limiter.succeeded(&body.username, addr);
            Action::by(&body.username, "login")
                .from(addr)
                .record(&app, None)
                .await;
            open_session(&app, &body.username, role).await
        }
        _ => {
            let refused = Err::<Response, _>(ApiError::new(StatusCode::UNAUTHORIZED, WRONG));
            Action::by(&body.username, "login_failed")
                .from(addr)
                .finish(&app, refused)
                .await
        }
    }
}

async fn logout(State(app): State<Shared>, who: Authed) -> ApiResult<Response> {
    let token_hash = who.token_hash.clone();
    app.db.run(move |s| s.delete_session(&token_hash)).await?;
    app.sessions.changed();
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
