//! The agent's settings, parsed once from flags and environment into plain values.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::audit::AuditConfig;
use crate::auth::TrustedKey;
use crate::checks::ChecksConfig;
use crate::cluster::ClusterConfig;
use crate::secret::Secret;
use crate::updates::UpdatesConfig;
use crate::upstream::EngineAddr;
use crate::usage::UsageConfig;

/// Everything `bosun-agent run` needs, checked and loaded.
#[derive(Clone)]
pub struct AgentConfig {
    pub listen: SocketAddr,
    /// `--listen none`: no port at all; the agent serves only through its edge tunnel, and
    /// `listen` is unused.
    pub no_listener: bool,
    pub engine: EngineAddr,
    /// `None`: the engine's own name.
    pub node_name: Option<String>,
    /// The cluster CA's certificate and key: the agent issues its own server certificate
    /// from it and accepts client certificates it signed.
    pub ca: Option<CaFiles>,
    /// Names and addresses the server certificate names besides the host's own.
    pub extra_sans: Vec<String>,
    /// An explicit server certificate chain and key, used instead of an issued one.
    pub server_cert: Option<(PathBuf, PathBuf)>,
    pub secret: Option<Secret>,
    pub trusted_keys: Vec<TrustedKey>,
    /// Where the agent keeps state (its self-signed certificate when it has no CA, its ID).
    pub data_dir: PathBuf,
    /// The agent's ID as the operator gave it; `None`: the one kept in the data directory.
    pub agent_id: Option<String>,
    /// How long in-flight requests and streams may run on after SIGTERM.
    pub shutdown_grace: Duration,
    /// Gossip and discovery; `None`: standalone.
    pub cluster: Option<ClusterConfig>,
    /// How long a fan-out waits for the slowest node.
    pub fanout_deadline: Duration,
    /// The policy file: profiles, certificate rules, revoked certificates. `None`: the
    /// built-in profiles only.
    pub policy_file: Option<PathBuf>,
    /// The longest a client token may be valid.
    pub max_token_lifetime: Duration,
    pub audit: AuditConfig,
    /// Connections open at once, for the whole agent and per client address.
    pub max_connections: usize,
    pub max_connections_per_client: usize,
    /// Request bodies the agent may hold whole at once, across every request.
    pub body_budget: usize,
    /// How the host's and containers' usage is sampled.
    pub usage: UsageConfig,
    /// How the images of the node's containers are checked for updates.
    pub updates: UpdatesConfig,
    /// The results buffer and the keys that sign check policies.
    pub checks: ChecksConfig,
    /// Dialling out to a console (edge mode), when set.
    pub edge: Option<crate::edge::EdgeConfig>,
}

/// Default for the body budget: 32 MiB, eight 4 MiB manager operations.
pub const DEFAULT_BODY_BUDGET: usize = 32 << 20;

/// Where the cluster CA is: `ca.pem` and `ca-key.pem` in a directory, or two files (Docker
/// secrets).
#[derive(Debug, Clone)]
pub struct CaFiles {
    pub cert: PathBuf,
    pub key: PathBuf,
}

impl CaFiles {
    pub fn in_dir(dir: &std::path::Path) -> Self {
        Self {
            cert: dir.join(crate::tls::pki::CA_CERT_FILE),
            key: dir.join(crate::tls::pki::CA_KEY_FILE),
        }
    }
}

impl AgentConfig {
    /// A configuration for the given engine and credentials, listening on `listen`, with
    /// the other settings at their defaults.
    pub fn new(listen: SocketAddr, engine: EngineAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            no_listener: false,
            engine,
            node_name: None,
            ca: None,
            extra_sans: Vec::new(),
            server_cert: None,
            secret: None,
            trusted_keys: Vec::new(),
            data_dir,
            agent_id: None,
            shutdown_grace: Duration::from_secs(10),
            cluster: None,
            fanout_deadline: Duration::from_secs(10),
            policy_file: None,
            max_token_lifetime: crate::auth::DEFAULT_MAX_TOKEN_LIFETIME,
            audit: AuditConfig {
                file: None,
                max_bytes: 10 << 20,
                keep: 5,
                reads: false,
            },
            max_connections: crate::admission::DEFAULT_MAX_CONNECTIONS,
            max_connections_per_client: crate::admission::DEFAULT_MAX_PER_CLIENT,
            body_budget: DEFAULT_BODY_BUDGET,
            usage: UsageConfig::default(),
            updates: UpdatesConfig::default(),
            checks: ChecksConfig::default(),
            edge: None,
        }
    }
}
