//! Secrets at rest: channel settings (SMTP passwords, webhook URLs with tokens) and
//! registry passwords are sealed with AES-256-GCM before they reach the database. The key
//! lives in its own file in the data directory (`sealing.key`, mode 0600), not in the
//! database, so a copy of the database alone reveals none of them.

use std::io::Write;
use std::path::Path;

use aws_lc_rs::aead::{Aad, LessSafeKey, Nonce, UnboundKey, AES_256_GCM, NONCE_LEN};
use aws_lc_rs::rand::{SecureRandom, SystemRandom};
use base64::Engine as _;

const KEY_LEN: usize = 32;
/// What a sealed text starts with, so that a reader knows what it holds.
const PREFIX: &str = "sealed:v1:";

#[derive(Debug, thiserror::Error)]
pub enum SealError {
    #[error("the sealing key {path}: {reason}")]
    Key { path: String, reason: String },
    #[error("a sealed value cannot be opened: {0}")]
    Open(&'static str),
}

/// Seals and opens secrets with the console's sealing key.
pub struct Sealer {
    key: LessSafeKey,
}

impl Sealer {
    /// The key kept in `path`, made there (0600) when the file does not exist.
    pub fn load_or_create(path: &Path) -> Result<Self, SealError> {
        let fail = |reason: String| SealError::Key {
            path: path.display().to_string(),
            reason,
        };
        let bytes = match std::fs::read(path) {
            Ok(bytes) => bytes,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let mut fresh = [0u8; KEY_LEN];
                SystemRandom::new()
                    .fill(&mut fresh)
                    .map_err(|_| fail("no randomness".into()))?;
                write_private(path, &fresh).map_err(|e| fail(e.to_string()))?;
                fresh.to_vec()
            }
            Err(e) => return Err(fail(e.to_string())),
        };
        Self::from_key(&bytes).map_err(|e| fail(e.to_owned()))
    }

    /// A sealer with a key of its own, for tests and for a console without a data
    /// directory.
    pub fn ephemeral() -> Self {
        let mut fresh = [0u8; KEY_LEN];
        SystemRandom::new()
            .fill(&mut fresh)
            .expect("the system's random source");
        Self::from_key(&fresh).expect("a 32-byte key")
    }

    fn from_key(bytes: &[u8]) -> Result<Self, &'static str> {
        if bytes.len() != KEY_LEN {
            return Err("expected 32 bytes");
        }
        let key = UnboundKey::new(&AES_256_GCM, bytes).map_err(|_| "not an AES-256 key")?;
        Ok(Self {
            key: LessSafeKey::new(key),
        })
    }

    /// `plain` sealed, as text for a database column. `context` (a table and column) is
    /// bound to it, so a sealed value cannot be moved to another column.
    pub fn seal(&self, context: &str, plain: &str) -> String {
        let mut nonce = [0u8; NONCE_LEN];
        SystemRandom::new()
            .fill(&mut nonce)
            .expect("the system's random source");
        let mut data = plain.as_bytes().to_vec();
        self.key
            .seal_in_place_append_tag(
                Nonce::assume_unique_for_key(nonce),
                Aad::from(context.as_bytes()),
                &mut data,
            )
            .expect("AES-GCM sealing of a short value");
        let mut out = nonce.to_vec();
        out.extend_from_slice(&data);
        format!(
            "{PREFIX}{}",
            base64::engine::general_purpose::STANDARD_NO_PAD.encode(out)
        )
    }

    /// What [`Self::seal`] sealed under the same `context`.
    pub fn open(&self, context: &str, sealed: &str) -> Result<String, SealError> {
        let body = sealed
            .strip_prefix(PREFIX)
            .ok_or(SealError::Open("not a sealed value"))?;
        let mut raw = base64::engine::general_purpose::STANDARD_NO_PAD
            .decode(body)
            .map_err(|_| SealError::Open("not base64"))?;
        if raw.len() < NONCE_LEN {
            return Err(SealError::Open("too short"));
        }
        let mut data = raw.split_off(NONCE_LEN);
        let nonce = Nonce::try_assume_unique_for_key(&raw).map_err(|_| SealError::Open("nonce"))?;
        let plain = self
            .key
            .open_in_place(nonce, Aad::from(context.as_bytes()), &mut data)
            .map_err(|_| SealError::Open("wrong key or altered"))?;
        String::from_utf8(plain.to_vec()).map_err(|_| SealError::Open("not text"))
    }
}

#[cfg(unix)]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    use std::os::unix::fs::OpenOptionsExt;
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(not(unix))]
fn write_private(path: &Path, bytes: &[u8]) -> std::io::Result<()> {
    let mut file = std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .open(path)?;
    file.write_all(bytes)?;
    file.sync_all()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_sealed_value_opens_under_its_context_only() {
        let sealer = Sealer::ephemeral();
        let sealed = sealer.seal("channels.settings", "smtp-password");
        assert!(sealed.starts_with(PREFIX));
        assert!(!sealed.contains("smtp-password"));
        assert_eq!(
            sealer.open("channels.settings", &sealed).unwrap(),
            "smtp-password"
        );
        assert!(sealer.open("registries.password", &sealed).is_err());
        assert!(Sealer::ephemeral()
            .open("channels.settings", &sealed)
            .is_err());
    }

    #[test]
    fn the_key_file_is_made_once_and_kept_private() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("sealing.key");
        let first = Sealer::load_or_create(&path).unwrap();
        let sealed = first.seal("x", "y");
        let again = Sealer::load_or_create(&path).unwrap();
        assert_eq!(again.open("x", &sealed).unwrap(), "y");
        #[cfg(unix)]
        {
            use std::os::unix::fs::PermissionsExt;
            let mode = std::fs::metadata(&path).unwrap().permissions().mode();
            assert_eq!(mode & 0o777, 0o600);
        }
        std::fs::write(dir.path().join("short.key"), b"abc").unwrap();
        assert!(Sealer::load_or_create(&dir.path().join("short.key")).is_err());
    }
}
