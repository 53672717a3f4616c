//! A profile: what one client may do. The API sections and how far (read or write), the
//! label scope that hides everything outside it, the create rules, and the nodes.

use std::collections::BTreeMap;
use std::path::{Component, Path, PathBuf};

use super::routes::{Operation, Section};

/// How far a profile may go in a section; `Write` includes reading.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Level {
    Read,
    Write,
}

/// What may go into a created container, service, exec or volume. Each `false` or empty
/// list is a rule that refuses; `CreateRules::unrestricted` refuses nothing.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct CreateRules {
    /// `--privileged`, and privileged execs.
    pub privileged: bool,
    /// `--network host`, `--pid host`, `--ipc host`, `--uts host`, `--userns host`,
    /// `--cgroupns host`, and services on the `host` network.
    pub host_namespaces: bool,
    /// Capabilities that may be added (`ALL` allows any).
    pub capabilities: Vec<String>,
    /// `--device`, `--gpus`, `--device-cgroup-rule`.
    pub devices: bool,
    /// Host paths under which bind mounts (and volumes that bind a host path) may be made.
    pub bind_mounts: Vec<PathBuf>,
    /// Whether those binds may be writable. A container that can write into an allowed
    /// directory can plant a symbolic link there that another bind follows out of it.
    pub writable_binds: bool,
    /// Volume drivers other than `local`, and `local` options other than a tmpfs or a
    /// bind of an allowed path (overlay's `lowerdir`, a device, NFS, CIFS...).
    pub volume_options: bool,
    /// Network drivers other than `bridge` and `overlay`, driver options (a bridge's
    /// name can take over the engine's default bridge), ingress and config-from networks,
    /// other IPAM drivers, and an endpoint's `NetworkID`.
    pub network_options: bool,
    /// Log drivers beyond those that write on the host (`json-file`, `local`, `journald`,
    /// `none`); `*` allows any (syslog, gelf, fluentd... make the engine dial out).
    pub log_drivers: Vec<String>,
    /// `--security-opt` other than `no-new-privileges`: those that turn off or replace
    /// seccomp, AppArmor or SELinux labels, and masked paths.
    pub unconfined: bool,
}

/// Log drivers that write on the host and dial nowhere.
pub const HOST_LOG_DRIVERS: [&str; 4] = ["json-file", "local", "journald", "none"];

impl CreateRules {
    pub fn unrestricted() -> Self {
        Self {
            privileged: true,
            host_namespaces: true,
            capabilities: vec!["ALL".into()],
            devices: true,
            bind_mounts: vec![PathBuf::from("/")],
            writable_binds: true,
            volume_options: true,
            network_options: true,
            log_drivers: vec!["*".into()],
            unconfined: true,
        }
    }

    /// What a profile gets unless it says otherwise: nothing that reaches past the
    /// container's own sandbox.
    pub fn strict() -> Self {
        Self {
            privileged: false,
            host_namespaces: false,
            capabilities: Vec::new(),
            devices: false,
            bind_mounts: Vec::new(),
            writable_binds: false,
            volume_options: false,
            network_options: false,
            log_drivers: Vec::new(),
            unconfined: false,
        }
    }

    /// Whether no rule refuses anything (asked on every request: no allocation).
    pub fn is_unrestricted(&self) -> bool {
        self.privileged
            && self.host_namespaces
            && self.devices
            && self.writable_binds
            && self.volume_options
            && self.network_options
            && self.unconfined
            && self.capabilities.iter().any(|c| c == "ALL")
            && self.bind_mounts.iter().any(|p| p == Path::new("/"))
            && self.log_drivers.iter().any(|d| d == "*")
    }

    pub fn allows_capability(&self, cap: &str) -> bool {
        let cap = normalize_capability(cap);
        self.capabilities
            .iter()
            .any(|c| c == "ALL" || normalize_capability(c) == cap)
    }

    pub fn allows_log_driver(&self, driver: &str) -> bool {
        driver.is_empty()
            || HOST_LOG_DRIVERS.contains(&driver)
            || self.log_drivers.iter().any(|d| d == "*" || d == driver)
    }

    /// Whether a host path may be bind-mounted: it lies under an allowed path, component
    /// by component, and holds no `..`.
    pub fn allows_host_path(&self, path: &str) -> bool {
        let path = Path::new(path);
        if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
            return false;
        }
        self.bind_mounts
            .iter()
            .any(|allowed| path.starts_with(allowed))
    }
}

/// `cap_net_admin`, `NET_ADMIN` and `CAP_NET_ADMIN` are one capability.
pub fn normalize_capability(cap: &str) -> String {
    let upper = cap.trim().to_ascii_uppercase();
    upper.strip_prefix("CAP_").unwrap_or(&upper).to_owned()
}

/// One client's rights.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Profile {
    pub name: String,
    /// Per section; a section not named takes `default`.
    pub sections: BTreeMap<Section, Level>,
    pub default: Option<Level>,
    /// Routes outside the Docker API's known ones: only for a profile that may do
    /// everything.
    pub unknown_routes: bool,
    /// Label scope: objects must carry every one of these labels with this value.
    pub labels: BTreeMap<String, String>,
    pub create: CreateRules,
    /// `None`: every node.
    pub nodes: Option<Vec<String>>,
}

/// Why a profile refuses a request.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refusal {
    #[error("profile {profile:?} does not allow this request: {what} needs {section}:{level}, and the profile has {has}")]
    Section {
        profile: String,
        what: String,
        section: &'static str,
        level: &'static str,
        has: &'static str,
    },
    #[error("profile {profile:?} does not allow {what}: it is not a known Docker API route")]
    Unknown { profile: String, what: String },
    #[error("profile {profile:?} may not reach node {node:?}")]
    Node { profile: String, node: String },
    #[error("profile {profile:?} refuses this {kind} by its create rule {rule:?}: {detail}")]
    Create {
        profile: String,
        kind: &'static str,
        rule: &'static str,
        detail: String,
    },
}

impl Profile {
    /// Everything, everywhere: today's `admin` scope.
    pub fn admin() -> Self {
        Self {
            name: "admin".into(),
            sections: BTreeMap::new(),
            default: Some(Level::Write),
            unknown_routes: true,
            labels: BTreeMap::new(),
            create: CreateRules::unrestricted(),
            nodes: None,
        }
    }

    /// The read allowlist in every section: today's `read` scope.
    pub fn read() -> Self {
        Self {
            name: "read".into(),
            sections: BTreeMap::new(),
            default: Some(Level::Read),
            unknown_routes: false,
            labels: BTreeMap::new(),
            create: CreateRules::strict(),
            nodes: None,
        }
    }

    pub fn level(&self, section: Section) -> Option<Level> {
        self.sections.get(&section).copied().or(self.default)
    }

    /// Whether the profile changes nothing about a request it allows: no scope, no create
    /// rules, every node. Such a request takes the fast path.
    pub fn is_unrestricted(&self) -> bool {
        // Every section at write: each one named says so, and the default covers the
        // rest (or none is left to it).
        let all_write = self.sections.values().all(|l| *l == Level::Write)
            && (self.default == Some(Level::Write)
                || Section::ALL.iter().all(|s| self.sections.contains_key(s)));
        self.unknown_routes
            && self.labels.is_empty()
            && self.nodes.is_none()
            && all_write
            && self.create.is_unrestricted()
    }

    pub fn is_scoped(&self) -> bool {
        !self.labels.is_empty()
    }

    /// Whether the profile allows an operation's section at the level it needs. `what`
    /// names the request in the refusal (`GET /containers/x/attach/ws`); it is written out
    /// only for a refusal.
    pub fn permits(&self, op: &Operation, what: impl std::fmt::Display) -> Result<(), Refusal> {
        let Some(section) = op.section else {
            return if self.unknown_routes {
                Ok(())
            } else {
                Err(Refusal::Unknown {
                    profile: self.name.clone(),
                    what: what.to_string(),
                })
            };
        };
        let needed = if op.reads { Level::Read } else { Level::Write };
        let has = self.level(section);
        if has.is_some_and(|h| h >= needed) {
            return Ok(());
        }
        Err(Refusal::Section {
            profile: self.name.clone(),
            what: what.to_string(),
            section: section.as_str(),
            level: match needed {
                Level::Read => "read",
                Level::Write => "write",
            },
            has: match has {
                None => "nothing there",
                Some(Level::Read) => "read only (the read allowlist)",
                Some(Level::Write) => "write",
            },
        })
    }

    pub fn reaches(&self, node: &str) -> bool {
        match &self.nodes {
            None => true,
            Some(nodes) => nodes.iter().any(|n| n == "*" || n == node),
        }
    }

    pub fn check_node(&self, node: &str) -> Result<(), Refusal> {
        if self.reaches(node) {
            Ok(())
        } else {
            Err(Refusal::Node {
                profile: self.name.clone(),
                node: node.to_owned(),
            })
        }
    }

    /// Whether an object's labels put it inside the profile's scope.
    pub fn in_scope(&self, labels: &serde_json::Value) -> bool {
        self.labels
            .iter()
            .all(|(k, v)| labels.get(k).and_then(|l| l.as_str()) == Some(v.as_str()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::routes::classify;
    use http::Method;

    #[test]
    fn built_in_profiles_keep_todays_meaning() {
        let admin = Profile::admin();
        let read = Profile::read();
        assert!(admin.is_unrestricted());
        assert!(!read.is_unrestricted());
        let attach = classify(&Method::GET, "/containers/x/attach/ws");
        assert!(admin.permits(&attach, "GET attach").is_ok());
        let refused = read.permits(&attach, "GET /containers/x/attach/ws");
        assert!(
            matches!(
                &refused,
                Err(Refusal::Section {
                    section: "exec",
                    level: "write",
                    ..
                })
            ),
            "{refused:?}"
        );
        assert!(read
            .permits(&classify(&Method::GET, "/containers/json"), "list")
            .is_ok());
        assert!(read
            .permits(&classify(&Method::GET, "/nope"), "GET /nope")
            .is_err());
    }

    #[test]
    fn sections_levels_and_nodes() {
        let mut p = Profile::read();
        p.name = "deploy".into();
        p.default = None;
        p.sections.insert(Section::Containers, Level::Write);
        p.nodes = Some(vec!["a".into()]);
        assert!(p
            .permits(&classify(&Method::POST, "/containers/x/start"), "start")
            .is_ok());
        assert!(p
            .permits(&classify(&Method::POST, "/containers/x/exec"), "exec")
            .is_err());
        assert!(p
            .permits(&classify(&Method::GET, "/images/json"), "images")
            .is_err());
        assert!(p.reaches("a") && !p.reaches("b"));
    }

    #[test]
    fn host_paths_and_capabilities() {
        let mut rules = CreateRules::strict();
        rules.bind_mounts = vec![PathBuf::from("/srv/app")];
        rules.capabilities = vec!["net_bind_service".into()];
        assert!(rules.allows_host_path("/srv/app"));
        assert!(rules.allows_host_path("/srv/app/data"));
        assert!(!rules.allows_host_path("/srv/application"));
        assert!(!rules.allows_host_path("/srv/app/../../etc"));
        assert!(!rules.allows_host_path("/"));
        assert!(!rules.allows_host_path("relative"));
        assert!(rules.allows_capability("CAP_NET_BIND_SERVICE"));
        assert!(!rules.allows_capability("SYS_ADMIN"));
        assert!(CreateRules::unrestricted().allows_host_path("/"));
    }

    #[test]
    fn scope_needs_every_label() {
        let mut p = Profile::read();
        p.labels.insert("team".into(), "payments".into());
        assert!(p.in_scope(&serde_json::json!({"team": "payments", "x": "y"})));
        assert!(!p.in_scope(&serde_json::json!({"team": "search"})));
        assert!(!p.in_scope(&serde_json::Value::Null));
    }
}
