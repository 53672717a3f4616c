//! The agent's own Ed25519 key, made on first use and kept in `<data dir>/edge/key.der`
//! (0600): the console pins its public half at enrolment and asks for a proof signed with
//! it on every later connection. Beside it, `console-key.pem`: the console's key, learned at
//! enrolment, which signs the tokens that arrive through the tunnel.

use std::path::{Path, PathBuf};
use std::sync::Mutex;

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
    key: SigningKey,
    console: Mutex<Option<String>>,
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
            key,
            console: Mutex::new(console),
        })
    }

    /// The public key, as the console pins it: base64 of its 32 bytes.
    pub fn public_b64(&self) -> String {
        base64::engine::general_purpose::STANDARD.encode(self.key.public_raw())
    }

    /// A short-lived token the key signs, naming the agent.
    pub fn proof(&self, agent_id: &str) -> String {
        let iat = bosun_serve::clock::now_secs();
        let proof = Proof {
            sub: agent_id.to_owned(),
            aud: PROOF_AUDIENCE.to_owned(),
            iat,
            exp: iat + PROOF_TTL,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &proof, self.key.encoding())
            .unwrap_or_default()
    }

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
            bosun_serve::secret::write_private_file(
                &self.dir.join("console-key.pem"),
                pem.as_bytes(),
            )?;
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
    }
}
