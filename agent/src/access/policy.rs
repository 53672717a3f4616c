//! The policy file (`--policy`): the profiles, which profile a client certificate gets,
//! and the revoked certificates. Parsed once per change into plain values; every agent
//! of a cluster loads the same file.
//!
//! ```toml
//! [certificates]
//! default = "read"                 # a certificate no rule names
//! revoked = ["5f1c0a…"]            # serials, hex
//! [[certificates.rules]]
//! common_name = "ci-*"             # exact, or a prefix ending in *
//! profile = "payments"
//!
//! [profiles.payments]
//! allow = { containers = "write", exec = "write", "*" = "read" }
//! labels = { team = "payments" }
//! nodes = ["node-1", "node-2"]
//! [profiles.payments.create]
//! bind_mounts = ["/srv/payments"]      # read-only unless bind_mounts_writable
//! capabilities = ["NET_BIND_SERVICE"]
//! log_drivers = ["gelf"]
//! ```

use std::collections::{BTreeMap, HashSet};
use std::path::PathBuf;
use std::sync::Arc;

use serde::Deserialize;

use super::profile::{CreateRules, Level, Profile};
use super::routes::Section;

#[derive(Debug, thiserror::Error)]
pub enum PolicyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: {message}")]
    Invalid { path: String, message: String },
}

pub use bosun_serve::pki::{normalize_serial, CertSubject, PROFILE_OU_PREFIX};

/// A loaded policy.
#[derive(Debug, Clone)]
pub struct Policy {
    /// By name, in order: a policy has a few, which every request looks one up in, and a
    /// few comparisons of short names cost less than hashing one.
    profiles: BTreeMap<String, Arc<Profile>>,
    cert_rules: Vec<CertRule>,
    cert_default: Arc<str>,
    revoked: HashSet<String>,
}

#[derive(Debug, Clone)]
struct CertRule {
    common_name: Option<String>,
    organizational_unit: Option<String>,
    profile: Arc<str>,
}

impl Default for Policy {
    /// No file: the built-in profiles; certificates carry their profile or get `read`.
    fn default() -> Self {
        let mut profiles = BTreeMap::new();
        for p in [Profile::admin(), Profile::read()] {
            profiles.insert(p.name.clone(), Arc::new(p));
        }
        Self {
            profiles,
            cert_rules: Vec::new(),
            cert_default: "read".into(),
            revoked: HashSet::new(),
        }
    }
}

impl Policy {
    pub fn profile(&self, name: &str) -> Option<Arc<Profile>> {
        self.profiles.get(name).cloned()
    }

    /// In order.
    pub fn profile_names(&self) -> Vec<&str> {
        self.profiles.keys().map(String::as_str).collect()
    }

    /// The profile a certificate gets: the first rule that matches it, else the profile
    /// it names itself, else the configured default.
    pub fn certificate_profile(&self, cert: &CertSubject) -> Arc<str> {
        for rule in &self.cert_rules {
            let cn_ok = rule
                .common_name
                .as_deref()
                .is_none_or(|pattern| matches(pattern, &cert.common_name));
            let ou_ok = rule.organizational_unit.as_deref().is_none_or(|pattern| {
                cert.organizational_units
                    .iter()
                    .any(|ou| matches(pattern, ou))
            });
            if cn_ok && ou_ok {
                return rule.profile.clone();
            }
        }
        cert.named_profile
            .clone()
            .unwrap_or_else(|| self.cert_default.clone())
    }

    pub fn is_revoked(&self, serial: &str) -> bool {
        !self.revoked.is_empty() && self.revoked.contains(&normalize_serial(serial))
    }

    /// Parses a policy file's text; `path` names it in errors.
    pub fn parse(text: &str, path: &str) -> Result<Self, PolicyError> {
        let invalid = |message: String| PolicyError::Invalid {
            path: path.to_owned(),
            message,
        };
        let file: File = toml::from_str(text).map_err(|e| invalid(e.to_string()))?;
        let mut policy = Policy::default();
        for (name, spec) in file.profiles {
            if policy.profiles.contains_key(&name) {
                return Err(invalid(format!(
                    "profile {name:?} is built in and cannot be redefined"
                )));
            }
            let profile = spec
                .into_profile(&name)
                .map_err(|m| invalid(format!("profile {name:?}: {m}")))?;
            policy.profiles.insert(name, Arc::new(profile));
        }
        let known = |name: &str| policy.profiles.contains_key(name);
        if let Some(default) = file.certificates.default {
            if !known(&default) {
                return Err(invalid(format!(
                    "certificates.default names no profile: {default:?}"
                )));
            }
            policy.cert_default = default.into();
        }
        for (i, rule) in file.certificates.rules.into_iter().enumerate() {
            if !known(&rule.profile) {
                return Err(invalid(format!(
                    "certificates.rules[{i}] names no profile: {:?}",
                    rule.profile
                )));
            }
            if rule.common_name.is_none() && rule.organizational_unit.is_none() {
                return Err(invalid(format!(
                    "certificates.rules[{i}] matches nothing: give common_name or organizational_unit"
                )));
            }
            policy.cert_rules.push(CertRule {
                common_name: rule.common_name,
                organizational_unit: rule.organizational_unit,
                profile: rule.profile.into(),
            });
        }
        for serial in file.certificates.revoked {
            let s = normalize_serial(&serial);
            if s.is_empty() || !s.bytes().all(|b| b.is_ascii_hexdigit()) {
                return Err(invalid(format!(
                    "certificates.revoked: {serial:?} is not a hex serial"
                )));
            }
            policy.revoked.insert(s);
        }
        Ok(policy)
    }

    /// Reads and parses a policy file.
    pub fn read(path: &std::path::Path) -> Result<Self, PolicyError> {
        let text = std::fs::read_to_string(path).map_err(|source| PolicyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&text, &path.display().to_string())
    }
}

/// Exact, or a prefix followed by `*`.
fn matches(pattern: &str, value: &str) -> bool {
    match pattern.strip_suffix('*') {
        Some(prefix) => value.starts_with(prefix),
        None => pattern == value,
    }
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct File {
    #[serde(default)]
    certificates: Certificates,
    #[serde(default)]
    profiles: BTreeMap<String, ProfileSpec>,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct Certificates {
    default: Option<String>,
    #[serde(default)]
    rules: Vec<RuleSpec>,
    #[serde(default)]
    revoked: Vec<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RuleSpec {
    common_name: Option<String>,
    organizational_unit: Option<String>,
    profile: String,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct ProfileSpec {
    #[serde(default)]
    allow: BTreeMap<String, String>,
    #[serde(default)]
    labels: BTreeMap<String, String>,
    nodes: Option<Vec<String>>,
    #[serde(default)]
    create: CreateSpec,
}

#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct CreateSpec {
    #[serde(default)]
    privileged: bool,
    #[serde(default)]
    host_namespaces: bool,
    #[serde(default)]
    capabilities: Vec<String>,
    #[serde(default)]
    devices: bool,
    #[serde(default)]
    bind_mounts: Vec<String>,
    #[serde(default)]
    bind_mounts_writable: bool,
    #[serde(default)]
    volume_options: bool,
    #[serde(default)]
    network_options: bool,
    #[serde(default)]
    log_drivers: Vec<String>,
    #[serde(default)]
    unconfined: bool,
}

impl ProfileSpec {
    fn into_profile(self, name: &str) -> Result<Profile, String> {
        let mut sections = BTreeMap::new();
        let mut default = None;
        for (section, level) in self.allow {
            let level = match level.as_str() {
                "read" => Level::Read,
                "write" => Level::Write,
                other => return Err(format!("allow.{section} = {other:?}: read or write")),
            };
            if section == "*" {
                default = Some(level);
                continue;
            }
            let known = Section::ALL
                .iter()
                .find(|s| s.as_str() == section)
                .ok_or_else(|| {
                    format!(
                        "allow.{section}: no such section (known: {}, or \"*\")",
                        Section::ALL.map(Section::as_str).join(", ")
                    )
                })?;
            sections.insert(*known, level);
        }
        for (k, v) in &self.labels {
            if k.is_empty() || k.contains('=') || v.is_empty() {
                return Err(format!("labels: {k:?} = {v:?} is not a label"));
            }
        }
        let mut bind_mounts = Vec::new();
        for path in self.create.bind_mounts {
            let p = PathBuf::from(&path);
            if !p.is_absolute() {
                return Err(format!(
                    "create.bind_mounts: {path:?} is not an absolute path"
                ));
            }
            bind_mounts.push(p);
        }
        let create = CreateRules {
            privileged: self.create.privileged,
            host_namespaces: self.create.host_namespaces,
            capabilities: self.create.capabilities,
            devices: self.create.devices,
            bind_mounts,
            writable_binds: self.create.bind_mounts_writable,
            volume_options: self.create.volume_options,
            network_options: self.create.network_options,
            log_drivers: self.create.log_drivers,
            unconfined: self.create.unconfined,
        };
        Ok(Profile {
            name: name.to_owned(),
            sections,
            default,
            unknown_routes: false,
            labels: self.labels,
            create,
            nodes: self.nodes,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const EXAMPLE: &str = r#"
[certificates]
default = "read"
revoked = ["0A:1B:2C"]
[[certificates.rules]]
common_name = "ci-*"
profile = "payments"

[profiles.payments]
allow = { containers = "write", exec = "write", "*" = "read" }
labels = { team = "payments" }
nodes = ["node-1"]
[profiles.payments.create]
bind_mounts = ["/srv/payments"]
"#;

    #[test]
    fn a_policy_file_is_read() {
        let policy = Policy::parse(EXAMPLE, "policy.toml").expect("valid");
        let p = policy.profile("payments").expect("profile");
        assert_eq!(p.level(Section::Containers), Some(Level::Write));
        assert_eq!(p.level(Section::Images), Some(Level::Read));
        assert_eq!(p.labels["team"], "payments");
        assert!(!p.create.privileged);
        assert!(p.create.allows_host_path("/srv/payments/db"));
        assert!(policy.profile("admin").is_some() && policy.profile("read").is_some());
        assert!(policy.is_revoked("a1b2c"));
        assert!(policy.is_revoked("00:0a:1b:2c"));
        assert!(!policy.is_revoked("a1b2d"));
    }

    #[test]
    fn certificates_map_by_rule_then_by_their_own_profile_then_default() {
        let policy = Policy::parse(EXAMPLE, "policy.toml").expect("valid");
        let cert = |cn: &str, ou: &[&str]| {
            CertSubject::new(cn.into(), ou.iter().map(|s| (*s).to_owned()).collect(), "1")
        };
        assert_eq!(&*policy.certificate_profile(&cert("ci-7", &[])), "payments");
        assert_eq!(
            &*policy.certificate_profile(&cert("ops", &["profile=admin"])),
            "admin"
        );
        assert_eq!(&*policy.certificate_profile(&cert("bob", &[])), "read");
        assert_eq!(
            &*Policy::default().certificate_profile(&cert("old", &[])),
            "read"
        );
    }

    #[test]
    fn mistakes_are_named() {
        let err = |text: &str| {
            Policy::parse(text, "p.toml")
                .expect_err("invalid")
                .to_string()
        };
        assert!(err("[profiles.admin]\n").contains("built in"));
        assert!(
            err("[profiles.x]\nallow = { containerz = \"read\" }\n").contains("no such section")
        );
        assert!(err("[profiles.x]\nallow = { containers = \"all\" }\n").contains("read or write"));
        assert!(err("[certificates]\ndefault = \"nope\"\n").contains("names no profile"));
        assert!(err("[certificates]\nrevoked = [\"xyz\"]\n").contains("hex serial"));
        assert!(err("[profiles.x.create]\nbind_mounts = [\"rel\"]\n").contains("absolute"));
        assert!(err("[profiles.x]\nlabelz = {}\n").contains("labelz"));
    }
}
