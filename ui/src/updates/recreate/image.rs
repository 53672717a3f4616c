//! The image side of an update: which reference to pull, the pull itself on the node (its
//! errors come inside a 200 stream), and an image's ID and digest before and after.

use http::Method;
use serde::Serialize;
use serde_json::Value;

use super::super::node::{encode, NodeDocker, SLOW};
use crate::agent::AgentError;

/// An image as the audit records it: its ID and its registry digest.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize)]
pub struct ImageState {
    pub reference: String,
    pub id: String,
    pub digest: Option<String>,
}

impl ImageState {
    /// From an image's inspect; the digest is the one of `reference`'s repository.
    pub fn of(reference: &str, image: &Value) -> Self {
        let repo = split_reference(reference).map_or(reference, |(repo, _)| repo);
        let digests: Vec<&str> = image["RepoDigests"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .collect();
        let digest = digests
            .iter()
            .find(|d| d.split_once('@').is_some_and(|(r, _)| r == repo))
            .or(digests.first())
            .and_then(|d| d.split_once('@'))
            .map(|(_, digest)| digest.to_owned());
        Self {
            reference: reference.to_owned(),
            id: image["Id"].as_str().unwrap_or_default().to_owned(),
            digest,
        }
    }

    /// `reference (digest)` or `reference (id)`, short.
    pub fn describe(&self) -> String {
        let mark = self.digest.as_deref().unwrap_or(&self.id);
        let short = mark.strip_prefix("sha256:").unwrap_or(mark);
        format!("{} {}", self.reference, &short[..short.len().min(12)])
    }
}

/// A reference's repository and tag (`latest` when it names none); `None` for one pinned
/// by digest alone, which has nothing newer to pull.
pub fn split_reference(reference: &str) -> Option<(&str, &str)> {
    // `repo:tag@sha256:…` is pulled by its tag.
    let named = reference.split('@').next().unwrap_or(reference);
    let last = named.rsplit('/').next().unwrap_or(named);
    match last.rsplit_once(':') {
        Some((_, tag)) => Some((&named[..named.len() - tag.len() - 1], tag)),
        None if reference.contains('@') => None,
        None => Some((named, "latest")),
    }
}

/// The reference the updated container runs: the running one, or its repository at
/// `tag`.
pub fn target_reference(running: &str, tag: Option<&str>) -> Result<String, String> {
    let (repo, current) = split_reference(running).ok_or_else(|| {
        format!("{running} is pinned by digest: there is no newer image of its tag to pull")
    })?;
    Ok(format!("{repo}:{}", tag.unwrap_or(current)))
}

/// A reference or image ID that can go into a path as it is, as the engine's routes take
/// it (`/images/{name}/json` keeps the name's `/`).
pub fn plain_reference(reference: &str) -> bool {
    !reference.is_empty()
        && !reference.contains("..")
        && !reference.starts_with('/')
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-/:@".contains(c))
}

/// An image's inspect path.
pub fn inspect_path(reference: &str) -> Result<String, AgentError> {
    if plain_reference(reference) {
        Ok(format!("/images/{reference}/json"))
    } else {
        Err(AgentError::Bad(format!(
            "{reference:?} is not an image reference"
        )))
    }
}

/// A tag as the registry takes it.
pub fn valid_tag(tag: &str) -> bool {
    !tag.is_empty()
        && tag.len() <= 128
        && tag.starts_with(|c: char| c.is_ascii_alphanumeric() || c == '_')
        && tag
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
}

/// Pulls `reference` on the node. The engine answers 200 and streams progress; a failure
/// is a line `{"error": …}` in the stream.
pub async fn pull(
    docker: &NodeDocker<'_>,
    reference: &str,
    registry_auth: Option<&str>,
) -> Result<(), AgentError> {
    let (repo, tag) = split_reference(reference)
        .ok_or_else(|| AgentError::Bad(format!("{reference} names no tag")))?;
    let path = format!(
        "/images/create?fromImage={}&tag={}",
        encode(repo),
        encode(tag)
    );
    let (_, body) = docker
        .send(Method::POST, path, None, registry_auth, SLOW)
        .await?;
    match stream_error(&body) {
        Some(message) => Err(AgentError::Status {
            status: http::StatusCode::BAD_GATEWAY,
            message,
        }),
        None => Ok(()),
    }
}

/// The first error a progress stream reports.
fn stream_error(body: &[u8]) -> Option<String> {
    body.split(|b| *b == b'\n')
        .filter_map(|line| serde_json::from_slice::<Value>(line).ok())
        .find_map(|line| {
            line["error"]
                .as_str()
                .or(line["errorDetail"]["message"].as_str())
                .map(str::to_owned)
        })
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn references_split_into_repository_and_tag() {
        assert_eq!(
            split_reference("127.0.0.1:5000/app:1.0.0"),
            Some(("127.0.0.1:5000/app", "1.0.0"))
        );
        assert_eq!(
            split_reference("127.0.0.1:5000/app"),
            Some(("127.0.0.1:5000/app", "latest"))
        );
        assert_eq!(split_reference("app:1@sha256:abc"), Some(("app", "1")));
        assert_eq!(split_reference("app@sha256:abc"), None);
        assert_eq!(
            target_reference("127.0.0.1:5000/app:1.0.0", Some("1.1.0")).expect("ok"),
            "127.0.0.1:5000/app:1.1.0"
        );
        assert_eq!(target_reference("app:1", None).expect("ok"), "app:1");
        assert!(target_reference("app@sha256:abc", None).is_err());
        assert!(plain_reference("127.0.0.1:5000/app:1@sha256:ab"));
        assert!(!plain_reference("a/../b") && !plain_reference("a?b") && !plain_reference(""));
        assert!(valid_tag("1.0.1-rc_1") && !valid_tag("a/b") && !valid_tag("") && !valid_tag(".x"));
    }

    #[test]
    fn an_image_is_named_by_the_digest_of_its_repository() {
        let image = json!({"Id": "sha256:0123456789abcdef0123",
            "RepoDigests": ["other/x@sha256:ffff", "127.0.0.1:5000/app@sha256:abcdef0123456789aa"]});
        let state = ImageState::of("127.0.0.1:5000/app:1.0.0", &image);
        assert_eq!(state.digest.as_deref(), Some("sha256:abcdef0123456789aa"));
        assert_eq!(state.describe(), "127.0.0.1:5000/app:1.0.0 abcdef012345");
        let local = ImageState::of("app:1", &json!({"Id": "sha256:0123456789abcdef"}));
        assert_eq!(local.describe(), "app:1 0123456789ab");
    }

    #[test]
    fn a_pull_stream_error_is_found() {
        let ok = b"{\"status\":\"Pulling from app\"}\r\n{\"status\":\"Digest: sha256:1\"}\n";
        assert_eq!(stream_error(ok), None);
        let failed = b"{\"status\":\"Pulling\"}\n{\"errorDetail\":{\"message\":\"manifest unknown\"},\"error\":\"manifest unknown\"}\n";
        assert_eq!(stream_error(failed).as_deref(), Some("manifest unknown"));
    }
}
