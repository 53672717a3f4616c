//! Reading a Docker API path: its version prefix, and which calls hijack the connection.

use http::Method;

/// The path without a leading `/vX.Y` (the engine's version prefix), used to classify a
/// request. The request itself is forwarded with its path untouched.
pub fn strip_version(path: &str) -> &str {
    let Some(rest) = path.strip_prefix("/v") else {
        return path;
    };
    let end = rest.find('/').unwrap_or(rest.len());
    let version = &rest[..end];
    let is_version = version
        .split_once('.')
        .is_some_and(|(major, minor)| is_digits(major) && is_digits(minor));
    if is_version {
        let stripped = &rest[end..];
        if stripped.is_empty() {
            "/"
        } else {
            stripped
        }
    } else {
        path
    }
}

fn is_digits(s: &str) -> bool {
    !s.is_empty() && s.bytes().all(|b| b.is_ascii_digit())
}

/// The `/vX.Y` the client asked for, if any.
pub fn version(path: &str) -> Option<&str> {
    let stripped = strip_version(path);
    if stripped.len() == path.len() {
        return None;
    }
    let prefix = &path[..path.len() - stripped.len()];
    Some(prefix.trim_start_matches("/v").trim_end_matches('/'))
}

/// Calls on which the engine takes over the connection for a raw stream: attach, exec
/// start, and BuildKit's session and gRPC tunnels.
pub fn is_hijack(method: &Method, api_path: &str) -> bool {
    if method != Method::POST {
        return false;
    }
    if api_path == "/session" || api_path == "/grpc" {
        return true;
    }
    let segments: Vec<&str> = api_path.trim_matches('/').split('/').collect();
    matches!(
        segments.as_slice(),
        ["containers", _, "attach"] | ["exec", _, "start"]
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_a_leading_version_is_stripped() {
        assert_eq!(strip_version("/v1.41/containers/json"), "/containers/json");
        assert_eq!(strip_version("/v1.41"), "/");
        assert_eq!(strip_version("/v1.41/"), "/");
        assert_eq!(strip_version("/containers/json"), "/containers/json");
        assert_eq!(strip_version("/volumes/v1.2/x"), "/volumes/v1.2/x");
        assert_eq!(strip_version("/v1/containers"), "/v1/containers");
        assert_eq!(strip_version("/vx.y/containers"), "/vx.y/containers");
        assert_eq!(strip_version("/v1.41/v1.40/x"), "/v1.40/x");
        assert_eq!(strip_version("/version"), "/version");
        assert_eq!(strip_version(""), "");
    }

    #[test]
    fn the_version_is_read() {
        assert_eq!(version("/v1.41/info"), Some("1.41"));
        assert_eq!(version("/info"), None);
    }

    #[test]
    fn hijacks_are_recognised() {
        assert!(is_hijack(&Method::POST, "/containers/abc/attach"));
        assert!(is_hijack(&Method::POST, "/exec/abc/start"));
        assert!(is_hijack(&Method::POST, "/session"));
        assert!(is_hijack(&Method::POST, "/grpc"));
        assert!(!is_hijack(&Method::GET, "/containers/abc/attach"));
        assert!(!is_hijack(&Method::POST, "/containers/abc/attach/ws"));
        assert!(!is_hijack(&Method::POST, "/exec/abc/resize"));
        assert!(!is_hijack(&Method::POST, "/containers/create"));
    }
}
