//! Update states over MQTT, as What's Up Docker's MQTT trigger publishes them: one
//! retained JSON state per container (or service) on
//! `<prefix>/<object>/<endpoint>/<name>`, and a retained Home Assistant discovery config
//! on `<discovery prefix>/update/<unique id>/config` that makes it an `update` entity.

use serde_json::{json, Value};

use super::mqtt::Publication;
use crate::notify::settings::MqttSettings;
use crate::watch::UpdateFinding;

/// What a container's state says: the installed and the latest version.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct UpdateState {
    pub finding: UpdateFinding,
    pub installed: String,
    pub latest: String,
}

impl UpdateState {
    /// The state of a container with a newer image.
    pub fn pending(finding: &UpdateFinding) -> Self {
        let tag = tag_of(&finding.image);
        let latest = match (&finding.newer_tag, &finding.newest_digest) {
            (Some(newer), _) if finding.kind != "digest" => newer.clone(),
            (_, Some(digest)) => format!("{tag}@{}", short_digest(digest)),
            (Some(newer), None) => newer.clone(),
            (None, None) => format!("{tag} (newer)"),
        };
        Self {
            finding: finding.clone(),
            installed: tag,
            latest,
        }
    }

    /// The state once the update is no longer found: what was the latest is installed.
    pub fn done(&self) -> Self {
        Self {
            finding: self.finding.clone(),
            installed: self.latest.clone(),
            latest: self.latest.clone(),
        }
    }

    pub fn available(&self) -> bool {
        self.installed != self.latest
    }

    pub fn unique_id(&self) -> String {
        format!(
            "bosun_{}_{}_{}",
            slug(&self.finding.endpoint_name),
            self.finding.object,
            slug(&self.finding.name)
        )
    }

    pub fn state_topic(&self, settings: &MqttSettings) -> String {
        format!(
            "{}/{}/{}/{}",
            settings.prefix,
            slug(&self.finding.object),
            slug(&self.finding.endpoint_name),
            slug(&self.finding.name)
        )
    }

    pub fn state(&self) -> Value {
        let f = &self.finding;
        json!({
            "name": f.name,
            "id": f.id,
            "object": f.object,
            "endpoint": f.endpoint_name,
            "node": f.node,
            "image": f.image,
            "installed_version": self.installed,
            "latest_version": self.latest,
            "update_available": self.available(),
            "update_kind": if self.available() { Some(f.kind.as_str()) } else { None },
            "newest_digest": f.newest_digest,
            "release_url": f.link,
        })
    }

    /// Home Assistant's discovery config for this container's `update` entity.
    pub fn discovery(&self, settings: &MqttSettings) -> Value {
        let f = &self.finding;
        let state_topic = self.state_topic(settings);
        let mut config = json!({
            "name": f.name,
            "unique_id": self.unique_id(),
            "object_id": self.unique_id(),
            "state_topic": state_topic,
            "value_template": "{{ value_json.installed_version }}",
            "latest_version_topic": state_topic,
            "latest_version_template": "{{ value_json.latest_version }}",
            "json_attributes_topic": state_topic,
            "title": f.image,
            "device": {
                "identifiers": [format!("bosun_{}", slug(&f.endpoint_name))],
                "name": format!("Bosun {}", f.endpoint_name),
                "manufacturer": "Bosun",
            },
            "origin": {"name": "Bosun console"},
        });
        if let Some(link) = &f.link {
            config["release_url"] = Value::String(link.clone());
        }
        config
    }

    /// The retained state, and the discovery config when it is on.
    pub fn publications(&self, settings: &MqttSettings) -> Vec<Publication> {
        let mut out = vec![Publication {
            topic: self.state_topic(settings),
            payload: self.state().to_string().into_bytes(),
            retain: true,
        }];
        if settings.discovery {
            out.push(Publication {
                topic: format!(
                    "{}/update/{}/config",
                    settings.discovery_prefix,
                    self.unique_id()
                ),
                payload: self.discovery(settings).to_string().into_bytes(),
                retain: true,
            });
        }
        out
    }
}

/// The tag of an image reference; `latest` when it names none.
fn tag_of(image: &str) -> String {
    let name = image.split('@').next().unwrap_or(image);
    let last = name.rsplit('/').next().unwrap_or(name);
    match last.split_once(':') {
        Some((_, tag)) if !tag.is_empty() => tag.to_owned(),
        _ => "latest".to_owned(),
    }
}

fn short_digest(digest: &str) -> String {
    let hex = digest.strip_prefix("sha256:").unwrap_or(digest);
    format!("sha256:{}", hex.chars().take(12).collect::<String>())
}

/// A name as one topic level and an ID: letters, digits, `_`, `-`, `.` only.
fn slug(name: &str) -> String {
    name.chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.') {
                c
            } else {
                '_'
            }
        })
        .collect()
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn finding(name: &str, kind: &str) -> UpdateFinding {
        UpdateFinding {
            endpoint: 1,
            endpoint_name: "local".into(),
            node: "n1".into(),
            object: "container".into(),
            name: name.into(),
            id: format!("{name}-id"),
            image: "127.0.0.1:5000/app:1.0.0".into(),
            kind: kind.into(),
            newer_tag: (kind != "digest").then(|| "1.0.1".into()),
            newest_digest: Some("sha256:0123456789abcdef0123".into()),
            link: Some("https://example.org/app/1.0.1".into()),
        }
    }

    #[test]
    fn a_finding_becomes_a_retained_state_and_a_discovery_config() {
        let settings: MqttSettings =
            serde_json::from_value(json!({"host": "b", "port": 1883})).unwrap();
        let state = UpdateState::pending(&finding("web/1", "patch"));
        let published = state.publications(&settings);
        assert_eq!(published.len(), 2);
        assert_eq!(published[0].topic, "bosun/container/local/web_1");
        assert!(published.iter().all(|p| p.retain));
        assert_eq!(
            published[1].topic,
            "homeassistant/update/bosun_local_container_web_1/config"
        );
        let body: Value = serde_json::from_slice(&published[0].payload).unwrap();
        assert_eq!(body["installed_version"], "1.0.0");
        assert_eq!(body["latest_version"], "1.0.1");
        assert_eq!(body["update_available"], true);
        let config: Value = serde_json::from_slice(&published[1].payload).unwrap();
        assert_eq!(config["state_topic"], "bosun/container/local/web_1");
        assert_eq!(config["release_url"], "https://example.org/app/1.0.1");

        let digest = UpdateState::pending(&finding("db", "digest"));
        assert_eq!(digest.latest, "1.0.0@sha256:0123456789ab");
        let done = state.done();
        assert!(!done.available());
        assert_eq!(done.state()["update_kind"], Value::Null);
        assert_eq!(tag_of("registry:5000/app"), "latest");
        assert_eq!(tag_of("app:2@sha256:ab"), "2");
    }
}
