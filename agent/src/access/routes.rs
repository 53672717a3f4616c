//! What a Docker API request is, for access control: the API section it belongs to,
//! whether it is on the list of calls that only read metadata, and the object it acts on,
//! creates or lists.
//!
//! Reading is a list, not a method: only the routes [`classify`] marks `reads` are
//! reading. Everything else, whatever its method, writes: attach of any kind, exec,
//! archives, exports, image save, and the calls that make the engine dial out.

use http::Method;
use serde::{Deserialize, Serialize};
use smallvec::SmallVec;

/// An API section, as profiles name them.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Section {
    Containers,
    Images,
    Networks,
    Volumes,
    /// Exec, and attach: a stream into a container's processes.
    Exec,
    /// Builds and BuildKit sessions.
    Build,
    Services,
    Tasks,
    Nodes,
    Secrets,
    Configs,
    Swarm,
    /// Ping, version, info, events, disk usage, registry log-in.
    System,
    Plugins,
    /// `/distribution`: the engine asks a registry.
    Distribution,
    /// The agent's own API.
    Agent,
}

impl Section {
    pub const ALL: [Section; 16] = [
        Section::Containers,
        Section::Images,
        Section::Networks,
        Section::Volumes,
        Section::Exec,
        Section::Build,
        Section::Services,
        Section::Tasks,
        Section::Nodes,
        Section::Secrets,
        Section::Configs,
        Section::Swarm,
        Section::System,
        Section::Plugins,
        Section::Distribution,
        Section::Agent,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Section::Containers => "containers",
            Section::Images => "images",
            Section::Networks => "networks",
            Section::Volumes => "volumes",
            Section::Exec => "exec",
            Section::Build => "build",
            Section::Services => "services",
            Section::Tasks => "tasks",
            Section::Nodes => "nodes",
            Section::Secrets => "secrets",
            Section::Configs => "configs",
            Section::Swarm => "swarm",
            Section::System => "system",
            Section::Plugins => "plugins",
            Section::Distribution => "distribution",
            Section::Agent => "agent",
        }
    }
}

/// The kinds of object a label scope applies to, and the others a route may name.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    Container,
    Exec,
    Network,
    Volume,
    Service,
    Task,
    Secret,
    Config,
    /// A container's attachment to a network: the body of a network connect or
    /// disconnect, which names the container.
    Attachment,
}

impl Kind {
    pub fn as_str(self) -> &'static str {
        match self {
            Kind::Container => "container",
            Kind::Exec => "exec",
            Kind::Network => "network",
            Kind::Volume => "volume",
            Kind::Service => "service",
            Kind::Task => "task",
            Kind::Secret => "secret",
            Kind::Config => "config",
            Kind::Attachment => "network attachment",
        }
    }
}

/// One object, by the id or name the client used.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Object {
    pub kind: Kind,
    pub id: String,
}

/// What a request does, as far as access control is concerned.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Operation {
    /// `None`: not a route of the Docker API or of the agent.
    pub section: Option<Section>,
    /// On the read allowlist: returns metadata and changes nothing.
    pub reads: bool,
    /// The existing object it reads or acts on.
    pub object: Option<Object>,
    /// The kind of object whose specification the body carries (create, or a service
    /// update): checked against create rules, and given the profile's labels.
    pub creates: Option<Kind>,
    /// A list, prune or event stream that a label filter narrows.
    pub lists: Option<Kind>,
    /// Reports on every object of the engine at once, and cannot be narrowed to a scope.
    pub whole_engine: bool,
    /// May hold its connection for long: a stream of events, logs or stats, an attach,
    /// an exec, a build, a transfer of images or files.
    pub long_lived: bool,
}

impl Operation {
    fn new(section: Section, reads: bool) -> Self {
        Self {
            section: Some(section),
            reads,
            object: None,
            creates: None,
            lists: None,
            whole_engine: false,
            long_lived: false,
        }
    }

    fn lasting(mut self) -> Self {
        self.long_lived = true;
        self
    }

    fn on(mut self, kind: Kind, id: &str) -> Self {
        self.object = Some(Object {
            kind,
            id: id.to_owned(),
        });
        self
    }

    fn creating(mut self, kind: Kind) -> Self {
        self.creates = Some(kind);
        self
    }

    fn listing(mut self, kind: Kind) -> Self {
        self.lists = Some(kind);
        self
    }

    fn unknown() -> Self {
        Self {
            section: None,
            reads: false,
            object: None,
            creates: None,
            lists: None,
            whole_engine: false,
            long_lived: false,
        }
    }
}

/// Classifies a request by method and version-less, percent-decoded path.
pub fn classify(method: &Method, api_path: &str) -> Operation {
    use Section as S;
    let get = method == Method::GET;
    // HEAD reads what GET reads, except on archives, where it stats a path in a container.
    let look = get || method == Method::HEAD;
    let segments: SmallVec<[&str; 8]> = api_path.trim_start_matches('/').split('/').collect();
    match segments.as_slice() {
        ["_ping"] => Operation::new(S::System, look),
        ["version"] | ["info"] => Operation::new(S::System, look),
        ["system", "df"] => Operation {
            whole_engine: true,
            ..Operation::new(S::System, look)
        },
        ["events"] => Operation::new(S::System, look)
            .listing(Kind::Container)
            .lasting(),
        ["auth"] | ["system", ..] => Operation::new(S::System, false),
        ["session"] | ["grpc"] | ["build"] => Operation::new(S::Build, false).lasting(),
        ["build", ..] => Operation::new(S::Build, false),

        ["containers", "json"] => Operation::new(S::Containers, look).listing(Kind::Container),
        ["containers", "create"] => Operation::new(S::Containers, false).creating(Kind::Container),
        ["containers", "prune"] => Operation::new(S::Containers, false).listing(Kind::Container),
        ["containers", id, "json" | "top" | "changes"] if !id.is_empty() => {
            Operation::new(S::Containers, look).on(Kind::Container, id)
        }
        ["containers", id, "logs" | "stats"] if !id.is_empty() => {
            Operation::new(S::Containers, look)
                .on(Kind::Container, id)
                .lasting()
        }
        ["containers", id, "attach"] | ["containers", id, "attach", "ws"] if !id.is_empty() => {
            Operation::new(S::Exec, false)
                .on(Kind::Container, id)
                .lasting()
        }
        // Stop and restart wait as long as the client's `t` says.
        ["containers", id, "wait" | "export" | "archive" | "stop" | "restart"]
            if !id.is_empty() =>
        {
            Operation::new(S::Containers, false)
                .on(Kind::Container, id)
                .lasting()
        }
        ["containers", id, "exec"] if !id.is_empty() => Operation::new(S::Exec, false)
            .on(Kind::Container, id)
            .creating(Kind::Exec),
        ["containers", id, ..] if !id.is_empty() => {
            Operation::new(S::Containers, false).on(Kind::Container, id)
        }
        ["containers", ..] => Operation::new(S::Containers, false),

        ["exec", id, "json"] if !id.is_empty() => Operation::new(S::Exec, look).on(Kind::Exec, id),
        ["exec", id, "start"] if !id.is_empty() => {
            Operation::new(S::Exec, false).on(Kind::Exec, id).lasting()
        }
        ["exec", id, ..] if !id.is_empty() => Operation::new(S::Exec, false).on(Kind::Exec, id),

        ["images", "json"] => Operation::new(S::Images, look),
        ["images", "get" | "load" | "create"] => Operation::new(S::Images, false).lasting(),
        ["images", "search" | "prune"] => Operation::new(S::Images, false),
        // Image names hold slashes: /images/{name...}/json.
        ["images", name @ .., "json" | "history"] if !name.is_empty() => {
            Operation::new(S::Images, look)
        }
        // Save and push stream the image.
        ["images", .., "get" | "push"] => Operation::new(S::Images, false).lasting(),
        ["images", ..] => Operation::new(S::Images, false),

        ["networks"] => Operation::new(S::Networks, look).listing(Kind::Network),
        ["networks", "create"] => Operation::new(S::Networks, false).creating(Kind::Network),
        ["networks", "prune"] => Operation::new(S::Networks, false).listing(Kind::Network),
        ["networks", id] if !id.is_empty() => {
            Operation::new(S::Networks, look).on(Kind::Network, id)
        }
        ["networks", id, "connect" | "disconnect"] if !id.is_empty() => {
            Operation::new(S::Networks, false)
                .on(Kind::Network, id)
                .creating(Kind::Attachment)
        }
        ["networks", id, ..] if !id.is_empty() => {
            Operation::new(S::Networks, false).on(Kind::Network, id)
        }

        ["volumes"] => Operation::new(S::Volumes, look).listing(Kind::Volume),
        ["volumes", "create"] => Operation::new(S::Volumes, false).creating(Kind::Volume),
        ["volumes", "prune"] => Operation::new(S::Volumes, false).listing(Kind::Volume),
        ["volumes", name] if !name.is_empty() => {
            Operation::new(S::Volumes, look).on(Kind::Volume, name)
        }
        ["volumes", name, ..] if !name.is_empty() => {
            Operation::new(S::Volumes, false).on(Kind::Volume, name)
        }

        ["services"] => Operation::new(S::Services, look).listing(Kind::Service),
        ["services", "create"] => Operation::new(S::Services, false).creating(Kind::Service),
        ["services", id] if !id.is_empty() => {
            Operation::new(S::Services, look).on(Kind::Service, id)
        }
        ["services", id, "logs"] if !id.is_empty() => Operation::new(S::Services, look)
            .on(Kind::Service, id)
            .lasting(),
        ["services", id, "update"] if !id.is_empty() => Operation::new(S::Services, false)
            .on(Kind::Service, id)
            .creating(Kind::Service),
        ["services", id, ..] if !id.is_empty() => {
            Operation::new(S::Services, false).on(Kind::Service, id)
        }

        ["tasks"] => Operation::new(S::Tasks, look).listing(Kind::Task),
        ["tasks", id] if !id.is_empty() => Operation::new(S::Tasks, look).on(Kind::Task, id),
        ["tasks", id, "logs"] if !id.is_empty() => {
            Operation::new(S::Tasks, look).on(Kind::Task, id).lasting()
        }
        ["tasks", ..] => Operation::new(S::Tasks, false),

        ["nodes"] => Operation::new(S::Nodes, look),
        ["nodes", id] if !id.is_empty() => Operation::new(S::Nodes, look),
        ["nodes", ..] => Operation::new(S::Nodes, false),

        ["secrets"] => Operation::new(S::Secrets, look).listing(Kind::Secret),
        ["secrets", "create"] => Operation::new(S::Secrets, false).creating(Kind::Secret),
        ["secrets", id] if !id.is_empty() => Operation::new(S::Secrets, look).on(Kind::Secret, id),
        ["secrets", id, ..] if !id.is_empty() => {
            Operation::new(S::Secrets, false).on(Kind::Secret, id)
        }

        ["configs"] => Operation::new(S::Configs, look).listing(Kind::Config),
        ["configs", "create"] => Operation::new(S::Configs, false).creating(Kind::Config),
        ["configs", id] if !id.is_empty() => Operation::new(S::Configs, look).on(Kind::Config, id),
        ["configs", id, ..] if !id.is_empty() => {
            Operation::new(S::Configs, false).on(Kind::Config, id)
        }

        // `GET /swarm` answers the join tokens, and `/swarm/unlockkey` the unlock key:
        // secrets, not metadata.
        ["swarm", ..] => Operation::new(S::Swarm, false),

        ["plugins"] => Operation::new(S::Plugins, look),
        ["plugins", "privileges"] => Operation::new(S::Plugins, false),
        ["plugins", name @ .., "json"] if !name.is_empty() => Operation::new(S::Plugins, look),
        ["plugins", ..] => Operation::new(S::Plugins, false),

        ["distribution", ..] => Operation::new(S::Distribution, false),

        // Checking for updates asks registries on the node's behalf and keeps registry
        // credentials: a change to what the node does with images, not a read.
        ["agent", "v1", "updates", ..] if !get => Operation::new(S::Images, false),
        ["agent", ..] | ["metrics"] => Operation::new(S::Agent, get),

        _ => Operation::unknown(),
    }
}

/// Why a request path cannot be classified safely: the engine would read it differently
/// than the agent does.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{0:?} is not a Docker API path the agent accepts: {1}")]
pub struct UnclearPath(pub String, pub &'static str);

/// The path as the engine's router sees it: percent-decoded. Refuses what would let the
/// two disagree: an encoded `/`, dot segments, empty segments, and control characters.
pub fn decode(raw: &str) -> Result<String, UnclearPath> {
    let bad = |why| UnclearPath(raw.to_owned(), why);
    // A path without escapes, as most are, is its own decoding: checked where it lies,
    // then copied once.
    if !raw.contains('%') {
        return match unclear(raw) {
            None => Ok(raw.to_owned()),
            Some(why) => Err(bad(why)),
        };
    }
    let escapes = raw
        .match_indices('%')
        .filter_map(|(at, _)| raw.as_bytes()[at + 1..].get(..2));
    for escaped in escapes {
        if [b"2f", b"5c", b"00"]
            .iter()
            .any(|e| escaped.eq_ignore_ascii_case(*e))
        {
            return Err(bad("it encodes a path separator or NUL"));
        }
    }
    let decoded = percent_encoding::percent_decode_str(raw)
        .decode_utf8()
        .map_err(|_| bad("it is not UTF-8 once decoded"))?
        .into_owned();
    match unclear(&decoded) {
        None => Ok(decoded),
        Some(why) => Err(bad(why)),
    }
}

/// Why a decoded path could be read two ways, if it could: control characters or
/// backslashes, dot segments, or empty segments (a trailing `/` aside). One look over its
/// bytes; a byte of a character beyond ASCII is never one of those it looks for.
fn unclear(path: &str) -> Option<&'static str> {
    const ODD: &str = "it holds control characters or backslashes";
    if !path.is_ascii() && path.chars().any(char::is_control) {
        return Some(ODD);
    }
    let inner = path.strip_prefix('/').unwrap_or(path).as_bytes();
    let mut start = 0;
    for at in 0..=inner.len() {
        let last = at == inner.len();
        let byte = if last { b'/' } else { inner[at] };
        if byte.is_ascii_control() || byte == b'\\' {
            return Some(ODD);
        }
        if byte == b'/' {
            let segment = &inner[start..at];
            if segment == b"." || segment == b".." {
                return Some("it has dot segments");
            }
            if segment.is_empty() && !last {
                return Some("it has empty segments");
            }
            start = at + 1;
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn reads(method: Method, path: &str) -> bool {
        classify(&method, path).reads
    }

    #[test]
    fn the_read_allowlist() {
        for path in [
            "/_ping",
            "/version",
            "/info",
            "/system/df",
            "/events",
            "/containers/json",
            "/containers/abc/json",
            "/containers/abc/logs",
            "/containers/abc/stats",
            "/containers/abc/top",
            "/containers/abc/changes",
            "/exec/e1/json",
            "/images/json",
            "/images/library/busybox:latest/json",
            "/images/busybox/history",
            "/networks",
            "/networks/n1",
            "/volumes",
            "/volumes/v1",
            "/services",
            "/services/s1",
            "/services/s1/logs",
            "/tasks",
            "/tasks/t1",
            "/nodes",
            "/nodes/n1",
            "/secrets",
            "/secrets/x",
            "/configs",
            "/plugins",
            "/plugins/vieux/sshfs:latest/json",
            "/agent/v1/info",
            "/agent/v1/metrics",
            "/agent/v1/updates",
            "/metrics",
        ] {
            assert!(reads(Method::GET, path), "{path} reads");
        }
        assert!(reads(Method::HEAD, "/_ping"));
    }

    #[test]
    fn streams_into_containers_contents_and_dial_outs_are_not_reading() {
        for path in [
            "/containers/abc/attach/ws",
            "/containers/abc/attach",
            "/containers/abc/archive",
            "/containers/abc/export",
            "/images/get",
            "/images/busybox/get",
            "/images/search",
            "/distribution/registry.example/x/json",
            "/plugins/privileges",
            "/swarm",
            "/swarm/unlockkey",
            "/session",
            "/grpc",
            "/build",
            "/unknown",
            "/",
        ] {
            assert!(!reads(Method::GET, path), "{path} is not reading");
        }
        assert!(!reads(Method::HEAD, "/containers/abc/archive"));
        assert!(!reads(Method::POST, "/containers/abc/json"));
        assert!(!reads(Method::DELETE, "/containers/abc"));
    }

    #[test]
    fn sections_objects_and_creations() {
        let op = classify(&Method::GET, "/containers/abc/attach/ws");
        assert_eq!(op.section, Some(Section::Exec));
        assert_eq!(op.object.map(|o| o.id), Some("abc".to_owned()));
        let op = classify(&Method::POST, "/containers/abc/exec");
        assert_eq!(op.section, Some(Section::Exec));
        assert_eq!(op.creates, Some(Kind::Exec));
        let op = classify(&Method::POST, "/containers/create");
        assert_eq!(op.creates, Some(Kind::Container));
        let op = classify(&Method::POST, "/services/s1/update");
        assert_eq!(op.creates, Some(Kind::Service));
        assert_eq!(op.object.map(|o| o.kind), Some(Kind::Service));
        assert_eq!(
            classify(&Method::GET, "/containers/json").lists,
            Some(Kind::Container)
        );
        assert_eq!(
            classify(&Method::POST, "/volumes/prune").lists,
            Some(Kind::Volume)
        );
        assert_eq!(classify(&Method::GET, "/nope").section, None);
    }

    #[test]
    fn update_checks_and_credentials_need_write_on_images() {
        for (method, path) in [
            (Method::POST, "/agent/v1/updates/check"),
            (Method::PUT, "/agent/v1/updates/credentials"),
        ] {
            let op = classify(&method, path);
            assert_eq!(op.section, Some(Section::Images), "{method} {path}");
            assert!(!op.reads, "{method} {path} is not a read");
        }
        let op = classify(&Method::GET, "/agent/v1/updates");
        assert_eq!(op.section, Some(Section::Agent));
        assert!(op.reads);
    }

    #[test]
    fn check_results_read_and_pushing_policies_writes() {
        for path in ["/agent/v1/checks", "/agent/v1/checks/policy"] {
            let op = classify(&Method::GET, path);
            assert_eq!(op.section, Some(Section::Agent));
            assert!(op.reads, "GET {path} reads");
        }
        let op = classify(&Method::PUT, "/agent/v1/checks/policies");
        assert_eq!(op.section, Some(Section::Agent));
        assert!(!op.reads, "a push changes what the node runs");
    }

    #[test]
    fn streams_are_long_lived() {
        for (method, path) in [
            (Method::GET, "/events"),
            (Method::GET, "/containers/x/logs"),
            (Method::GET, "/containers/x/stats"),
            (Method::POST, "/containers/x/attach"),
            (Method::POST, "/containers/x/wait"),
            (Method::POST, "/exec/e/start"),
            (Method::POST, "/images/create"),
            (Method::POST, "/images/library/busybox/push"),
            (Method::GET, "/services/s/logs"),
            (Method::POST, "/build"),
        ] {
            assert!(classify(&method, path).long_lived, "{method} {path}");
        }
        for (method, path) in [
            (Method::GET, "/containers/json"),
            (Method::GET, "/containers/x/json"),
            (Method::POST, "/containers/x/start"),
            (Method::GET, "/_ping"),
        ] {
            assert!(!classify(&method, path).long_lived, "{method} {path}");
        }
    }

    #[test]
    fn unclear_paths_are_refused() {
        assert_eq!(
            decode("/images/busybox%40sha256:ab/json").as_deref(),
            Ok("/images/busybox@sha256:ab/json")
        );
        assert!(decode("/containers/x%2Fattach%2Fws/json").is_err());
        assert!(decode("/containers/x/../images/get").is_err());
        assert!(decode("/containers/%2e%2e/json").is_err());
        assert!(decode("/containers//json").is_err());
        assert!(decode("/containers/a%00/json").is_err());
        assert!(decode("/containers/x%2fy/json").is_err());
        assert!(decode("/containers/x%5cy/json").is_err());
        assert!(decode("/containers/x%%5Cy/json").is_err());
        assert_eq!(
            decode("/containers/x%25y").as_deref(),
            Ok("/containers/x%y")
        );
        assert!(decode("/containers/x%2").is_ok());
        assert_eq!(decode("/_ping").as_deref(), Ok("/_ping"));
        assert_eq!(decode("/").as_deref(), Ok("/"));
        assert_eq!(decode("/containers/x/").as_deref(), Ok("/containers/x/"));
        // Control characters and backslashes, as sent and once decoded, ASCII or not.
        assert!(decode("/containers/a\\b/json").is_err());
        assert!(decode("/containers/a\u{1}b/json").is_err());
        assert!(decode("/containers/a\u{7f}b/json").is_err());
        assert!(decode("/containers/é\u{85}/json").is_err());
        assert!(decode("/containers/%01/json").is_err());
        assert!(decode("/containers/%C2%85/json").is_err());
        assert_eq!(decode("/volumes/é").as_deref(), Ok("/volumes/é"));
        assert_eq!(decode("/volumes/%C3%A9").as_deref(), Ok("/volumes/é"));
        assert!(decode("/containers/./json").is_err());
    }
}
