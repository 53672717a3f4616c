//! Signing in through an OpenID provider: whether it is offered, the redirect to it, and
//! the callback that opens a session for the user it vouched for with the mapped role.

use axum::extract::{Query, State};
use axum::http::{header, HeaderMap, HeaderValue, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::session::{cookie_value, session_cookie, start_session, SESSION_SECS};
use super::{ApiError, ApiResult, ClientAddr, Shared};
use crate::auth;
use crate::auth::oidc::{Identity, OidcError};

/// The cookie that ties a sign-in's state to the browser that started it: `Lax`, so that
/// the provider's redirect back brings it.
const STATE_COOKIE: &str = "bosun_oidc";

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route("/api/oidc", get(offered))
        .route("/api/oidc/login", get(login))
        .route("/api/oidc/callback", get(callback))
}

async fn offered(State(app): State<Shared>) -> Json<Value> {
    Json(match &app.access.oidc {
        Some(oidc) => json!({"enabled": true, "label": oidc.label()}),
        None => json!({"enabled": false}),
    })
}

fn not_configured() -> ApiError {
    ApiError::new(
        StatusCode::NOT_FOUND,
        "sign-in through an OpenID provider is not configured",
    )
}

fn state_cookie(state: &str, max_age: u32) -> HeaderValue {
    HeaderValue::from_str(&format!(
        "{STATE_COOKIE}={state}; HttpOnly; Secure; SameSite=Lax; Path=/api/oidc; Max-Age={max_age}"
    ))
    .expect("a cookie of visible ASCII")
}

/// A redirect (303) to `location` with cookies set.
fn redirect(location: &str, cookies: &[HeaderValue]) -> Response {
    let mut resp = StatusCode::SEE_OTHER.into_response();
    let headers = resp.headers_mut();
    if let Ok(value) = HeaderValue::from_str(location) {
        headers.insert(header::LOCATION, value);
    }
    for cookie in cookies {
        headers.append(header::SET_COOKIE, cookie.clone());
    }
    resp
}

/// The sign-in page with `why` the sign-in through the provider did not happen.
fn back_to_login(why: &str) -> Response {
    let location = format!(
        "/?oidc_error={}",
        percent_encoding::utf8_percent_encode(why, percent_encoding::NON_ALPHANUMERIC)
    );
    redirect(&location, &[state_cookie("", 0)])
}

async fn login(State(app): State<Shared>) -> ApiResult<Response> {
    let oidc = app.access.oidc.as_ref().ok_or_else(not_configured)?;
    Ok(match oidc.start().await {
        Ok((url, state)) => redirect(&url, &[state_cookie(&state, 600)]),
        // A browser navigated here: it is answered with a page, not JSON.
        Err(e) => {
            tracing::warn!(error = %e, "cannot start a sign-in through the OpenID provider");
            back_to_login(&e.to_string())
        }
    })
}

#[derive(Deserialize)]
struct CallbackQuery {
    code: Option<String>,
    state: Option<String>,
    error: Option<String>,
    error_description: Option<String>,
}

/// The provider's redirect back. Success: a session and the console's front page.
/// Failure: the sign-in page with the reason (`/?oidc_error=...`), and a `login_failed`
/// audit row.
async fn callback(
    State(app): State<Shared>,
    axum::Extension(ClientAddr(addr)): axum::Extension<ClientAddr>,
    headers: HeaderMap,
    Query(q): Query<CallbackQuery>,
) -> ApiResult<Response> {
    let oidc = app.access.oidc.as_ref().ok_or_else(not_configured)?;
    let clear = state_cookie("", 0);
    let kept = cookie_value(&headers, STATE_COOKIE).unwrap_or_default();
    let identity = match (&q.error, &q.code, &q.state) {
        (Some(error), _, _) => Err(OidcError::Refused(
            q.error_description.clone().unwrap_or_else(|| error.clone()),
        )),
        (None, Some(code), Some(state)) if !kept.is_empty() && auth::same(state, &kept) => {
            oidc.finish(state, code).await
        }
        _ => Err(OidcError::State),
    };
    let refused = |user: &str, why: String| {
        let app = app.clone();
        let user = user.to_owned();
        async move {
            Action::by(&user, "login_failed")
                .from(addr)
                .on(format!("{user} (oidc)"))
                .record(&app, Some(&why))
                .await;
            back_to_login(&why)
        }
    };
    let Identity {
        subject,
        username,
        role,
    } = match identity {
        Ok(identity) => identity,
        Err(e) => {
            let user = match &e {
                OidcError::NoRole { user, .. } => user.clone(),
                _ => "oidc".to_owned(),
            };
            return Ok(refused(&user, e.to_string()).await);
        }
    };
    let (name, role_kept) = (username.clone(), role);
    let stored = app
        .db
        .run(move |s| s.oidc_user(&name, &subject, role_kept))
        .await;
    match stored {
        Ok((_, changed)) => {
            if changed {
                app.sessions.changed();
            }
        }
        Err(e) => return Ok(refused(&username, e.to_string()).await),
    }
    Action::by(&username, "login")
        .from(addr)
        .on(format!("{username} (oidc, {})", role.as_str()))
        .record(&app, None)
        .await;
    let (token, _csrf) = start_session(&app, &username).await?;
    Ok(redirect(
        "/",
        &[clear, session_cookie(&token, SESSION_SECS)],
    ))
}
