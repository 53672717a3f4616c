//! The agent clients, one per endpoint, kept between requests: the CA is parsed and the
//! TLS configuration made once per endpoint, and connections are reused. A client is made
//! again when its endpoint's settings change, and dropped with the endpoint.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use super::{AgentClient, AgentError, ConsoleKey};
use crate::store::Endpoint;

/// The clients by endpoint ID, each with the endpoint settings it was made from.
pub struct AgentClients {
    key: Arc<ConsoleKey>,
    edge: Arc<crate::edge::Sessions>,
    cached: Mutex<HashMap<i64, Cached>>,
}

struct Cached {
    endpoint: Endpoint,
    client: Arc<AgentClient>,
}

impl AgentClients {
    /// No clients yet; `key` signs for the endpoints that trust the console's own key.
    pub fn new(key: Arc<ConsoleKey>, edge: Arc<crate::edge::Sessions>) -> Self {
        Self {
            key,
            edge,
            cached: Mutex::new(HashMap::new()),
        }
    }

    fn cached(&self) -> MutexGuard<'_, HashMap<i64, Cached>> {
        self.cached.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// The client for `endpoint` as it is now: the kept one while the endpoint's settings
    /// are those it was made from (another console on the same database may have changed
    /// them), else a new one in its place.
    pub fn get(&self, endpoint: &Endpoint) -> Result<Arc<AgentClient>, AgentError> {
        if let Some(kept) = self.cached().get(&endpoint.id) {
            if kept.endpoint == *endpoint {
                return Ok(Arc::clone(&kept.client));
            }
        }
        self.replace(endpoint)
    }

    /// Makes `endpoint`'s client anew and keeps it in place of the old one, whose
    /// connections close as the calls under way on them end.
    pub fn replace(&self, endpoint: &Endpoint) -> Result<Arc<AgentClient>, AgentError> {
        let made = AgentClient::new(endpoint, &self.key, &self.edge).map(Arc::new);
        let mut cached = self.cached();
        match &made {
            Ok(client) => {
                cached.insert(
                    endpoint.id,
                    Cached {
                        endpoint: endpoint.clone(),
                        client: Arc::clone(client),
                    },
                );
            }
            Err(_) => {
                cached.remove(&endpoint.id);
            }
        }
        made
    }

    /// Drops a deleted endpoint's client.
    pub fn forget(&self, id: i64) {
        self.cached().remove(&id);
    }
}

#[cfg(test)]
mod tests {
    use std::convert::Infallible;
    use std::sync::atomic::{AtomicUsize, Ordering};
    use std::time::Duration;

    use bytes::Bytes;
    use http::{header, Method, Request, Response, StatusCode};
    use http_body_util::Full;
    use hyper::body::Incoming;
    use hyper_util::rt::TokioIo;
    use rustls_pki_types::pem::PemObject;
    use rustls_pki_types::{CertificateDer, PrivateKeyDer};
    use serde_json::json;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    use super::*;
    use crate::agent::{Call, Caller};
    use crate::auth::Role;
    use crate::profiles::ProfileMap;

    const ALICE: Caller<'static> = Caller {
        user: "alice",
        role: Role::Viewer,
    };

    /// An HTTPS server for `localhost` that counts the connections it accepts: `/upgrade`
    /// switches to a raw stream that says "raw" and ends; anything else answers `{}`.
    async fn counting_agent() -> (Endpoint, Arc<AtomicUsize>) {
        let (ca, _) = bosun_serve::pki::Ca::generate("test CA").expect("CA");
        let issued = ca
            .issue_server("localhost", &["localhost".to_owned()], &[], 1)
            .expect("a server certificate");
        let chain = CertificateDer::pem_slice_iter(issued.cert_pem.as_bytes())
            .collect::<Result<Vec<_>, _>>()
            .expect("chain");
        let key = PrivateKeyDer::from_pem_slice(issued.key_pem.as_bytes()).expect("key");
        bosun_serve::tls::install_crypto_provider();
        let tls = rustls::ServerConfig::builder()
            .with_no_client_auth()
            .with_single_cert(chain, key)
            .expect("TLS");
        let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(tls));
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let accepted = Arc::new(AtomicUsize::new(0));
        let counter = Arc::clone(&accepted);
        tokio::spawn(async move {
            while let Ok((tcp, _)) = listener.accept().await {
                counter.fetch_add(1, Ordering::SeqCst);
                let acceptor = acceptor.clone();
                tokio::spawn(async move {
                    let Ok(tls) = acceptor.accept(tcp).await else {
                        return;
                    };
                    let service = hyper::service::service_fn(answer);
                    let _ = hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(tls), service)
                        .with_upgrades()
                        .await;
                });
            }
        });
        let endpoint = Endpoint {
            id: 7,
            name: "counted".into(),
            url: format!("https://localhost:{port}"),
            ca_pem: ca.cert_pem().to_owned(),
            auth: "key".into(),
            secret: None,
            profiles: ProfileMap::default(),
        };
        (endpoint, accepted)
    }

    async fn answer(mut req: Request<Incoming>) -> Result<Response<Full<Bytes>>, Infallible> {
        if req.uri().path() != "/upgrade" {
            return Ok(Response::new(Full::new(Bytes::from_static(b"{}"))));
        }
        tokio::spawn(async move {
            if let Ok(upgraded) = hyper::upgrade::on(&mut req).await {
                let mut io = TokioIo::new(upgraded);
                let _ = io.write_all(b"raw").await;
                let _ = io.shutdown().await;
            }
        });
        Ok(Response::builder()
            .status(StatusCode::SWITCHING_PROTOCOLS)
            .header(header::CONNECTION, "Upgrade")
            .header(header::UPGRADE, "tcp")
            .body(Full::new(Bytes::new()))
            .expect("a response"))
    }

    fn clients() -> AgentClients {
        let key = ConsoleKey::from_pkcs8(&ConsoleKey::generate().expect("key")).expect("load");
        AgentClients::new(Arc::new(key), Arc::default())
    }

    async fn ask(client: &AgentClient) {
        let (_, value) = client
            .json(ALICE, Call::get("/info"), Duration::from_secs(5))
            .await
            .expect("an answer");
        assert_eq!(value, json!({}));
    }

    #[tokio::test]
    async fn an_endpoints_client_is_kept_and_its_connection_reused() {
        let (endpoint, accepted) = counting_agent().await;
        let clients = clients();
        let first = clients.get(&endpoint).expect("client");
        ask(&first).await;
        ask(&first).await;
        let again = clients.get(&endpoint).expect("client");
        assert!(Arc::ptr_eq(&first, &again), "the same client");
        ask(&again).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 1, "one connection for all");

        // An upgraded connection is the caller's: the next call opens another.
        let resp = again
            .open(ALICE, Call::new(Method::POST, "/upgrade").upgrade())
            .await
            .expect("switched");
        let mut raw = Vec::new();
        TokioIo::new(hyper::upgrade::on(resp).await.expect("upgraded"))
            .read_to_end(&mut raw)
            .await
            .expect("read");
        assert_eq!(raw, b"raw");
        ask(&again).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
        ask(&again).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2);
    }

    #[tokio::test]
    async fn changing_an_endpoint_replaces_its_client_and_deleting_drops_it() {
        let (endpoint, accepted) = counting_agent().await;
        let clients = clients();
        let first = clients.get(&endpoint).expect("client");
        ask(&first).await;

        // Settings changed (here by another console on the same database): a new client.
        let mut changed = endpoint.clone();
        changed.profiles =
            ProfileMap::from_json(&json!({"roles": {"viewer": "read"}})).expect("valid");
        let second = clients.get(&changed).expect("client");
        assert!(!Arc::ptr_eq(&first, &second), "made again");
        assert!(Arc::ptr_eq(
            &second,
            &clients.get(&changed).expect("client")
        ));
        ask(&second).await;
        assert_eq!(accepted.load(Ordering::SeqCst), 2, "its own connection");

        // Updated through this console: replaced at once.
        let third = clients.replace(&changed).expect("client");
        assert!(!Arc::ptr_eq(&second, &third));
        assert!(Arc::ptr_eq(&third, &clients.get(&changed).expect("client")));

        // Deleted: the cache lets go of it.
        clients.forget(changed.id);
        assert_eq!(Arc::strong_count(&third), 1, "held only here");
        let fourth = clients.get(&changed).expect("client");
        assert!(!Arc::ptr_eq(&third, &fourth));

        // A setting that no longer makes a client removes the kept one.
        let mut broken = changed.clone();
        broken.ca_pem = "not a certificate".into();
        assert!(clients.get(&broken).is_err());
        assert_eq!(Arc::strong_count(&fourth), 1, "not kept");
    }
}
