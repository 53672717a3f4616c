//! The agent's settings, parsed once from flags and environment into plain values.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::time::Duration;

use crate::auth::TrustedKey;
use crate::cluster::ClusterConfig;
use crate::engine::EngineAddr;
use crate::secret::Secret;

/// Everything `bosun-agent run` needs, checked and loaded.
#[derive(Clone)]
pub struct AgentConfig {
    pub listen: SocketAddr,
    pub engine: EngineAddr,
    /// `None`: the engine's own name.
    pub node_name: Option<String>,
    /// Directory with the cluster CA (`ca.pem`, `ca-key.pem`): the agent issues its own
    /// server certificate from it and accepts client certificates it signed.
    pub ca_dir: Option<PathBuf>,
    /// An explicit server certificate chain and key, used instead of an issued one.
    pub server_cert: Option<(PathBuf, PathBuf)>,
    pub secret: Option<Secret>,
    pub trusted_keys: Vec<TrustedKey>,
    /// Where the agent keeps state (its self-signed certificate when it has no CA).
    pub data_dir: PathBuf,
    /// How long in-flight requests and streams may run on after SIGTERM.
    pub shutdown_grace: Duration,
    /// Gossip and discovery; `None`: standalone.
    pub cluster: Option<ClusterConfig>,
    /// How long a fan-out waits for the slowest node.
    pub fanout_deadline: Duration,
}

impl AgentConfig {
    /// A configuration for the given engine and credentials, listening on `listen`, with
    /// the other settings at their defaults.
    pub fn new(listen: SocketAddr, engine: EngineAddr, data_dir: PathBuf) -> Self {
        Self {
            listen,
            engine,
            node_name: None,
            ca_dir: None,
            server_cert: None,
            secret: None,
            trusted_keys: Vec::new(),
            data_dir,
            shutdown_grace: Duration::from_secs(10),
            cluster: None,
            fanout_deadline: Duration::from_secs(10),
        }
    }
}
