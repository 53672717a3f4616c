//! Registry credentials: those the console gave (kept in memory, replaced as a set) and
//! the node's Docker config file (`auths`, as `docker login` writes it), the console's
//! first.

use std::collections::BTreeMap;
use std::path::{Path, PathBuf};

use base64::Engine as _;
use serde::Deserialize;

/// One registry's user name and password.
#[derive(Clone, Deserialize, PartialEq, Eq)]
pub struct Credential {
    pub registry: String,
    pub username: String,
    pub password: String,
}

impl std::fmt::Debug for Credential {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Credential")
            .field("registry", &self.registry)
            .field("username", &self.username)
            .finish_non_exhaustive()
    }
}

/// The body of `POST /agent/v1/updates/check` and `PUT /agent/v1/updates/credentials`.
#[derive(Debug, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct CredentialsBody {
    #[serde(default)]
    pub credentials: Vec<Credential>,
}

/// Why the Docker config could not be read.
#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("Docker config {path}: {source}")]
    Read {
        path: PathBuf,
        source: std::io::Error,
    },
    #[error("Docker config {path}: not JSON with `auths`: {source}")]
    Parse {
        path: PathBuf,
        source: serde_json::Error,
    },
}

#[derive(Deserialize)]
struct DockerConfig {
    #[serde(default)]
    auths: BTreeMap<String, AuthEntry>,
}

#[derive(Deserialize)]
struct AuthEntry {
    #[serde(default)]
    auth: Option<String>,
    #[serde(default)]
    username: Option<String>,
    #[serde(default)]
    password: Option<String>,
}

/// The default Docker config file: `$DOCKER_CONFIG/config.json`, else
/// `~/.docker/config.json`.
pub fn default_docker_config() -> Option<PathBuf> {
    if let Some(dir) = std::env::var_os("DOCKER_CONFIG").filter(|d| !d.is_empty()) {
        return Some(PathBuf::from(dir).join("config.json"));
    }
    std::env::var_os("HOME")
        .filter(|h| !h.is_empty())
        .map(|home| PathBuf::from(home).join(".docker").join("config.json"))
}

/// The credentials in a Docker config file; none when it does not exist.
pub fn read_docker_config(path: &Path) -> Result<Vec<Credential>, ConfigError> {
    let text = match std::fs::read(path) {
        Ok(t) => t,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => return Ok(Vec::new()),
        Err(source) => {
            return Err(ConfigError::Read {
                path: path.to_owned(),
                source,
            })
        }
    };
    let config: DockerConfig =
        serde_json::from_slice(&text).map_err(|source| ConfigError::Parse {
            path: path.to_owned(),
            source,
        })?;
    Ok(config
        .auths
        .into_iter()
        .filter_map(|(key, entry)| {
            let (username, password) = match (entry.username, entry.password, entry.auth) {
                (Some(u), Some(p), _) if !u.is_empty() => (u, p),
                (_, _, Some(auth)) => {
                    let decoded = base64::engine::general_purpose::STANDARD
                        .decode(auth.trim())
                        .ok()?;
                    let text = String::from_utf8(decoded).ok()?;
                    let (u, p) = text.split_once(':')?;
                    (u.to_owned(), p.to_owned())
                }
                _ => return None,
            };
            Some(Credential {
                registry: registry_host(&key),
                username,
                password,
            })
        })
        .collect())
}

/// A Docker config key as a registry host: `https://index.docker.io/v1/` is Docker Hub's
/// `docker.io`; schemes and paths are dropped.
pub fn registry_host(key: &str) -> String {
    let host = key
        .trim()
        .trim_start_matches("https://")
        .trim_start_matches("http://");
    let host = host.split('/').next().unwrap_or(host);
    normalize(host)
}

/// Docker Hub goes by several names; one is kept.
pub fn normalize(registry: &str) -> String {
    match registry {
        "index.docker.io" | "registry-1.docker.io" | "registry.hub.docker.com" => {
            "docker.io".to_owned()
        }
        other => other.to_ascii_lowercase(),
    }
}

/// The credential for `registry`: the console's first, then the Docker config's.
pub fn find<'a>(
    console: &'a [Credential],
    docker_config: &'a [Credential],
    registry: &str,
) -> Option<&'a Credential> {
    let registry = normalize(registry);
    console
        .iter()
        .find(|c| normalize(&c.registry) == registry)
        .or_else(|| docker_config.iter().find(|c| c.registry == registry))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_docker_logins() {
        let dir = std::env::temp_dir().join(format!("bosun-upd-cfg-{}", std::process::id()));
        std::fs::create_dir_all(&dir).expect("dir");
        let path = dir.join("config.json");
        let auth = base64::engine::general_purpose::STANDARD.encode("alice:s3cret");
        std::fs::write(
            &path,
            format!(
                r#"{{"auths": {{"https://index.docker.io/v1/": {{"auth": "{auth}"}},
                   "127.0.0.1:5000": {{"username": "bob", "password": "pw"}},
                   "ghcr.io": {{}}}}, "credsStore": "desktop"}}"#
            ),
        )
        .expect("write");
        let creds = read_docker_config(&path).expect("read");
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(creds.len(), 2);
        let hub = find(&[], &creds, "index.docker.io").expect("hub");
        assert_eq!(
            (hub.username.as_str(), hub.password.as_str()),
            ("alice", "s3cret")
        );
        let console = [Credential {
            registry: "127.0.0.1:5000".into(),
            username: "carol".into(),
            password: "x".into(),
        }];
        assert_eq!(
            find(&console, &creds, "127.0.0.1:5000").map(|c| c.username.as_str()),
            Some("carol")
        );
        assert_eq!(
            find(&[], &creds, "127.0.0.1:5000").map(|c| c.username.as_str()),
            Some("bob")
        );
        assert!(read_docker_config(&dir.join("absent.json"))
            .expect("absent")
            .is_empty());
    }
}
