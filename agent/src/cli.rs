//! The command line: `run` (the default), `certs`, `secret`, `token`, `healthcheck`.
//!
//! Every setting has an environment twin so that a container needs no arguments. Bad
//! flags and unreadable files end in one line naming the flag, and exit code 2.

use std::net::SocketAddr;
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Args, Parser, Subcommand};
use tokio_util::sync::CancellationToken;

use crate::auth::{self, Scope, TrustedKey};
use crate::cluster::{ClusterConfig, Discovery};
use crate::config::{AgentConfig, CaFiles};
use crate::secret::Secret;
use crate::server::Agent;
use crate::telemetry::{self, LogFormat};
use crate::tls::pki::{self, Ca};
use crate::upstream::EngineAddr;
use crate::usage::host::MountFilter;
use crate::usage::UsageConfig;
use bosun_serve::duration::parse as parse_duration;
use bosun_serve::signal;
use bosun_serve::usage::{self, UsageError};

#[derive(Parser, Debug)]
#[command(
    name = "bosun-agent",
    version,
    about = "Serves the Docker Engine API of this node over TLS to authenticated clients",
    args_conflicts_with_subcommands = true
)]
struct Cli {
    #[command(subcommand)]
    command: Option<Command>,
    #[command(flatten)]
    run: RunArgs,
}

#[derive(Subcommand, Debug)]
enum Command {
    /// Serve the engine's API (the default).
    Run(Box<RunArgs>),
    /// Make the cluster CA and client certificates.
    #[command(subcommand)]
    Certs(CertsCommand),
    /// Write a new random cluster secret.
    Secret {
        /// File to create (mode 0600); an existing one is never overwritten.
        #[arg(long)]
        out: PathBuf,
    },
    /// Print a bearer token signed with the cluster secret.
    Token(TokenArgs),
    /// Exit 0 when the local agent is healthy, 1 otherwise.
    Healthcheck {
        /// The agent's health URL.
        #[arg(long, env = "AGENT_HEALTHCHECK_URL")]
        url: Option<String>,
    },
}

#[derive(Subcommand, Debug)]
enum CertsCommand {
    /// Write a new cluster CA: DIR/ca.pem and DIR/ca-key.pem (0600).
    Init {
        #[arg(long)]
        dir: PathBuf,
    },
    /// Write a client bundle for DOCKER_CERT_PATH: OUT/ca.pem, OUT/cert.pem, OUT/key.pem.
    Client {
        /// Directory holding the cluster CA.
        #[arg(long)]
        dir: PathBuf,
        /// The client's identity (the certificate's common name).
        #[arg(long)]
        name: String,
        #[arg(long)]
        out: PathBuf,
        /// Validity in days.
        #[arg(long, default_value_t = 365, value_parser = clap::value_parser!(u32).range(1..=3650), conflicts_with = "ttl")]
        days: u32,
        /// Validity as a duration instead of days, for short-lived certificates: 15m, 1h, 8h.
        #[arg(long, value_parser = parse_duration)]
        ttl: Option<Duration>,
        /// The profile the certificate acts under, written into it (a rule of the
        /// agents' policy file may override it).
        #[arg(long, default_value = "admin")]
        profile: String,
    },
}

#[derive(Args, Debug)]
struct TokenArgs {
    #[arg(long, env = "AGENT_SECRET_FILE")]
    secret_file: PathBuf,
    /// Who the token speaks for.
    #[arg(long)]
    subject: String,
    /// Lifetime: 90s, 30m, 1h, 7d.
    #[arg(long, default_value = "1h", value_parser = parse_duration)]
    ttl: Duration,
    /// The built-in profile the token acts under.
    #[arg(long, default_value = "admin", value_parser = ["read", "admin"], conflicts_with = "profile")]
    scope: String,
    /// A profile of the agents' policy file, instead of --scope.
    #[arg(long)]
    profile: Option<String>,
}

#[derive(Args, Debug)]
struct RunArgs {
    /// Address to listen on [default: AGENT_HOST:AGENT_PORT, else 0.0.0.0:9001]; `none`:
    /// no port at all, only the edge tunnel (needs --console-url, and no cluster).
    #[arg(long, env = "AGENT_LISTEN")]
    listen: Option<String>,
    /// The engine: unix:///path or tcp://host:port.
    #[arg(
        long,
        env = "DOCKER_HOST",
        default_value = "unix:///var/run/docker.sock"
    )]
    docker_host: String,
    /// File holding the cluster secret.
    #[arg(long, env = "AGENT_SECRET_FILE")]
    secret_file: Option<PathBuf>,
    /// Directory holding the cluster CA (ca.pem, ca-key.pem).
    #[arg(long, env = "AGENT_TLS_DIR", conflicts_with_all = ["ca_cert", "ca_key"])]
    tls_dir: Option<PathBuf>,
    /// The cluster CA's certificate, when it is not in --tls-dir (a Docker secret).
    #[arg(long, env = "AGENT_CA_CERT_FILE", requires = "ca_key")]
    ca_cert: Option<PathBuf>,
    /// The cluster CA's private key, with --ca-cert.
    #[arg(long, env = "AGENT_CA_KEY_FILE", requires = "ca_cert")]
    ca_key: Option<PathBuf>,
    /// More names or addresses for the issued server certificate, comma-separated (the
    /// host's names and addresses, and its Swarm address, are always in it).
    #[arg(long, env = "AGENT_TLS_SAN", value_delimiter = ',')]
    tls_san: Vec<String>,
    /// Server certificate (PEM chain) to present instead of an issued one.
    #[arg(long, env = "AGENT_TLS_CERT", requires = "tls_key")]
    tls_cert: Option<PathBuf>,
    /// Private key of --tls-cert.
    #[arg(long, env = "AGENT_TLS_KEY", requires = "tls_cert")]
    tls_key: Option<PathBuf>,
    /// Public key (PEM, Ed25519 or P-256) trusted to sign tokens; repeatable.
    #[arg(
        long = "jwt-public-key",
        env = "AGENT_JWT_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    jwt_public_keys: Vec<PathBuf>,
    /// The console to dial out to and serve over that connection (edge mode), for a host
    /// the console cannot reach: https://HOST[:PORT].
    #[arg(long, env = "AGENT_CONSOLE_URL")]
    console_url: Option<String>,
    /// The enrol token the console made, for the first connection of edge mode.
    #[arg(
        long,
        env = "AGENT_ENROL_TOKEN",
        hide_env_values = true,
        conflicts_with = "enrol_token_file"
    )]
    enrol_token: Option<String>,
    /// A file holding the enrol token (a Docker secret, say).
    #[arg(long, env = "AGENT_ENROL_TOKEN_FILE")]
    enrol_token_file: Option<PathBuf>,
    /// The CA (PEM) that signed the console's certificate [default: the node's CAs].
    #[arg(long, env = "AGENT_CONSOLE_CA")]
    console_ca: Option<PathBuf>,
    /// Directory for the agent's state.
    #[arg(long, env = "AGENT_DATA_DIR", default_value = "/var/lib/bosun")]
    data_dir: PathBuf,
    /// This agent's ID, shown in /agent/v1/info, the members list and the console: 1 to
    /// 64 letters, digits, '-', '_', '.' [default: the one kept in the data directory, a
    /// UUID made on first start].
    #[arg(long, env = "AGENT_ID", value_parser = parse_agent_id)]
    agent_id: Option<String>,
    /// This node's name [default: the engine's name].
    #[arg(long, env = "AGENT_NODE_NAME")]
    node_name: Option<String>,
    /// How long in-flight requests may finish after SIGTERM: 10s, 1m.
    #[arg(long, env = "AGENT_SHUTDOWN_GRACE", default_value = "10s", value_parser = parse_duration)]
    shutdown_grace: Duration,
    /// Where to gossip with the other agents (UDP) [default: 0.0.0.0:7946 when --join or
    /// --cluster-addr is given; otherwise the agent is standalone].
    #[arg(long, env = "AGENT_GOSSIP_LISTEN")]
    gossip_listen: Option<String>,
    /// The address other agents reach this one at [default: found from the interfaces].
    #[arg(long, env = "AGENT_ADVERTISE_ADDR")]
    advertise_addr: Option<std::net::IpAddr>,
    /// DNS name listing every agent (in a Swarm: tasks.<service>), re-resolved for as long
    /// as the agent runs.
    #[arg(long, env = "AGENT_CLUSTER_ADDR")]
    cluster_addr: Option<String>,
    /// Static peers' gossip addresses, HOST:PORT, comma-separated.
    #[arg(long, env = "AGENT_JOIN", value_delimiter = ',')]
    join: Vec<String>,
    /// DNS server for discovery, IP:PORT [default: the system's].
    #[arg(long, env = "AGENT_DNS_SERVER")]
    dns_server: Option<SocketAddr>,
    /// How often discovery looks for new peers.
    #[arg(long, env = "AGENT_DISCOVERY_INTERVAL", default_value = "5s", value_parser = parse_duration)]
    discovery_interval: Duration,
    /// How long a cluster-wide list waits for the slowest node.
    #[arg(long, env = "AGENT_FANOUT_DEADLINE", default_value = "10s", value_parser = parse_duration)]
    fanout_deadline: Duration,
    /// Log level or filter (info, debug, bosun_agent=debug).
    #[arg(long, env = "LOG_LEVEL", default_value = "info")]
    log_level: String,
    #[arg(long, env = "LOG_FORMAT", value_enum, default_value = "pretty")]
    log_format: LogFormat,
    /// Policy file: access profiles, certificate rules, revoked certificates; reloaded
    /// when it changes [default: the built-in profiles admin and read].
    #[arg(long, env = "AGENT_POLICY_FILE")]
    policy: Option<PathBuf>,
    /// The longest a client token may be valid, from iat to exp.
    #[arg(long, env = "AGENT_MAX_TOKEN_LIFETIME", default_value = "24h", value_parser = parse_duration)]
    max_token_lifetime: Duration,
    /// Also write the audit trail to this file, as JSON lines, rotated by size.
    #[arg(long, env = "AGENT_AUDIT_FILE")]
    audit_file: Option<PathBuf>,
    /// Size at which the audit file is rotated, in MiB (5 rotated files are kept).
    #[arg(long, env = "AGENT_AUDIT_FILE_MAX_MB", default_value_t = 10, value_parser = clap::value_parser!(u64).range(1..=10_000))]
    audit_file_max_mb: u64,
    /// Audit reads too, not only what changes something or opens a stream.
    #[arg(long, env = "AGENT_AUDIT_READS")]
    audit_reads: bool,
    /// Connections open at once for the whole agent; more are closed at once.
    #[arg(long, env = "AGENT_MAX_CONNECTIONS", default_value_t = crate::admission::DEFAULT_MAX_CONNECTIONS)]
    max_connections: usize,
    /// Connections open at once from one client address.
    #[arg(long, env = "AGENT_MAX_CONNECTIONS_PER_CLIENT", default_value_t = crate::admission::DEFAULT_MAX_PER_CLIENT)]
    max_connections_per_client: usize,
    /// How often the host's and containers' usage is sampled.
    #[arg(long, env = "AGENT_METRICS_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    metrics_interval: Duration,
    /// Where the host's root filesystem is seen, with its /proc and /sys: `/` when the
    /// agent runs on the host, the bind mount's target (`-v /:/host:ro`) in a container.
    #[arg(long, env = "AGENT_HOST_ROOT", default_value = "/")]
    host_root: PathBuf,
    /// Report only these mount points (comma-separated); all real filesystems when empty.
    #[arg(long, env = "AGENT_METRICS_MOUNTS", value_delimiter = ',')]
    metrics_mounts: Vec<String>,
    /// Leave these mount points out (comma-separated).
    #[arg(long, env = "AGENT_METRICS_SKIP_MOUNTS", value_delimiter = ',')]
    metrics_skip_mounts: Vec<String>,
    /// Report every network interface, containers' veth ends and the loopback included.
    #[arg(long, env = "AGENT_METRICS_ALL_INTERFACES")]
    metrics_all_interfaces: bool,
    /// Where containers' usage comes from: their cgroup files or the engine's stats.
    #[arg(
        long,
        env = "AGENT_METRICS_CONTAINERS",
        value_enum,
        default_value = "cgroup"
    )]
    metrics_containers: crate::usage::containers::Source,
    /// Time between checks of the containers' images against their registries (`6h`,
    /// `30m`); `0` turns scheduled checks off (`POST /agent/v1/updates/check` still works).
    #[arg(long, env = "AGENT_UPDATE_CHECK_INTERVAL", default_value = "6h", value_parser = parse_interval_or_zero)]
    update_check_interval: Duration,
    /// The Docker config file whose registry logins update checks use; default
    /// `$DOCKER_CONFIG/config.json`, else `~/.docker/config.json`.
    #[arg(long, env = "AGENT_DOCKER_CONFIG")]
    docker_config: Option<PathBuf>,
    /// Public key (PEM, Ed25519 or P-256) trusted to sign check policies; repeatable
    /// [default: the keys of --jwt-public-key].
    #[arg(
        long = "policy-public-key",
        env = "AGENT_POLICY_PUBLIC_KEYS",
        value_delimiter = ','
    )]
    policy_public_keys: Vec<PathBuf>,
    /// How many check results the agent holds for the console to pull; older ones make
    /// room, counted as lost when no reader had them.
    #[arg(long, env = "AGENT_CHECK_RESULTS", default_value_t = 1000, value_parser = clap::value_parser!(u64).range(10..=1_000_000))]
    check_results: u64,
}

/// An agent ID as given, checked.
fn parse_agent_id(s: &str) -> Result<String, String> {
    crate::identity::check(s)?;
    Ok(s.to_owned())
}

/// A duration like `6h`, or `0` for none.
fn parse_interval_or_zero(s: &str) -> Result<Duration, String> {
    if s.trim() == "0" {
        return Ok(Duration::ZERO);
    }
    parse_duration(s)
}

/// Parses the command line and runs it.
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let result = match cli.command {
        None => run(cli.run),
        Some(Command::Run(args)) => run(*args),
        Some(Command::Certs(cmd)) => certs(cmd),
        Some(Command::Secret { out }) => secret(&out),
        Some(Command::Token(args)) => token(args),
        Some(Command::Healthcheck { url }) => return healthcheck(url),
    };
    usage::exit("bosun-agent", result)
}

/// Whether `--listen none` asks for no port.
fn listens_nowhere(args: &RunArgs) -> bool {
    args.listen
        .as_deref()
        .is_some_and(|l| l.trim().eq_ignore_ascii_case("none"))
}

fn listen_addr(args: &RunArgs) -> Result<SocketAddr, UsageError> {
    if listens_nowhere(args) {
        // Unused: the agent binds nothing.
        return Ok(SocketAddr::from(([127, 0, 0, 1], 0)));
    }
    let (flag, text) = match &args.listen {
        Some(l) => ("--listen", l.clone()),
        None => {
            let host = std::env::var("AGENT_HOST").unwrap_or_else(|_| "0.0.0.0".into());
            let port = std::env::var("AGENT_PORT").unwrap_or_else(|_| "9001".into());
            let host = if host.contains(':') && !host.starts_with('[') {
                format!("[{host}]")
            } else {
                host
            };
            ("AGENT_HOST/AGENT_PORT", format!("{host}:{port}"))
        }
    };
    text.parse()
        .map_err(|e| UsageError(format!("{flag} {text:?}: {e} (expected IP:PORT)")))
}

fn agent_config(args: &RunArgs) -> Result<AgentConfig, UsageError> {
    let listen = listen_addr(args)?;
    let engine = EngineAddr::parse(&args.docker_host)
        .map_err(|e| UsageError(format!("--docker-host {e}")))?;
    let mut config = AgentConfig::new(listen, engine, args.data_dir.clone());
    config.node_name = args.node_name.clone().filter(|n| !n.trim().is_empty());
    config.agent_id = args.agent_id.clone();
    config.secret = match (&args.secret_file, std::env::var("AGENT_SECRET")) {
        (Some(path), _) => {
            Some(Secret::read(path).map_err(|e| UsageError(format!("--secret-file {e}")))?)
        }
        (None, Ok(value)) => {
            Some(Secret::from_text(&value).map_err(|e| UsageError(format!("AGENT_SECRET: {e}")))?)
        }
        (None, Err(_)) => None,
    };
    // Checked now so that the error names the flag.
    if let Some(dir) = &args.tls_dir {
        let files = CaFiles::in_dir(dir);
        Ca::load(&files.cert, &files.key).map_err(|e| UsageError(format!("--tls-dir {e}")))?;
        config.ca = Some(files);
    }
    if let (Some(cert), Some(key)) = (&args.ca_cert, &args.ca_key) {
        Ca::load(cert, key).map_err(|e| UsageError(format!("--ca-cert/--ca-key {e}")))?;
        config.ca = Some(CaFiles {
            cert: cert.clone(),
            key: key.clone(),
        });
    }
    config.extra_sans = args
        .tls_san
        .iter()
        .map(|n| n.trim().to_owned())
        .filter(|n| !n.is_empty())
        .collect();
    if let (Some(cert), Some(key)) = (&args.tls_cert, &args.tls_key) {
        pki::load_certs(cert).map_err(|e| UsageError(format!("--tls-cert {e}")))?;
        pki::load_key(key).map_err(|e| UsageError(format!("--tls-key {e}")))?;
        config.server_cert = Some((cert.clone(), key.clone()));
    }
    config.trusted_keys = args
        .jwt_public_keys
        .iter()
        .map(|p| TrustedKey::read(p).map_err(|e| UsageError(format!("--jwt-public-key {e}"))))
        .collect::<Result<_, _>>()?;
    config.edge = edge_config(args)?;
    config.shutdown_grace = args.shutdown_grace;
    config.fanout_deadline = args.fanout_deadline;
    config.cluster = cluster_config(args)?;
    if listens_nowhere(args) {
        if config.edge.is_none() {
            return Err(UsageError(
                "--listen none leaves the agent no way to be reached: give --console-url, the \
                 console it dials out to"
                    .into(),
            ));
        }
        if config.cluster.is_some() {
            return Err(UsageError(
                "--listen none: the agents of a cluster reach each other on their API port; \
                 keep --listen for a cluster (gossip), or run this agent on its own"
                    .into(),
            ));
        }
        config.no_listener = true;
    }
    if let Some(path) = &args.policy {
        // Checked now so that a bad file stops the start with its reason.
        crate::access::Policy::read(path).map_err(|e| UsageError(format!("--policy {e}")))?;
        config.policy_file = Some(path.clone());
    }
    config.max_token_lifetime = args.max_token_lifetime;
    config.audit.file = args.audit_file.clone();
    config.audit.max_bytes = args.audit_file_max_mb << 20;
    config.audit.reads = args.audit_reads;
    config.max_connections = args.max_connections;
    config.max_connections_per_client = args.max_connections_per_client;
    if args.metrics_interval < Duration::from_secs(1) {
        return Err(UsageError("--metrics-interval: at least 1s".into()));
    }
    if !args.host_root.join("proc").is_dir() {
        return Err(UsageError(format!(
            "--host-root {}: no proc directory there (mount the host's / there, e.g. -v /:/host:ro)",
            args.host_root.display()
        )));
    }
    let mounts = |list: &[String]| -> Vec<String> {
        list.iter()
            .map(|m| m.trim().to_owned())
            .filter(|m| !m.is_empty())
            .collect()
    };
    config.usage = UsageConfig {
        interval: args.metrics_interval,
        host_root: args.host_root.clone(),
        mounts: MountFilter {
            include: mounts(&args.metrics_mounts),
            exclude: mounts(&args.metrics_skip_mounts),
        },
        all_interfaces: args.metrics_all_interfaces,
        containers: args.metrics_containers,
    };
    config.updates = crate::updates::UpdatesConfig {
        interval: args.update_check_interval,
        docker_config: args
            .docker_config
            .clone()
            .or_else(crate::updates::credentials::default_docker_config),
    };
    config.checks = crate::checks::ChecksConfig {
        results: usize::try_from(args.check_results).unwrap_or(usize::MAX),
        policy_keys: args
            .policy_public_keys
            .iter()
            .map(|p| {
                TrustedKey::read(p).map_err(|e| UsageError(format!("--policy-public-key {e}")))
            })
            .collect::<Result<_, _>>()?,
    };
    if config.cluster.is_some() && config.secret.is_none() {
        return Err(UsageError(
            crate::cluster::ClusterError::NoSecret.to_string(),
        ));
    }
    if config.secret.is_none() && config.ca.is_none() {
        return Err(UsageError(
            crate::server::StartError::NoCredentials.to_string(),
        ));
    }
    Ok(config)
}

/// Gossip runs when there is somewhere to gossip: a discovery source, or an explicit
/// gossip address for others to join.
fn cluster_config(args: &RunArgs) -> Result<Option<ClusterConfig>, UsageError> {
    let discovery = Discovery {
        cluster_addr: args.cluster_addr.clone().filter(|a| !a.trim().is_empty()),
        join: args
            .join
            .iter()
            .map(|j| j.trim().to_owned())
            .filter(|j| !j.is_empty())
            .collect(),
        dns_server: args.dns_server,
        interval: args.discovery_interval,
    };
    for peer in &discovery.join {
        if peer
            .rsplit_once(':')
            .and_then(|(_, p)| p.parse::<u16>().ok())
            .is_none()
        {
            return Err(UsageError(format!("--join {peer:?}: expected HOST:PORT")));
        }
    }
    let gossip_listen = match &args.gossip_listen {
        Some(text) => text
            .parse()
            .map_err(|e| UsageError(format!("--gossip-listen {text:?}: {e} (expected IP:PORT)")))?,
        None if !discovery.is_empty() => SocketAddr::from(([0, 0, 0, 0], 7946)),
        None => return Ok(None),
    };
    Ok(Some(ClusterConfig {
        gossip_listen,
        advertise: args.advertise_addr,
        discovery,
    }))
}

/// Edge mode's settings, when `--console-url` is given.
fn edge_config(args: &RunArgs) -> Result<Option<crate::edge::EdgeConfig>, UsageError> {
    let Some(url) = &args.console_url else {
        if args.enrol_token.is_some() || args.enrol_token_file.is_some() {
            return Err(UsageError(
                "--enrol-token needs --console-url, the console to enrol with".into(),
            ));
        }
        return Ok(None);
    };
    let console = crate::edge::ConsoleUrl::parse(url)
        .map_err(|e| UsageError(format!("--console-url {e}")))?;
    let enrol_token = match (&args.enrol_token, &args.enrol_token_file) {
        (Some(token), _) => Some(token.trim().to_owned()),
        (None, Some(path)) => Some(
            std::fs::read_to_string(path)
                .map_err(|e| UsageError(format!("--enrol-token-file {}: {e}", path.display())))?
                .trim()
                .to_owned(),
        ),
        (None, None) => None,
    }
    .filter(|t| !t.is_empty());
    Ok(Some(crate::edge::EdgeConfig {
        console,
        enrol_token,
        console_ca: args.console_ca.clone(),
        https_proxy: env_either("HTTPS_PROXY", "https_proxy"),
        no_proxy: env_either("NO_PROXY", "no_proxy"),
    }))
}

/// The first of two spellings of an environment variable that is set.
fn env_either(upper: &str, lower: &str) -> Option<String> {
    std::env::var(upper).or_else(|_| std::env::var(lower)).ok()
}

fn run(args: RunArgs) -> Result<(), UsageError> {
    crate::tls::install_crypto_provider();
    let config = agent_config(&args)?;
    telemetry::init(&args.log_level, args.log_format)?;
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    runtime.block_on(async {
        let agent = Agent::bind(config).await?;
        let addr = agent
            .local_addr()
            .map_or_else(|_| "none".to_owned(), |a| a.to_string());
        let gossip = agent.gossip_addr().map(|a| a.to_string()).unwrap_or_default();
        // Handled before the agent says it listens: a stop from then on is graceful.
        let shutdown = CancellationToken::new();
        tokio::spawn(signal::cancel_on_stop_signal(shutdown.clone()));
        tracing::info!(addr = %addr, gossip = %gossip, node = %agent.node_name(), agent_id = %agent.agent_id(), version = crate::VERSION, "listening");
        agent.run(shutdown).await;
        Ok::<(), UsageError>(())
    })
}

fn certs(cmd: CertsCommand) -> Result<(), UsageError> {
    crate::tls::install_crypto_provider();
    match cmd {
        CertsCommand::Init { dir } => {
            Ca::init_dir(&dir).map_err(|e| UsageError(format!("--dir {e}")))?;
            println!(
                "wrote {} and {}",
                dir.join(pki::CA_CERT_FILE).display(),
                dir.join(pki::CA_KEY_FILE).display()
            );
        }
        CertsCommand::Client {
            dir,
            name,
            out,
            days,
            ttl,
            profile,
        } => {
            if name.trim().is_empty() || profile.trim().is_empty() {
                return Err(UsageError("--name and --profile must not be empty".into()));
            }
            let ca = Ca::load_dir(&dir).map_err(|e| UsageError(format!("--dir {e}")))?;
            let validity = ttl.unwrap_or(Duration::from_secs(u64::from(days) * 86_400));
            let client = ca.issue_client(&name, &profile, validity)?;
            pki::write_client_bundle(&out, &ca, &client)
                .map_err(|e| UsageError(format!("--out {e}")))?;
            println!(
                "wrote {0}/ca.pem, {0}/cert.pem and {0}/key.pem for {name:?}, profile {profile:?}, serial {1}, valid for {2}: DOCKER_CERT_PATH={0}",
                out.display(),
                pki::serial_of_pem(&client.cert_pem).unwrap_or_default(),
                humanize(validity)
            );
        }
    }
    Ok(())
}

fn secret(out: &std::path::Path) -> Result<(), UsageError> {
    Secret::generate()?
        .write_new(out)
        .map_err(|e| UsageError(format!("--out {e}")))?;
    println!("wrote {}", out.display());
    Ok(())
}

fn token(args: TokenArgs) -> Result<(), UsageError> {
    let secret =
        Secret::read(&args.secret_file).map_err(|e| UsageError(format!("--secret-file {e}")))?;
    if args.subject.trim().is_empty() {
        return Err(UsageError("--subject must not be empty".into()));
    }
    let token = match &args.profile {
        Some(profile) if !profile.trim().is_empty() => {
            auth::mint_for_profile(&secret, &args.subject, profile, args.ttl.as_secs())?
        }
        Some(_) => return Err(UsageError("--profile must not be empty".into())),
        None => {
            let scope: Scope = args.scope.parse()?;
            auth::mint_token(&secret, &args.subject, scope, args.ttl.as_secs())?
        }
    };
    println!("{token}");
    Ok(())
}

fn healthcheck(url: Option<String>) -> ExitCode {
    crate::tls::install_crypto_provider();
    let nowhere =
        std::env::var("AGENT_LISTEN").is_ok_and(|l| l.trim().eq_ignore_ascii_case("none"));
    if url.is_none() && nowhere {
        // An edge agent with no port: nothing to probe; its container ends if it does.
        eprintln!("bosun-agent: listens nowhere (AGENT_LISTEN=none): nothing to probe");
        return ExitCode::SUCCESS;
    }
    let url = url.unwrap_or_else(default_health_url);
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(e) => {
            eprintln!("bosun-agent: {e}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(crate::probe::probe(&url, Duration::from_secs(5))) {
        Ok(()) => ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("bosun-agent: unhealthy: {e}");
            ExitCode::FAILURE
        }
    }
}

/// The local agent's health URL, from the same environment `run` reads.
fn default_health_url() -> String {
    let port = std::env::var("AGENT_LISTEN")
        .ok()
        .and_then(|l| l.rsplit_once(':').map(|(_, p)| p.to_owned()))
        .or_else(|| std::env::var("AGENT_PORT").ok())
        .unwrap_or_else(|| "9001".into());
    format!("https://127.0.0.1:{port}/agent/v1/health")
}

/// A validity as people say it: `45 min`, `8 h`, `365 days`.
fn humanize(d: Duration) -> String {
    let secs = d.as_secs();
    if secs % 86_400 == 0 {
        format!("{} days", secs / 86_400)
    } else if secs % 3600 == 0 {
        format!("{} h", secs / 3600)
    } else {
        format!("{} min", secs.div_ceil(60))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn durations_parse() {
        assert_eq!(parse_duration("90s"), Ok(Duration::from_secs(90)));
        assert_eq!(parse_duration("30m"), Ok(Duration::from_secs(1800)));
        assert_eq!(parse_duration("1h"), Ok(Duration::from_secs(3600)));
        assert_eq!(parse_duration("7d"), Ok(Duration::from_secs(604_800)));
        assert_eq!(parse_duration("15"), Ok(Duration::from_secs(15)));
        assert_eq!(parse_duration("250ms"), Ok(Duration::from_millis(250)));
        assert!(parse_duration("0ms").is_err());
        assert!(parse_duration("1w").is_err());
        assert!(parse_duration("h").is_err());
        assert!(parse_duration("0s").is_err());
    }

    fn run_args(args: &[&str]) -> RunArgs {
        use clap::Parser;
        let mut all = vec!["bosun-agent", "run"];
        all.extend_from_slice(args);
        match Cli::try_parse_from(all).expect("parses").command {
            Some(Command::Run(run)) => *run,
            _ => panic!("not a run"),
        }
    }

    #[test]
    fn listening_nowhere_needs_a_console_and_no_cluster() {
        let dir = tempfile::tempdir().expect("tempdir");
        let secret = dir.path().join("secret");
        std::fs::write(&secret, "0123456789abcdef0123456789abcdef").expect("secret");
        let secret = secret.to_str().unwrap();
        let alone = agent_config(&run_args(&["--listen", "none", "--secret-file", secret]));
        let said = alone.err().expect("refused").0;
        assert!(said.contains("--console-url"), "{said}");
        let clustered = agent_config(&run_args(&[
            "--listen",
            "none",
            "--secret-file",
            secret,
            "--console-url",
            "https://console:9443",
            "--join",
            "peer:7946",
        ]));
        let said = clustered.err().expect("refused").0;
        assert!(said.contains("cluster"), "{said}");
        let edge = agent_config(&run_args(&[
            "--listen",
            "NONE",
            "--secret-file",
            secret,
            "--console-url",
            "https://console:9443",
        ]))
        .expect("an edge agent that listens nowhere");
        assert!(edge.no_listener);
        let listening = agent_config(&run_args(&[
            "--listen",
            "127.0.0.1:9",
            "--secret-file",
            secret,
        ]))
        .expect("a listening agent");
        assert!(!listening.no_listener);
    }

    #[test]
    fn the_command_line_is_consistent() {
        use clap::CommandFactory;
        Cli::command().debug_assert();
    }
}
