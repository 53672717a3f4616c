//! The JSON API under `/api/` (documented in `docs/console-api.md`). `{e}` is
//! `/api/endpoints/{id}`, one endpoint's cluster. Which file owns which routes:
//!
//! | file | routes |
//! | --- | --- |
//! | `session.rs` | `/api/setup`, `/api/login`, `/api/logout`, `/api/session` |
//! | `oidc.rs` | `/api/oidc`, `/api/oidc/login`, `/api/oidc/callback` |
//! | `users.rs` | `/api/users`, `/api/users/{username}` |
//! | `endpoints.rs` | `/api/endpoints`, `{e}`, `/api/console-key` |
//! | `edge.rs` | `/api/edge/connect` (an edge agent's tunnel), `/api/edge/tokens`, `/api/edge/tokens/{id}`, `/api/edge/agents`, `/api/edge/agents/{agent_id}` |
//! | `nodes.rs` | `{e}/nodes` |
//! | `lists.rs` | `{e}/containers`, `{e}/services`, `{e}/tasks`, `{e}/images`, `{e}/volumes`, `{e}/networks` |
//! | `containers.rs` | `{e}/containers/{cid}` (inspect, remove), `{e}/containers/{cid}/{action}` |
//! | `create.rs` | `POST {e}/containers` (create, and start) |
//! | `images.rs` | `{e}/images/pull` |
//! | `node_objects.rs` | `{e}/images/prune`, `DELETE {e}/images/{reference}`, and the same for `volumes` and `networks` |
//! | `exec.rs` | `{e}/containers/{cid}/exec` |
//! | `logs.rs` | `{e}/containers/{cid}/logs`, `{e}/containers/{cid}/logs/download` |
//! | `merged_logs.rs` | `{e}/logs` (several containers' logs as one) |
//! | `terminal.rs` | `{e}/containers/{cid}/terminal` (WebSocket) |
//! | `stats.rs` | `{e}/containers/{cid}/stats` |
//! | `services.rs` | `{e}/services/{sid}` (remove), `{e}/services/{sid}/scale` |
//! | `usage.rs` | `/api/usage/summary`, `{e}/usage/nodes`, `{e}/usage/nodes/{node}`, `{e}/usage/containers/{cid}`, `{e}/usage/top` |
//! | `events.rs` | `{e}/events` |
//! | `docker.rs` | `{e}/docker/{path}` (the Docker Engine API, passed on to the agent) |
//! | `tokens.rs` | `/api/tokens`, `/api/tokens/{id}` (personal access tokens) |
//! | `audit.rs` | `/api/audit` |
//! | `channels.rs` | `/api/channels`, `/api/channels/{id}`, `/api/channels/{id}/test`, `/api/channels/{id}/deliveries` |
//! | `updates.rs` | `{e}/updates`, `{e}/updates/check`, `{e}/updates/containers/{cid}`, `{e}/updates/services/{sid}` |
//! | `registries.rs` | `{e}/registries`, `{e}/registries/{rid}` (registry credentials, admins) |
//! | `alerts.rs` | `/api/alerts`, `/api/alerts/history`, `/api/alerts/summary`, `/api/alert-rules`, `/api/alert-rules/{id}`, `/api/silences`, `/api/silences/{id}` |
//! | `checks.rs` | `{e}/checks`, `{e}/checks/{cid}`, `{e}/checks/{cid}/history`, `{e}/checks/status`, `{e}/checks/push`, `{e}/checks/settings` |
//!
//! What they share: `error.rs` (the error answer), `action.rs` (every state-changing request:
//! the role check, the work, the audit row), `cluster.rs` (one request's way to an
//! endpoint's agent, and where a container lives), `sse.rs` (server-sent events) and
//! `log_cursor.rs` (where a followed log was left); the state they share, [`App`], is in
//! `crate::app`. The session extractor, [`Authed`], is in `session.rs`.

mod action;
mod alerts;
mod audit;
mod channels;
mod checks;
mod cluster;
mod containers;
mod create;
mod docker;
mod edge;
pub(crate) mod endpoints;
mod error;
mod events;
mod exec;
mod images;
mod lists;
mod log_cursor;
mod logs;
mod merged_logs;
mod node_objects;
mod nodes;
mod oidc;
mod registries;
mod services;
mod session;
mod sse;
mod stats;
mod terminal;
mod tokens;
mod updates;
mod usage;
mod users;

use std::net::IpAddr;
use std::sync::Arc;

use axum::Router;

pub use crate::app::{Access, App, SessionChanges};
pub use error::{ApiError, ApiResult, JsonBody};
pub use session::{Authed, COOKIE};

type Shared = Arc<App>;

/// The client's address, put on each request by the server: the peer's, or the one a
/// trusted proxy forwarded.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub IpAddr);

/// One endpoint's cluster: the prefix of the routes that reach its agent.
const CLUSTER: &str = "/api/endpoints/{id}";

/// A query flag: `1` or `true`.
fn flag(value: Option<&str>) -> bool {
    matches!(value, Some("1" | "true"))
}

async fn not_found() -> ApiError {
    ApiError::new(axum::http::StatusCode::NOT_FOUND, "no such API route")
}

/// The API's routes.
pub fn routes() -> Router<Shared> {
    Router::new()
        .merge(session::routes())
        .merge(oidc::routes())
        .merge(users::routes())
        .merge(endpoints::routes())
        .merge(edge::routes())
        .merge(nodes::routes())
        .merge(lists::routes())
        .merge(containers::routes())
        .merge(create::routes())
        .merge(images::routes())
        .merge(node_objects::routes(node_objects::VOLUMES))
        .merge(node_objects::routes(node_objects::NETWORKS))
        .merge(exec::routes())
        .merge(logs::routes())
        .merge(merged_logs::routes())
        .merge(terminal::routes())
        .merge(stats::routes())
        .merge(usage::routes())
        .merge(services::routes())
        .merge(events::routes())
        .merge(audit::routes())
        .merge(channels::routes())
        .merge(updates::routes())
        .merge(registries::routes())
        .merge(alerts::routes())
        .merge(checks::routes())
        .merge(docker::routes())
        .merge(tokens::routes())
        .route("/api/{*rest}", axum::routing::any(not_found))
}
