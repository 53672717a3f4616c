//! One request's way to an endpoint's cluster: the endpoint, its kept agent client and the
//! user the agent is asked for; object references checked before they go into a path;
//! where a container lives; and the node of a standalone agent, whose answers name none.

use std::sync::Arc;
use std::time::Duration;

use axum::http::HeaderMap;
use bytes::Bytes;
use hyper::body::Incoming;
use serde_json::{json, Value};

use super::{ApiError, ApiResult, App, Authed};
use crate::agent::{AgentClient, AgentError, Call, OutBody};
use crate::store::Endpoint;

/// A call whose whole answer is read.
pub(super) const AGENT_TIMEOUT: Duration = Duration::from_secs(15);
/// A call for an endpoint's state, or to find an object: short, so a list stays quick.
pub(super) const STATUS_TIMEOUT: Duration = Duration::from_secs(5);
/// Stopping or restarting waits for the container's stop timeout.
pub(super) const ACTION_TIMEOUT: Duration = Duration::from_secs(120);

/// An endpoint's agent, asked for one user.
pub(super) struct Cluster<'a> {
    pub endpoint: Endpoint,
    client: Arc<AgentClient>,
    who: &'a Authed,
}

impl<'a> Cluster<'a> {
    /// Endpoint `id` as the database has it now, and its client.
    pub async fn open(app: &App, id: i64, who: &'a Authed) -> ApiResult<Self> {
        let endpoint = app.db.run(move |s| s.endpoint(id)).await?;
        Ok(Self::of(app, endpoint, who)?)
    }

    /// Endpoint `id`, for one of its objects (a container's or service's ID or name): the
    /// reference is checked before the endpoint is looked up.
    pub async fn for_object<'r>(
        app: &App,
        id: i64,
        reference: &'r str,
        who: &'a Authed,
    ) -> ApiResult<(Self, &'r str)> {
        let reference = container_ref(reference)?;
        Ok((Self::open(app, id, who).await?, reference))
    }

    /// `endpoint`'s client: the kept one unless its settings changed.
    pub fn of(app: &App, endpoint: Endpoint, who: &'a Authed) -> Result<Self, AgentError> {
        let client = app.agents.get(&endpoint)?;
        Ok(Self {
            endpoint,
            client,
            who,
        })
    }

    /// Sends `call` and reads the whole answer.
    pub async fn call(
        &self,
        call: Call<'_>,
        timeout: Duration,
    ) -> Result<(HeaderMap, Bytes), AgentError> {
        self.client.call(self.who.caller(), call, timeout).await
    }

    /// Sends `call` and reads its answer as JSON.
    pub async fn json(
        &self,
        call: Call<'_>,
        timeout: Duration,
    ) -> Result<(HeaderMap, Value), AgentError> {
        self.client.json(self.who.caller(), call, timeout).await
    }

    /// Sends `call` and gives back the answer with its body (or upgraded stream) unread.
    pub async fn open_stream(
        &self,
        call: Call<'_>,
    ) -> Result<hyper::Response<Incoming>, AgentError> {
        self.client.open(self.who.caller(), call).await
    }

    /// Passes a client's request on to the agent as it came ([`AgentClient::forward`]).
    pub async fn forward(
        &self,
        method: axum::http::Method,
        path: &str,
        headers: &HeaderMap,
        body: OutBody,
    ) -> Result<hyper::Response<Incoming>, AgentError> {
        self.client
            .forward(self.who.caller(), method, path, headers, body)
            .await
    }

    /// The node of a standalone agent (one that gossips with no other), whose answers are
    /// the engine's own and name no node.
    pub async fn sole_node(&self) -> Option<String> {
        let (_, members) = self
            .json(Call::get("/agent/v1/members"), STATUS_TIMEOUT)
            .await
            .ok()?;
        match members["Members"].as_array().map(Vec::as_slice) {
            Some([only]) => only["NodeName"].as_str().map(str::to_owned),
            _ => None,
        }
    }

    /// Inspects a container, and finds where it is: on the node the agent names as the one
    /// that answered (`X-Agent-Node`); an agent that names none is searched as before.
    pub async fn inspect(
        &self,
        cid: &str,
        timeout: Duration,
    ) -> Result<(Value, OwnedContainer), AgentError> {
        let (headers, inspect) = self
            .json(Call::get(format!("/containers/{cid}/json")), timeout)
            .await?;
        let mut found = OwnedContainer::named(cid, &inspect);
        found.node = match served_by(&headers) {
            Some(node) => node.to_owned(),
            None => self.search(&found.id).await,
        };
        Ok((inspect, found))
    }

    /// Where the container an action is for is. One that cannot be inspected keeps the
    /// reference as given and no node: the action itself then fails with the agent's
    /// reason, and is recorded so.
    pub async fn find_owner(&self, cid: &str) -> OwnedContainer {
        match self.inspect(cid, STATUS_TIMEOUT).await {
            Ok((_, found)) => found,
            Err(_) => OwnedContainer::named(cid, &Value::Null),
        }
    }

    /// The node of container `id` for an agent that does not say which node answered: the
    /// cluster's list filtered by the full ID, else the standalone agent's node.
    async fn search(&self, id: &str) -> String {
        let filter = json!({ "id": [id] }).to_string();
        let path = format!("/containers/json?all=1&filters={}", percent_encode(&filter));
        if let Ok((_, list)) = self.json(Call::get(path), STATUS_TIMEOUT).await {
            if let Some(node) = list
                .as_array()
                .and_then(|a| a.iter().find(|c| c["Id"] == id))
                .and_then(|c| c["Agent"]["NodeName"].as_str())
            {
                return node.to_owned();
            }
        }
        self.sole_node().await.unwrap_or_default()
    }
}

/// Where a container is: its node (empty if unknown), name and full ID.
pub(super) struct OwnedContainer {
    pub node: String,
    pub name: String,
    pub id: String,
}

impl OwnedContainer {
    /// The name and full ID from a container's inspect; the reference where it has none.
    fn named(cid: &str, inspect: &Value) -> Self {
        Self {
            node: String::new(),
            name: inspect["Name"]
                .as_str()
                .map_or(cid, |n| n.trim_start_matches('/'))
                .to_owned(),
            id: inspect["Id"].as_str().unwrap_or(cid).to_owned(),
        }
    }
}

/// The node whose engine gave an answer, as the agent names it (`X-Agent-Node`).
pub(super) fn served_by(headers: &HeaderMap) -> Option<&str> {
    headers
        .get("x-agent-node")
        .and_then(|v| v.to_str().ok())
        .filter(|node| !node.is_empty())
}

/// Which nodes did not answer a merged list (`X-Agent-Partial`).
pub(super) fn partial_of(headers: &HeaderMap) -> Option<String> {
    headers
        .get("x-agent-partial")
        .and_then(|v| v.to_str().ok())
        .map(str::to_owned)
}

/// Adds `"Agent": {"NodeName": node}` to an object that names no node.
pub(super) fn name_node(item: &mut Value, node: &str) {
    if item["Agent"]["NodeName"].is_null() {
        bosun_serve::node_name::set(item, node);
    }
}

/// A container or service ID or name, checked before it goes into a path.
pub(super) fn container_ref(cid: &str) -> ApiResult<&str> {
    let ok = cid.len() <= 128
        && cid.starts_with(|c: char| c.is_ascii_alphanumeric())
        && cid
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c));
    if ok {
        Ok(cid)
    } else {
        Err(ApiError::bad(format!(
            "{cid:?} is not a container name or ID"
        )))
    }
}

fn percent_encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, QUERY_VALUE).to_string()
}

/// Everything but RFC 3986's unreserved characters is escaped in a query value.
const QUERY_VALUE: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~');

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn container_references_are_names_or_ids_only() {
        assert!(container_ref("web-1.a_b").is_ok());
        assert!(container_ref("../../secrets").is_err());
        assert!(container_ref("..").is_err());
        assert!(container_ref("a?b").is_err());
        assert!(container_ref("").is_err());
    }

    #[test]
    fn an_inspect_names_the_container_and_its_full_id() {
        let found = OwnedContainer::named("web", &json!({"Id": "abc123", "Name": "/web-1"}));
        assert_eq!(
            (found.name.as_str(), found.id.as_str()),
            ("web-1", "abc123")
        );
        let unknown = OwnedContainer::named("web", &Value::Null);
        assert_eq!((unknown.name.as_str(), unknown.id.as_str()), ("web", "web"));
        let mut headers = HeaderMap::new();
        assert_eq!(served_by(&headers), None);
        headers.insert("x-agent-node", "node-2".parse().expect("value"));
        assert_eq!(served_by(&headers), Some("node-2"));
    }
}
