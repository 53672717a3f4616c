//! Edge endpoints' routes: enrol tokens and enrolled agents (admins), and the tunnel an
//! agent opens (`GET /api/edge/connect`, upgraded), which carries no session: the agent
//! proves its key or presents an enrol token ([`crate::edge::admit`]).

use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Extension, Json, Router};
use base64::Engine as _;
use bosun_serve::tunnel;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::{ApiError, ApiResult, Authed, ClientAddr, JsonBody, Shared};
use crate::agent::Caller;
use crate::auth::Role;
use crate::edge;
use crate::edge::admit::{self, Hello};

/// How long an enrol token is good for unless told.
const DEFAULT_TTL_HOURS: u64 = 24;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(tunnel::PATH, get(connect))
        .route("/api/edge/tokens", get(tokens).post(create_token))
        .route("/api/edge/tokens/{id}", delete(revoke_token))
        .route("/api/edge/agents", get(agents))
        .route("/api/edge/agents/{agent_id}", delete(revoke_agent))
        .route("/api/edge/agents/{agent_id}/key", post(rotate_key))
}

#[derive(Deserialize)]
struct NewToken {
    /// The endpoint the agents enrol into, made on the first enrolment.
    endpoint: String,
    ttl_hours: Option<u64>,
    max_uses: Option<u32>,
}

async fn create_token(
    State(app): State<Shared>,
    who: Authed,
    JsonBody(body): JsonBody<NewToken>,
) -> ApiResult<Response> {
    let endpoint = body.endpoint.trim().to_owned();
    let action = Action::start(&who, Role::Admin, "edge.token.create")?.at(&endpoint, "");
    let check = if endpoint.is_empty() {
        Err(ApiError::bad("name the endpoint the agents enrol into"))
    } else if body.max_uses == Some(0) {
        Err(ApiError::bad("max_uses is at least 1"))
    } else {
        Ok(())
    };
    let token = crate::auth::random_token();
    let expires = bosun_serve::clock::now_secs()
        + body
            .ttl_hours
            .unwrap_or(DEFAULT_TTL_HOURS)
            .clamp(1, 24 * 365)
            * 3600;
    let max_uses = body.max_uses.unwrap_or(1);
    let hash = crate::auth::token_hash(&token);
    let by = who.username.clone();
    let name = endpoint.clone();
    let made = action
        .on(format!("enrol token, {max_uses} use(s)"))
        .run(&app, async {
            check?;
            app.db
                .run(move |s| s.create_enrol_token(&hash, &name, expires, max_uses, &by))
                .await
                .map_err(ApiError::from)
        })
        .await?;
    Ok((
        StatusCode::CREATED,
        Json(json!({"token": token, "enrol_token": made})),
    )
        .into_response())
}

async fn tokens(State(app): State<Shared>, who: Authed) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    let tokens = app.db.run(|s| s.enrol_tokens()).await?;
    Ok(Json(json!(tokens)))
}

async fn revoke_token(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "edge.token.revoke")?.on(id.to_string());
    action
        .run(&app, async {
            match app.db.run(move |s| s.revoke_enrol_token(id)).await? {
                true => Ok(()),
                false => Err(ApiError::new(StatusCode::NOT_FOUND, "no such enrol token")),
            }
        })
        .await?;
    Ok(Json(json!({})))
}

/// Every enrolled agent, with its tunnel when connected.
async fn agents(State(app): State<Shared>, who: Authed) -> ApiResult<Json<Value>> {
    who.require(Role::Admin)?;
    let enrolled = app.db.run(|s| s.edge_agents()).await?;
    let live = app.edge.list();
    let agents: Vec<Value> = enrolled
        .into_iter()
        .map(|a| {
            let tunnel = live.iter().find(|l| l.agent_id == a.agent_id);
            let mut row = json!(a);
            row["connected"] = json!(tunnel.is_some());
            row["connected_since"] = json!(tunnel.map(|l| l.since));
            row
        })
        .collect();
    Ok(Json(json!(agents)))
}

/// Revokes an agent's key: its tunnel closes now, streams included, and it cannot dial
/// in again.
async fn revoke_agent(
    State(app): State<Shared>,
    who: Authed,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "edge.agent.revoke")?.on(agent_id.clone());
    let id = agent_id.clone();
    let closed = action
        .run(&app, async {
            if !app.db.run(move |s| s.revoke_edge_agent(&id)).await? {
                return Err(ApiError::new(StatusCode::NOT_FOUND, "no such edge agent"));
            }
            Ok(app.edge.close_agent(&agent_id))
        })
        .await?;
    Ok(Json(json!({"closed_tunnel": closed})))
}

/// The subject of the console's own requests to an edge agent (a key rotation).
const EDGE_SUBJECT: &str = "bosun-ui:edge";

/// Rotates a connected agent's key: the agent makes a new one and proves it, the console
/// pins it, then the agent takes it. Its tunnel stays up throughout.
async fn rotate_key(
    State(app): State<Shared>,
    who: Authed,
    Path(agent_id): Path<String>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Admin, "edge.agent.rotate_key")?.on(agent_id.clone());
    let rotated = action.run(&app, rotate(&app, &agent_id)).await?;
    Ok(Json(rotated))
}

/// One rotation at a time, console-wide: two at once for one agent could leave it holding
/// a key the console no longer accepts.
static ROTATING: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

async fn rotate(app: &Shared, agent_id: &str) -> ApiResult<Value> {
    let _one_at_a_time = ROTATING.lock().await;
    let id = agent_id.to_owned();
    let agent = app
        .db
        .run(move |s| s.edge_agent(&id))
        .await?
        .ok_or_else(|| ApiError::new(StatusCode::NOT_FOUND, "no such edge agent"))?;
    if agent.revoked {
        return Err(ApiError::new(StatusCode::CONFLICT, "the agent was revoked"));
    }
    let opener = app.edge.opener_of(agent_id).ok_or_else(|| {
        ApiError::new(
            StatusCode::CONFLICT,
            "the agent is not connected: its key is rotated through its tunnel, while it is",
        )
    })?;
    let endpoint_id = agent.endpoint;
    let endpoint = app.db.run(move |s| s.endpoint(endpoint_id)).await?;
    let bearer = app.agents.get(&endpoint)?.bearer(Caller {
        user: EDGE_SUBJECT,
        role: Role::Admin,
    })?;
    let unreachable = |step: &str, e: String| {
        ApiError::new(
            StatusCode::BAD_GATEWAY,
            format!("the agent's key was not rotated: {step}: {e}"),
        )
    };
    let (status, begun) = edge::ask(&opener, Method::POST, "/agent/v1/edge/key", &bearer, None)
        .await
        .map_err(|e| unreachable("asking the agent for a new key", e))?;
    if !status.is_success() {
        return Err(unreachable(
            "the agent's answer",
            format!("{status}: {}", begun["message"]),
        ));
    }
    let (Some(key), Some(proof), Some(current)) = (
        begun["key"].as_str(),
        begun["proof"].as_str(),
        begun["current_proof"].as_str(),
    ) else {
        return Err(unreachable(
            "the agent's answer",
            "no key and proofs".into(),
        ));
    };
    admit::verify_key_proof(key, proof, agent_id, "the new key")
        .map_err(|e| unreachable("the agent's new key", e.to_string()))?;
    // The key the agent holds now stays its previous key until it takes the new one: the
    // pinned one, or the previous one when a rotation did not complete.
    let id = agent_id.to_owned();
    let previous = app.db.run(move |s| s.previous_key(&id)).await?;
    let holds = [Some(agent.public_key.clone()), previous]
        .into_iter()
        .flatten()
        .find(|k| admit::verify_key_proof(k, current, agent_id, "the key in use").is_ok())
        .ok_or_else(|| {
            unreachable(
                "the agent's answer",
                "it proves neither key the console pinned for it".into(),
            )
        })?;
    let (id, pinned) = (agent_id.to_owned(), key.to_owned());
    if !app
        .db
        .run(move |s| s.rotate_edge_key(&id, &pinned, &holds))
        .await?
    {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            "the agent was revoked meanwhile",
        ));
    }
    let took = edge::ask(
        &opener,
        Method::POST,
        "/agent/v1/edge/key/commit",
        &bearer,
        Some(json!({"key": key})),
    )
    .await;
    match took {
        Ok((status, _)) if status.is_success() => {
            let id = agent_id.to_owned();
            app.db.run(move |s| s.forget_previous_key(&id)).await?;
            tracing::info!(%agent_id, node = %agent.node, "edge agent key rotated");
            Ok(json!({"agent_id": agent_id, "public_key": key}))
        }
        other => {
            let why = match other {
                Ok((status, said)) => format!("{status}: {}", said["message"]),
                Err(e) => e,
            };
            Err(ApiError::new(
                StatusCode::BAD_GATEWAY,
                format!(
                    "the new key is pinned, but the agent did not take it ({why}); its old key \
                     opens its tunnel until a rotation completes: rotate again"
                ),
            ))
        }
    }
}

fn header_text(headers: &HeaderMap, name: &str) -> Option<String> {
    headers
        .get(name)
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
        .filter(|v| !v.is_empty())
}

/// An agent opens its tunnel: admitted, then switched to the tunnel's protocol.
async fn connect(
    State(app): State<Shared>,
    Extension(ClientAddr(address)): Extension<ClientAddr>,
    mut req: Request,
) -> Response {
    let headers = req.headers();
    let asked = headers.get(header::UPGRADE).is_some_and(|v| {
        v.as_bytes()
            .eq_ignore_ascii_case(tunnel::PROTOCOL.as_bytes())
    });
    if !asked {
        return ApiError::bad(format!(
            "an edge agent asks for Upgrade: {}",
            tunnel::PROTOCOL
        ))
        .into_response();
    }
    let (Some(agent_id), Some(proof)) = (
        header_text(headers, tunnel::AGENT_ID),
        header_text(headers, tunnel::PROOF),
    ) else {
        return ApiError::bad("an edge agent sends its ID and a proof").into_response();
    };
    let hello = Hello {
        agent_id,
        node: header_text(headers, tunnel::NODE).unwrap_or_default(),
        version: header_text(headers, tunnel::VERSION).unwrap_or_default(),
        address: address.to_string(),
        proof,
        enrol_token: header_text(headers, tunnel::ENROL_TOKEN),
        key: header_text(headers, tunnel::AGENT_KEY),
    };
    let asked_by = hello.clone();
    let admitted = match app.db.run(move |s| Ok(admit::admit(s, &asked_by))).await {
        Ok(Ok(admitted)) => admitted,
        Ok(Err(refusal)) => {
            tracing::warn!(agent_id = %hello.agent_id, node = %hello.node, %address, reason = %refusal, "edge agent refused");
            let status = StatusCode::from_u16(refusal.status()).unwrap_or(StatusCode::UNAUTHORIZED);
            return ApiError::new(status, refusal.to_string()).into_response();
        }
        Err(e) => return ApiError::from(e).into_response(),
    };
    if admitted.enrolled {
        Action::by(&hello.agent_id, "edge.enrol")
            .from(address)
            .at(&admitted.endpoint.name, &hello.node)
            .finish(&app, Ok::<(), ApiError>(()))
            .await
            .ok();
    }
    let on_upgrade = hyper::upgrade::on(&mut req);
    let endpoint = admitted.endpoint;
    let console_key =
        base64::engine::general_purpose::STANDARD.encode(app.key.public_pem().as_bytes());
    tokio::spawn(async move {
        let upgraded = match on_upgrade.await {
            Ok(u) => u,
            Err(e) => {
                tracing::warn!(agent_id = %hello.agent_id, error = %e, "edge tunnel upgrade failed");
                return;
            }
        };
        let (opener, driving) = tunnel::console_side(TokioIo::new(upgraded));
        let serial = app.edge.add(
            endpoint.id,
            &hello.agent_id,
            &hello.node,
            &hello.version,
            &hello.address,
            opener.clone(),
        );
        tracing::info!(agent_id = %hello.agent_id, node = %hello.node, endpoint = %endpoint.name, %address, "edge agent connected");
        tokio::spawn(crate::edge::heartbeat(opener));
        driving.await;
        app.edge.remove(endpoint.id, serial);
        let Hello {
            agent_id,
            node,
            version,
            address,
            ..
        } = hello;
        tracing::info!(%agent_id, %node, endpoint = %endpoint.name, "edge agent disconnected");
        let _ = app
            .db
            .run(move |s| s.edge_agent_seen(&agent_id, &node, &address, &version))
            .await;
    });
    let mut resp = StatusCode::SWITCHING_PROTOCOLS.into_response();
    let h = resp.headers_mut();
    h.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    h.insert(header::UPGRADE, HeaderValue::from_static(tunnel::PROTOCOL));
    if let Ok(v) = HeaderValue::from_str(&console_key) {
        h.insert(tunnel::CONSOLE_KEY, v);
    }
    resp
}
