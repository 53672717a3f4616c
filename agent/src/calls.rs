//! The one way the agent reaches a node: this node's engine through its own pool, another
//! node through that node's agent, the client's identity carried in an agent token bound to
//! the node and the request.

use http::{header, HeaderValue, Request, Response};
use hyper::body::Incoming;

use crate::auth::Identity;
use crate::body::{self, Body};
use crate::cluster::token::{Bound, HEADER as AGENT_TOKEN};
use crate::cluster::{Cluster, Node};
use crate::error::ProxyError;
use crate::upstream::UpstreamPool;

/// The engine behind this agent and the cluster it belongs to.
pub struct Calls {
    engine: UpstreamPool,
    cluster: Cluster,
}

impl Calls {
    pub fn new(engine: UpstreamPool, cluster: Cluster) -> Self {
        Self { engine, cluster }
    }

    /// The engine behind this agent.
    pub fn engine(&self) -> &UpstreamPool {
        &self.engine
    }

    pub fn cluster(&self) -> &Cluster {
        &self.cluster
    }

    /// This node's name.
    pub fn me(&self) -> String {
        self.cluster.view().me.meta.node_name.clone()
    }

    /// Makes `req` fit to send to `node`, where it lies, and gives the pool to send it
    /// through: the local engine's, or that node's agent's, to which a request carries
    /// the client's identity in an agent token bound to that node, method, path and query.
    pub fn address(
        &self,
        node: &Node,
        identity: &Identity,
        req: &mut Request<Body>,
    ) -> Result<UpstreamPool, ProxyError> {
        if node.local {
            return Ok(self.engine.clone());
        }
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let token = self.token(identity, &node.meta.node_name, req.method(), path_and_query)?;
        req.headers_mut().insert(AGENT_TOKEN, token);
        Ok(self.cluster.peers.get(&node.meta))
    }

    /// Sends `req` to `node` and returns its answer as it comes.
    pub async fn send(
        &self,
        node: &Node,
        identity: &Identity,
        mut req: Request<Body>,
    ) -> Result<Response<Incoming>, ProxyError> {
        let pool = self.address(node, identity, &mut req)?;
        Ok(pool.send(req).await?)
    }

    /// A request this file built, addressed ([`Calls::address`]), with its pool.
    fn addressed(
        &self,
        node: &Node,
        identity: &Identity,
        mut req: Request<Body>,
    ) -> Result<(UpstreamPool, Request<Body>), ProxyError> {
        let pool = self.address(node, identity, &mut req)?;
        Ok((pool, req))
    }

    /// A request with a whole body addressed to `node`, with the pool to send it through.
    pub fn request(
        &self,
        node: &Node,
        identity: &Identity,
        method: http::Method,
        path: &str,
        content: bytes::Bytes,
    ) -> Result<(UpstreamPool, Request<Body>), ProxyError> {
        let req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "docker")
            .header(header::CONTENT_TYPE, "application/json")
            .body(body::full(content))
            .map_err(|e| ProxyError::BadRequest(format!("{path}: {e}")))?;
        self.addressed(node, identity, req)
    }

    /// A `GET path` addressed to `node`, with the pool to send it through.
    pub fn get(
        &self,
        node: &Node,
        identity: &Identity,
        path: &str,
    ) -> Result<(UpstreamPool, Request<Body>), ProxyError> {
        let req = Request::get(path)
            .header(header::HOST, "docker")
            .body(body::empty())
            .map_err(|e| ProxyError::BadRequest(format!("{path}: {e}")))?;
        self.addressed(node, identity, req)
    }

    /// The agent token that carries `identity` to `node` for one request.
    fn token(
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
            .mint(identity, &self.me(), bound)
            .map_err(|e| ProxyError::BadUpstream(format!("cannot sign an agent token: {e}")))?;
        HeaderValue::from_str(&token).map_err(|e| ProxyError::BadUpstream(e.to_string()))
    }
}
