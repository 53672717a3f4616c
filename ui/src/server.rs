//! HTTPS: the console's certificate (given, or self-signed and kept in the data
//! directory), security headers on every answer, and the router served by
//! `bosun_serve::listen`, which drains in-flight requests on SIGTERM.

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use axum::http::{header, HeaderValue, Request};
use axum::Router;
use bosun_serve::host::host_name;
use bosun_serve::kept_cert;
use bosun_serve::listen::{Deadlines, Handler, NoLingering, Server};
use hyper::body::Incoming;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer};
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;
use tower::ServiceExt;

use crate::api::{App, ClientAddr};
use crate::auth::proxy::TrustedProxies;

#[derive(Debug, thiserror::Error)]
pub enum ServeError {
    #[error("{path}: {reason}")]
    Cert { path: String, reason: String },
    #[error("cannot listen on {addr}: {source}")]
    Bind {
        addr: SocketAddr,
        source: std::io::Error,
    },
    #[error("TLS: {0}")]
    Tls(#[from] rustls::Error),
}

/// The certificate chain and key to serve: the given files, or a self-signed pair made
/// once in `data_dir`.
pub fn certificate(
    given: Option<(&Path, &Path)>,
    data_dir: &Path,
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>), ServeError> {
    let bad = |path: &Path, reason: String| ServeError::Cert {
        path: path.display().to_string(),
        reason,
    };
    let (cert_path, key_path) = match given {
        Some((c, k)) => (c.to_path_buf(), k.to_path_buf()),
        None => {
            let names = vec![host_name(), "localhost".to_owned()];
            let ips = vec![
                std::net::IpAddr::from([127, 0, 0, 1]),
                std::net::IpAddr::from(std::net::Ipv6Addr::LOCALHOST),
            ];
            let cert = data_dir.join("console-cert.pem");
            let (chain, key, made) = kept_cert::self_signed(data_dir, "console", &names, &ips)
                .map_err(|e| bad(&cert, e.to_string()))?;
            if made {
                tracing::warn!(cert = %cert.display(), "no --tls-cert: serving a self-signed certificate");
            }
            return Ok((chain, key));
        }
    };
    let chain = CertificateDer::pem_file_iter(&cert_path)
        .map_err(|e| bad(&cert_path, e.to_string()))?
        .collect::<Result<Vec<_>, _>>()
        .map_err(|e| bad(&cert_path, e.to_string()))?;
    if chain.is_empty() {
        return Err(bad(&cert_path, "no certificate in the file".into()));
    }
    let key = PrivateKeyDer::from_pem_file(&key_path).map_err(|e| bad(&key_path, e.to_string()))?;
    Ok((chain, key))
}

/// Every route: the API, then the front end for everything else; security headers on all.
pub fn router(app: Arc<App>) -> Router {
    crate::api::routes()
        .fallback(crate::assets::serve)
        .with_state(app)
        .layer(axum::middleware::map_response(security_headers))
}

async fn security_headers(mut resp: axum::response::Response) -> axum::response::Response {
    let h = resp.headers_mut();
    h.insert(
        header::CONTENT_SECURITY_POLICY,
        HeaderValue::from_static(
            "default-src 'self'; img-src 'self' data:; frame-ancestors 'none'; base-uri 'none'; form-action 'self'",
        ),
    );
    h.insert(
        header::X_CONTENT_TYPE_OPTIONS,
        HeaderValue::from_static("nosniff"),
    );
    h.insert(header::X_FRAME_OPTIONS, HeaderValue::from_static("DENY"));
    h.insert(
        header::REFERRER_POLICY,
        HeaderValue::from_static("no-referrer"),
    );
    h.insert(
        header::STRICT_TRANSPORT_SECURITY,
        HeaderValue::from_static("max-age=31536000"),
    );
    resp
}

/// How long a TLS handshake may take.
const HANDSHAKE_TIMEOUT: Duration = Duration::from_secs(10);
/// A client that sends no request head within this is dropped.
const HEADER_READ_TIMEOUT: Duration = Duration::from_secs(30);
/// How long in-flight requests may finish once the console is asked to stop.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// What answers the console's connections: every request through the router, which
/// learns the client's address.
struct Serving {
    router: Router,
    proxies: TrustedProxies,
}

impl Handler for Serving {
    type Conn = SocketAddr;
    type Body = axum::body::Body;

    fn connect(&self, peer: SocketAddr, _: Option<&[CertificateDer<'static>]>) -> SocketAddr {
        peer
    }

    fn answer(
        self: Arc<Self>,
        peer: Arc<SocketAddr>,
        mut req: Request<Incoming>,
    ) -> impl std::future::Future<Output = axum::response::Response> + Send + 'static {
        let client = self.proxies.client(peer.ip(), req.headers());
        req.extensions_mut().insert(ClientAddr(client));
        let router = self.router.clone();
        async move {
            match router.oneshot(req.map(axum::body::Body::new)).await {
                Ok(resp) => resp,
                Err(never) => match never {},
            }
        }
    }
}

/// A bound console, ready to serve.
pub struct Console {
    server: Server<Serving>,
    app: Arc<App>,
}

impl Console {
    pub async fn bind(
        listen: SocketAddr,
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        app: Arc<App>,
    ) -> Result<Self, ServeError> {
        bosun_serve::tls::install_crypto_provider();
        let mut tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)?;
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let listener = TcpListener::bind(listen)
            .await
            .map_err(|source| ServeError::Bind {
                addr: listen,
                source,
            })?;
        Ok(Self {
            server: Server {
                listener,
                acceptor: tokio_rustls::TlsAcceptor::from(Arc::new(tls)),
                handler: Arc::new(Serving {
                    router: router(Arc::clone(&app)),
                    proxies: app.access.proxies.clone(),
                }),
                deadlines: Deadlines {
                    handshake: HANDSHAKE_TIMEOUT,
                    header_read: HEADER_READ_TIMEOUT,
                    first_request: None,
                },
                grace: SHUTDOWN_GRACE,
                lanes: 0,
            },
            app,
        })
    }

    pub fn local_addr(&self) -> std::io::Result<SocketAddr> {
        self.server.listener.local_addr()
    }

    /// Pulls usage, delivers notifications and serves until `stop` is cancelled (by SIGTERM
    /// or SIGINT, through `bosun_serve::signal`), then lets in-flight requests finish.
    pub async fn run_until(self, stop: CancellationToken) {
        tokio::spawn(crate::usage::pull::run(
            self.app.db.clone(),
            Arc::clone(&self.app.agents),
            self.app.usage.clone(),
            self.app.alerts.sender(),
            stop.clone(),
        ));
        tokio::spawn(crate::notify::worker::run(
            Arc::clone(&self.app),
            stop.clone(),
        ));
        tokio::spawn(crate::updates::pull::run(
            Arc::clone(&self.app),
            stop.clone(),
        ));
        tokio::spawn(crate::checks::pull::run(
            Arc::clone(&self.app),
            stop.clone(),
        ));
        tokio::spawn(crate::alerts::run::run(Arc::clone(&self.app), stop.clone()));
        self.server.run(stop, Some, &NoLingering).await;
        // The edge tunnels outlive their HTTP exchange: they end with the console, and
        // their agents dial the next one.
        self.app.edge.close_all();
        tracing::info!("stopped");
    }
}
