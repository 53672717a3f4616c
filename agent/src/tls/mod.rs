//! TLS for the agent: the cluster CA and the certificates it issues, and the server side
//! configuration that checks client certificates against it.

pub mod server;

pub use bosun_serve::pki::{self, Ca, PkiError};
pub use bosun_serve::tls::install_crypto_provider;
pub use server::{ClientCert, ServerTls};
