//! TLS for the agent: the cluster CA and the certificates it issues, and the server side
//! configuration that checks client certificates against it.

pub mod pki;
pub mod server;

pub use pki::{Ca, PkiError};
pub use server::{ClientCert, ServerTls};

/// Installs the one crypto provider the agent uses. Called once at start; a second call
/// (tests start several agents in one process) is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
