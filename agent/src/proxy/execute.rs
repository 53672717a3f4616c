//! Carries a placement out: the request runs where [`crate::place`] said, and only
//! what placement left open (a network's scope, the driver in a body, a container's node)
//! is found out here.

use std::time::{Duration, Instant};

use http::{HeaderValue, Request, Response};

use crate::access::PolicyStore;
use crate::access::Profile;
use crate::agent_api;
use crate::aggregate::Nodes;
use crate::auth::Identity;
use crate::body::{self, Body, Budget};
use crate::calls::Calls;
use crate::checks::Checks;
use crate::cluster::{Node, View};
use crate::error::ProxyError;
use crate::metrics::Metrics;
use crate::owners::Index;
use crate::place::Placement;
use crate::updates::Updates;
use crate::usage::Usage;

use super::guard;
use super::relay::Relays;

/// Bodies the agent must read to place a request (network creation) are small JSON.
const MAX_PEEKED_BODY: usize = 1 << 20;
/// How long the engine has to say a network's scope.
const SCOPE_QUERY_TIMEOUT: Duration = Duration::from_secs(5);

/// What carrying out one client's request needs.
pub struct Executor<'a> {
    pub calls: &'a Calls,
    pub budget: &'a Budget,
    pub owners: &'a Index,
    pub policy: &'a PolicyStore,
    pub relays: &'a Relays,
    pub fanout_deadline: Duration,
    pub started: Instant,
    pub identity: &'a Identity,
    /// The cluster as placement saw it.
    pub view: &'a View,
    pub usage: &'a Usage,
    pub updates: &'a Updates,
    pub checks: &'a Checks,
    pub metrics: &'a Metrics,
    pub edge_keys: Option<&'a crate::edge::EdgeKeys>,
    pub profile: &'a Profile,
}

impl Executor<'_> {
    pub async fn execute(
        &self,
        placement: Placement<'_>,
        req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        match placement {
            Placement::Agent => {
                let cx = agent_api::Context {
                    calls: self.calls,
                    started: self.started,
                    usage: self.usage,
                    metrics: self.metrics,
                    identity: self.identity,
                    profile: self.profile,
                    view: self.view,
                    fanout_deadline: self.fanout_deadline,
                    updates: self.updates,
                    checks: self.checks,
                    budget: self.budget,
                    edge_keys: self.edge_keys,
                };
                Ok(Box::pin(agent_api::handle(&cx, req)).await)
            }
            Placement::Here => self.forward(self.here(), req, upgrade).await,
            Placement::Node(node) => self.forward(node, req, upgrade).await,
            Placement::Managers(managers) => Box::pin(self.forward_first(&managers, req)).await,
            Placement::FanOut {
                kind,
                nodes,
                missing,
            } => {
                let nodes = self.nodes(&nodes);
                Box::pin(nodes.fan_out(&missing, kind, self.owners, req)).await
            }
            Placement::Owner { object, among } => {
                let node = Box::pin(self.find_owner(&among, &object)).await?;
                self.forward(&node, req, upgrade).await
            }
            Placement::NetworkScope { id, swarm, local } => {
                let path = format!("/networks/{id}");
                let scope = match Box::pin(self.calls.engine().get_json(&path, SCOPE_QUERY_TIMEOUT))
                    .await
                {
                    Ok(network) => network["Scope"].as_str().map(str::to_owned),
                    Err(_) => None,
                };
                let next = match scope.as_deref() {
                    Some("swarm") | None => *swarm,
                    Some(_) => *local,
                };
                Box::pin(self.execute(next, req, upgrade)).await
            }
            Placement::NetworkDriver { overlay, other } => {
                let (parts, body) = req.into_parts();
                let (bytes, _held) = Box::pin(self.budget.collect(
                    body,
                    MAX_PEEKED_BODY,
                    "a network's specification",
                    &self.identity.subject,
                ))
                .await
                .map_err(guard::budget_error)?;
                let driver = serde_json::from_slice::<serde_json::Value>(&bytes)
                    .ok()
                    .and_then(|v| v["Driver"].as_str().map(str::to_owned));
                let req = Request::from_parts(parts, body::full(bytes));
                let next = if driver.as_deref() == Some("overlay") {
                    *overlay
                } else {
                    *other
                };
                Box::pin(self.execute(next, req, None)).await
            }
            Placement::PingAsManager => Box::pin(self.ping_as_manager(req, upgrade)).await,
            Placement::InfoWithManagers(managers) => {
                Box::pin(self.info_with_managers(&managers, req)).await
            }
            Placement::Refused(unplaced) => Err(unplaced.into()),
        }
    }

    /// This node, as requests are sent to it: a view lists it first.
    pub(super) fn here(&self) -> &Node {
        &self.view.nodes()[0]
    }

    /// `nodes`, asked at once on the client's behalf.
    pub(super) fn nodes<'n>(&'n self, nodes: &'n [Node]) -> Nodes<'n> {
        Nodes {
            calls: self.calls,
            nodes,
            identity: self.identity,
            deadline: self.fanout_deadline,
        }
    }
}
