//! Updating a Swarm service: its spec's image set to `repo:tag@<newest digest>` in one
//! `POST /services/{id}/update?version=…` (through the agent, which sends it to a
//! manager), then its rollout followed in `UpdateStatus` until it ends or a deadline.

use std::time::{Duration, Instant};

use http::{Method, StatusCode};
use serde::Serialize;
use serde_json::Value;

use super::node::{NodeDocker, QUICK};
use super::recreate::image::{plain_reference, split_reference};
use crate::agent::AgentError;

/// How long a rollout is followed before the answer says it still runs.
pub const ROLLOUT_DEADLINE: Duration = Duration::from_secs(120);
const POLL: Duration = Duration::from_secs(1);

#[derive(Debug, thiserror::Error)]
pub enum ServiceUpdateError {
    #[error("service {service}: {reason}")]
    Spec { service: String, reason: String },
    #[error("{step}: {source}")]
    Agent {
        step: &'static str,
        #[source]
        source: AgentError,
    },
}

impl ServiceUpdateError {
    pub fn status(&self) -> StatusCode {
        match self {
            ServiceUpdateError::Spec { .. } => StatusCode::CONFLICT,
            // The manager's own status (404, 503 without a Swarm), but not the agent
            // refusing the console's token, which is no fault of the browser's session.
            ServiceUpdateError::Agent {
                source: AgentError::Status { status, .. },
                ..
            } if *status != StatusCode::UNAUTHORIZED => *status,
            ServiceUpdateError::Agent { .. } => StatusCode::BAD_GATEWAY,
        }
    }
}

/// The update request for `service` (its inspect): the version to name and the new spec.
#[derive(Debug, Clone, PartialEq)]
pub struct ServiceUpdate {
    pub name: String,
    pub version: u64,
    pub before: String,
    pub image: String,
    pub spec: Value,
}

/// The request that moves `service` to `repo:tag@digest` (the tag its image names unless
/// `tag` is given).
pub fn build(service: &Value, tag: Option<&str>, digest: &str) -> Result<ServiceUpdate, String> {
    let name = service["Spec"]["Name"]
        .as_str()
        .unwrap_or_default()
        .to_owned();
    let version = service["Version"]["Index"]
        .as_u64()
        .ok_or("its inspect has no version")?;
    let before = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .ok_or("it runs no container image")?
        .to_owned();
    let (repo, current) =
        split_reference(&before).ok_or_else(|| format!("{before} names no tag to follow"))?;
    if !digest.starts_with("sha256:") {
        return Err(format!("{digest:?} is not a digest"));
    }
    let image = format!("{repo}:{}@{digest}", tag.unwrap_or(current));
    let mut spec = service["Spec"].clone();
    spec["TaskTemplate"]["ContainerSpec"]["Image"] = Value::String(image.clone());
    Ok(ServiceUpdate {
        name,
        version,
        before,
        image,
        spec,
    })
}

/// How a rollout ended (or where it was at the deadline).
#[derive(Debug, Clone, Serialize, PartialEq, Eq)]
pub struct Rollout {
    /// `completed`, `paused`, `rollback_started`, `rollback_paused`, `rollback_completed`,
    /// or `updating` when the deadline came first.
    pub state: String,
    pub message: String,
}

impl Rollout {
    pub fn succeeded(&self) -> bool {
        self.state == "completed"
    }
}

/// The rollout state an inspect shows, when it has ended.
pub fn ended(service: &Value, image: &str) -> Option<Rollout> {
    let status = &service["UpdateStatus"];
    let state = status["State"].as_str()?;
    let running = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"].as_str();
    let finished = matches!(
        state,
        "completed" | "paused" | "rollback_paused" | "rollback_completed"
    ) || state == "rollback_started";
    // A status left from an earlier update names the old image's rollout.
    if !finished || (state == "completed" && running != Some(image)) {
        return None;
    }
    Some(Rollout {
        state: state.to_owned(),
        message: status["Message"].as_str().unwrap_or_default().to_owned(),
    })
}

/// Sends the update and follows the rollout.
pub async fn update_service(
    docker: &NodeDocker<'_>,
    sid: &str,
    tag: Option<&str>,
    fallback_digest: Option<&str>,
    registry_auth: Option<&str>,
) -> Result<(ServiceUpdate, Rollout), ServiceUpdateError> {
    let agent = |step| move |source| ServiceUpdateError::Agent { step, source };
    let service = docker
        .get(format!("/services/{sid}"))
        .await
        .map_err(agent("inspecting the service"))?;
    let spec_err = |reason: String| ServiceUpdateError::Spec {
        service: sid.to_owned(),
        reason,
    };
    let current = service["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
        .as_str()
        .unwrap_or_default();
    let (repo, running_tag) =
        split_reference(current).ok_or_else(|| spec_err(format!("{current} names no tag")))?;
    let wanted = format!("{repo}:{}", tag.unwrap_or(running_tag));
    let digest = match resolve_digest(docker, &wanted, registry_auth).await {
        Ok(digest) => digest,
        Err(e) => match fallback_digest {
            Some(d) if tag.is_none() => d.to_owned(),
            _ => return Err(agent("resolving the newest digest")(e)),
        },
    };
    let update = build(&service, tag, &digest).map_err(spec_err)?;
    docker
        .send(
            Method::POST,
            format!("/services/{sid}/update?version={}", update.version),
            Some(update.spec.clone()),
            registry_auth,
            QUICK,
        )
        .await
        .map_err(agent("updating the service"))?;
    let begun = Instant::now();
    let mut last = Rollout {
        state: "updating".into(),
        message: String::new(),
    };
    while begun.elapsed() < ROLLOUT_DEADLINE {
        tokio::time::sleep(POLL).await;
        if let Ok(now) = docker.get(format!("/services/{sid}")).await {
            if let Some(done) = ended(&now, &update.image) {
                return Ok((update, done));
            }
            if let Some(message) = now["UpdateStatus"]["Message"].as_str() {
                last.message = message.to_owned();
            }
        }
    }
    Ok((update, last))
}

/// The registry's digest of `reference` now, as the engine resolves it.
async fn resolve_digest(
    docker: &NodeDocker<'_>,
    reference: &str,
    registry_auth: Option<&str>,
) -> Result<String, AgentError> {
    if !plain_reference(reference) {
        return Err(AgentError::Bad(format!(
            "{reference:?} is not an image reference"
        )));
    }
    let (_, body) = docker
        .send(
            Method::GET,
            format!("/distribution/{reference}/json"),
            None,
            registry_auth,
            QUICK,
        )
        .await?;
    let value: Value = serde_json::from_slice(&body).map_err(|e| AgentError::Bad(e.to_string()))?;
    value["Descriptor"]["digest"]
        .as_str()
        .map(str::to_owned)
        .ok_or_else(|| AgentError::Bad("the distribution answer has no digest".into()))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn service() -> Value {
        json!({
            "ID": "svc1",
            "Version": {"Index": 42},
            "Spec": {
                "Name": "api",
                "Labels": {"team": "x"},
                "TaskTemplate": {"ContainerSpec": {
                    "Image": "127.0.0.1:5000/api:1.0.0@sha256:old",
                    "Env": ["A=1"]
                }},
                "Mode": {"Replicated": {"Replicas": 2}}
            },
            "UpdateStatus": {"State": "completed", "Message": "update completed"}
        })
    }

    #[test]
    fn the_update_names_the_version_and_pins_the_newest_digest() {
        let update = build(&service(), None, "sha256:new").expect("builds");
        assert_eq!(update.name, "api");
        assert_eq!(update.version, 42);
        assert_eq!(update.before, "127.0.0.1:5000/api:1.0.0@sha256:old");
        assert_eq!(update.image, "127.0.0.1:5000/api:1.0.0@sha256:new");
        let mut expected = service()["Spec"].clone();
        expected["TaskTemplate"]["ContainerSpec"]["Image"] = json!(update.image);
        assert_eq!(update.spec, expected, "the rest of the spec unchanged");
        let tagged = build(&service(), Some("1.1.0"), "sha256:n2").expect("builds");
        assert_eq!(tagged.image, "127.0.0.1:5000/api:1.1.0@sha256:n2");
        assert!(build(&service(), None, "latest").is_err());
        assert!(build(&json!({"Spec": {}}), None, "sha256:x").is_err());
    }

    #[test]
    fn a_rollout_has_ended_when_its_status_says_so_for_the_new_image() {
        let image = "127.0.0.1:5000/api:1.0.0@sha256:new";
        assert_eq!(ended(&service(), image), None, "the old rollout's status");
        let mut now = service();
        now["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"] = json!(image);
        now["UpdateStatus"] = json!({"State": "updating"});
        assert_eq!(ended(&now, image), None);
        now["UpdateStatus"] = json!({"State": "completed", "Message": "update completed"});
        assert!(ended(&now, image).expect("ended").succeeded());
        now["UpdateStatus"] = json!({"State": "rollback_completed", "Message": "rolled back"});
        let back = ended(&now, image).expect("ended");
        assert_eq!(back.state, "rollback_completed");
        assert!(!back.succeeded());
    }
}
