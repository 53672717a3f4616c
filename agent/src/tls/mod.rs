//! TLS for the agent: the cluster CA and the certificates it issues, and the server side
//! configuration that checks client certificates against it.

pub mod server;

use std::sync::{Arc, OnceLock};

pub use bosun_serve::pki::{self, Ca, PkiError};
pub use bosun_serve::tls::install_crypto_provider;
pub use server::{ClientCert, ServerTls};

/// The CA certificates of the node (`SSL_CERT_DIR`/`SSL_CERT_FILE` or the system's store,
/// as the registries' clients use), read once, and how many there were.
pub fn node_roots() -> &'static (Arc<rustls::RootCertStore>, usize) {
    static ROOTS: OnceLock<(Arc<rustls::RootCertStore>, usize)> = OnceLock::new();
    ROOTS.get_or_init(|| {
        let found = rustls_native_certs::load_native_certs();
        for e in &found.errors {
            tracing::debug!(error = %e, "a CA certificate of the node could not be read");
        }
        let mut store = rustls::RootCertStore::empty();
        let (added, _) = store.add_parsable_certificates(found.certs);
        (Arc::new(store), added)
    })
}
