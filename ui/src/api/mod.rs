//! The JSON API under `/api/` (documented in `docs/console-api.md`). `{e}` is
//! `/api/endpoints/{id}`, one endpoint's cluster. Which file owns which routes:
//!
//! | file | routes |
//! | --- | --- |
//! | `session.rs` | `/api/setup`, `/api/login`, `/api/logout`, `/api/session` |
//! | `users.rs` | `/api/users`, `/api/users/{username}` |
//! | `endpoints.rs` | `/api/endpoints`, `{e}`, `/api/console-key` |
//! | `nodes.rs` | `{e}/nodes` |
//! | `lists.rs` | `{e}/containers`, `{e}/services`, `{e}/tasks`, `{e}/images`, `{e}/volumes`, `{e}/networks` |
//! | `containers.rs` | `{e}/containers/{cid}` (inspect, remove), `{e}/containers/{cid}/{action}` |
//! | `exec.rs` | `{e}/containers/{cid}/exec` |
//! | `logs.rs` | `{e}/containers/{cid}/logs`, `{e}/containers/{cid}/logs/download` |
//! | `merged_logs.rs` | `{e}/logs` (several containers' logs as one) |
//! | `terminal.rs` | `{e}/containers/{cid}/terminal` (WebSocket) |
//! | `stats.rs` | `{e}/containers/{cid}/stats` |
//! | `services.rs` | `{e}/services/{sid}` (remove), `{e}/services/{sid}/scale` |
//! | `usage.rs` | `/api/usage/summary`, `{e}/usage/nodes`, `{e}/usage/nodes/{node}`, `{e}/usage/containers/{cid}`, `{e}/usage/top` |
//! | `events.rs` | `{e}/events` |
//! | `audit.rs` | `/api/audit` |
//!
//! What they share: `error.rs` (the error answer), `action.rs` (every state-changing request:
//! the role check, the work, the audit row), `cluster.rs` (one request's way to an
//! endpoint's agent, and where a container lives), `sse.rs` (server-sent events) and
//! `docker_stream.rs` (the engine's stdout/stderr framing); `log_cursor.rs` is where a
//! followed log was left. The session extractor,
//! [`Authed`], is in `session.rs`.

mod action;
mod audit;
mod cluster;
mod containers;
mod docker_stream;
mod endpoints;
mod error;
mod events;
mod exec;
mod lists;
mod log_cursor;
mod logs;
mod merged_logs;
mod nodes;
mod services;
mod session;
mod sse;
mod stats;
mod terminal;
mod usage;
mod users;

use std::net::SocketAddr;
use std::sync::Arc;

use axum::Router;

use crate::agent::{AgentClients, ConsoleKey};
use crate::auth::LoginLimiter;
use crate::store::{Db, Store};
use crate::usage::Usage;

pub use error::{ApiError, ApiResult};
pub use session::{Authed, COOKIE};

/// Everything the handlers share.
pub struct App {
    /// The database, called off the runtime's workers.
    pub db: Db,
    pub key: Arc<ConsoleKey>,
    pub limiter: LoginLimiter,
    /// One pooled client per endpoint, shared with the usage puller.
    pub agents: Arc<AgentClients>,
    /// The usage history.
    pub usage: Usage,
}

impl App {
    pub fn new(store: Store, key: ConsoleKey, limiter: LoginLimiter, usage: Usage) -> Self {
        let key = Arc::new(key);
        Self {
            db: Db::new(store),
            agents: Arc::new(AgentClients::new(Arc::clone(&key))),
            key,
            limiter,
            usage,
        }
    }
}

type Shared = Arc<App>;

/// The client's address, put on each request by the server.
#[derive(Debug, Clone, Copy)]
pub struct ClientAddr(pub SocketAddr);

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
        .merge(users::routes())
        .merge(endpoints::routes())
        .merge(nodes::routes())
        .merge(lists::routes())
        .merge(containers::routes())
        .merge(exec::routes())
        .merge(logs::routes())
        .merge(merged_logs::routes())
        .merge(terminal::routes())
        .merge(stats::routes())
        .merge(usage::routes())
        .merge(services::routes())
        .merge(events::routes())
        .merge(audit::routes())
        .route("/api/{*rest}", axum::routing::any(not_found))
}
