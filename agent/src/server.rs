//! The listening side: TLS on every connection, HTTP/1.1 with upgrades, and a shutdown that
//! stops accepting, lets in-flight work finish for a grace period, then closes streams.

use std::convert::Infallible;
use std::net::{IpAddr, SocketAddr};
use std::path::Path;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;
use std::time::Duration;

use hyper::service::service_fn;
use hyper_util::rt::{TokioIo, TokioTimer};
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::{TcpListener, TcpStream};
use tokio_rustls::TlsAcceptor;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

use crate::access::PolicyStore;
use crate::admission::{Admission, Ticket};
use crate::audit::Audit;
use crate::auth::Authenticator;
use crate::body::Budget;
use crate::cluster::Cluster;
use crate::config::AgentConfig;
pub use crate::host::host_name;
use crate::proxy::{ConnInfo, Parts, Proxy};
use crate::tls::pki::{self, Ca, PkiError};
use crate::tls::server::TlsSetupError;
use crate::tls::ServerTls;
use crate::upstream::UpstreamPool;

const TLS_HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// Time allowed for a request head to arrive; a stalled client is closed, a stream never.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// A connection that sends no complete request this long after its handshake is closed.
const FIRST_REQUEST_TIMEOUT: Duration = Duration::from_secs(10);
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
    #[error("--data-dir {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("--policy {0}")]
    Policy(#[from] crate::access::PolicyError),
    #[error(transparent)]
    Audit(#[from] crate::audit::AuditError),
}

/// A bound agent, ready to serve.
pub struct Agent {
    listener: TcpListener,
    acceptor: TlsAcceptor,
    tls: ServerTls,
    proxy: Arc<Proxy>,
    admission: Arc<Admission>,
    grace: Duration,
    /// Gossip, discovery and metadata refresh; stopped after the drain.
    background: CancellationToken,
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
        let listener =
            TcpListener::bind(config.listen)
                .await
                .map_err(|source| StartError::Bind {
                    addr: config.listen,
                    source,
                })?;
        let api_listen = listener.local_addr().map_err(|source| StartError::Bind {
            addr: config.listen,
            source,
        })?;
        let background = CancellationToken::new();
        let cluster = Cluster::start(
            config.cluster.clone(),
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
        let proxy = Arc::new(Proxy::new(Parts {
            engine,
            cluster,
            auth: Authenticator::new(config.secret.as_ref(), config.trusted_keys.clone())
                .with_max_lifetime(config.max_token_lifetime),
            policy,
            audit: Audit::start(&config.audit)?,
            budget: Budget::new(config.body_budget),
            fanout_deadline: config.fanout_deadline,
        }));
        Ok(Self {
            listener,
            acceptor: TlsAcceptor::from(Arc::clone(&tls.config)),
            tls,
            proxy,
            admission: Admission::new(config.max_connections, config.max_connections_per_client),
            grace: config.shutdown_grace,
            background,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.listener.local_addr()
    }

    pub fn node_name(&self) -> String {
        self.proxy.node_name()
    }

    /// The bound gossip socket, when the agent is part of a cluster.
    pub fn gossip_addr(&self) -> Option<SocketAddr> {
        self.proxy.cluster().gossip_addr()
    }

    /// Serves until `shutdown` is cancelled, then drains.
    pub async fn run(self, shutdown: CancellationToken) {
        let conns = TaskTracker::new();
        loop {
            tokio::select! {
                _ = shutdown.cancelled() => break,
                accepted = self.listener.accept() => match accepted {
                    Ok((stream, peer)) => {
                        // Over a cap: closed at once, before TLS costs anything.
                        let peer_agent = self
                            .proxy
                            .cluster()
                            .view()
                            .nodes()
                            .iter()
                            .any(|n| !n.local && n.meta.api_addr.ip() == peer.ip());
                        let Some(ticket) = self.admission.admit(peer.ip(), peer_agent) else {
                            drop(stream);
                            continue;
                        };
                        conns.spawn(serve_connection(
                            stream,
                            peer,
                            self.acceptor.clone(),
                            self.tls.clone(),
                            Arc::clone(&self.proxy),
                            shutdown.clone(),
                            ticket,
                        ));
                    }
                    Err(e) => {
                        // Out of descriptors, usually: wait rather than spin.
                        tracing::warn!(error = %e, "accept failed");
                        tokio::time::sleep(Duration::from_millis(100)).await;
                    }
                },
            }
        }
        drop(self.listener);
        tracing::info!(
            grace_secs = self.grace.as_secs(),
            "shutting down: no new connections, in-flight requests may finish"
        );
        conns.close();
        let relays = self.proxy.relays();
        relays.close();
        let drained = tokio::time::timeout(self.grace, async {
            conns.wait().await;
            relays.wait().await;
        })
        .await;
        if drained.is_err() {
            tracing::warn!("grace period over: closing the remaining streams");
            relays.stop();
            let _ = tokio::time::timeout(Duration::from_secs(2), async {
                conns.wait().await;
                relays.wait().await;
            })
            .await;
        }
        // Leaving last lets the others learn at once that this node is gone.
        self.background.cancel();
        tokio::time::sleep(Duration::from_millis(100)).await;
        tracing::info!("stopped");
    }
}

async fn serve_connection(
    stream: TcpStream,
    peer: SocketAddr,
    acceptor: TlsAcceptor,
    tls: ServerTls,
    proxy: Arc<Proxy>,
    shutdown: CancellationToken,
    _ticket: Ticket,
) {
    let _ = stream.set_nodelay(true);
    let handshake_by = tokio::time::Instant::now() + TLS_HANDSHAKE_TIMEOUT;
    // Nothing is set up for a connection until its client sends something: an idle one
    // costs a socket and a task, not TLS buffers.
    if !matches!(
        tokio::time::timeout_at(handshake_by, stream.readable()).await,
        Ok(Ok(()))
    ) {
        tracing::debug!(%peer, "nothing sent before the handshake deadline; closing");
        return;
    }
    let stream = match tokio::time::timeout_at(handshake_by, acceptor.accept(stream)).await {
        Ok(Ok(s)) => s,
        Ok(Err(e)) => {
            tracing::debug!(%peer, error = %e, "TLS handshake failed");
            return;
        }
        Err(_) => {
            tracing::debug!(%peer, "TLS handshake timed out");
            return;
        }
    };
    let client_cert = tls.client_cert(stream.get_ref().1.peer_certificates());
    let info = Arc::new(ConnInfo { peer, client_cert });
    let hard_stop = proxy.relays().stop_token();
    let asked = Arc::new(AtomicBool::new(false));
    let service = {
        let asked = Arc::clone(&asked);
        service_fn(move |req| {
            asked.store(true, Ordering::Relaxed);
            let proxy = Arc::clone(&proxy);
            let info = Arc::clone(&info);
            async move { Ok::<_, Infallible>(proxy.handle(info, req).await) }
        })
    };
    let conn = hyper::server::conn::http1::Builder::new()
        .timer(TokioTimer::new())
        .header_read_timeout(HEADER_READ_TIMEOUT)
        .serve_connection(TokioIo::new(stream), service)
        .with_upgrades();
    tokio::pin!(conn);
    let first_request = tokio::time::sleep(FIRST_REQUEST_TIMEOUT);
    tokio::pin!(first_request);
    let mut waiting_for_first = true;
    loop {
        tokio::select! {
            result = conn.as_mut() => return log_end(peer, result),
            _ = &mut first_request, if waiting_for_first => {
                if !asked.load(Ordering::Relaxed) {
                    tracing::debug!(%peer, "no request within {} s of the handshake; closing", FIRST_REQUEST_TIMEOUT.as_secs());
                    return;
                }
                waiting_for_first = false;
            }
            _ = shutdown.cancelled() => {
                conn.as_mut().graceful_shutdown();
                tokio::select! {
                    result = conn.as_mut() => log_end(peer, result),
                    _ = hard_stop.cancelled() => {}
                }
                return;
            }
        }
    }
}

fn log_end(peer: SocketAddr, result: Result<(), hyper::Error>) {
    if let Err(e) = result {
        tracing::debug!(%peer, error = %e, "connection ended with an error");
    }
}

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
    let cert_path = dir.join("server-cert.pem");
    let key_path = dir.join("server-key.pem");
    if cert_path.exists() && key_path.exists() {
        tracing::warn!(cert = %cert_path.display(), "no cluster CA: serving the self-signed certificate kept in the data directory; clients cannot verify it (use --tls-dir)");
        return Ok((pki::load_certs(&cert_path)?, pki::load_key(&key_path)?));
    }
    let data_dir_err = |source| StartError::DataDir {
        path: dir.display().to_string(),
        source,
    };
    std::fs::create_dir_all(dir).map_err(data_dir_err)?;
    let issued = pki::self_signed_server(names, ips)?;
    crate::secret::write_private_file(&key_path, issued.key_pem.as_bytes())
        .map_err(data_dir_err)?;
    std::fs::write(&cert_path, issued.cert_pem.as_bytes()).map_err(data_dir_err)?;
    tracing::warn!(cert = %cert_path.display(), "no cluster CA: made a self-signed certificate; clients cannot verify it (use --tls-dir)");
    Ok(from_pem(&issued.cert_pem, &issued.key_pem)?)
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
