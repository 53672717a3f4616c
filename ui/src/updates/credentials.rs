//! Registry credentials as they leave the console: opened from the database, sent to the
//! agents (`{"credentials": [...]}`) and to an engine's pull (`X-Registry-Auth`).

use base64::Engine as _;
use serde::Serialize;
use serde_json::{json, Value};

use super::store::{SealedCredential, PASSWORD_CONTEXT};
use crate::sealed::{SealError, Sealer};
use crate::store::{Db, StoreError};

/// Docker Hub, as image references imply it and as credentials may name it.
const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_ALIASES: [&str; 3] = ["index.docker.io", "registry-1.docker.io", "docker.io"];

#[derive(Debug, thiserror::Error)]
pub enum CredentialError {
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("the password of registry {registry}: {source}")]
    Sealed {
        registry: String,
        #[source]
        source: SealError,
    },
}

/// One registry's credentials, the password open.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct RegistryCredential {
    pub registry: String,
    pub username: String,
    pub password: String,
}

/// Endpoint `endpoint`'s credentials, opened.
pub async fn load(
    db: &Db,
    sealer: &Sealer,
    endpoint: i64,
) -> Result<Vec<RegistryCredential>, CredentialError> {
    let sealed = db.run(move |s| s.registry_credentials(endpoint)).await?;
    open_all(sealer, sealed)
}

fn open_all(
    sealer: &Sealer,
    sealed: Vec<SealedCredential>,
) -> Result<Vec<RegistryCredential>, CredentialError> {
    sealed
        .into_iter()
        .map(|c| {
            let password = sealer
                .open(PASSWORD_CONTEXT, &c.sealed_password)
                .map_err(|source| CredentialError::Sealed {
                    registry: c.registry.clone(),
                    source,
                })?;
            Ok(RegistryCredential {
                registry: c.registry,
                username: c.username,
                password,
            })
        })
        .collect()
}

/// The body of the agents' `PUT /agent/v1/updates/credentials` and `POST …/check`.
pub fn agent_body(credentials: &[RegistryCredential]) -> Value {
    json!({ "credentials": credentials })
}

/// The registry an image reference names: its first part when that looks like a host
/// (a `.`, a `:` or `localhost`), else Docker Hub, as the docker CLI reads it.
pub fn registry_of(image: &str) -> &str {
    match image.split_once('/') {
        Some((first, _)) if first.contains(['.', ':']) || first == "localhost" => first,
        _ => DOCKER_HUB,
    }
}

fn same_registry(a: &str, b: &str) -> bool {
    let hub = |r: &str| DOCKER_HUB_ALIASES.contains(&r);
    a.eq_ignore_ascii_case(b) || (hub(a) && hub(b))
}

/// The `X-Registry-Auth` value for pulling `image`, when there are credentials for its
/// registry: base64url of the engine's auth config.
pub fn registry_auth(credentials: &[RegistryCredential], image: &str) -> Option<String> {
    let registry = registry_of(image);
    let found = credentials
        .iter()
        .find(|c| same_registry(&c.registry, registry))?;
    let config = json!({
        "username": found.username,
        "password": found.password,
        "serveraddress": found.registry,
    });
    Some(base64::engine::general_purpose::URL_SAFE.encode(config.to_string()))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn creds() -> Vec<RegistryCredential> {
        vec![
            RegistryCredential {
                registry: "127.0.0.1:5000".into(),
                username: "u".into(),
                password: "p".into(),
            },
            RegistryCredential {
                registry: "index.docker.io".into(),
                username: "hub".into(),
                password: "hp".into(),
            },
        ]
    }

    #[test]
    fn image_references_name_their_registry_as_the_cli_reads_them() {
        assert_eq!(registry_of("127.0.0.1:5000/app:1.0.0"), "127.0.0.1:5000");
        assert_eq!(registry_of("ghcr.io/org/app:1"), "ghcr.io");
        assert_eq!(registry_of("localhost/app"), "localhost");
        assert_eq!(registry_of("library/nginx:1"), "docker.io");
        assert_eq!(registry_of("nginx"), "docker.io");
    }

    #[test]
    fn a_pull_carries_the_credentials_of_its_registry_only() {
        let header = registry_auth(&creds(), "127.0.0.1:5000/app:1.0.0").expect("has some");
        let decoded = base64::engine::general_purpose::URL_SAFE
            .decode(header)
            .expect("base64url");
        let config: Value = serde_json::from_slice(&decoded).expect("json");
        assert_eq!(
            config,
            json!({"username": "u", "password": "p", "serveraddress": "127.0.0.1:5000"})
        );
        assert!(
            registry_auth(&creds(), "nginx:1").is_some(),
            "Docker Hub aliases"
        );
        assert!(registry_auth(&creds(), "ghcr.io/a/b:1").is_none());
        assert_eq!(
            agent_body(&creds()[..1]),
            json!({"credentials": [{"registry": "127.0.0.1:5000", "username": "u", "password": "p"}]})
        );
    }

    #[test]
    fn a_password_sealed_elsewhere_is_an_error_naming_the_registry() {
        let sealer = Sealer::ephemeral();
        let good = SealedCredential {
            registry: "r1".into(),
            username: "u".into(),
            sealed_password: sealer.seal(PASSWORD_CONTEXT, "p"),
        };
        let opened = open_all(&sealer, vec![good.clone()]).expect("opens");
        assert_eq!(opened[0].password, "p");
        let moved = SealedCredential {
            registry: "r2".into(),
            sealed_password: sealer.seal("channels.settings", "p"),
            ..good
        };
        let err = open_all(&sealer, vec![moved]).expect_err("wrong context");
        assert!(err.to_string().contains("r2"), "{err}");
    }
}
