//! One node's Docker API through the endpoint's agent: every call carries the node in
//! `X-Agent-Target`, so that an update acts where the container is and never elsewhere.

use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{HeaderMap, Method};
use serde_json::Value;

use crate::agent::{AgentClient, AgentError, Call, Caller};

/// A call whose answer comes at once.
pub const QUICK: Duration = Duration::from_secs(15);
/// Stopping waits for the container's stop timeout; a pull for its layers.
pub const SLOW: Duration = Duration::from_secs(300);

/// A node of an endpoint's cluster, asked for one user.
pub struct NodeDocker<'a> {
    client: Arc<AgentClient>,
    caller: Caller<'a>,
    node: String,
}

impl<'a> NodeDocker<'a> {
    /// `node` of the cluster `client` reaches; an empty name lets the agent place calls.
    pub fn new(client: Arc<AgentClient>, caller: Caller<'a>, node: &str) -> Self {
        Self {
            client,
            caller,
            node: node.to_owned(),
        }
    }

    pub fn node(&self) -> &str {
        &self.node
    }

    /// Sends `method path` (with a JSON body and extra headers) and reads the whole answer.
    pub async fn send(
        &self,
        method: Method,
        path: String,
        body: Option<Value>,
        registry_auth: Option<&str>,
        timeout: Duration,
    ) -> Result<(HeaderMap, Bytes), AgentError> {
        let mut call = Call::new(method, path).on(&self.node);
        if let Some(body) = body {
            call = call.json(body);
        }
        if let Some(auth) = registry_auth {
            call = call.registry_auth(auth);
        }
        self.client.call(self.caller, call, timeout).await
    }

    /// `GET path` read as JSON.
    pub async fn get(&self, path: String) -> Result<Value, AgentError> {
        let (_, body) = self.send(Method::GET, path, None, None, QUICK).await?;
        serde_json::from_slice(&body).map_err(|e| AgentError::Bad(e.to_string()))
    }

    /// `POST path` with an optional JSON body; the answer read as JSON (`null` if empty).
    pub async fn post(
        &self,
        path: String,
        body: Option<Value>,
        timeout: Duration,
    ) -> Result<Value, AgentError> {
        let (_, bytes) = self.send(Method::POST, path, body, None, timeout).await?;
        if bytes.iter().all(u8::is_ascii_whitespace) {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes).map_err(|e| AgentError::Bad(e.to_string()))
    }

    /// `DELETE path`.
    pub async fn delete(&self, path: String) -> Result<(), AgentError> {
        self.send(Method::DELETE, path, None, None, QUICK)
            .await
            .map(|_| ())
    }
}

/// A query value, escaped.
pub fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}
