//! A real agent started in the test process: `bosun_agent::server::Agent` bound to a free
//! loopback port, in front of this machine's engine or another on a unix socket.

use std::net::SocketAddr;
use std::path::PathBuf;

use crate::Pki;

/// What an agent is started with beyond its credentials: the settings of
/// `bosun-agent run --policy FILE --audit-file FILE --audit-reads`.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// `--policy`: profiles beyond the built-in `admin` and `read`.
    pub policy_file: Option<PathBuf>,
    /// `--audit-file`: the agent's audit trail as JSON lines.
    pub audit_file: Option<PathBuf>,
    /// `--audit-reads`: reads in the audit trail too.
    pub audit_reads: bool,
    /// `--max-connections-per-client`, when not the default.
    pub max_connections_per_client: Option<usize>,
    /// `--docker-host unix://PATH`, when not this machine's engine: a [`crate::Node`]'s.
    pub engine_socket: Option<PathBuf>,
}

/// An agent of `pki`'s cluster in front of the real engine, in this process, trusting
/// tokens signed with `trusted_key_pem` if given; its address.
pub async fn start_agent(pki: &Pki, trusted_key_pem: Option<&str>) -> SocketAddr {
    start_agent_with(pki, trusted_key_pem, &AgentOptions::default()).await
}

/// [`start_agent`] with a policy file and an audit file, as the command line gives them.
pub async fn start_agent_with(
    pki: &Pki,
    trusted_key_pem: Option<&str>,
    options: &AgentOptions,
) -> SocketAddr {
    let mut config = pki.agent_config("127.0.0.1:0".parse().expect("addr"));
    if let Some(pem) = trusted_key_pem {
        let path = pki.dir.path().join("trusted-key.pem");
        std::fs::write(&path, pem).expect("key file");
        config.trusted_keys = vec![bosun_agent::auth::TrustedKey::read(&path).expect("key")];
    }
    if let Some(path) = &options.policy_file {
        // Read now, as the command line does, so that a bad file fails the test here.
        bosun_agent::access::Policy::read(path).expect("the policy file parses");
        config.policy_file = Some(path.clone());
    }
    config.audit.file = options.audit_file.clone();
    config.audit.reads = options.audit_reads;
    if let Some(max) = options.max_connections_per_client {
        config.max_connections_per_client = max;
    }
    if let Some(socket) = &options.engine_socket {
        config.engine = bosun_agent::upstream::EngineAddr::Unix(socket.clone());
    }
    let agent = bosun_agent::server::Agent::bind(config)
        .await
        .expect("the agent starts");
    let addr = agent.local_addr().expect("addr");
    tokio::spawn(agent.run(tokio_util::sync::CancellationToken::new()));
    addr
}
