//! A self-signed server certificate kept in a data directory: made on first use, served
//! again after, so that clients that pinned or accepted it once keep trusting it.

use std::net::IpAddr;
use std::path::Path;

use rustls_pki_types::{CertificateDer, PrivateKeyDer};

use crate::pki::{self, PkiError};
use crate::secret::write_private_file;

#[derive(Debug, thiserror::Error)]
pub enum KeptCertError {
    #[error("{path}: {source}")]
    Dir {
        path: String,
        source: std::io::Error,
    },
    #[error(transparent)]
    Pki(#[from] PkiError),
}

/// The certificate and key kept as `{stem}-cert.pem` and `{stem}-key.pem` in `dir`,
/// made for `names` and `ips` when they are not there yet; whether they were made now.
pub fn self_signed(
    dir: &Path,
    stem: &str,
    names: &[String],
    ips: &[IpAddr],
) -> Result<(Vec<CertificateDer<'static>>, PrivateKeyDer<'static>, bool), KeptCertError> {
    let cert_path = dir.join(format!("{stem}-cert.pem"));
    let key_path = dir.join(format!("{stem}-key.pem"));
    let made = !(cert_path.exists() && key_path.exists());
    if made {
        let dir_err = |source| KeptCertError::Dir {
            path: dir.display().to_string(),
            source,
        };
        std::fs::create_dir_all(dir).map_err(dir_err)?;
        let issued = pki::self_signed_server(names, ips)?;
        write_private_file(&key_path, issued.key_pem.as_bytes()).map_err(dir_err)?;
        std::fs::write(&cert_path, issued.cert_pem.as_bytes()).map_err(dir_err)?;
    }
    Ok((
        pki::load_certs(&cert_path)?,
        pki::load_key(&key_path)?,
        made,
    ))
}
