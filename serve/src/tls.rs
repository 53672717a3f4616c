//! The one crypto provider both binaries use.

/// Installs aws-lc-rs as the process's rustls provider. Called once at start; a second
/// call (tests start several servers in one process) is harmless.
pub fn install_crypto_provider() {
    let _ = rustls::crypto::aws_lc_rs::default_provider().install_default();
}
