//! A worker's agent presented as a manager's, as `docker stack deploy` and `docker service`
//! require of the endpoint they talk to: `/_ping` says `Swarm: active/manager`, `/info`
//! carries a manager's view of the Swarm. Their requests are then sent to a manager.

use std::time::Duration;

use http::{HeaderValue, Request, Response, StatusCode};

use crate::body::Body;
use crate::cluster::Node;
use crate::error::{json_response, ProxyError};

use super::execute::Executor;

/// How long the local engine has to answer `/info`.
const INFO_TIMEOUT: Duration = Duration::from_secs(10);

impl Executor<'_> {
    /// This engine's `/_ping`, its `Swarm` header saying manager.
    pub(super) async fn ping_as_manager(
        &self,
        req: Request<Body>,
        upgrade: Option<HeaderValue>,
    ) -> Result<Response<Body>, ProxyError> {
        let mut resp = self.forward(self.here(), req, upgrade).await?;
        if resp.headers().contains_key("swarm") {
            resp.headers_mut()
                .insert("swarm", HeaderValue::from_static("active/manager"));
        }
        Ok(resp)
    }

    /// This engine's `/info`, with the Swarm state of the first of `managers` that answers.
    pub(super) async fn info_with_managers(
        &self,
        managers: &[Node],
        req: Request<Body>,
    ) -> Result<Response<Body>, ProxyError> {
        let path = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str().to_owned())
            .unwrap_or_else(|| "/info".into());
        let mut info = self.calls.engine().get_json(&path, INFO_TIMEOUT).await?;
        let manager = self.nodes(managers).look_up(&path).await;
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
