//! The bare relay: the agent's serving stack (its listener, lanes, deadlines and TLS
//! configuration, hyper on both sides) relaying every request to the engine on a
//! connection of its own per client connection, with none of the agent's steps (the client
//! certificate's chain check and identity, authorize, place, the pool, headers, metrics,
//! audit). `bosun-bench ping` measures it beside the agent, so that what the agent's own
//! steps cost per request reads as the ratio between the two columns.
//!
//! It runs as this binary's hidden `bare-relay` command, a process of its own, so that its
//! CPU is counted apart from the client's.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::sync::Arc;
use std::time::Duration;

use anyhow::{bail, Context, Result};
use bosun_serve::listen::{Handler, NoLingering, Server};
use bytes::Bytes;
use http_body_util::{combinators::BoxBody, BodyExt, Empty};
use hyper::body::Incoming;
use hyper::client::conn::http1::SendRequest;
use hyper::{Request, Response, StatusCode};
use hyper_util::rt::TokioIo;
use rustls_pki_types::pem::PemObject;
use rustls_pki_types::{CertificateDer, PrivateKeyDer, ServerName};
use tokio::process::Command;
use tokio::sync::Mutex;
use tokio_util::sync::CancellationToken;

use crate::client::{tls_connector, Dial};
use crate::cluster::free_port;
use crate::procs::Service;

type Body = BoxBody<Bytes, hyper::Error>;

/// Starts the bare relay in front of the engine at `socket`, with a server certificate from
/// the CA in `agent_dir/ca`, reached with the client bundle in `agent_dir/client` (as
/// `procs::start_agent` leaves them).
pub async fn start(agent_dir: &Path, socket: &Path) -> Result<(Service, Dial)> {
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let mut service = Service::spawn(
        "bare relay",
        Command::new(std::env::current_exe()?)
            .arg("bare-relay")
            .arg(addr.to_string())
            .arg(agent_dir.join("ca"))
            .arg(socket),
        agent_dir.join("bare-relay.log"),
    )?;
    let dial = Dial::Tls {
        addr,
        connector: tls_connector(&agent_dir.join("client"))?,
        name: ServerName::try_from("localhost")?,
    };
    service
        .wait_ready(|| async { dial.connect().await?.get_ok("/_ping").await.map(drop) })
        .await?;
    Ok((service, dial))
}

/// `bosun-bench bare-relay ADDR CA_DIR SOCKET`: serves until SIGTERM or SIGINT.
pub async fn main(args: Vec<String>) -> Result<()> {
    let [addr, ca_dir, socket] = args.as_slice() else {
        bail!("usage: bosun-bench bare-relay ADDR CA_DIR SOCKET");
    };
    let addr: SocketAddr = addr.parse().context("ADDR")?;
    bosun_serve::tls::install_crypto_provider();
    let ca = bosun_serve::pki::Ca::load_dir(Path::new(ca_dir))?;
    let issued = ca.issue_server("bare-relay", &["localhost".into()], &[], 1)?;
    let chain = vec![CertificateDer::from_pem_slice(issued.cert_pem.as_bytes())?];
    let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes())?;
    let tls = bosun_agent::tls::ServerTls::new(chain, key, Some(ca.cert_der()?))?;
    let server = Server {
        listener: tokio::net::TcpListener::bind(addr).await?,
        acceptor: tokio_rustls::TlsAcceptor::from(Arc::clone(&tls.config)),
        handler: Arc::new(Relay {
            engine: PathBuf::from(socket),
        }),
        deadlines: bosun_agent::server::DEADLINES,
        grace: Duration::from_secs(1),
        lanes: bosun_serve::lanes::per_core(),
    };
    let stop = CancellationToken::new();
    tokio::spawn(bosun_serve::signal::cancel_on_stop_signal(stop.clone()));
    server.run(stop, |_| Some(()), &NoLingering).await;
    Ok(())
}

/// Where the engine listens.
struct Relay {
    engine: PathBuf,
}

/// A client connection's own connection to the engine, opened at its first request.
struct Engine(Mutex<Option<SendRequest<Incoming>>>);

impl Handler for Relay {
    type Conn = Engine;
    type Body = Body;

    fn connect(&self, _: SocketAddr, _: Option<&[CertificateDer<'static>]>) -> Engine {
        Engine(Mutex::new(None))
    }

    async fn answer(
        self: Arc<Self>,
        engine: Arc<Engine>,
        req: Request<Incoming>,
    ) -> Response<Body> {
        let mut sender = engine.0.lock().await;
        if sender.as_ref().is_none_or(SendRequest::is_closed) {
            *sender = dial_engine(&self.engine).await;
        }
        let Some(sender) = sender.as_mut() else {
            return bad_gateway();
        };
        if sender.ready().await.is_err() {
            return bad_gateway();
        }
        match sender.send_request(req).await {
            Ok(resp) => resp.map(BodyExt::boxed),
            Err(_) => bad_gateway(),
        }
    }
}

async fn dial_engine(socket: &Path) -> Option<SendRequest<Incoming>> {
    let stream = tokio::net::UnixStream::connect(socket).await.ok()?;
    let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream))
        .await
        .ok()?;
    tokio::spawn(conn);
    Some(sender)
}

fn bad_gateway() -> Response<Body> {
    let mut resp = Response::new(Empty::new().map_err(|e| match e {}).boxed());
    *resp.status_mut() = StatusCode::BAD_GATEWAY;
    resp
}
