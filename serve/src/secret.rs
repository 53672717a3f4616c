//! The cluster secret: made once, kept in a 0600 file, read at start.

use std::io::Write;
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;

/// Fewer bytes than this cannot be a secret worth signing tokens with.
pub const MIN_SECRET_LEN: usize = 16;

#[derive(Debug, thiserror::Error)]
pub enum SecretError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: already exists; remove it first if a new one is really wanted")]
    Exists { path: String },
    #[error("the secret is {0} bytes long; at least {MIN_SECRET_LEN} are needed")]
    TooShort(usize),
    #[error("no random bytes from the operating system: {0}")]
    Random(String),
}

/// The shared cluster secret. Its `Debug` never shows the bytes.
#[derive(Clone)]
pub struct Secret(Vec<u8>);

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "Secret({} bytes)", self.0.len())
    }
}

impl Secret {
    /// Takes a secret as given on the command line or in a file; surrounding white space
    /// is not part of it (files written by editors end with a newline).
    pub fn from_text(text: &str) -> Result<Self, SecretError> {
        let trimmed = text.trim();
        if trimmed.len() < MIN_SECRET_LEN {
            return Err(SecretError::TooShort(trimmed.len()));
        }
        Ok(Self(trimmed.as_bytes().to_vec()))
    }

    pub fn read(path: &Path) -> Result<Self, SecretError> {
        let text = std::fs::read_to_string(path).map_err(|source| SecretError::Io {
            path: path.display().to_string(),
            source,
        })?;
        Self::from_text(&text)
    }

    /// A new secret of 32 random bytes, written as 64 hex digits.
    pub fn generate() -> Result<Self, SecretError> {
        let mut raw = [0u8; 32];
        getrandom::fill(&mut raw).map_err(|e| SecretError::Random(e.to_string()))?;
        Ok(Self(crate::hex::encode(&raw).into_bytes()))
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// A 32-byte key for one purpose (`purpose` names it), derived so that a key for one
    /// use (sealing gossip, signing agent tokens) is useless for another, and none of them
    /// reveals the secret.
    pub fn derive(&self, purpose: &str) -> [u8; 32] {
        use aws_lc_rs::hmac;
        let key = hmac::Key::new(hmac::HMAC_SHA256, &self.0);
        let tag = hmac::sign(&key, format!("bosun/v1/{purpose}").as_bytes());
        let mut out = [0u8; 32];
        out.copy_from_slice(tag.as_ref());
        out
    }

    /// Writes the secret to a new file readable by its owner only; never overwrites.
    pub fn write_new(&self, path: &Path) -> Result<(), SecretError> {
        let mut text = self.0.clone();
        text.push(b'\n');
        write_private_file(path, &text).map_err(|source| {
            if source.kind() == std::io::ErrorKind::AlreadyExists {
                SecretError::Exists {
                    path: path.display().to_string(),
                }
            } else {
                SecretError::Io {
                    path: path.display().to_string(),
                    source,
                }
            }
        })
    }
}

/// Creates `path` with mode 0600 and writes `contents`; fails if it exists.
pub fn write_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    if let Some(parent) = path.parent().filter(|p| !p.as_os_str().is_empty()) {
        std::fs::create_dir_all(parent)?;
    }
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(contents)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn generated_secrets_differ_and_are_long_enough() {
        let a = Secret::generate().expect("random");
        let b = Secret::generate().expect("random");
        assert_eq!(a.as_bytes().len(), 64);
        assert_ne!(a.as_bytes(), b.as_bytes());
    }

    #[test]
    fn derived_keys_differ_by_purpose_and_secret() {
        let a = Secret::from_text("0123456789abcdef0123").expect("secret");
        let b = Secret::from_text("0123456789abcdef0124").expect("secret");
        assert_eq!(a.derive("gossip"), a.derive("gossip"));
        assert_ne!(a.derive("gossip"), a.derive("agent-token"));
        assert_ne!(a.derive("gossip"), b.derive("gossip"));
    }

    #[test]
    fn short_secret_is_refused_and_whitespace_trimmed() {
        assert!(matches!(
            Secret::from_text("short\n"),
            Err(SecretError::TooShort(5))
        ));
        let s = Secret::from_text("  0123456789abcdef0123\n").expect("long enough");
        assert_eq!(s.as_bytes(), b"0123456789abcdef0123");
    }

    #[test]
    fn write_new_refuses_to_overwrite_and_is_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("secret");
        let s = Secret::generate().expect("random");
        s.write_new(&path).expect("first write");
        let mode = std::fs::metadata(&path).expect("meta").permissions().mode();
        assert_eq!(mode & 0o777, 0o600);
        assert!(matches!(
            s.write_new(&path),
            Err(SecretError::Exists { .. })
        ));
        assert_eq!(Secret::read(&path).expect("read").as_bytes(), s.as_bytes());
    }
}
