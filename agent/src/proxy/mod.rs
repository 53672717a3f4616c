//! The Docker API proxy. One request flows one way through its files:
//!
//! | step | file |
//! | --- | --- |
//! | who the client is | `identify.rs` |
//! | what it may do: profile, guards, specification, stream places | `authorize.rs` (with `guard.rs`, `streams.rs`) |
//! | where it runs | [`crate::place`], pure |
//! | carrying that out | `execute.rs`: `forward.rs` to one node or the first of several, `owner.rs` to find a container's node, `present.rs` for a worker presented as a manager, [`crate::aggregate`] over many, [`crate::agent_api`] here |
//! | checks on this node's own objects | `object_scope.rs` |
//! | upgraded streams | `relay.rs` |
//!
//! and back here, where the answer gets its audit line.

mod authorize;
mod execute;
mod forward;
pub mod guard;
mod identify;
mod object_scope;
mod owner;
mod present;
mod relay;
pub mod streams;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{Request, Response};
use hyper::body::Incoming;

use crate::access::PolicyStore;
use crate::agent_api::HealthCache;
use crate::audit::{Audit, Record};
use crate::auth::Authenticator;
use crate::body::{Body, Budget};
use crate::calls::Calls;
use crate::checks::Checks;
use crate::cluster::Cluster;
use crate::error::ProxyError;
use crate::headers;
use crate::metrics::Metrics;
use crate::owners::Index;
use crate::place::{self, Ask};
use crate::updates::Updates;
use crate::upstream::UpstreamPool;
use crate::usage::Usage;

pub use identify::ConnInfo;
pub use relay::Relays;

/// The open health endpoint: answered before anything else, and never audited.
const HEALTH: &str = "/agent/v1/health";

/// What a proxy is made of.
pub struct Parts {
    pub engine: UpstreamPool,
    pub cluster: Cluster,
    pub usage: Arc<Usage>,
    pub updates: Arc<Updates>,
    pub checks: Arc<Checks>,
    pub metrics: Metrics,
    /// The edge key, in edge mode: the console rotates it through the tunnel.
    pub edge_keys: Option<Arc<crate::edge::EdgeKeys>>,
    /// The long-lived requests held now, per client and in all.
    pub streams: Arc<streams::Streams>,
    pub auth: Authenticator,
    pub policy: Arc<PolicyStore>,
    pub audit: Audit,
    /// Request bodies the agent reads whole, counted for the whole agent.
    pub budget: Budget,
    /// How long a fan-out waits for the slowest node.
    pub fanout_deadline: Duration,
}

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    calls: Calls,
    auth: Authenticator,
    policy: Arc<PolicyStore>,
    audit: Audit,
    budget: Budget,
    owners: Index,
    fanout_deadline: Duration,
    started: Instant,
    /// The last answer of the open health endpoint.
    health: HealthCache,
    /// The long-lived requests held now, per client and in all.
    streams: Arc<streams::Streams>,
    relays: Relays,
    usage: Arc<Usage>,
    updates: Arc<Updates>,
    checks: Arc<Checks>,
    metrics: Metrics,
    edge_keys: Option<Arc<crate::edge::EdgeKeys>>,
}

impl Proxy {
    pub fn new(parts: Parts) -> Self {
        Self {
            calls: Calls::new(parts.engine, parts.cluster),
            auth: parts.auth,
            policy: parts.policy,
            audit: parts.audit,
            budget: parts.budget,
            owners: Index::default(),
            fanout_deadline: parts.fanout_deadline,
            started: Instant::now(),
            health: HealthCache::default(),
            streams: parts.streams,
            relays: Relays::default(),
            usage: parts.usage,
            updates: parts.updates,
            checks: parts.checks,
            metrics: parts.metrics,
            edge_keys: parts.edge_keys,
        }
    }

    pub fn node_name(&self) -> String {
        self.calls.me()
    }

    pub fn cluster(&self) -> &Cluster {
        self.calls.cluster()
    }

    /// Upgraded streams (attach, exec, BuildKit) outlive their HTTP exchange; shutdown
    /// waits for them here.
    pub fn checks(&self) -> &Arc<Checks> {
        &self.checks
    }

    pub fn relays(&self) -> &Relays {
        &self.relays
    }

    /// Serves one request. Never fails: errors become Docker-shaped responses.
    pub async fn handle(
        self: Arc<Self>,
        conn: Arc<ConnInfo>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let method = req.method().clone();
        let mut record = Record::new(conn.peer, &method, req.uri());
        let started = Instant::now();
        let mut class = "refused";
        // Not boxed: hyper keeps each connection's request future in one allocation of its
        // own, made once, where a box would be allocated and freed on every request.
        let resp = match self.serve(&conn, req, &mut record, &mut class).await {
            Ok(resp) => {
                tracing::debug!(%method, path = record.path(), status = resp.status().as_u16(), "request");
                resp
            }
            Err(e) => {
                let status = e.status();
                if status.is_server_error() {
                    tracing::warn!(%method, path = record.path(), peer = %conn.peer, status = status.as_u16(), error = %e, "request failed");
                } else {
                    tracing::info!(%method, path = record.path(), peer = %conn.peer, status = status.as_u16(), error = %e, "request refused");
                }
                e.into_response()
            }
        };
        let status = resp.status().as_u16();
        self.metrics.requests().served(
            class,
            status,
            started.elapsed().as_secs_f64(),
            resp.extensions()
                .get::<crate::aggregate::LeftOut>()
                .map_or(&[], |left_out| &left_out.0),
        );
        if class != "health" && self.audit.wants(&record, status) {
            record.node = resp
                .headers()
                .get(headers::NODE)
                .and_then(|v| v.to_str().ok())
                .map(str::to_owned);
            self.audit.write(record, status).await;
        }
        resp
    }

    /// Identify, authorize, place, execute.
    async fn serve(
        &self,
        conn: &ConnInfo,
        req: Request<Incoming>,
        record: &mut Record,
        class: &mut &'static str,
    ) -> Result<Response<Body>, ProxyError> {
        if crate::path::strip_version(req.uri().path()) == HEALTH
            && req.method() == http::Method::GET
        {
            *class = "health";
            return Ok(Box::pin(self.health.answer(&self.calls)).await);
        }
        let policy = self.policy.current();
        let authorizer = authorize::Authorizer {
            calls: &self.calls,
            auth: &self.auth,
            policy: &policy,
            budget: &self.budget,
            streams: &self.streams,
        };
        let mut req = req.map(Body::from);
        let authorized = authorizer.authorize(conn, &mut req, record).await?;
        let view = self.calls.cluster().view();
        let placement = place::place(
            &Ask {
                method: req.method(),
                api_path: &authorized.api_path,
                headers: req.headers(),
                forwarded: authorized.forwarded,
                profile: &authorized.profile,
            },
            &view,
            self.calls.cluster().is_clustered(),
        );
        *class = placement.class();
        let executor = execute::Executor {
            calls: &self.calls,
            budget: &self.budget,
            owners: &self.owners,
            policy: &self.policy,
            relays: &self.relays,
            fanout_deadline: self.fanout_deadline,
            started: self.started,
            identity: &authorized.identity,
            view: &view,
            usage: &self.usage,
            updates: &self.updates,
            checks: &self.checks,
            metrics: &self.metrics,
            edge_keys: self.edge_keys.as_deref(),
            profile: &authorized.profile,
        };
        let resp = executor.execute(placement, req, authorized.upgrade).await;
        drop(authorized.held);
        match authorized.place {
            Some(keep) => resp.map(|r| r.map(|b| b.keeping(keep))),
            None => resp,
        }
    }
}
