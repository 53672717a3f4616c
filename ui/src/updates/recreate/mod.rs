//! Updating a container through its node's engine: inspect, pull the new image, stop the
//! old container and rename it aside, create the new one with the same configuration,
//! start it and wait for it to be up, then remove the old one. When the new one does not
//! come up, it is removed and the old one renamed back and started again.
//!
//! - `clone.rs`: the create body from the inspect;
//! - `image.rs`: the reference, the pull, the image's ID and digest;
//! - `wait.rs`: when a started container counts as up.

pub mod clone;
pub mod image;
pub mod wait;

use std::fmt;

use http::StatusCode;
use serde::Serialize;
use serde_json::{json, Value};

use super::credentials::{registry_auth, RegistryCredential};
use super::node::{encode, NodeDocker, QUICK, SLOW};
use crate::agent::AgentError;
use image::ImageState;

/// The steps of an update, as its errors name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Step {
    Inspect,
    Pull,
    InspectImage,
    Stop,
    RenameOld,
    Create,
    Connect,
    Start,
    Wait,
    RemoveOld,
}

impl fmt::Display for Step {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Step::Inspect => "inspecting the container",
            Step::Pull => "pulling the new image",
            Step::InspectImage => "inspecting the new image",
            Step::Stop => "stopping the old container",
            Step::RenameOld => "renaming the old container aside",
            Step::Create => "creating the new container",
            Step::Connect => "connecting the new container to its networks",
            Step::Start => "starting the new container",
            Step::Wait => "waiting for the new container to be up",
            Step::RemoveOld => "removing the old container",
        })
    }
}

/// Why an update did not happen, with nothing changed or everything put back.
#[derive(Debug, thiserror::Error)]
pub enum UpdateError {
    /// Before anything changed.
    #[error("{step}: {reason}")]
    Before {
        step: Step,
        status: StatusCode,
        reason: String,
    },
    /// A step failed and putting the old container back failed too.
    #[error("{step}: {reason}; and the rollback failed: {rollback}")]
    RollbackFailed {
        step: Step,
        reason: String,
        rollback: String,
    },
}

impl UpdateError {
    pub fn status(&self) -> StatusCode {
        match self {
            UpdateError::Before { status, .. } => *status,
            UpdateError::RollbackFailed { .. } => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn before(step: Step, e: AgentError) -> Self {
        let status = match &e {
            AgentError::Status { status, .. } if *status != StatusCode::UNAUTHORIZED => *status,
            AgentError::Config(_) => StatusCode::BAD_REQUEST,
            _ => StatusCode::BAD_GATEWAY,
        };
        UpdateError::Before {
            step,
            status,
            reason: e.to_string(),
        }
    }
}

/// How an update went.
#[derive(Debug, Clone, Serialize)]
#[serde(tag = "result", rename_all = "snake_case")]
pub enum Outcome {
    /// The new container runs under the name; `warning` says if the old one stayed.
    Updated {
        name: String,
        node: String,
        old_id: String,
        new_id: String,
        before: ImageState,
        after: ImageState,
        warning: Option<String>,
    },
    /// The pulled image is the one it runs: nothing to do.
    Current {
        name: String,
        node: String,
        image: ImageState,
    },
    /// The new container did not come up: it was removed and the old one runs again.
    RolledBack {
        name: String,
        node: String,
        old_id: String,
        step: Step,
        reason: String,
        before: ImageState,
        after: ImageState,
    },
}

/// Updates container `cid` on `docker`'s node to its image's newest (or to `tag`).
pub async fn update_container(
    docker: &NodeDocker<'_>,
    cid: &str,
    tag: Option<&str>,
    credentials: &[RegistryCredential],
) -> Result<Outcome, UpdateError> {
    let inspect = docker
        .get(format!("/containers/{cid}/json"))
        .await
        .map_err(|e| UpdateError::before(Step::Inspect, e))?;
    let old_id = inspect["Id"].as_str().unwrap_or(cid).to_owned();
    let name = inspect["Name"]
        .as_str()
        .unwrap_or(cid)
        .trim_start_matches('/')
        .to_owned();

    if let Some(why) = not_recreatable(&inspect) {
        return Err(UpdateError::Before {
            step: Step::Inspect,
            status: StatusCode::CONFLICT,
            reason: format!("{name} {why}"),
        });
    }
    let running = inspect["Config"]["Image"].as_str().unwrap_or_default();
    let reference =
        image::target_reference(running, tag).map_err(|reason| UpdateError::Before {
            step: Step::Inspect,
            status: StatusCode::CONFLICT,
            reason,
        })?;
    let old_image_id = inspect["Image"].as_str().unwrap_or_default();
    // The old image may be gone (pruned, or untagged by an earlier pull): then its defaults
    // are not known and everything the container has is kept.
    let old_image = match image::inspect_path(old_image_id) {
        Ok(path) => docker.get(path).await.unwrap_or(Value::Null),
        Err(_) => Value::Null,
    };
    let before = ImageState::of(running, &old_image);

    let auth = registry_auth(credentials, &reference);
    image::pull(docker, &reference, auth.as_deref())
        .await
        .map_err(|e| UpdateError::before(Step::Pull, e))?;
    let new_image = match image::inspect_path(&reference) {
        Ok(path) => docker.get(path).await,
        Err(e) => Err(e),
    }
    .map_err(|e| UpdateError::before(Step::InspectImage, e))?;
    let after = ImageState::of(&reference, &new_image);
    let node = docker.node().to_owned();
    if after.id == old_image_id && reference == running {
        return Ok(Outcome::Current {
            name,
            node,
            image: after,
        });
    }

    let plan = clone::plan(&inspect, &old_image, &reference);
    let was_running = inspect["State"]["Running"] == true;
    if was_running {
        match docker
            .post(format!("/containers/{old_id}/stop"), None, SLOW)
            .await
        {
            Ok(_) => {}
            Err(AgentError::Status { status, .. }) if status == StatusCode::NOT_MODIFIED => {}
            Err(e) => return Err(UpdateError::before(Step::Stop, e)),
        }
    }
    let mut undo = Undo {
        docker,
        old_id: &old_id,
        name: &name,
        was_running,
        renamed: false,
        new_id: None,
    };
    let aside = format!("{name}-bosun-old-{}", &old_id[..old_id.len().min(12)]);
    if let Err(e) = docker
        .post(
            format!("/containers/{old_id}/rename?name={}", encode(&aside)),
            None,
            QUICK,
        )
        .await
    {
        return undo
            .fail(Step::RenameOld, e.to_string(), before, after)
            .await;
    }
    undo.renamed = true;

    let created = docker
        .post(
            format!("/containers/create?name={}", encode(&plan.name)),
            Some(plan.body.clone()),
            QUICK,
        )
        .await;
    let new_id = match created.map(|v| v["Id"].as_str().map(str::to_owned)) {
        Ok(Some(id)) => id,
        Ok(None) => {
            let why = "the engine named no new container".to_owned();
            return undo.fail(Step::Create, why, before, after).await;
        }
        Err(e) => return undo.fail(Step::Create, e.to_string(), before, after).await,
    };
    undo.new_id = Some(new_id.clone());
    for (network, settings) in &plan.extra_networks {
        let body = json!({"Container": new_id, "EndpointConfig": settings});
        if let Err(e) = docker
            .post(
                format!("/networks/{}/connect", encode(network)),
                Some(body),
                QUICK,
            )
            .await
        {
            let why = format!("network {network}: {e}");
            return undo.fail(Step::Connect, why, before, after).await;
        }
    }
    if was_running {
        if let Err(e) = docker
            .post(format!("/containers/{new_id}/start"), None, SLOW)
            .await
        {
            return undo.fail(Step::Start, e.to_string(), before, after).await;
        }
        if let Err(why) = wait::until_up(docker, &new_id, &inspect["Config"]["Healthcheck"]).await {
            return undo.fail(Step::Wait, why, before, after).await;
        }
    }
    let warning = docker
        .delete(format!("/containers/{old_id}?force=1"))
        .await
        .err()
        .map(|e| format!("{}: {e}", Step::RemoveOld));
    Ok(Outcome::Updated {
        name,
        node,
        old_id,
        new_id,
        before,
        after,
        warning,
    })
}

/// Why a container must not be recreated by the console, if so: one the engine removes
/// when it stops, or a Swarm task, which its service recreates.
fn not_recreatable(inspect: &Value) -> Option<String> {
    if inspect["HostConfig"]["AutoRemove"] == true {
        return Some("is removed when it stops (--rm): it cannot be recreated".into());
    }
    let service = &inspect["Config"]["Labels"]["com.docker.swarm.service.name"];
    service
        .as_str()
        .map(|s| format!("is a task of the Swarm service {s}: update the service instead"))
}

/// What has been done so far, to be undone when a later step fails.
struct Undo<'d, 'a> {
    docker: &'d NodeDocker<'a>,
    old_id: &'d str,
    name: &'d str,
    was_running: bool,
    renamed: bool,
    new_id: Option<String>,
}

impl Undo<'_, '_> {
    /// Puts the old container back as it was: the new one removed, the old one named and
    /// started again.
    async fn fail(
        self,
        step: Step,
        reason: String,
        before: ImageState,
        after: ImageState,
    ) -> Result<Outcome, UpdateError> {
        let mut failed = Vec::new();
        if let Some(new_id) = &self.new_id {
            if let Err(e) = self
                .docker
                .delete(format!("/containers/{new_id}?force=1"))
                .await
            {
                failed.push(format!("removing the new container: {e}"));
            }
        }
        if self.renamed {
            if let Err(e) = self
                .docker
                .post(
                    format!(
                        "/containers/{}/rename?name={}",
                        self.old_id,
                        encode(self.name)
                    ),
                    None,
                    QUICK,
                )
                .await
            {
                failed.push(format!("renaming the old container back: {e}"));
            }
        }
        if self.was_running {
            match self
                .docker
                .post(format!("/containers/{}/start", self.old_id), None, SLOW)
                .await
            {
                Ok(_) => {}
                Err(AgentError::Status { status, .. }) if status == StatusCode::NOT_MODIFIED => {}
                Err(e) => failed.push(format!("starting the old container: {e}")),
            }
        }
        if failed.is_empty() {
            Ok(Outcome::RolledBack {
                name: self.name.to_owned(),
                node: self.docker.node().to_owned(),
                old_id: self.old_id.to_owned(),
                step,
                reason,
                before,
                after,
            })
        } else {
            Err(UpdateError::RollbackFailed {
                step,
                reason,
                rollback: failed.join("; "),
            })
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn containers_removed_on_stop_and_swarm_tasks_are_not_recreated() {
        assert_eq!(
            not_recreatable(&json!({"HostConfig": {}, "Config": {}})),
            None
        );
        let rm = json!({"HostConfig": {"AutoRemove": true}});
        assert!(not_recreatable(&rm).is_some_and(|w| w.contains("--rm")));
        let task = json!({"Config": {"Labels": {"com.docker.swarm.service.name": "api"}}});
        assert!(not_recreatable(&task).is_some_and(|w| w.contains("service api")));
    }
}
