//! What a check looks at: the node's running containers and, on a Swarm manager, the
//! services, each with its image reference, the digest it runs and its labels, as the
//! engine reports them.

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use oci_client::Reference;
use serde_json::Value;

use super::reference;
use crate::upstream::UpstreamPool;

/// How long the engine has to answer one of the check's questions.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(20);

/// One object whose image is checked.
#[derive(Debug, Clone)]
pub struct Target {
    /// `container` or `service`.
    pub object: &'static str,
    pub id: String,
    pub name: String,
    pub service: Option<String>,
    /// The image as the object names it.
    pub image: String,
    pub labels: BTreeMap<String, String>,
    /// The reference to ask the registry about, or why there is none.
    pub reference: Result<Reference, String>,
    /// The digest the object runs, as the registry named it.
    pub running_digest: Option<String>,
}

/// Why the engine could not list what to check.
#[derive(Debug, thiserror::Error)]
#[error("the engine did not list {what}: {reason}")]
pub struct EngineError {
    what: &'static str,
    reason: String,
}

fn labels(v: &Value) -> BTreeMap<String, String> {
    v.as_object()
        .map(|m| {
            m.iter()
                .filter_map(|(k, v)| Some((k.clone(), v.as_str()?.to_owned())))
                .collect()
        })
        .unwrap_or_default()
}

/// The reference in an image name, with a tag to ask about.
fn tagged(image: &str) -> Result<Reference, String> {
    if image.starts_with("sha256:") {
        return Err("runs an image by its ID, with no name to look up in a registry".into());
    }
    let reference =
        reference::parse(image).map_err(|e| format!("{image:?} is not an image reference: {e}"))?;
    // A name without a tag reads as `latest`; one with only a digest has no tag to follow.
    let Some(tag) = reference.tag() else {
        return Err("pinned to a digest without a tag: there is no newer image to look for".into());
    };
    Ok(Reference::with_tag(
        reference.registry().to_owned(),
        reference.repository().to_owned(),
        tag.to_owned(),
    ))
}

/// The digest among an image's `RepoDigests` for the reference's repository.
fn repo_digest(repo_digests: &[String], reference: &Reference) -> Option<String> {
    repo_digests.iter().find_map(|rd| {
        let parsed = reference::parse(rd).ok()?;
        (parsed.registry() == reference.registry() && parsed.repository() == reference.repository())
            .then(|| parsed.digest().map(str::to_owned))
            .flatten()
    })
}

/// The node's running containers.
pub async fn containers(engine: &UpstreamPool) -> Result<Vec<Target>, EngineError> {
    let listed = engine
        .get_json("/containers/json", ENGINE_TIMEOUT)
        .await
        .map_err(|e| EngineError {
            what: "its containers",
            reason: e.to_string(),
        })?;
    let mut images: HashMap<String, Vec<String>> = HashMap::new();
    let mut out = Vec::new();
    for c in listed.as_array().map(Vec::as_slice).unwrap_or_default() {
        let id = c["Id"].as_str().unwrap_or_default().to_owned();
        let name = c["Names"][0]
            .as_str()
            .unwrap_or_default()
            .trim_start_matches('/')
            .to_owned();
        let labels = labels(&c["Labels"]);
        let mut image = c["Image"].as_str().unwrap_or_default().to_owned();
        // A container whose image's tag moved on is listed by image ID; its own
        // configuration still names the image it was made from.
        if image.starts_with("sha256:") || image.len() == 64 {
            if let Ok(inspect) = engine
                .get_json(&format!("/containers/{id}/json"), ENGINE_TIMEOUT)
                .await
            {
                if let Some(configured) = inspect["Config"]["Image"].as_str() {
                    image = configured.to_owned();
                }
            }
        }
        let image_id = c["ImageID"].as_str().unwrap_or_default().to_owned();
        let reference = tagged(&image);
        let running_digest = match &reference {
            Ok(r) => {
                if !images.contains_key(&image_id) {
                    let digests = engine
                        .get_json(&format!("/images/{image_id}/json"), ENGINE_TIMEOUT)
                        .await
                        .map(|i| {
                            i["RepoDigests"]
                                .as_array()
                                .map(|a| {
                                    a.iter()
                                        .filter_map(|d| d.as_str().map(str::to_owned))
                                        .collect()
                                })
                                .unwrap_or_default()
                        })
                        .unwrap_or_default();
                    images.insert(image_id.clone(), digests);
                }
                images
                    .get(&image_id)
                    .and_then(|d| repo_digest(d, r))
                    .or_else(|| reference::parse(&image).ok()?.digest().map(str::to_owned))
            }
            Err(_) => None,
        };
        out.push(Target {
            object: "container",
            id,
            name,
            service: labels.get("com.docker.swarm.service.name").cloned(),
            image,
            labels,
            reference,
            running_digest,
        });
    }
    Ok(out)
}

/// The Swarm's services, when the engine is a manager.
pub async fn services(engine: &UpstreamPool) -> Result<Vec<Target>, EngineError> {
    let listed = engine
        .get_json("/services", ENGINE_TIMEOUT)
        .await
        .map_err(|e| EngineError {
            what: "the Swarm's services",
            reason: e.to_string(),
        })?;
    Ok(listed
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|s| {
            let spec = &s["Spec"];
            let image = spec["TaskTemplate"]["ContainerSpec"]["Image"]
                .as_str()
                .unwrap_or_default()
                .to_owned();
            let mut labels = labels(&spec["TaskTemplate"]["ContainerSpec"]["Labels"]);
            labels.extend(self::labels(&spec["Labels"]));
            let running_digest = reference::parse(&image)
                .ok()
                .and_then(|r| r.digest().map(str::to_owned));
            Target {
                object: "service",
                id: s["ID"].as_str().unwrap_or_default().to_owned(),
                name: spec["Name"].as_str().unwrap_or_default().to_owned(),
                service: None,
                reference: tagged(&image),
                image,
                labels,
                running_digest,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn references_get_a_tag_to_ask_about() {
        let r = tagged("127.0.0.1:5000/app:1.0.0").expect("tagged");
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("127.0.0.1:5000", "app", Some("1.0.0"))
        );
        let r = tagged("nginx").expect("hub");
        assert_eq!(
            (r.registry(), r.repository(), r.tag()),
            ("docker.io", "library/nginx", Some("latest"))
        );
        let pinned = format!("app@sha256:{}", "a".repeat(64));
        assert!(tagged(&pinned).is_err());
        assert!(tagged("sha256:abc").is_err());
    }

    #[test]
    fn the_running_digest_is_the_repository_s() {
        let r = tagged("127.0.0.1:5000/app:1.0.0").expect("tagged");
        let a = format!("sha256:{}", "a".repeat(64));
        let b = format!("sha256:{}", "b".repeat(64));
        let digests = vec![
            format!("127.0.0.1:5000/other@{a}"),
            format!("127.0.0.1:5000/app@{b}"),
        ];
        assert_eq!(repo_digest(&digests, &r), Some(b));
    }
}
