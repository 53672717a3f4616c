//! Password hashes: argon2id in the PHC string form, made and checked on one thread of
//! their own.
//!
//! argon2 works in 19 MiB of memory per hash. Allocated afresh for every hash, those blocks
//! were not given back to the system: a burst of sign-ins left the console about 100 MB
//! larger for good. The hashing thread keeps one working memory and hashes in it, and a
//! burst of sign-ins (or a password spray) waits its turn instead of taking every core.

use std::sync::OnceLock;

use argon2::password_hash::{Output, ParamsString, PasswordHash, SaltString};
use argon2::{Algorithm, Argon2, Block, Params, Version};
use tokio::sync::{mpsc, oneshot};

/// Requests waiting for the hashing thread before a caller waits to queue.
const QUEUE: usize = 64;

/// One piece of work for the hashing thread, with where its answer goes.
enum Job {
    Hash {
        password: String,
        reply: oneshot::Sender<Result<String, String>>,
    },
    Verify {
        password: String,
        hash: Option<String>,
        reply: oneshot::Sender<bool>,
    },
}

/// argon2's working memory, kept from one hash to the next.
#[derive(Default)]
struct Memory {
    blocks: Vec<Block>,
}

impl Memory {
    /// The first `params.block_count()` blocks, grown to that if need be.
    fn blocks_for(&mut self, params: &Params) -> &mut [Block] {
        let needed = params.block_count();
        if self.blocks.len() < needed {
            self.blocks.resize(needed, Block::default());
        }
        &mut self.blocks[..needed]
    }

    /// `argon`'s output of `len` bytes for `password` and `salt`, worked out in this memory.
    fn output(
        &mut self,
        argon: &Argon2,
        password: &str,
        salt: &[u8],
        len: usize,
    ) -> argon2::password_hash::Result<Output> {
        let blocks = self.blocks_for(argon.params());
        Output::init_with(len, |out| {
            argon
                .hash_password_into_with_memory(password.as_bytes(), salt, out, &mut *blocks)
                .map_err(Into::into)
        })
    }

    /// A new argon2id hash of `password` with a random salt, in the PHC string form.
    fn hash(&mut self, password: &str) -> Result<String, String> {
        let mut salt = [0u8; 16];
        getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
        let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
        let mut raw = [0u8; 64];
        let salt_bytes = salt
            .as_salt()
            .decode_b64(&mut raw)
            .map_err(|e| e.to_string())?;
        let params = Params::default();
        let argon = Argon2::new(Algorithm::default(), Version::default(), params.clone());
        let output = self
            .output(&argon, password, salt_bytes, Params::DEFAULT_OUTPUT_LEN)
            .map_err(|e| e.to_string())?;
        let hash = PasswordHash {
            algorithm: Algorithm::default().ident(),
            version: Some(Version::default().into()),
            params: ParamsString::try_from(&params).map_err(|e| e.to_string())?,
            salt: Some(salt.as_salt()),
            hash: Some(output),
        };
        Ok(hash.to_string())
    }

    /// Whether `password` is the one `hash` (a PHC string) was made from, with the
    /// algorithm, version and costs the hash names.
    fn verify(&mut self, password: &str, hash: &str) -> bool {
        let Ok(parsed) = PasswordHash::new(hash) else {
            return false;
        };
        let (Some(expected), Some(salt)) = (parsed.hash, parsed.salt) else {
            return false;
        };
        let Ok(algorithm) = Algorithm::try_from(parsed.algorithm) else {
            return false;
        };
        let Ok(version) = parsed
            .version
            .map_or(Ok(Version::default()), Version::try_from)
        else {
            return false;
        };
        let Ok(params) = Params::try_from(&parsed) else {
            return false;
        };
        let mut raw = [0u8; 64];
        let Ok(salt_bytes) = salt.decode_b64(&mut raw) else {
            return false;
        };
        let argon = Argon2::new(algorithm, version, params);
        let made = self.output(&argon, password, salt_bytes, expected.len());
        // `Output`'s equality takes the same time wherever the first difference is.
        made.is_ok_and(|made| made == expected)
    }
}

/// [`Memory::hash`] with memory of its own: for the command line, not the server.
pub fn hash_password(password: &str) -> Result<String, String> {
    Memory::default().hash(password)
}

/// [`Memory::verify`] with memory of its own: for the command line, not the server.
pub fn verify_password(password: &str, hash: &str) -> bool {
    Memory::default().verify(password, hash)
}

/// A hash to verify against when the user does not exist, so that a wrong user name takes
/// as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: OnceLock<String> = OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password").unwrap_or_default())
}

/// The hashing thread's queue, the thread started on first use.
fn hasher() -> Result<&'static mpsc::Sender<Job>, String> {
    static HASHER: OnceLock<Result<mpsc::Sender<Job>, String>> = OnceLock::new();
    HASHER
        .get_or_init(|| {
            let (tx, mut rx) = mpsc::channel::<Job>(QUEUE);
            std::thread::Builder::new()
                .name("password-hasher".into())
                .spawn(move || {
                    let mut memory = Memory::default();
                    while let Some(job) = rx.blocking_recv() {
                        match job {
                            Job::Hash { password, reply } => {
                                let _ = reply.send(memory.hash(&password));
                            }
                            Job::Verify {
                                password,
                                hash,
                                reply,
                            } => {
                                let hash = hash.as_deref().unwrap_or_else(|| decoy_hash());
                                let _ = reply.send(memory.verify(&password, hash));
                            }
                        }
                    }
                })
                .map(|_| tx)
                .map_err(|e| format!("cannot start the password hashing thread: {e}"))
        })
        .as_ref()
        .map_err(Clone::clone)
}

/// [`hash_password`] on the hashing thread: argon2 takes tens of milliseconds of CPU,
/// which no runtime worker should spend.
pub async fn spawn_hash(password: String) -> Result<String, String> {
    let (reply, answer) = oneshot::channel();
    hasher()?
        .send(Job::Hash { password, reply })
        .await
        .map_err(|_| "the password hashing thread has stopped".to_owned())?;
    answer
        .await
        .map_err(|_| "the password hashing thread has stopped".to_owned())?
}

/// [`verify_password`] on the hashing thread; with no hash (no such user), against the
/// decoy, so that a wrong user name takes as long as a wrong password.
pub async fn spawn_verify(password: String, hash: Option<String>) -> bool {
    let (reply, answer) = oneshot::channel();
    let Ok(queue) = hasher() else {
        return false;
    };
    let job = Job::Verify {
        password,
        hash,
        reply,
    };
    if queue.send(job).await.is_err() {
        return false;
    }
    answer.await.unwrap_or(false)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn hashes_are_the_crates_own_phc_strings() {
        // Made here, checked by the crate's own verifier, and the other way round.
        use argon2::password_hash::{PasswordHasher, PasswordVerifier};
        let ours = hash_password("correct horse").expect("hash");
        let parsed = PasswordHash::new(&ours).expect("a PHC string");
        assert!(Argon2::default()
            .verify_password(b"correct horse", &parsed)
            .is_ok());
        let salt = SaltString::encode_b64(b"sixteen byte slt").expect("salt");
        let theirs = Argon2::default()
            .hash_password(b"correct horse", &salt)
            .expect("hash")
            .to_string();
        assert!(verify_password("correct horse", &theirs));
        assert!(!verify_password("wrong horse", &theirs));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[tokio::test]
    async fn the_hashing_thread_makes_and_checks_hashes() {
        let hash = spawn_hash("correct horse".into()).await.expect("hash");
        assert!(hash.starts_with("$argon2id$"));
        assert!(spawn_verify("correct horse".into(), Some(hash.clone())).await);
        assert!(!spawn_verify("wrong horse".into(), Some(hash)).await);
        assert!(!spawn_verify("decoy password!".into(), None).await);
    }
}
