//! One check's conversation with the registries, through `oci-client`: the digest of each
//! distinct image and tag asked once (HEAD where the registry allows), each repository's
//! tags listed once, credentials per registry, plain HTTP for loopback registries as the
//! engine does.

use std::collections::HashMap;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use oci_client::client::{ClientConfig, ClientProtocol};
use oci_client::errors::OciDistributionError;
use oci_client::manifest::{OciImageIndex, OciManifest};
use oci_client::secrets::RegistryAuth;
use oci_client::{Client, Reference};

use super::credentials::{self, Credential};

/// How long one registry request may take to connect and between reads.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(10);
const READ_TIMEOUT: Duration = Duration::from_secs(30);

/// Counts for `/metrics`.
#[derive(Default)]
pub struct Counters {
    pub checks: AtomicU64,
    /// Manifest and tag-list requests (not the token or `/v2/` requests around them).
    pub registry_requests: AtomicU64,
    /// Images whose check ended in an error.
    pub errors: AtomicU64,
}

/// The node's platform, to pick a manifest out of an index as the engine would.
#[derive(Debug, Clone)]
pub struct Platform {
    pub os: String,
    pub architecture: String,
}

impl Platform {
    /// From the engine's `/info` `OSType` and `Architecture` (`x86_64`, `aarch64`, …).
    pub fn from_engine(os: &str, architecture: &str) -> Platform {
        let architecture = match architecture {
            "x86_64" => "amd64",
            "aarch64" => "arm64",
            "armv7l" | "armv6l" | "armhf" => "arm",
            "i386" | "i686" => "386",
            other => other,
        };
        Platform {
            os: if os.is_empty() { "linux" } else { os }.to_owned(),
            architecture: architecture.to_owned(),
        }
    }
}

/// What the registry says a tag points at.
#[derive(Debug, Clone)]
pub struct Remote {
    /// The tag's digest: an image manifest's, or an index's.
    pub digest: String,
    /// When the tag is an index: the digest of the node's platform's manifest in it.
    pub platform_digest: Option<String>,
}

/// One check's registry client and what it has learnt.
pub struct Session {
    client: Client,
    auths: HashMap<String, RegistryAuth>,
    platform: Platform,
    counters: Arc<Counters>,
}

/// Whether a registry is on this host, where the engine speaks plain HTTP to it.
pub fn is_loopback(registry: &str) -> bool {
    let host = match registry.rsplit_once(':') {
        Some((host, port)) if port.chars().all(|c| c.is_ascii_digit()) => host,
        _ => registry,
    };
    let host = host.trim_start_matches('[').trim_end_matches(']');
    host == "localhost"
        || host
            .parse::<std::net::IpAddr>()
            .is_ok_and(|ip| ip.is_loopback())
}

impl Session {
    /// A client for `registries`, with the credentials found for each.
    pub fn new(
        registries: &[String],
        console: &[Credential],
        docker_config: &[Credential],
        platform: Platform,
        counters: Arc<Counters>,
    ) -> Session {
        let plain: Vec<String> = registries
            .iter()
            .filter(|r| is_loopback(r))
            .cloned()
            .collect();
        let config = ClientConfig {
            protocol: ClientProtocol::HttpsExcept(plain),
            connect_timeout: Some(CONNECT_TIMEOUT),
            read_timeout: Some(READ_TIMEOUT),
            user_agent: concat!("bosun-agent/", env!("CARGO_PKG_VERSION")),
            ..ClientConfig::default()
        };
        let auths = registries
            .iter()
            .map(|r| {
                let auth = match credentials::find(console, docker_config, r) {
                    Some(c) => RegistryAuth::Basic(c.username.clone(), c.password.clone()),
                    None => RegistryAuth::Anonymous,
                };
                (r.clone(), auth)
            })
            .collect();
        Session {
            client: Client::new(config),
            auths,
            platform,
            counters,
        }
    }

    pub fn counters(&self) -> &Counters {
        &self.counters
    }

    fn auth(&self, registry: &str) -> RegistryAuth {
        self.auths
            .get(registry)
            .cloned()
            .unwrap_or(RegistryAuth::Anonymous)
    }

    /// The tag's digest (HEAD, falling back to GET); when none of `running` is it, the
    /// manifest itself, to find the node's platform's digest in an index.
    pub async fn remote(
        &self,
        reference: &Reference,
        running: &[String],
    ) -> Result<Remote, String> {
        let registry = reference.registry().to_owned();
        let auth = self.auth(&registry);
        self.counters
            .registry_requests
            .fetch_add(1, Ordering::Relaxed);
        let digest = self
            .client
            .fetch_manifest_digest(reference, &auth)
            .await
            .map_err(|e| describe(&e, reference, &auth))?;
        if running.is_empty() || running.contains(&digest) {
            return Ok(Remote {
                digest,
                platform_digest: None,
            });
        }
        self.counters
            .registry_requests
            .fetch_add(1, Ordering::Relaxed);
        let (manifest, _) = self
            .client
            .pull_manifest(reference, &auth)
            .await
            .map_err(|e| describe(&e, reference, &auth))?;
        let platform_digest = match manifest {
            OciManifest::Image(_) => None,
            OciManifest::ImageIndex(index) => platform_entry(&index, &self.platform),
        };
        Ok(Remote {
            digest,
            platform_digest,
        })
    }

    /// Every tag of the reference's repository.
    pub async fn tags(&self, reference: &Reference) -> Result<Vec<String>, String> {
        let auth = self.auth(reference.registry());
        self.counters
            .registry_requests
            .fetch_add(1, Ordering::Relaxed);
        self.client
            .list_tags(reference, &auth, None, None)
            .await
            .map(|t| t.tags)
            .map_err(|e| describe(&e, reference, &auth))
    }
}

/// The digest of the platform's manifest in an index, as the engine would pull it.
fn platform_entry(index: &OciImageIndex, platform: &Platform) -> Option<String> {
    index
        .manifests
        .iter()
        .find(|m| {
            m.platform.as_ref().is_some_and(|p| {
                p.os.to_string() == platform.os
                    && p.architecture.to_string() == platform.architecture
            })
        })
        .map(|m| m.digest.clone())
}

/// A registry error as the item's `error`: who refused what, and what to do.
fn describe(e: &OciDistributionError, reference: &Reference, auth: &RegistryAuth) -> String {
    let registry = reference.registry();
    let what = format!(
        "{}:{}",
        reference.repository(),
        reference.tag().unwrap_or("latest")
    );
    let unauthorized = match e {
        OciDistributionError::UnauthorizedError { .. }
        | OciDistributionError::AuthenticationFailure(_) => true,
        OciDistributionError::RegistryError { envelope, .. } => envelope.errors.iter().any(|x| {
            matches!(
                x.code,
                oci_client::errors::OciErrorCode::Unauthorized
                    | oci_client::errors::OciErrorCode::Denied
            )
        }),
        OciDistributionError::ServerError { code, .. } => *code == 401 || *code == 403,
        _ => false,
    };
    if unauthorized {
        return match auth {
            RegistryAuth::Basic(user, _) => {
                format!("registry {registry} refused the credentials of {user:?} for {what}")
            }
            _ => format!(
                "registry {registry} asks for credentials for {what}, and none are known for it (log in with docker login on the node, or give them from the console)"
            ),
        };
    }
    match e {
        OciDistributionError::ImageManifestNotFoundError(_) => {
            format!("registry {registry} has no {what}")
        }
        OciDistributionError::RegistryError { envelope, .. }
            if envelope.errors.iter().any(|x| {
                matches!(
                    x.code,
                    oci_client::errors::OciErrorCode::ManifestUnknown
                        | oci_client::errors::OciErrorCode::NameUnknown
                )
            }) =>
        {
            format!("registry {registry} has no {what}")
        }
        OciDistributionError::RequestError(err) => {
            format!(
                "cannot reach registry {registry} for {what}: {}",
                chain(err)
            )
        }
        other => format!("registry {registry}, {what}: {other}"),
    }
}

/// An error and its causes, on one line.
fn chain(e: &dyn std::error::Error) -> String {
    let mut out = e.to_string();
    let mut source = e.source();
    while let Some(s) = source {
        out.push_str(": ");
        out.push_str(&s.to_string());
        source = s.source();
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn loopback_registries_are_plain_http() {
        for r in [
            "127.0.0.1:5000",
            "localhost:5000",
            "127.3.2.1",
            "[::1]:5000",
            "localhost",
        ] {
            assert!(is_loopback(r), "{r}");
        }
        for r in [
            "docker.io",
            "10.0.0.1:5000",
            "registry.example:5000",
            "localhost.example",
        ] {
            assert!(!is_loopback(r), "{r}");
        }
    }

    #[test]
    fn an_index_gives_the_node_s_platform_manifest() {
        let index: OciImageIndex = serde_json::from_value(serde_json::json!({
            "schemaVersion": 2,
            "mediaType": "application/vnd.oci.image.index.v1+json",
            "manifests": [
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:arm", "size": 1,
                 "platform": {"architecture": "arm64", "os": "linux"}},
                {"mediaType": "application/vnd.oci.image.manifest.v1+json", "digest": "sha256:amd", "size": 1,
                 "platform": {"architecture": "amd64", "os": "linux"}}
            ]
        }))
        .expect("an index");
        let amd = Platform::from_engine("linux", "x86_64");
        assert_eq!(platform_entry(&index, &amd).as_deref(), Some("sha256:amd"));
        let arm = Platform::from_engine("linux", "aarch64");
        assert_eq!(platform_entry(&index, &arm).as_deref(), Some("sha256:arm"));
        let riscv = Platform::from_engine("linux", "riscv64");
        assert_eq!(platform_entry(&index, &riscv), None);
    }

    #[test]
    fn engine_platforms_are_oci_names() {
        let p = Platform::from_engine("linux", "x86_64");
        assert_eq!((p.os.as_str(), p.architecture.as_str()), ("linux", "amd64"));
        assert_eq!(
            Platform::from_engine("linux", "aarch64").architecture,
            "arm64"
        );
    }
}
