//! The server side of TLS: the certificate the agent presents, and the check of client
//! certificates against the cluster CA.
//!
//! The handshake accepts any client certificate whose key the client proves it holds; the
//! chain is checked right after, per connection. A certificate from another CA thus gets a
//! 401 in Docker's error shape, which the CLI prints, instead of a bare TLS alert.

use std::sync::Arc;

use rustls::client::danger::HandshakeSignatureValid;
use rustls::pki_types::{CertificateDer, PrivateKeyDer, UnixTime};
use rustls::server::danger::{ClientCertVerified, ClientCertVerifier};
use rustls::server::WebPkiClientVerifier;
use rustls::{
    DigitallySignedStruct, DistinguishedName, RootCertStore, ServerConfig, SignatureScheme,
};

use super::pki::{cert_subject, PkiError};
use crate::access::CertSubject;

#[derive(Debug, thiserror::Error)]
pub enum TlsSetupError {
    #[error(transparent)]
    Pki(#[from] PkiError),
    #[error("TLS: {0}")]
    Rustls(#[from] rustls::Error),
    #[error("client certificate verifier: {0}")]
    Verifier(String),
}

/// What a client's certificate says about it, once checked against the cluster CA.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum ClientCert {
    /// No certificate was presented.
    None,
    /// It chains to the cluster CA and is a client certificate; its common name is the
    /// client's identity.
    Trusted { subject: CertSubject },
    /// Presented, but not issued by the cluster CA (or expired, or not for clients).
    Rejected { reason: String },
}

/// The agent's TLS configuration and the client-chain check that goes with it.
#[derive(Clone)]
pub struct ServerTls {
    pub config: Arc<ServerConfig>,
    chain_check: Option<Arc<dyn ClientCertVerifier>>,
}

impl ServerTls {
    /// `client_ca`: the CA whose client certificates are accepted; `None` for an agent that
    /// only takes bearer tokens.
    pub fn new(
        chain: Vec<CertificateDer<'static>>,
        key: PrivateKeyDer<'static>,
        client_ca: Option<CertificateDer<'static>>,
    ) -> Result<Self, TlsSetupError> {
        let builder = ServerConfig::builder();
        let (mut config, chain_check) = match client_ca {
            Some(ca) => {
                let mut roots = RootCertStore::empty();
                roots.add(ca)?;
                let strict = WebPkiClientVerifier::builder(Arc::new(roots))
                    .build()
                    .map_err(|e| TlsSetupError::Verifier(e.to_string()))?;
                let lenient = Arc::new(ProofOfKeyOnly(strict.clone()));
                let config = builder
                    .with_client_cert_verifier(lenient)
                    .with_single_cert(chain, key)?;
                (config, Some(strict))
            }
            None => (
                builder.with_no_client_auth().with_single_cert(chain, key)?,
                None,
            ),
        };
        // HTTP/2 has no Upgrade, which attach, exec and BuildKit need.
        config.alpn_protocols = vec![b"http/1.1".to_vec()];
        Ok(Self {
            config: Arc::new(config),
            chain_check,
        })
    }

    /// Classifies the certificates a client presented in a finished handshake.
    pub fn client_cert(&self, presented: Option<&[CertificateDer<'static>]>) -> ClientCert {
        let Some((end_entity, intermediates)) = presented.and_then(|c| c.split_first()) else {
            return ClientCert::None;
        };
        let Some(check) = &self.chain_check else {
            return ClientCert::Rejected {
                reason: "this agent has no cluster CA and accepts bearer tokens only".into(),
            };
        };
        if let Err(e) = check.verify_client_cert(end_entity, intermediates, UnixTime::now()) {
            return ClientCert::Rejected {
                reason: format!("client certificate refused: {e}"),
            };
        }
        match cert_subject(end_entity) {
            Ok(subject) => ClientCert::Trusted { subject },
            Err(reason) => ClientCert::Rejected {
                reason: format!("client certificate refused: {reason}"),
            },
        }
    }
}

/// Checks during the handshake only that the client holds the key of the certificate it
/// sent; the chain is judged afterwards by [`ServerTls::client_cert`].
#[derive(Debug)]
struct ProofOfKeyOnly(Arc<dyn ClientCertVerifier>);

impl ClientCertVerifier for ProofOfKeyOnly {
    fn offer_client_auth(&self) -> bool {
        true
    }

    fn client_auth_mandatory(&self) -> bool {
        // Clients with a bearer token come without a certificate.
        false
    }

    fn root_hint_subjects(&self) -> &[DistinguishedName] {
        // No hints: a Go client then sends its certificate even when it is from another
        // CA, so that the refusal can name the reason.
        &[]
    }

    fn verify_client_cert(
        &self,
        _end_entity: &CertificateDer<'_>,
        _intermediates: &[CertificateDer<'_>],
        _now: UnixTime,
    ) -> Result<ClientCertVerified, rustls::Error> {
        Ok(ClientCertVerified::assertion())
    }

    fn verify_tls12_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls12_signature(message, cert, dss)
    }

    fn verify_tls13_signature(
        &self,
        message: &[u8],
        cert: &CertificateDer<'_>,
        dss: &DigitallySignedStruct,
    ) -> Result<HandshakeSignatureValid, rustls::Error> {
        self.0.verify_tls13_signature(message, cert, dss)
    }

    fn supported_verify_schemes(&self) -> Vec<SignatureScheme> {
        self.0.supported_verify_schemes()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::tls::pki::Ca;
    use rustls_pki_types::pem::PemObject;

    fn der(pem: &str) -> CertificateDer<'static> {
        CertificateDer::from_pem_slice(pem.as_bytes()).expect("pem")
    }

    #[test]
    fn client_certificates_are_judged_by_their_ca() {
        crate::tls::install_crypto_provider();
        let (ca, _) = Ca::generate("cluster").expect("ca");
        let (other, _) = Ca::generate("other").expect("ca");
        let server = ca
            .issue_server("node", &["localhost".into()], &[], 1)
            .expect("server");
        let tls = ServerTls::new(
            vec![der(&server.cert_pem)],
            PrivateKeyDer::from_pem_slice(server.key_pem.as_bytes()).expect("key"),
            Some(ca.cert_der().expect("ca der")),
        )
        .expect("tls");

        assert_eq!(tls.client_cert(None), ClientCert::None);
        let day = std::time::Duration::from_secs(86_400);
        let good = vec![der(&ca
            .issue_client("alice", "admin", day)
            .expect("c")
            .cert_pem)];
        match tls.client_cert(Some(&good)) {
            ClientCert::Trusted { subject } => {
                assert_eq!(&*subject.common_name, "alice");
                assert_eq!(
                    subject.organizational_units,
                    vec!["profile=admin".to_owned()]
                );
                assert!(!subject.serial.is_empty());
            }
            other => panic!("{other:?}"),
        }
        // A server's certificate is not a client credential, though the same CA signed it.
        let as_client = vec![der(&server.cert_pem)];
        assert!(matches!(
            tls.client_cert(Some(&as_client)),
            ClientCert::Rejected { .. }
        ));
        let foreign = vec![der(&other
            .issue_client("mallory", "admin", day)
            .expect("c")
            .cert_pem)];
        assert!(matches!(
            tls.client_cert(Some(&foreign)),
            ClientCert::Rejected { .. }
        ));
    }
}
