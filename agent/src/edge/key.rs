//! The agent's own Ed25519 key, made on first use and kept in `<data dir>/edge/key.der`
//! (0600): the console pins its public half at enrolment and asks for a proof signed with
//! it on every later connection. Beside it, `console-key.pem`: the console's key, learned at
//! enrolment, which signs the tokens that arrive through the tunnel.
//!
//! The console rotates the key with the agent connected, in two steps through the tunnel
//! (`/agent/v1/edge/key`): the agent makes a new key and proves it, keeping it in memory
//! only; the console pins it, then tells the agent to take it, which the agent does by
//! replacing its file. Until then the old key stays the agent's.

use std::path::{Path, PathBuf};
use std::sync::{Mutex, RwLock};

use base64::Engine as _;
use bosun_serve::ed25519::SigningKey;
use bosun_serve::tunnel::{Proof, PROOF_AUDIENCE, PROOF_TTL};
use jsonwebtoken::{Algorithm, Header};

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("--data-dir {path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path} is not an Ed25519 key ({reason}); remove it to make a new one, which the console must enrol again")]
    Bad { path: String, reason: String },
}

/// The agent's key, and the console's once learned.
pub struct EdgeKeys {
    dir: PathBuf,
    key: RwLock<SigningKey>,
    /// A new key made for a rotation, with its PKCS#8, until the console has it taken.
    next: Mutex<Option<(SigningKey, Vec<u8>)>>,
    console: Mutex<Option<String>>,
}

/// Writes `contents` to `path` as a new private file (0600) that replaces the old one at
/// once: a crash leaves the old file or the new one, never half of either.
fn replace_private_file(path: &Path, contents: &[u8]) -> std::io::Result<()> {
    let tmp = path.with_extension("tmp");
    match std::fs::remove_file(&tmp) {
        Err(e) if e.kind() != std::io::ErrorKind::NotFound => return Err(e),
        _ => {}
    }
    bosun_serve::secret::write_private_file(&tmp, contents)?;
    std::fs::rename(&tmp, path)
}

impl EdgeKeys {
    /// Loads the kept key, or makes and keeps one.
    pub fn load_or_create(data_dir: &Path) -> Result<Self, KeyError> {
        let dir = data_dir.join("edge");
        let io = |path: &Path| {
            let path = path.display().to_string();
            move |source| KeyError::Io { path, source }
        };
        std::fs::create_dir_all(&dir).map_err(io(&dir))?;
        let path = dir.join("key.der");
        let der = match std::fs::read(&path) {
            Ok(der) => der,
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let der = SigningKey::generate().map_err(|reason| KeyError::Bad {
                    path: path.display().to_string(),
                    reason,
                })?;
                bosun_serve::secret::write_private_file(&path, &der).map_err(io(&path))?;
                der
            }
            Err(e) => return Err(io(&path)(e)),
        };
        let key = SigningKey::from_pkcs8(&der).map_err(|reason| KeyError::Bad {
            path: path.display().to_string(),
            reason,
        })?;
        let console = std::fs::read_to_string(dir.join("console-key.pem")).ok();
        Ok(Self {
            dir,
            key: RwLock::new(key),
            next: Mutex::new(None),
            console: Mutex::new(console),
        })
    }

    fn key(&self) -> std::sync::RwLockReadGuard<'_, SigningKey> {
        self.key.read().unwrap_or_else(|p| p.into_inner())
    }

    /// The public key, as the console pins it: base64 of its 32 bytes.
    pub fn public_b64(&self) -> String {
        public_b64(&self.key())
    }

    /// A short-lived token the key signs, naming the agent.
    pub fn proof(&self, agent_id: &str) -> String {
        proof(&self.key(), agent_id)
    }

    /// The first step of a rotation: a new key, kept in memory, its public half and a
    /// proof it signs. A rotation begun again replaces the one before. (The proof of the
    /// key in use, [`EdgeKeys::proof`], goes with it, so that the console knows which of
    /// the keys it pinned the agent holds.)
    pub fn begin_rotation(&self, agent_id: &str) -> Result<(String, String), KeyError> {
        let path = self.dir.join("key.der");
        let bad = |reason| KeyError::Bad {
            path: path.display().to_string(),
            reason,
        };
        let der = SigningKey::generate().map_err(bad)?;
        let key = SigningKey::from_pkcs8(&der).map_err(bad)?;
        let said = (public_b64(&key), proof(&key, agent_id));
        *self.next.lock().unwrap_or_else(|p| p.into_inner()) = Some((key, der));
        Ok(said)
    }

    /// The second step: the new key whose public half is `public` replaces the old one,
    /// in the file first. `false` when no rotation with that key was begun.
    pub fn commit_rotation(&self, public: &str) -> Result<bool, KeyError> {
        let mut next = self.next.lock().unwrap_or_else(|p| p.into_inner());
        let Some((key, der)) = next.take_if(|(key, _)| public_b64(key) == public) else {
            return Ok(false);
        };
        let path = self.dir.join("key.der");
        replace_private_file(&path, &der).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        *self.key.write().unwrap_or_else(|p| p.into_inner()) = key;
        Ok(true)
    }
}

fn public_b64(key: &SigningKey) -> String {
    base64::engine::general_purpose::STANDARD.encode(key.public_raw())
}

/// A short-lived token `key` signs, naming the agent.
fn proof(key: &SigningKey, agent_id: &str) -> String {
    let iat = bosun_serve::clock::now_secs();
    let proof = Proof {
        sub: agent_id.to_owned(),
        aud: PROOF_AUDIENCE.to_owned(),
        iat,
        exp: iat + PROOF_TTL,
    };
    jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &proof, key.encoding()).unwrap_or_default()
}

impl EdgeKeys {
    /// The console's key, once learned: the agent is enrolled.
    pub fn console_key(&self) -> Option<String> {
        self.console
            .lock()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Keeps the console's key.
    pub fn keep_console_key(&self, pem: &str) -> std::io::Result<()> {
        let mut kept = self.console.lock().unwrap_or_else(|p| p.into_inner());
        if kept.as_deref() != Some(pem) {
            replace_private_file(&self.dir.join("console-key.pem"), pem.as_bytes())?;
            *kept = Some(pem.to_owned());
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_key_is_kept_and_its_proof_verifies_with_the_public_half() {
        let dir = tempfile::tempdir().unwrap();
        let a = EdgeKeys::load_or_create(dir.path()).unwrap();
        let b = EdgeKeys::load_or_create(dir.path()).unwrap();
        assert_eq!(a.public_b64(), b.public_b64());
        let raw: [u8; 32] = base64::engine::general_purpose::STANDARD
            .decode(a.public_b64())
            .unwrap()
            .try_into()
            .unwrap();
        let mut validation = jsonwebtoken::Validation::new(Algorithm::EdDSA);
        validation.set_audience(&[PROOF_AUDIENCE]);
        let proof = jsonwebtoken::decode::<Proof>(
            &a.proof("id-1"),
            &bosun_serve::ed25519::verifier(&raw),
            &validation,
        )
        .unwrap();
        assert_eq!(proof.claims.sub, "id-1");
        assert!(a.console_key().is_none());
        a.keep_console_key("PEM").unwrap();
        assert_eq!(
            EdgeKeys::load_or_create(dir.path())
                .unwrap()
                .console_key()
                .as_deref(),
            Some("PEM")
        );
        a.keep_console_key("ANOTHER PEM").unwrap();
        assert_eq!(
            EdgeKeys::load_or_create(dir.path())
                .unwrap()
                .console_key()
                .as_deref(),
            Some("ANOTHER PEM"),
            "a console key that changed replaces the kept one"
        );
    }

    #[test]
    fn a_rotation_takes_the_new_key_only_when_told_and_keeps_it() {
        let dir = tempfile::tempdir().unwrap();
        let keys = EdgeKeys::load_or_create(dir.path()).unwrap();
        let old = keys.public_b64();
        let (new, _proof) = keys.begin_rotation("id-1").unwrap();
        assert_ne!(new, old);
        assert_eq!(keys.public_b64(), old, "begun, not taken");
        assert!(
            !keys.commit_rotation(&old).unwrap(),
            "only the key begun is taken"
        );
        assert!(keys.commit_rotation(&new).unwrap());
        assert_eq!(keys.public_b64(), new);
        assert!(!keys.commit_rotation(&new).unwrap(), "taken once");
        assert_eq!(
            EdgeKeys::load_or_create(dir.path()).unwrap().public_b64(),
            new,
            "the new key is the one kept"
        );
    }
}
