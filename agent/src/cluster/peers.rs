//! Connections to the other agents: one kept-alive pool per peer, over TLS pinned to the
//! certificate fingerprint the peer spread through sealed gossip.

use std::collections::HashMap;
use std::net::SocketAddr;
use std::sync::{Arc, Mutex};

use rustls::client::danger::{HandshakeSignatureValid, ServerCertVerified, ServerCertVerifier};
use rustls::pki_types::{CertificateDer, ServerName, UnixTime};
use rustls::{ClientConfig, DigitallySignedStruct, SignatureScheme};
use tokio_rustls::TlsConnector;

use super::member::NodeMeta;
use crate::upstream::{Dialer, UpstreamPool};

/// SHA-256 of a DER certificate.
pub fn fingerprint(cert: &CertificateDer<'_>) -> [u8; 32] {
    let digest = aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, cert.as_ref());
    let mut out = [0u8; 32];
    out.copy_from_slice(digest.as_ref());
    out
}

/// A peer pool's key: its API address and the certificate it must present.
type PeerKey = (SocketAddr, [u8; 32]);

/// The pools to every peer this agent has talked to, keyed by address and pinned
/// certificate (a restarted peer with a new certificate gets a new pool).
#[derive(Clone, Default)]
pub struct Peers {
    pools: Arc<Mutex<HashMap<PeerKey, UpstreamPool>>>,
}

impl Peers {
    pub fn get(&self, meta: &NodeMeta) -> UpstreamPool {
        let key = (meta.api_addr, meta.cert_sha256);
        let mut pools = self.pools.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(pool) = pools.get(&key) {
            return pool.clone();
        }
        // An old pool of the same address belonged to the peer's previous certificate.
        pools.retain(|(addr, _), _| *addr != meta.api_addr);
        let pool = UpstreamPool::with_dialer(
            Dialer::Tls {
                addr: meta.api_addr,
                connector: connector(meta.cert_sha256),
                server_name: ServerName::IpAddress(meta.api_addr.ip().into()),
            },
            format!("the agent of node {} at {}", meta.node_name, meta.api_addr),
        );
        pools.insert(key, pool.clone());
        pool
    }
}

fn connector(pin: [u8; 32]) -> TlsConnector {
    let provider = rustls::crypto::aws_lc_rs::default_provider();
    let schemes = provider.signature_verification_algorithms;
    let mut config = ClientConfig::builder()
        .dangerous()
        .with_custom_certificate_verifier(Arc::new(Pinned { pin, schemes }))
        .with_no_client_auth();
    config.alpn_protocols = vec![b"http/1.1".to_vec()];
    TlsConnector::from(Arc::new(config))
}

/// Accepts exactly the certificate whose fingerprint the peer gossiped, and checks that
/// the peer holds its key.
#[derive(Debug)]
struct Pinned {
    pin: [u8; 32],
    schemes: rustls::crypto::WebPkiSupportedAlgorithms,
}

impl ServerCertVerifier for Pinned {
    fn verify_server_cert(
        &self,
        end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _server_name: &ServerName<'_>,
        _ocsp: &[u8],
        _now: UnixTime,
    ) -> Result<ServerCertVerified, rustls::Error> {
        if fingerprint(end_entity) == self.pin {
            Ok(ServerCertVerified::assertion())
        } else {
            Err(rustls::Error::General(
                "peer certificate does not match the fingerprint it gossiped".into(),
            ))
        }
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls12_signature(message, cert, dss, &self.schemes)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        rustls::crypto::verify_tls13_signature(message, cert, dss, &self.schemes)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.schemes.supported_schemes()
    }
}
