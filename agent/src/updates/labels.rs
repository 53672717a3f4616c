//! A container's or service's watch settings from its labels: What's Up Docker's
//! (`wud.watch`, `wud.tag.include`, `wud.tag.exclude`, `wud.tag.transform`,
//! `wud.link.template`) and Bosun's (`bosun.` and the same suffixes), Bosun's winning.

use regex::Regex;

/// The label prefixes read, the later one winning.
const PREFIXES: [&str; 2] = ["wud.", "bosun."];

/// How one container's image is watched.
#[derive(Debug, Default, Clone)]
pub struct Watch {
    /// `false`: the container is skipped (`…watch=false`).
    pub enabled: bool,
    pub include: Option<Regex>,
    pub exclude: Option<Regex>,
    /// `regex => template`: the tag is rewritten before its version is read.
    pub transform: Option<(Regex, String)>,
    pub link_template: Option<String>,
}

/// A label that cannot be used, named.
#[derive(Debug, thiserror::Error)]
pub enum LabelError {
    #[error("label {label}: {value:?} is not a regular expression: {source}")]
    Pattern {
        label: String,
        value: String,
        source: regex::Error,
    },
    #[error("label {label}: {value:?} is not of the form `regex => template`")]
    Transform { label: String, value: String },
}

impl Watch {
    /// The settings in `labels` (name, value); watched unless a watch label says `false`.
    pub fn from_labels<K: AsRef<str>, V: AsRef<str>>(
        labels: &[(K, V)],
    ) -> Result<Watch, LabelError> {
        let get = |suffix: &str| -> Option<(String, String)> {
            let mut found = None;
            for prefix in PREFIXES {
                let name = format!("{prefix}{suffix}");
                for (k, v) in labels {
                    if k.as_ref() == name {
                        found = Some((name.clone(), v.as_ref().to_owned()));
                    }
                }
            }
            found
        };
        let pattern =
            |suffix: &str| -> Result<Option<Regex>, LabelError> {
                match get(suffix) {
                    Some((label, value)) if !value.is_empty() => Regex::new(&value)
                        .map(Some)
                        .map_err(|source| LabelError::Pattern {
                            label,
                            value,
                            source,
                        }),
                    _ => Ok(None),
                }
            };
        let enabled = match get("watch") {
            Some((_, v)) if !v.is_empty() => v.eq_ignore_ascii_case("true"),
            _ => true,
        };
        let transform = match get("tag.transform") {
            Some((label, value)) if !value.is_empty() => {
                let Some((pattern, template)) = value.split_once("=>") else {
                    return Err(LabelError::Transform { label, value });
                };
                let regex = Regex::new(pattern.trim()).map_err(|source| LabelError::Pattern {
                    label: label.clone(),
                    value: value.clone(),
                    source,
                })?;
                Some((regex, template.trim().to_owned()))
            }
            _ => None,
        };
        Ok(Watch {
            enabled,
            include: pattern("tag.include")?,
            exclude: pattern("tag.exclude")?,
            transform,
            link_template: get("link.template")
                .map(|(_, v)| v)
                .filter(|v| !v.is_empty()),
        })
    }

    /// The tag after the transform: `$1`… in the template replaced by the pattern's
    /// groups, as What's Up Docker does; the tag itself when there is no transform or the
    /// pattern does not match.
    pub fn transform(&self, tag: &str) -> String {
        let Some((regex, template)) = &self.transform else {
            return tag.to_owned();
        };
        let Some(caps) = regex.captures(tag) else {
            return tag.to_owned();
        };
        let mut out = String::new();
        let mut chars = template.chars().peekable();
        while let Some(c) = chars.next() {
            if c == '$' {
                let mut digits = String::new();
                while let Some(d) = chars.peek().filter(|d| d.is_ascii_digit()) {
                    digits.push(*d);
                    chars.next();
                }
                if let Ok(n) = digits.parse::<usize>() {
                    out.push_str(caps.get(n).map_or("", |m| m.as_str()));
                    continue;
                }
                out.push('$');
                continue;
            }
            out.push(c);
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn watched_by_default_and_skipped_on_false() {
        let none: [(&str, &str); 0] = [];
        assert!(Watch::from_labels(&none).expect("none").enabled);
        assert!(
            !Watch::from_labels(&[("wud.watch", "false")])
                .expect("wud")
                .enabled
        );
        assert!(
            !Watch::from_labels(&[("bosun.watch", "FALSE")])
                .expect("bosun")
                .enabled
        );
    }

    #[test]
    fn bosun_labels_win_over_wud_labels() {
        let watch = Watch::from_labels(&[
            ("bosun.watch", "true"),
            ("wud.watch", "false"),
            ("wud.tag.include", "^1"),
            ("bosun.tag.include", "^2"),
        ])
        .expect("labels");
        assert!(watch.enabled);
        assert_eq!(
            watch.include.map(|r| r.as_str().to_owned()).as_deref(),
            Some("^2")
        );
    }

    #[test]
    fn transforms_like_wud() {
        let watch = Watch::from_labels(&[("wud.tag.transform", r"^(\d+\.\d+)-.*-(\d+)$ => $1.$2")])
            .expect("labels");
        assert_eq!(watch.transform("1.2-alpine-7"), "1.2.7");
        assert_eq!(watch.transform("latest"), "latest");
    }

    #[test]
    fn bad_labels_are_named() {
        let err = Watch::from_labels(&[("wud.tag.include", "(")]).expect_err("bad");
        assert!(err.to_string().contains("wud.tag.include"), "{err}");
        let err = Watch::from_labels(&[("bosun.tag.transform", "no arrow")]).expect_err("bad");
        assert!(err.to_string().contains("regex => template"), "{err}");
    }
}
