//! Image names taken apart into registry, repository, tag and digest, by Docker's grammar
//! and its defaults (`docker.io`, `library/` for an official image, `latest`).
//!
//! `oci-spec`'s own parser (`Reference::try_from`) matches a name against one regular
//! expression whose tag part is a Unicode `\w{0,127}`: compiled on first use, it stays in
//! a static for the life of the process, about 11 MB of a 14 MB agent, and every node
//! checks updates. This split leaves nothing behind and builds the same [`Reference`]; the
//! tests hold it to that parser, name by name.

use oci_client::Reference;

const DOCKER_HUB: &str = "docker.io";
const DOCKER_HUB_LEGACY: &str = "index.docker.io";
const OFFICIAL: &str = "library";
/// The longest repository name a registry takes.
const REPOSITORY_MAX: usize = 255;
/// The longest tag.
const TAG_MAX: usize = 128;

/// Why a name is not an image reference.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum NameError {
    #[error("the name is empty")]
    Empty,
    #[error("invalid reference format")]
    Format,
    #[error("the repository name is longer than {REPOSITORY_MAX} characters")]
    TooLong,
    #[error("invalid tag format")]
    Tag,
    #[error("invalid digest format")]
    Digest,
    #[error("the digest's length does not match its algorithm")]
    DigestLength,
    #[error("unsupported digest algorithm")]
    DigestAlgorithm,
}

/// `name[:tag][@digest]`, with `latest` for a name that has neither.
pub fn parse(image: &str) -> Result<Reference, NameError> {
    if image.is_empty() {
        return Err(NameError::Empty);
    }
    let (named, digest) = match image.split_once('@') {
        Some((named, digest)) => (named, Some(digest)),
        None => (image, None),
    };
    // A colon after the last slash starts the tag; one before it is a registry's port.
    let after_slash = named.rfind('/').map_or(0, |i| i + 1);
    let (name, tag) = match named[after_slash..].find(':') {
        Some(i) => (
            &named[..after_slash + i],
            Some(&named[after_slash + i + 1..]),
        ),
        None => (named, None),
    };
    let (registry, repository) = split_registry(name)?;
    if repository.len() > REPOSITORY_MAX {
        return Err(NameError::TooLong);
    }
    if let Some(tag) = tag {
        check_tag(tag)?;
    }
    if let Some(digest) = digest {
        check_digest(digest)?;
    }
    Ok(match (tag, digest) {
        (Some(tag), Some(digest)) => {
            Reference::with_tag_and_digest(registry, repository, tag.into(), digest.into())
        }
        (None, Some(digest)) => Reference::with_digest(registry, repository, digest.into()),
        (tag, None) => Reference::with_tag(registry, repository, tag.unwrap_or("latest").into()),
    })
}

/// The registry and the repository of a name without tag or digest. The first part is a
/// registry when it looks like a host (a dot, a port, or `localhost`).
fn split_registry(name: &str) -> Result<(String, String), NameError> {
    let (registry, path) = match name.split_once('/') {
        Some((first, rest)) if first.contains(['.', ':']) || first == "localhost" => {
            check_host(first)?;
            (first, rest)
        }
        _ => (DOCKER_HUB, name),
    };
    if path.is_empty() || !path.split('/').all(is_path_component) {
        return Err(NameError::Format);
    }
    let registry = if registry == DOCKER_HUB_LEGACY {
        DOCKER_HUB
    } else {
        registry
    };
    let repository = if registry == DOCKER_HUB && !path.contains('/') {
        format!("{OFFICIAL}/{path}")
    } else {
        path.to_owned()
    };
    Ok((registry.to_owned(), repository))
}

/// `host[:port]`: labels of letters, digits and inner hyphens, joined by dots.
fn check_host(host: &str) -> Result<(), NameError> {
    let (name, port) = match host.split_once(':') {
        Some((name, port)) => (name, Some(port)),
        None => (host, None),
    };
    let label_ok = |l: &str| {
        !l.is_empty()
            && l.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
            && !l.starts_with('-')
            && !l.ends_with('-')
    };
    let port_ok = port.is_none_or(|p| !p.is_empty() && p.bytes().all(|b| b.is_ascii_digit()));
    if name.split('.').all(label_ok) && port_ok {
        Ok(())
    } else {
        Err(NameError::Format)
    }
}

/// Lowercase letters and digits, in runs joined by one separator: `.`, `_`, `__` or any
/// number of `-`.
fn is_path_component(component: &str) -> bool {
    let bytes = component.as_bytes();
    let alnum = |b: &u8| b.is_ascii_lowercase() || b.is_ascii_digit();
    if !bytes.first().is_some_and(alnum) || !bytes.last().is_some_and(alnum) {
        return false;
    }
    bytes
        .split(alnum)
        .filter(|separator| !separator.is_empty())
        .all(|separator| {
            matches!(separator, b"." | b"_" | b"__") || separator.iter().all(|&b| b == b'-')
        })
}

/// A word character, then up to 127 word characters, dots and hyphens.
fn check_tag(tag: &str) -> Result<(), NameError> {
    let word = |b: u8| b.is_ascii_alphanumeric() || b == b'_';
    let ok = tag.len() <= TAG_MAX
        && tag.bytes().next().is_some_and(word)
        && tag.bytes().all(|b| word(b) || b == b'.' || b == b'-');
    if ok {
        Ok(())
    } else {
        Err(NameError::Tag)
    }
}

/// `algorithm:hex`, of a supported algorithm and its length.
fn check_digest(digest: &str) -> Result<(), NameError> {
    let Some((algorithm, hex)) = digest.split_once(':') else {
        return Err(NameError::Digest);
    };
    let algorithm_ok = !algorithm.is_empty()
        && algorithm.split(['-', '_', '+', '.']).all(|part| {
            part.bytes().next().is_some_and(|b| b.is_ascii_alphabetic())
                && part.bytes().all(|b| b.is_ascii_alphanumeric())
        });
    if !algorithm_ok || hex.len() < 32 || !hex.bytes().all(|b| b.is_ascii_hexdigit()) {
        return Err(NameError::Digest);
    }
    let length = match algorithm {
        "sha256" => 64,
        "sha384" => 96,
        "sha512" => 128,
        _ => return Err(NameError::DigestAlgorithm),
    };
    if hex.len() == length {
        Ok(())
    } else {
        Err(NameError::DigestLength)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHA256: &str = "sha256:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff";

    /// Names the engine reports, and names it would refuse.
    fn names() -> Vec<String> {
        let mut names: Vec<String> = [
            "busybox",
            "nginx:1.25",
            "nginx:1.25-alpine",
            "library/nginx",
            "docker.io/nginx",
            "docker.io/library/nginx:latest",
            "index.docker.io/nginx:stable",
            "index.docker.io/grafana/grafana:10.0.0",
            "grafana/grafana:10.0.0",
            "ghcr.io/owner/app:v1.2.3",
            "localhost/app",
            "localhost:5000/app:1",
            "127.0.0.1:5000/team/app:2024.01.02",
            "[::1]:5000/app",
            "test.com:tag",
            "test.com:5000",
            "test:5000/repo",
            "sub-dom1.foo.com/bar/baz/quux:some-long-tag",
            "b.gcr.io/test.example.com/my-app:test.example.com",
            "xn--n3h.com/myimage:xn--n3h.com",
            "foo_bar.com:8080",
            "foo/foo_bar.com:8080",
            "a/b__c/d-e/f---g/h.i/j_k",
            "lowercase:Uppercase",
            "repo:_tag",
            "",
            ":justtag",
            "Uppercase:tag",
            "test:5000/Uppercase/lowercase:tag",
            "aa/asdf$$^/aa",
            "a//b",
            "a/",
            "/a",
            "a/b.",
            "a/.b",
            "a/b..c",
            "a/b___c",
            "a/b-_c",
            "-a.com/b",
            "a.com:/b",
            "a.com:50x/b",
            "repo:",
            "repo:-tag",
            "repo:.tag",
            "repo:ta g",
            "repo@",
            "repo@sha256",
            "validname@invaliddigest:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
            "repo@sha256:ffffffffffffffffffffffffffffffffff",
            "repo@sha256:gggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggggg",
            "repo@1sha:ffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff",
        ]
        .into_iter()
        .map(String::from)
        .collect();
        names.push(format!("repo@{SHA256}"));
        names.push(format!("repo:tag@{SHA256}"));
        names.push(format!("test:5000/repo:tag@{SHA256}"));
        names.push(format!("ghcr.io/a/b@sha512:{}", "f".repeat(128)));
        names.push(format!("quay.io/a/b@sha384:{}", "0".repeat(96)));
        names.push(format!("repo:{}", "t".repeat(128)));
        names.push(format!("repo:{}", "t".repeat(129)));
        names.push(format!("r/{}", "a".repeat(253)));
        names.push(format!("r/{}", "a".repeat(254)));
        names
    }

    #[test]
    fn names_come_apart_as_oci_spec_takes_them() {
        for name in names() {
            let ours = parse(&name);
            let theirs = Reference::try_from(name.as_str());
            match (&ours, &theirs) {
                (Ok(a), Ok(b)) => {
                    assert_eq!(
                        (a.registry(), a.repository(), a.tag(), a.digest()),
                        (b.registry(), b.repository(), b.tag(), b.digest()),
                        "{name:?}"
                    );
                    assert_eq!(a.whole(), b.whole(), "{name:?}");
                }
                (Err(_), Err(_)) => {}
                _ => panic!("{name:?}: ours {ours:?}, oci-spec's {theirs:?}"),
            }
        }
    }

    #[test]
    fn a_name_gets_docker_hubs_defaults() {
        let r = parse("nginx").unwrap();
        assert_eq!(r.whole(), "docker.io/library/nginx:latest");
        let r = parse("index.docker.io/grafana/grafana:10").unwrap();
        assert_eq!(r.whole(), "docker.io/grafana/grafana:10");
        let r = parse(&format!("localhost:5000/app:1@{SHA256}")).unwrap();
        assert_eq!(
            (r.registry(), r.repository(), r.tag(), r.digest()),
            ("localhost:5000", "app", Some("1"), Some(SHA256))
        );
        assert_eq!(parse(""), Err(NameError::Empty));
        assert_eq!(parse("Nginx"), Err(NameError::Format));
        assert_eq!(parse("nginx@sha256"), Err(NameError::Digest));
    }
}
