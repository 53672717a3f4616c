//! The console's shared state, [`App`]: the database, the agent clients, the usage
//! history, the queues to the alerts and the notification channels, and who may sign in.
//! The API's handlers and the background workers (pullers, alerts, notifications) all
//! take it; it knows none of them.

use std::sync::Arc;

use crate::agent::{AgentClients, ConsoleKey};
use crate::auth::oidc::Oidc;
use crate::auth::proxy::TrustedProxies;
use crate::auth::LoginLimiter;
use crate::sealed::Sealer;
use crate::store::{Db, Store};
use crate::usage::Usage;
use crate::watch::{Alerts, Notifier};

/// Who may sign in and how, and what they are shown.
pub struct Access {
    pub limiter: LoginLimiter,
    /// Whose `X-Forwarded-For` names the client.
    pub proxies: TrustedProxies,
    /// Viewers see containers' environment values masked.
    pub mask_env: bool,
    /// OpenID Connect sign-in, when configured.
    pub oidc: Option<Oidc>,
}

/// Everything the handlers share.
pub struct App {
    /// The database, called off the runtime's workers.
    pub db: Db,
    pub key: Arc<ConsoleKey>,
    pub access: Access,
    /// Told whenever sessions end or a user's role changes, so open streams can end.
    pub sessions: SessionChanges,
    /// One pooled client per endpoint, shared with the usage puller.
    pub agents: Arc<AgentClients>,
    /// The usage history.
    pub usage: Usage,
    /// The alerts' evaluator.
    pub alerts: Alerts,
    /// The notification channels' worker.
    pub notifier: Notifier,
    /// Seals secrets kept in the database.
    pub sealer: Sealer,
    /// How the update reports are pulled.
    pub update_pull_interval: std::time::Duration,
    /// The checks' pull interval and push locks.
    pub checks: crate::checks::Checks,
    /// The tunnels of the edge agents connected now.
    pub edge: Arc<crate::edge::Sessions>,
}

impl App {
    pub fn new(
        store: Store,
        key: ConsoleKey,
        access: Access,
        usage: Usage,
        sealer: Sealer,
    ) -> Self {
        let key = Arc::new(key);
        let edge = Arc::new(crate::edge::Sessions::default());
        Self {
            db: Db::new(store),
            agents: Arc::new(AgentClients::new(Arc::clone(&key), Arc::clone(&edge))),
            edge,
            key,
            access,
            sessions: SessionChanges::default(),
            usage,
            alerts: Alerts::default(),
            notifier: Notifier::default(),
            sealer,
            update_pull_interval: std::time::Duration::from_secs(60),
            checks: crate::checks::Checks::default(),
        }
    }
}

/// Tells open streams that some session ended or some user's role changed; each then
/// looks its own session up again. A counter, so that no change is missed between two
/// looks and none piles up.
#[derive(Debug)]
pub struct SessionChanges(tokio::sync::watch::Sender<u64>);

impl Default for SessionChanges {
    fn default() -> Self {
        Self(tokio::sync::watch::Sender::new(0))
    }
}

impl SessionChanges {
    /// Sessions were deleted, or a user's role changed.
    pub fn changed(&self) {
        self.0.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// What an open stream watches.
    pub fn subscribe(&self) -> tokio::sync::watch::Receiver<u64> {
        self.0.subscribe()
    }
}
