//! Versions read from image tags, as What's Up Docker reads them: a prefix, dotted numbers
//! and a suffix (`v2.3`, `1.2.3-alpine`), compared number by number; which newer tags a
//! running tag has, and how big a step each is.

use std::cmp::Ordering;

use serde::{Deserialize, Serialize};

use super::labels::Watch;

/// How big a step a newer tag is, or that the running tag itself moved.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Kind {
    Patch,
    Minor,
    Major,
    /// The running tag points at another image in the registry.
    Digest,
}

/// A tag's version: up to three numbers, and what followed them.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Version {
    pub major: u64,
    pub minor: u64,
    pub patch: u64,
    /// How many numbers the tag has (`2.3` has two): tags are compared with their kind.
    pub groups: usize,
    /// What follows the numbers without its leading `-` (`alpine`, `rc1`), empty for none.
    pub prerelease: String,
}

impl Version {
    /// The version in a tag: an optional non-digit prefix, one to three dotted numbers,
    /// then nothing or `-`/`+`/`.` and a suffix. `None` for tags like `latest`.
    pub fn parse(tag: &str) -> Option<Version> {
        let start = tag.find(|c: char| c.is_ascii_digit())?;
        let prefix = &tag[..start];
        // A prefix is letters like `v` or `release-`; digits after letters and dots in it
        // would make the numbers ambiguous.
        if prefix.contains('.') {
            return None;
        }
        let rest = &tag[start..];
        let numbers_end = rest
            .find(|c: char| !(c.is_ascii_digit() || c == '.'))
            .unwrap_or(rest.len());
        let numbers = rest[..numbers_end].trim_end_matches('.');
        let suffix = &rest[numbers.len()..];
        let parts: Vec<&str> = numbers.split('.').collect();
        if parts.is_empty() || parts.len() > 3 || parts.iter().any(|p| p.is_empty()) {
            return None;
        }
        let mut values = [0u64; 3];
        for (slot, part) in values.iter_mut().zip(&parts) {
            *slot = part.parse().ok()?;
        }
        let prerelease = match suffix.chars().next() {
            None => String::new(),
            Some('-' | '+' | '.' | '_') => suffix[1..].to_owned(),
            Some(_) => suffix.to_owned(),
        };
        Some(Version {
            major: values[0],
            minor: values[1],
            patch: values[2],
            groups: parts.len(),
            prerelease,
        })
    }

    fn numbers(&self) -> (u64, u64, u64) {
        (self.major, self.minor, self.patch)
    }

    /// The step from `self` up to `newer`; `None` when `newer` is not newer.
    pub fn step_to(&self, newer: &Version) -> Option<Kind> {
        match newer.numbers().cmp(&self.numbers()) {
            Ordering::Greater if newer.major != self.major => Some(Kind::Major),
            Ordering::Greater if newer.minor != self.minor => Some(Kind::Minor),
            Ordering::Greater => Some(Kind::Patch),
            // Same numbers: a release is newer than its pre-release (`1.0.0` after
            // `1.0.0-rc1`), but a suffix like `-alpine` names a variant, not an order.
            Ordering::Equal if !self.prerelease.is_empty() && newer.prerelease.is_empty() => {
                Some(Kind::Patch)
            }
            _ => None,
        }
    }
}

/// One newer tag and its step.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NewerTag {
    pub tag: String,
    pub kind: Kind,
}

/// The tags in `tags` newer than `running` under a container's watch settings, newest
/// first, the way What's Up Docker picks candidates: include/exclude patterns; without an
/// include pattern, only tags with the running tag's prefix (or none, for a tag starting
/// with a digit) and no `sha…` tags; never `.sig` tags; only versions with as many numbers
/// as the running tag's, compared after the tag transform.
pub fn newer_tags(running: &str, tags: &[String], watch: &Watch) -> Vec<NewerTag> {
    let Some(current) = Version::parse(&watch.transform(running)) else {
        return Vec::new();
    };
    let prefix = &running[..running.find(|c: char| c.is_ascii_digit()).unwrap_or(0)];
    let mut found: Vec<(Version, NewerTag)> = tags
        .iter()
        .filter(|t| t.as_str() != running && !t.ends_with(".sig"))
        .filter(|t| match &watch.include {
            Some(include) => include.is_match(t),
            None => {
                !t.starts_with("sha")
                    && if prefix.is_empty() {
                        t.starts_with(|c: char| c.is_ascii_digit())
                    } else {
                        t.starts_with(prefix)
                    }
            }
        })
        .filter(|t| !watch.exclude.as_ref().is_some_and(|e| e.is_match(t)))
        .filter_map(|t| {
            let version = Version::parse(&watch.transform(t))?;
            if version.groups != current.groups {
                return None;
            }
            let kind = current.step_to(&version)?;
            Some((
                version,
                NewerTag {
                    tag: t.clone(),
                    kind,
                },
            ))
        })
        .collect();
    found.sort_by(|(a, _), (b, _)| {
        b.numbers().cmp(&a.numbers()).then_with(|| {
            a.prerelease
                .is_empty()
                .cmp(&b.prerelease.is_empty())
                .reverse()
        })
    });
    found.into_iter().map(|(_, t)| t).collect()
}

/// `${major}`, `${minor}`, `${patch}`, `${prerelease}`, `${raw}` (the tag as it is) and
/// `${original}` (the same) in a link template, filled from the tag; `None` when the
/// template needs numbers the tag does not have.
pub fn link(template: &str, tag: &str, watch: &Watch) -> Option<String> {
    let mut out = template.replace("${raw}", tag).replace("${original}", tag);
    let transformed = watch.transform(tag);
    let version = Version::parse(&transformed);
    for (name, value) in [
        ("${major}", version.as_ref().map(|v| v.major.to_string())),
        ("${minor}", version.as_ref().map(|v| v.minor.to_string())),
        ("${patch}", version.as_ref().map(|v| v.patch.to_string())),
        (
            "${prerelease}",
            version.as_ref().map(|v| v.prerelease.clone()),
        ),
        ("${transformed}", Some(transformed.clone())),
    ] {
        if out.contains(name) {
            out = out.replace(name, &value?);
        }
    }
    Some(out)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tags(list: &[&str]) -> Vec<String> {
        list.iter().map(|s| s.to_string()).collect()
    }

    fn newer(running: &str, list: &[&str], watch: &Watch) -> Vec<(String, Kind)> {
        newer_tags(running, &tags(list), watch)
            .into_iter()
            .map(|t| (t.tag, t.kind))
            .collect()
    }

    #[test]
    fn parses_tags_with_prefixes_and_suffixes() {
        let v = Version::parse("v2.3").expect("v2.3");
        assert_eq!((v.major, v.minor, v.patch, v.groups), (2, 3, 0, 2));
        let v = Version::parse("1.2.3-alpine").expect("1.2.3-alpine");
        assert_eq!(
            (v.major, v.minor, v.patch, v.prerelease.as_str()),
            (1, 2, 3, "alpine")
        );
        assert_eq!(Version::parse("latest"), None);
        assert_eq!(Version::parse("1.2.3.4"), None);
        assert_eq!(Version::parse("a.b1"), None);
    }

    #[test]
    fn classifies_steps() {
        let base = Version::parse("1.2.3").expect("base");
        let step = |t: &str| base.step_to(&Version::parse(t).expect("tag"));
        assert_eq!(step("1.2.4"), Some(Kind::Patch));
        assert_eq!(step("1.3.0"), Some(Kind::Minor));
        assert_eq!(step("2.0.0"), Some(Kind::Major));
        assert_eq!(step("1.2.3"), None);
        assert_eq!(step("1.2.2"), None);
        let rc = Version::parse("1.0.0-rc1").expect("rc");
        assert_eq!(
            rc.step_to(&Version::parse("1.0.0").expect("1.0.0")),
            Some(Kind::Patch)
        );
    }

    #[test]
    fn newer_tags_keep_the_prefix_and_the_number_of_groups() {
        let watch = Watch::default();
        assert_eq!(
            newer(
                "1.0.0",
                &[
                    "1.0.0",
                    "1.0.1",
                    "1.1.0",
                    "2.0.0",
                    "0.9.0",
                    "latest",
                    "v3.0.0",
                    "3.0",
                    "1.0.1.sig"
                ],
                &watch
            ),
            vec![
                ("2.0.0".into(), Kind::Major),
                ("1.1.0".into(), Kind::Minor),
                ("1.0.1".into(), Kind::Patch)
            ]
        );
        assert_eq!(
            newer("v2.3", &["v2.4", "2.5", "v3.0", "v2.3.1"], &watch),
            vec![("v3.0".into(), Kind::Major), ("v2.4".into(), Kind::Minor)]
        );
        assert!(newer("latest", &["1.0.0"], &watch).is_empty());
    }

    #[test]
    fn include_exclude_and_transform_apply() {
        let watch = Watch::from_labels(&[
            ("wud.tag.include", r"^\d+\.\d+\.\d+-alpine$"),
            ("wud.tag.exclude", r"^2\."),
        ])
        .expect("labels");
        assert_eq!(
            newer(
                "1.0.0-alpine",
                &["1.0.1-alpine", "1.0.2", "2.0.0-alpine", "1.1.0-alpine"],
                &watch
            ),
            vec![
                ("1.1.0-alpine".into(), Kind::Minor),
                ("1.0.1-alpine".into(), Kind::Patch)
            ]
        );
        let watch = Watch::from_labels(&[
            ("wud.tag.include", r"^\d+\.\d+-ls\d+$"),
            ("wud.tag.transform", r"^(\d+)\.(\d+)-ls(\d+)$ => $1.$2.$3"),
        ])
        .expect("labels");
        assert_eq!(
            newer("4.1-ls12", &["4.1-ls13", "4.2-ls1", "4.0-ls99"], &watch),
            vec![
                ("4.2-ls1".into(), Kind::Minor),
                ("4.1-ls13".into(), Kind::Patch)
            ]
        );
    }

    #[test]
    fn link_templates_fill_the_version() {
        let watch = Watch::default();
        assert_eq!(
            link(
                "https://example.org/releases/v${major}.${minor}.${patch} (${raw})",
                "1.2.3",
                &watch
            )
            .as_deref(),
            Some("https://example.org/releases/v1.2.3 (1.2.3)")
        );
        assert_eq!(link("https://x/${major}", "latest", &watch), None);
        assert_eq!(
            link("https://x/${raw}", "latest", &watch).as_deref(),
            Some("https://x/latest")
        );
    }
}
