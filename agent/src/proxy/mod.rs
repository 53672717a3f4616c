//! The Docker API proxy: authenticates each request, places it (`route`), and relays it to
//! the right engine, directly or through the agent of another node, without buffering,
//! upgrades and hijacks included.

pub mod error;
pub mod guard;
pub mod headers;
mod object_scope;
pub mod path;
mod relay;
pub mod streams;

use std::sync::Arc;
use std::time::{Duration, Instant};

use http::{header, HeaderValue, Request, Response, StatusCode};
use hyper::body::Incoming;
use hyper::upgrade::OnUpgrade;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::{routes, scope, Kind, Policy, PolicyStore};
use crate::audit::{Audit, Record};
use crate::auth::{self, Authenticator, Identity};
use crate::body::{self, Body, Budget, Keep};
use crate::cluster::token::{Bound, HEADER as AGENT_TOKEN};
use crate::cluster::{Cluster, Node, Role, View};
use crate::engine::Engine;
use crate::locate::Index;
use crate::route::{self, Object, Placement};
use crate::tls::ClientCert;

pub use error::{json_error, json_response, ProxyError};
use guard::Access;

/// Docker's own words when no manager can be reached.
pub const NOT_A_MANAGER: &str = "This node is not a swarm manager. Worker nodes can't be used to view or modify cluster state. Please run this command on a manager node or promote the current node to a manager.";
/// Bodies the agent must read to place a request (network creation) are small JSON.
const MAX_PEEKED_BODY: usize = 1 << 20;
/// Manager operations are kept to be sent again; a secret or config is at most 1 MB.
const MAX_MANAGER_BODY: usize = 4 << 20;
/// Set on an agent's answer when its own engine could not be reached: the request was not
/// served, and whoever forwarded it may try another node.
pub const ENGINE_UNREACHABLE: &str = "x-agent-engine-unreachable";

/// Everything a request needs, shared by all connections.
pub struct Proxy {
    pub engine: Engine,
    pub auth: Authenticator,
    pub policy: Arc<PolicyStore>,
    pub audit: Audit,
    /// Request bodies the agent reads whole, counted for the whole agent.
    pub budget: Budget,
    pub cluster: Cluster,
    pub index: Index,
    /// How long a fan-out waits for the slowest node.
    pub fanout_deadline: Duration,
    pub started: Instant,
    /// The last answer of the open health endpoint.
    pub health: crate::api::HealthCache,
    /// The long-lived requests held now, per client and in all.
    pub streams: Arc<streams::Streams>,
    /// Upgraded streams (attach, exec, BuildKit) outlive their HTTP exchange; shutdown
    /// waits for them here.
    pub relays: TaskTracker,
    /// Cancelled when the shutdown grace period is over: every stream closes.
    pub hard_stop: CancellationToken,
}

/// What the agent knows about a client connection once TLS is up.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: std::net::SocketAddr,
    pub client_cert: ClientCert,
}

/// Where a request goes once placed.
pub enum Upstream<'a> {
    Local,
    Peer(&'a Node),
}

/// The node that served a request, set on its response for the audit line.
#[derive(Clone)]
struct ServedBy(String);

impl Proxy {
    pub fn node_name(&self) -> String {
        self.cluster.view().me.meta.node_name.clone()
    }

    /// Serves one request. Never fails: errors become Docker-shaped responses.
    pub async fn handle(
        self: Arc<Self>,
        conn: Arc<ConnInfo>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let method = req.method().clone();
        let path = req.uri().path().to_owned();
        let mut record = Record::new(conn.peer, &method, &path);
        let mut resp = match self.serve(&conn, req, &mut record).await {
            Ok(resp) => {
                tracing::debug!(%method, %path, status = resp.status().as_u16(), "request");
                resp
            }
            Err(e) => {
                let status = e.status();
                if status.is_server_error() {
                    tracing::warn!(%method, %path, peer = %conn.peer, status = status.as_u16(), error = %e, "request failed");
                } else {
                    tracing::info!(%method, %path, peer = %conn.peer, status = status.as_u16(), error = %e, "request refused");
                }
                e.into_response()
            }
        };
        if let Some(ServedBy(node)) = resp.extensions_mut().remove::<ServedBy>() {
            if let Ok(value) = HeaderValue::from_str(&node) {
                resp.headers_mut().insert(headers::NODE, value);
            }
            record.node = Some(node);
        }
        if record.path != "/agent/v1/health" {
            self.audit.write(record, resp.status().as_u16()).await;
        }
        resp
    }

    async fn serve(
        &self,
        conn: &ConnInfo,
        req: Request<Incoming>,
        record: &mut Record,
    ) -> Result<Response<Body>, ProxyError> {
        let raw_path = path::strip_version(req.uri().path()).to_owned();
        if raw_path == "/agent/v1/health" && req.method() == http::Method::GET {
            record.path = raw_path;
            return Ok(self.health.answer(self).await);
        }
        let policy = self.policy.current();
        // Known before the client is: a refused read by a stranger is not audited.
        let decoded = routes::decode(&raw_path);
        let op = decoded
            .as_ref()
            .map(|p| routes::classify(req.method(), p))
            .ok();
        if let Some(op) = &op {
            record.operation(op);
        }
        let (identity, forwarded) = self.identify(conn, &req, &policy)?;
        record.identity(&identity);
        let api_path = decoded.map_err(|e| ProxyError::BadRequest(e.to_string()))?;
        let op = op.unwrap_or_else(|| routes::classify(req.method(), &api_path));
        let profile = policy.profile(&identity.profile).ok_or_else(|| {
            ProxyError::Forbidden(format!(
                "{} acts under profile {:?}, which this agent's policy does not define (it has {})",
                identity.subject,
                identity.profile,
                policy.profile_names().join(", ")
            ))
        })?;
        guard::no_body_on_reads(&req)?;
        guard::websocket_attach(&req, &api_path)?;
        profile
            .permits(&op, format_args!("{} {}", req.method(), api_path))
            .map_err(ProxyError::from)?;
        let upgrade = upgrade_protocol(&req, &api_path);
        let mut req = req.map(Body::from);
        let mut access = Access {
            profile,
            op,
            spec: None,
        };
        let mut held = None;
        if !access.profile.is_unrestricted() {
            guard::api_version(&access, req.uri().path())?;
            guard::narrow(&access, &mut req)?;
            let checked =
                guard::specification(&self.budget, &access, &identity.subject, req).await?;
            req = checked.req;
            held = checked.held;
            access.spec = checked.spec;
        }
        // A long-lived request holds a place until its answer or relay ends.
        let place = if access.op.long_lived {
            let place = self
                .streams
                .admit(&identity.subject)
                .map_err(ProxyError::Unavailable)?;
            let keep = Keep(place);
            req.extensions_mut().insert(keep.clone());
            Some(keep)
        } else {
            None
        };
        let profile = Arc::clone(&access.profile);
        req.extensions_mut().insert(access);
        let view = self.cluster.view();
        let me = view.me.meta.node_name.clone();
        // A request another agent forwarded was placed there: it runs here.
        if forwarded {
            profile.check_node(&me).map_err(ProxyError::from)?;
            let resp = self.forward(Upstream::Local, &identity, req, upgrade).await;
            drop(held);
            return match place {
                Some(keep) => resp.map(|r| r.map(|b| b.keeping(keep))),
                None => resp,
            };
        }
        // Only a profile limited to some nodes needs a list of its own.
        let nodes: std::borrow::Cow<'_, [Node]> = if profile.nodes.is_some() {
            view.nodes()
                .iter()
                .filter(|n| profile.reaches(&n.meta.node_name))
                .cloned()
                .collect::<Vec<_>>()
                .into()
        } else {
            view.nodes().into()
        };
        let names: Vec<&str> = view
            .nodes()
            .iter()
            .map(|n| n.meta.node_name.as_str())
            .collect();
        let clustered = self.cluster.is_clustered();
        let placement = route::place(req.method(), &api_path, req.headers(), &names, clustered);
        let reach = |node: &str| profile.check_node(node).map_err(ProxyError::from);
        let resp = match placement {
            Placement::Agent => Ok(crate::api::handle(self, &identity, &req).await),
            Placement::UnknownNode { name, known } => Err(ProxyError::NotFound(format!(
                "no node named {name:?} in this cluster (known nodes: {})",
                known.join(", ")
            ))),
            Placement::Node(name) => {
                reach(&name)?;
                match nodes.iter().find(|n| n.meta.node_name == name) {
                    Some(node) => self.to_node(node, &identity, req, upgrade).await,
                    None => Err(ProxyError::NotFound(format!("no node named {name:?}"))),
                }
            }
            Placement::Manager => self.to_manager(&view, &identity, req, upgrade).await,
            Placement::NetworkScoped(id) => {
                reach(&me)?;
                self.network_scoped(&view, &identity, &id, req, upgrade)
                    .await
            }
            Placement::NetworkCreate => {
                reach(&me)?;
                self.network_create(&view, &identity, req).await
            }
            Placement::FanOut(kind) => {
                let missing: Vec<String> = view
                    .missing()
                    .iter()
                    .filter(|n| profile.reaches(n))
                    .cloned()
                    .collect();
                crate::aggregate::fan_out(self, &nodes, &missing, kind, &identity, req).await
            }
            Placement::Owner(object) => {
                if nodes.is_empty() {
                    return Err(ProxyError::Forbidden(format!(
                        "profile {:?} may reach none of this cluster's nodes",
                        profile.name
                    )));
                }
                let node = self.locate(&nodes, &identity, &object).await?;
                self.to_node(&node, &identity, req, upgrade).await
            }
            Placement::Local if clustered && is_swarm_presentation(&api_path) => {
                reach(&me)?;
                self.present_cluster(&view, &identity, &api_path, req, upgrade)
                    .await
            }
            Placement::Local => {
                reach(&me)?;
                self.forward(Upstream::Local, &identity, req, upgrade).await
            }
        };
        drop(held);
        match place {
            Some(keep) => resp.map(|r| r.map(|b| b.keeping(keep))),
            None => resp,
        }
    }

    /// Who the client is, and whether another agent forwarded the request on its behalf.
    fn identify(
        &self,
        conn: &ConnInfo,
        req: &Request<Incoming>,
        policy: &Policy,
    ) -> Result<(Identity, bool), ProxyError> {
        if let Some(token) = req.headers().get(AGENT_TOKEN) {
            let tokens = self.cluster.tokens().ok_or_else(|| {
                ProxyError::Unauthenticated(auth::AuthError::Token(
                    "this agent has no cluster secret and accepts no forwarded requests".into(),
                ))
            })?;
            let token = token.to_str().map_err(|_| {
                ProxyError::Unauthenticated(auth::AuthError::Token(
                    "agent token is not text".into(),
                ))
            })?;
            let me = self.node_name();
            let path_and_query = req
                .uri()
                .path_and_query()
                .map(|p| p.as_str())
                .unwrap_or("/");
            let bound = Bound {
                node: &me,
                method: req.method(),
                path_and_query,
            };
            return Ok((tokens.verify(token, bound)?, true));
        }
        let identity = self.auth.authenticate(
            req.headers()
                .get(header::AUTHORIZATION)
                .map(HeaderValue::as_bytes),
            &conn.client_cert,
            policy,
        )?;
        Ok((identity, false))
    }

    /// The agent token that carries `identity` to `node` for one request.
    pub fn agent_token(
        &self,
        identity: &Identity,
        node: &str,
        method: &http::Method,
        path_and_query: &str,
    ) -> Result<HeaderValue, ProxyError> {
        let tokens = self.cluster.tokens().ok_or_else(|| {
            ProxyError::BadUpstream(
                "this agent has no cluster secret to reach other nodes with".into(),
            )
        })?;
        let bound = Bound {
            node,
            method,
            path_and_query,
        };
        let token = tokens
            .mint(identity, &self.node_name(), bound)
            .map_err(|e| ProxyError::BadUpstream(format!("cannot sign an agent token: {e}")))?;
        HeaderValue::from_str(&token).map_err(|e| ProxyError::BadUpstream(e.to_string()))
    }

    /// The connection pool of a node: the local engine, or that node's agent.
    pub fn upstream_of(&self, node: &Node) -> Engine {
        if node.local {
            self.engine.clone()
        } else {
            self.cluster.peers.get(&node.meta)
        }
    }

    async fn to_node(
        &self,
        node: &Node,
        identity: &Identity,
        req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        let upstream = if node.local {
            Upstream::Local
        } else {
            Upstream::Peer(node)
        };
        self.forward(upstream, identity, req, upgrade).await
    }

    /// Relays a request to one upstream and its answer back. On the local engine, an
    /// object outside the client's label scope is answered as missing first.
    pub async fn forward(
        &self,
        upstream: Upstream<'_>,
        identity: &Identity,
        req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        let (mut req, client_upgrade) = prepare(req, upgrade);
        let (pool, served_by) = match upstream {
            Upstream::Local => {
                if let Some(access) = req.extensions().get::<Access>().cloned() {
                    let path = req.uri().path().to_owned();
                    self.check_here(&access, &path).await?.apply(&mut req)?;
                }
                (self.engine.clone(), self.node_name())
            }
            Upstream::Peer(node) => {
                let path = path_and_query(&req);
                let token =
                    self.agent_token(identity, &node.meta.node_name, req.method(), &path)?;
                req.headers_mut().insert(AGENT_TOKEN, token);
                (self.upstream_of(node), node.meta.node_name.clone())
            }
        };
        let keep = req.extensions().get::<Keep>().cloned();
        let resp = pool.send(req).await?;
        let mut resp = self.complete(resp, client_upgrade, keep)?;
        resp.extensions_mut().insert(ServedBy(served_by));
        Ok(resp)
    }

    /// Sends to the first of `candidates` that can serve it: the next is tried when a
    /// node's agent cannot be reached or its engine is down. The body (manager operations
    /// carry small JSON specs) is kept so that it can be sent again, counted against the
    /// agent's body budget.
    async fn forward_first(
        &self,
        candidates: &[Node],
        identity: &Identity,
        req: Request<Body>,
    ) -> Result<Response<Body>, ProxyError> {
        let (req, _) = prepare(req, None);
        let (parts, body) = req.into_parts();
        let (mut bytes, _held) = self
            .budget
            .collect(
                body,
                MAX_MANAGER_BODY,
                "a manager operation",
                &identity.subject,
            )
            .await
            .map_err(guard::budget_error)?;
        let mut parts = parts;
        let path = parts
            .uri
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/".into());
        let mut failures = Vec::new();
        for node in candidates {
            let mut attempt = Request::new(body::full(bytes.clone()));
            *attempt.method_mut() = parts.method.clone();
            *attempt.uri_mut() = parts.uri.clone();
            *attempt.headers_mut() = parts.headers.clone();
            if !node.local {
                let token =
                    self.agent_token(identity, &node.meta.node_name, &parts.method, &path)?;
                attempt.headers_mut().insert(AGENT_TOKEN, token);
            } else if let Some(access) = parts.extensions.get::<Access>().cloned() {
                let path = parts.uri.path().to_owned();
                self.check_here(&access, &path).await?.apply_kept(
                    &mut parts.uri,
                    &mut parts.headers,
                    &mut bytes,
                )?;
                *attempt.uri_mut() = parts.uri.clone();
                *attempt.headers_mut() = parts.headers.clone();
                *attempt.body_mut() = body::full(bytes.clone());
            }
            match self.upstream_of(node).send(attempt).await {
                Ok(resp) if resp.headers().contains_key(ENGINE_UNREACHABLE) => {
                    failures.push(format!(
                        "{}: its engine is unreachable",
                        node.meta.node_name
                    ));
                }
                Ok(resp) => {
                    let mut resp = self.complete(resp, None, None)?;
                    resp.extensions_mut()
                        .insert(ServedBy(node.meta.node_name.clone()));
                    return Ok(resp);
                }
                Err(e) if e.is_connect() => failures.push(format!("{}: {e}", node.meta.node_name)),
                Err(e) => return Err(e.into()),
            }
            tracing::warn!(node = %node.meta.node_name, "manager unavailable; trying the next");
        }
        if failures.is_empty() {
            return Err(ProxyError::Unavailable(NOT_A_MANAGER.into()));
        }
        Err(ProxyError::Unavailable(format!(
            "{NOT_A_MANAGER} (no manager could serve it: {})",
            failures.join("; ")
        )))
    }

    /// Turns the upstream's answer into the client's, switching protocols when both asked.
    fn complete(
        &self,
        mut resp: Response<Incoming>,
        client_upgrade: Option<OnUpgrade>,
        keep: Option<Keep>,
    ) -> Result<Response<Body>, ProxyError> {
        if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
            let Some(client_upgrade) = client_upgrade else {
                return Err(ProxyError::BadRequest(
                    "this call streams over a hijacked connection: send 'Connection: Upgrade' and 'Upgrade: tcp'".into(),
                ));
            };
            let engine_upgrade = hyper::upgrade::on(&mut resp);
            let (mut parts, _) = resp.into_parts();
            let protocol = parts
                .headers
                .get(header::UPGRADE)
                .cloned()
                .unwrap_or_else(|| HeaderValue::from_static("tcp"));
            headers::for_client(&mut parts.headers);
            parts
                .headers
                .insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
            parts.headers.insert(header::UPGRADE, protocol);
            relay::spawn(
                &self.relays,
                self.hard_stop.clone(),
                client_upgrade,
                engine_upgrade,
                keep,
            );
            return Ok(Response::from_parts(parts, body::empty()));
        }
        let (mut parts, body) = resp.into_parts();
        headers::for_client(&mut parts.headers);
        Ok(Response::from_parts(parts, Body::from(body)))
    }

    /// A manager operation: run here when this node is a manager, else on the leader, else
    /// on any reachable manager. A cluster without managers lets the local engine answer.
    async fn to_manager(
        &self,
        view: &View,
        identity: &Identity,
        req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        let profile = req
            .extensions()
            .get::<Access>()
            .map(|a| Arc::clone(&a.profile));
        let reaches = |name: &str| profile.as_ref().is_none_or(|p| p.reaches(name));
        if view.me.meta.role == Role::Manager
            && view.me.meta.engine_up
            && reaches(&view.me.meta.node_name)
        {
            return self.forward(Upstream::Local, identity, req, upgrade).await;
        }
        let all_managers = view.managers();
        let managers: Vec<Node> = all_managers
            .iter()
            .filter(|m| reaches(&m.meta.node_name))
            .cloned()
            .collect();
        if managers.is_empty() && !all_managers.is_empty() {
            return Err(ProxyError::Forbidden(format!(
                "profile {:?} may reach none of this cluster's managers",
                profile.map(|p| p.name.clone()).unwrap_or_default()
            )));
        }
        if managers.is_empty() {
            let in_swarm = view.nodes().iter().any(|n| n.meta.role != Role::Standalone);
            if in_swarm {
                return Err(ProxyError::Unavailable(NOT_A_MANAGER.into()));
            }
            return self.forward(Upstream::Local, identity, req, upgrade).await;
        }
        self.forward_first(&managers, identity, req).await
    }

    /// A request on one network: a swarm-scoped network is a manager's business, a local one
    /// the local engine's.
    async fn network_scoped(
        &self,
        view: &View,
        identity: &Identity,
        id: &str,
        req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        if view.me.meta.role == Role::Manager || view.managers().is_empty() {
            return self.forward(Upstream::Local, identity, req, upgrade).await;
        }
        let scope = match self
            .engine
            .get_json(&format!("/networks/{id}"), Duration::from_secs(5))
            .await
        {
            Ok(network) => network["Scope"].as_str().map(str::to_owned),
            Err(_) => None,
        };
        match scope.as_deref() {
            Some("swarm") | None => self.to_manager(view, identity, req, upgrade).await,
            Some(_) => self.forward(Upstream::Local, identity, req, upgrade).await,
        }
    }

    /// `POST /networks/create`: an overlay network is created by a manager.
    async fn network_create(
        &self,
        view: &View,
        identity: &Identity,
        req: Request<Body>,
    ) -> Result<Response<Body>, ProxyError> {
        let (parts, body) = req.into_parts();
        let (bytes, _held) = self
            .budget
            .collect(
                body,
                MAX_PEEKED_BODY,
                "a network's specification",
                &identity.subject,
            )
            .await
            .map_err(guard::budget_error)?;
        let driver = serde_json::from_slice::<serde_json::Value>(&bytes)
            .ok()
            .and_then(|v| v["Driver"].as_str().map(str::to_owned));
        let req = Request::from_parts(parts, body::full(bytes));
        if driver.as_deref() == Some("overlay") {
            self.to_manager(view, identity, req, None).await
        } else {
            self.forward(Upstream::Local, identity, req, None).await
        }
    }

    /// The node that holds a container or exec instance.
    async fn locate(
        &self,
        nodes: &[Node],
        identity: &Identity,
        object: &Object,
    ) -> Result<Node, ProxyError> {
        let local = || nodes[0].clone();
        if nodes.len() == 1 {
            return Ok(local());
        }
        let (reference, known, kind) = match object {
            Object::Container(r) => (r, self.index.container_node(r), "containers"),
            Object::Exec(r) => (r, self.index.exec_node(r), "exec"),
        };
        if let Some(name) = known {
            if let Some(node) = nodes.iter().find(|n| n.meta.node_name == name) {
                return Ok(node.clone());
            }
        }
        let path = format!("/{kind}/{reference}/json");
        let found = crate::aggregate::look_up(self, nodes, identity, &path).await;
        // Peers answer within the client's scope; the local engine's answer is judged here.
        let profile = self.policy.current().profile(&identity.profile);
        let scoped = profile.as_ref().filter(|p| p.is_scoped());
        let holders: Vec<(&Node, String)> = found
            .iter()
            .filter_map(|(i, body)| {
                let inspect = serde_json::from_slice::<serde_json::Value>(body).ok()?;
                let node = nodes.get(*i)?;
                if let (Some(p), true, Object::Container(_)) = (scoped, node.local, object) {
                    if !p.in_scope(scope::labels_in(Kind::Container, &inspect)) {
                        return None;
                    }
                }
                let id = inspect["Id"]
                    .as_str()
                    .or(inspect["ID"].as_str())
                    .map(str::to_owned)
                    .unwrap_or_default();
                Some((node, id))
            })
            .collect();
        match holders.as_slice() {
            // Unknown within the scope: as good as missing, and no engine is asked again.
            [] if scoped.is_some() => Err(ProxyError::NotFound(match object {
                Object::Container(_) => scope::not_found(Kind::Container, reference),
                Object::Exec(_) => scope::not_found(Kind::Exec, reference),
            })),
            // Unknown everywhere: the local engine gives the authentic "No such ..." answer.
            [] => Ok(local()),
            [(node, id)] => {
                match object {
                    Object::Container(_) => self.index.remember_container(id, &node.meta.node_name),
                    Object::Exec(_) => self.index.remember_exec(id, &node.meta.node_name),
                }
                Ok((*node).clone())
            }
            many => {
                let names: Vec<&str> = many
                    .iter()
                    .map(|(n, _)| n.meta.node_name.as_str())
                    .collect();
                Err(ProxyError::Conflict(format!(
                    "{reference:?} names a {} on several nodes ({}); choose one with the X-Agent-Target header",
                    if kind == "exec" { "exec instance" } else { "container" },
                    names.join(", ")
                )))
            }
        }
    }

    /// `/_ping` and `/info` through a worker's agent: the cluster has managers, so the
    /// endpoint presents itself as one, as `docker stack deploy` and `docker service`
    /// require; their requests are then sent to a manager.
    async fn present_cluster(
        &self,
        view: &View,
        identity: &Identity,
        api_path: &str,
        req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        let managers = view.managers();
        if view.me.meta.role == Role::Manager || managers.is_empty() {
            return self.forward(Upstream::Local, identity, req, upgrade).await;
        }
        if api_path == "/_ping" {
            let mut resp = self
                .forward(Upstream::Local, identity, req, upgrade)
                .await?;
            if resp.headers().contains_key("swarm") {
                resp.headers_mut()
                    .insert("swarm", HeaderValue::from_static("active/manager"));
            }
            return Ok(resp);
        }
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/info".into());
        let local = self.engine.get_json(&path, Duration::from_secs(10)).await?;
        let manager = crate::aggregate::look_up(self, &managers, identity, &path).await;
        let mut info = local;
        if let Some((_, body)) = manager.first() {
            if let Ok(manager_info) = serde_json::from_slice::<serde_json::Value>(body) {
                let swarm = &mut info["Swarm"];
                swarm["ControlAvailable"] = serde_json::Value::Bool(true);
                for key in ["Cluster", "Managers", "Nodes", "RemoteManagers"] {
                    if !manager_info["Swarm"][key].is_null() {
                        swarm[key] = manager_info["Swarm"][key].clone();
                    }
                }
            }
        }
        Ok(json_response(StatusCode::OK, &info))
    }
}

/// Makes a client's request fit for an upstream; returns the client's side of a protocol
/// switch, taken before the request is handed on.
fn prepare(
    mut req: Request<Body>,
    upgrade: Option<HeaderValue>,
) -> (Request<Body>, Option<OnUpgrade>) {
    let client_asked = headers::requested_upgrade(req.headers()).is_some();
    let client_upgrade = client_asked.then(|| hyper::upgrade::on(&mut req));
    let (mut parts, body) = req.into_parts();
    headers::for_engine(&mut parts.headers, upgrade);
    parts.uri = origin_form(&parts.uri);
    (Request::from_parts(parts, body), client_upgrade)
}

fn is_swarm_presentation(api_path: &str) -> bool {
    api_path == "/_ping" || api_path == "/info"
}

/// The protocol to ask the engine to switch to: the client's own, or `tcp` for a hijack
/// the client did not announce (the engine only tunnels when asked to).
fn upgrade_protocol(req: &Request<Incoming>, api_path: &str) -> Option<HeaderValue> {
    headers::requested_upgrade(req.headers()).or_else(|| {
        path::is_hijack(req.method(), api_path).then(|| HeaderValue::from_static("tcp"))
    })
}

fn path_and_query<B>(req: &Request<B>) -> String {
    req.uri()
        .path_and_query()
        .map(|p| p.as_str().to_owned())
        .unwrap_or_else(|| "/".into())
}

/// The request target as the engine should see it: path and query, nothing else.
fn origin_form(uri: &http::Uri) -> http::Uri {
    if uri.scheme().is_none() && uri.authority().is_none() {
        return uri.clone();
    }
    let pq = uri.path_and_query().map(|pq| pq.as_str()).unwrap_or("/");
    pq.parse().unwrap_or_else(|_| http::Uri::from_static("/"))
}
