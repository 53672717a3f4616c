//! The agent as a server: its credentials and certificate, the node's name from the
//! engine, the proxy with its parts, and connections admitted under the caps and served
//! by `bosun_serve::listen` (TLS, deadlines, drain).

use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bosun_serve::kept_cert::{self, KeptCertError};
use bosun_serve::listen::{Deadlines, Handler, Server};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;

use crate::access::PolicyStore;
use crate::admission::Admission;
use crate::audit::Audit;
use crate::auth::Authenticator;
use crate::body::Budget;
use crate::checks::Checks;
use crate::cluster::Cluster;
use crate::config::AgentConfig;
use crate::edge::{self, Edge, EdgeKeys};
use crate::host::host_name;
use crate::metrics::state::AgentState;
use crate::metrics::Metrics;
use crate::proxy::streams::Streams;
use crate::proxy::{ConnInfo, Parts, Proxy};
use crate::tls::pki::{self, Ca, PkiError};
use crate::tls::server::TlsSetupError;
use crate::tls::ServerTls;
use crate::updates::Updates;
use crate::upstream::UpstreamPool;
use crate::usage::Usage;

/// What a client connection to the agent's listener is allowed: 10 s for its handshake,
/// 30 s for each request head (a stalled client is closed, a stream never), and 10 s after
/// the handshake for its first complete request. A stream of the edge tunnel keeps the
/// first two, with no first-request deadline.
pub const DEADLINES: Deadlines = Deadlines {
    handshake: Duration::from_secs(10),
    header_read: Duration::from_secs(30),
    first_request: Some(Duration::from_secs(10)),
};
const SERVER_CERT_DAYS: i64 = 365;

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("no credentials configured: give a cluster secret (--secret-file, made by `bosun-agent secret --out FILE`) or a cluster CA (--tls-dir, made by `bosun-agent certs init --dir DIR`)")]
    NoCredentials,
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error(transparent)]
    Tls(#[from] TlsSetupError),
    #[error("--listen {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error(transparent)]
    Cluster(#[from] crate::cluster::ClusterError),
    #[error(transparent)]
    Identity(#[from] crate::identity::IdentityError),
    #[error("--data-dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("--policy {0}")]
    Policy(#[from] crate::access::PolicyError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
    #[error("edge mode: {0}")]
    Edge(#[from] crate::edge::KeyError),
}

/// A bound agent, ready to serve.
pub struct Agent {
    /// `None` with `--listen none`: only the edge tunnel serves.
    server: Option<Server<Serving>>,
    handler: Arc<Serving>,
    proxy: Arc<Proxy>,
    admission: Arc<Admission>,
    /// Gossip, discovery and metadata refresh; stopped after the drain.
    background: CancellationToken,
    /// Dialling out to the console, in edge mode.
    edge: Option<Edge>,
    /// How long in-flight requests and streams may run on once the agent is stopping.
    grace: Duration,
}

/// What answers the agent's connections: the client's certificate checked once per
/// connection, then every request through the proxy.
struct Serving {
    proxy: Arc<Proxy>,
    tls: ServerTls,
}

impl Handler for Serving {
    type Conn = ConnInfo;
    type Body = crate::body::Body;

    fn connect(
        &self,
        peer: SocketAddr,
        certificates: Option<&[CertificateDer<'static>]>,
    ) -> ConnInfo {
        ConnInfo {
            peer,
            client_cert: self.tls.client_cert(certificates),
        }
    }

    fn answer(
        self: Arc<Self>,
        conn: Arc<ConnInfo>,
        req: http::Request<hyper::body::Incoming>,
    ) -> impl std::future::Future<Output = http::Response<crate::body::Body>> + Send + 'static {
        Arc::clone(&self.proxy).handle(conn, req)
    }
}

impl Agent {
    /// Loads credentials, learns the node's name from the engine, and binds the listener.
    pub async fn bind(config: AgentConfig) -> Result<Self, StartError> {
        crate::tls::install_crypto_provider();
        if config.secret.is_none() && config.ca.is_none() {
            return Err(StartError::NoCredentials);
        }
        let engine = UpstreamPool::new(config.engine.clone());
        // The certificate names the node; the engine's name is the node's unless overridden.
        let (engine_name, node_addr) = engine_host(&engine).await;
        let cert_name = config.node_name.clone().unwrap_or(engine_name);
        let ca = config
            .ca
            .as_ref()
            .map(|f| Ca::load(&f.cert, &f.key))
            .transpose()?;
        let (chain, key) = server_certificate(&config, ca.as_ref(), &cert_name, node_addr)?;
        let cert_sha256 = chain
            .first()
            .map(crate::cluster::peers::fingerprint)
            .unwrap_or([0; 32]);
        let client_ca = ca.as_ref().map(Ca::cert_der).transpose()?;
        let tls = ServerTls::new(chain, key, client_ca)?;
        let listener = if config.no_listener {
            None
        } else {
            Some(
                TcpListener::bind(config.listen)
                    .await
                    .map_err(|source| StartError::Bind {
                        addr: config.listen,
                        source,
                    })?,
            )
        };
        let api_listen = match &listener {
            Some(listener) => listener.local_addr().map_err(|source| StartError::Bind {
                addr: config.listen,
                source,
            })?,
            None => config.listen,
        };
        let agent_id =
            crate::identity::load_or_create(&config.data_dir, config.agent_id.as_deref())?;
        let background = CancellationToken::new();
        let cluster = Cluster::start(
            config.cluster.clone(),
            agent_id.clone(),
            &engine,
            config.node_name.clone(),
            api_listen,
            cert_sha256,
            config.secret.as_ref(),
            background.clone(),
        )
        .await?;
        let policy = Arc::new(PolicyStore::load(config.policy_file.as_deref())?);
        policy.watch(background.clone());
        let admission = Admission::new(config.max_connections, config.max_connections_per_client);
        let streams = Arc::new(Streams::default());
        let usage = Usage::start(config.usage.clone(), engine.clone(), background.clone());
        let updates = Updates::start(
            config.updates.clone(),
            engine.clone(),
            cluster.view().me.meta.node_name.clone(),
            background.clone(),
        );
        let checks = Checks::start(
            &config.checks,
            engine.clone(),
            cluster.view().me.meta.node_name.clone(),
            agent_id,
            config.data_dir.clone(),
            &config.trusted_keys,
            background.clone(),
        );
        let metrics = Metrics::new(
            &cluster.view().me.meta.node_name,
            Arc::clone(&usage),
            AgentState {
                admission: Arc::clone(&admission),
                open_streams: {
                    let streams = Arc::clone(&streams);
                    Arc::new(move || streams.open())
                },
                engine: engine.clone(),
                cluster: cluster.observer(),
                updates: updates.counters(),
            },
        );
        let auth = Authenticator::new(config.secret.as_ref(), config.trusted_keys.clone())
            .with_max_lifetime(config.max_token_lifetime);
        let edge_keys = match &config.edge {
            Some(_) => Some(Arc::new(EdgeKeys::load_or_create(&config.data_dir)?)),
            None => None,
        };
        let edge = match (&config.edge, &edge_keys) {
            (Some(edge), Some(keys)) => Some(Edge {
                config: edge.clone(),
                keys: Arc::clone(keys),
                agent_id: cluster.agent_id().to_owned(),
                node: cluster.view().me.meta.node_name.clone(),
                learned: auth.learned(),
            }),
            _ => None,
        };
        let proxy = Arc::new(Proxy::new(Parts {
            engine,
            cluster,
            usage,
            updates,
            checks,
            metrics,
            streams,
            auth,
            policy,
            audit: Audit::start(&config.audit)?,
            budget: Budget::new(config.body_budget),
            fanout_deadline: config.fanout_deadline,
            edge_keys,
        }));
        let acceptor = TlsAcceptor::from(Arc::clone(&tls.config));
        let handler = Arc::new(Serving {
            proxy: Arc::clone(&proxy),
            tls,
        });
        Ok(Self {
            server: listener.map(|listener| Server {
                listener,
                acceptor,
                handler: Arc::clone(&handler),
                deadlines: DEADLINES,
                grace: config.shutdown_grace,
                lanes: bosun_serve::lanes::per_core(),
            }),
            handler,
            proxy,
            admission,
            background,
            edge,
            grace: config.shutdown_grace,
        })
    }

    /// The bound API address; an error with `--listen none`.
    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        match &self.server {
            Some(server) => server.listener.local_addr(),
            None => Err(std::io::Error::new(
                std::io::ErrorKind::NotConnected,
                "the agent listens nowhere (--listen none)",
            )),
        }
    }

    pub fn node_name(&self) -> String {
        self.proxy.node_name()
    }

    /// This agent's ID ([`crate::identity`]).
    pub fn agent_id(&self) -> String {
        self.proxy.cluster().agent_id().to_owned()
    }

    /// The bound gossip socket, when the agent is part of a cluster.
    pub fn gossip_addr(&self) -> Option<SocketAddr> {
        self.proxy.cluster().gossip_addr()
    }

    /// Serves until `shutdown` is cancelled, then drains.
    pub async fn run(self, shutdown: CancellationToken) {
        let proxy = Arc::clone(&self.proxy);
        let admission = self.admission;
        // Over a cap: closed at once, before TLS costs anything.
        let admit = |peer: SocketAddr| {
            let peer_agent = proxy
                .cluster()
                .view()
                .nodes()
                .iter()
                .any(|n| !n.local && n.meta.api_addr.ip() == peer.ip());
            admission.admit(peer.ip(), peer_agent)
        };
        crate::trim::spawn(Arc::clone(&admission), self.background.clone());
        let tunnel = self.edge.map(|edge| {
            let serving = edge::Serving {
                handler: Arc::clone(&self.handler),
                deadlines: Deadlines {
                    first_request: None,
                    ..DEADLINES
                },
                grace: self.grace,
                relays: proxy.relays().clone(),
            };
            tokio::spawn(edge.run(serving, shutdown.clone()))
        });
        match self.server {
            Some(server) => server.run(shutdown, admit, proxy.relays()).await,
            None => shutdown.cancelled().await,
        }
        // The tunnel drains alongside the listener, within the same grace period.
        if let Some(tunnel) = tunnel {
            let _ = tunnel.await;
        }
        // Leaving last lets the others learn at once that this node is gone.
        self.background.cancel();
        // Script checks still running are cut short: their containers go with the agent.
        proxy.checks().remove_sandboxes(SANDBOX_REMOVAL).await;
        tokio::time::sleep(Duration::from_millis(100)).await;
        tracing::info!("stopped");
    }
}

/// How long a stopping agent spends removing the sandbox containers of running checks.
const SANDBOX_REMOVAL: Duration = Duration::from_secs(10);

/// What the engine says of its host: its name (this host's when the engine does not answer
/// yet) and, in a Swarm, the node's address, which clients outside use to reach the agent.
async fn engine_host(engine: &UpstreamPool) -> (String, Option<IpAddr>) {
    match engine.get_json("/info", Duration::from_secs(5)).await {
        Ok(info) => {
            let node_addr = info["Swarm"]["NodeAddr"]
                .as_str()
                .and_then(|a| a.parse::<IpAddr>().ok());
            match info["Name"].as_str() {
                Some(name) if !name.is_empty() => return (name.to_owned(), node_addr),
                _ => tracing::warn!("the engine's /info has no Name; using the host name"),
            }
            (host_name(), node_addr)
        }
        Err(e) => {
            tracing::warn!(error = %e, "cannot ask the engine its name; using the host name");
            (host_name(), None)
        }
    }
}

/// Every name and address the agent may be reached by: the host's, the node's Swarm
/// address, and those the operator added.
fn server_names(
    config: &AgentConfig,
    node_name: &str,
    node_addr: Option<IpAddr>,
) -> (Vec<String>, Vec<IpAddr>) {
    let mut names = vec![host_name(), node_name.to_owned(), "localhost".to_owned()];
    let mut ips: Vec<IpAddr> = if_addrs::get_if_addrs()
        .map(|ifs| ifs.into_iter().map(|i| i.ip()).collect())
        .unwrap_or_default();
    ips.push(IpAddr::from([127, 0, 0, 1]));
    ips.push(IpAddr::from(std::net::Ipv6Addr::LOCALHOST));
    ips.extend(node_addr);
    if !config.listen.ip().is_unspecified() {
        ips.push(config.listen.ip());
    }
    for extra in &config.extra_sans {
        match extra.trim_matches(['[', ']']).parse::<IpAddr>() {
            Ok(ip) => ips.push(ip),
            Err(_) => names.push(extra.clone()),
        }
    }
    names.sort();
    names.dedup();
    ips.sort();
    ips.dedup();
    (names, ips)
}

type CertAndKey = (Vec<CertificateDer<'static>>, PrivateKeyDer<'static>);

fn server_certificate(
    config: &AgentConfig,
    ca: Option<&Ca>,
    node_name: &str,
    node_addr: Option<IpAddr>,
) -> Result<CertAndKey, StartError> {
    if let Some((cert, key)) = &config.server_cert {
        return Ok((pki::load_certs(cert)?, pki::load_key(key)?));
    }
    let (names, ips) = server_names(config, node_name, node_addr);
    if let Some(ca) = ca {
        let issued = ca.issue_server(node_name, &names, &ips, SERVER_CERT_DAYS)?;
        return Ok(from_pem(&issued.cert_pem, &issued.key_pem)?);
    }
    self_signed(&config.data_dir, &names, &ips)
}

/// The self-signed certificate kept in the data directory, made on first use.
fn self_signed(dir: &Path, names: &[String], ips: &[IpAddr]) -> Result<CertAndKey, StartError> {
    let (chain, key, made) =
        kept_cert::self_signed(dir, "server", names, ips).map_err(|e| match e {
            KeptCertError::Dir { path, source } => StartError::DataDir { path, source },
            KeptCertError::Pki(e) => StartError::Pki(e),
        })?;
    let cert = dir.join("server-cert.pem");
    if made {
        tracing::warn!(cert = %cert.display(), "no cluster CA: made a self-signed certificate; clients cannot verify it (use --tls-dir)");
    } else {
        tracing::warn!(cert = %cert.display(), "no cluster CA: serving the self-signed certificate kept in the data directory; clients cannot verify it (use --tls-dir)");
    }
    Ok((chain, key))
}

fn from_pem(cert: &str, key: &str) -> Result<CertAndKey, PkiError> {
    let bad = |what: &'static str| {
        move |e: rustls_pki_types::pem::Error| PkiError::BadPem {
            path: "issued certificate".into(),
            what,
            reason: e.to_string(),
        }
    };
    let chain = vec![CertificateDer::from_pem_slice(cert.as_bytes()).map_err(bad("certificate"))?];
    let key = PrivateKeyDer::from_pem_slice(key.as_bytes()).map_err(bad("private key"))?;
    Ok((chain, key))
}
