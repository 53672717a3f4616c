//! Console users: roles, argon2 password hashes, session tokens, and the login rate limit.

use std::collections::HashMap;
use std::sync::Mutex;
use std::time::{Duration, Instant};

use argon2::password_hash::{PasswordHash, PasswordHasher, PasswordVerifier, SaltString};
use argon2::Argon2;
use bosun_serve::hex;
use serde::{Deserialize, Serialize};

/// What a console user may do. Ordered: each role may do what the ones below it may.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Role {
    Viewer,
    Operator,
    Admin,
}

impl Role {
    pub fn as_str(self) -> &'static str {
        match self {
            Role::Viewer => "viewer",
            Role::Operator => "operator",
            Role::Admin => "admin",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        match text {
            "viewer" => Some(Role::Viewer),
            "operator" => Some(Role::Operator),
            "admin" => Some(Role::Admin),
            _ => None,
        }
    }

    /// The scope the agents give this user's tokens.
    pub fn agent_scope(self) -> bosun_serve::token::Scope {
        match self {
            Role::Viewer => bosun_serve::token::Scope::Read,
            Role::Operator | Role::Admin => bosun_serve::token::Scope::Admin,
        }
    }
}

pub const MIN_PASSWORD: usize = 8;

/// A user name: 1 to 64 letters, digits, '.', '_', '-' or '@'.
pub fn valid_username(name: &str) -> bool {
    !name.is_empty()
        && name.len() <= 64
        && name
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "._-@".contains(c))
}

pub fn hash_password(password: &str) -> Result<String, String> {
    let mut salt = [0u8; 16];
    getrandom::fill(&mut salt).map_err(|e| e.to_string())?;
    let salt = SaltString::encode_b64(&salt).map_err(|e| e.to_string())?;
    Argon2::default()
        .hash_password(password.as_bytes(), &salt)
        .map(|h| h.to_string())
        .map_err(|e| e.to_string())
}

pub fn verify_password(password: &str, hash: &str) -> bool {
    PasswordHash::new(hash)
        .map(|parsed| {
            Argon2::default()
                .verify_password(password.as_bytes(), &parsed)
                .is_ok()
        })
        .unwrap_or(false)
}

/// A hash to verify against when the user does not exist, so that a wrong user name takes
/// as long as a wrong password.
pub fn decoy_hash() -> &'static str {
    static DECOY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DECOY.get_or_init(|| hash_password("decoy password").unwrap_or_default())
}

/// [`hash_password`] on tokio's blocking pool: argon2 takes tens of milliseconds of CPU,
/// which no runtime worker should spend.
pub async fn spawn_hash(password: String) -> Result<String, String> {
    tokio::task::spawn_blocking(move || hash_password(&password))
        .await
        .map_err(|e| e.to_string())?
}

/// [`verify_password`] on tokio's blocking pool; with no hash (no such user), against the
/// decoy, so that a wrong user name takes as long as a wrong password.
pub async fn spawn_verify(password: String, hash: Option<String>) -> bool {
    tokio::task::spawn_blocking(move || {
        let hash = match &hash {
            Some(hash) => hash.as_str(),
            None => decoy_hash(),
        };
        verify_password(&password, hash)
    })
    .await
    .unwrap_or(false)
}

/// 32 random bytes as hex.
pub fn random_token() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source");
    hex::encode(&bytes)
}

/// The session token as stored: its SHA-256, so the database alone opens no session.
pub fn token_hash(token: &str) -> String {
    hex::encode(aws_lc_rs::digest::digest(&aws_lc_rs::digest::SHA256, token.as_bytes()).as_ref())
}

/// Compares two strings in time independent of where they differ.
pub fn same(a: &str, b: &str) -> bool {
    a.len() == b.len()
        && a.bytes()
            .zip(b.bytes())
            .fold(0u8, |acc, (x, y)| acc | (x ^ y))
            == 0
}

/// Failed logins per user name and per client address: after `max` within `window`,
/// further attempts are refused until the oldest failure ages out.
pub struct LoginLimiter {
    max: usize,
    window: Duration,
    failures: Mutex<HashMap<String, Vec<Instant>>>,
}

impl LoginLimiter {
    pub fn new(max: usize, window: Duration) -> Self {
        Self {
            max,
            window,
            failures: Mutex::new(HashMap::new()),
        }
    }

    /// Checks the limit and counts this attempt as a failure in one step; `false` when
    /// over the limit (nothing is counted then).
    pub fn attempt(&self, keys: &[String]) -> bool {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        let over = keys.iter().any(|k| {
            map.get_mut(k).is_some_and(|times| {
                times.retain(|t| now.duration_since(*t) < self.window);
                times.len() >= self.max
            })
        });
        if over {
            return false;
        }
        map.retain(|_, times| !times.is_empty());
        for k in keys {
            map.entry(k.clone()).or_default().push(now);
        }
        true
    }

    /// Takes back the attempt counted for a login that succeeded, and forgets the user
    /// name's failures.
    pub fn succeeded(&self, keys: &[String]) {
        let mut map = self.failures.lock().unwrap_or_else(|p| p.into_inner());
        if let Some((user, rest)) = keys.split_first() {
            map.remove(user);
            for k in rest {
                if let Some(times) = map.get_mut(k) {
                    times.pop();
                }
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn passwords_verify_only_against_their_hash() {
        let hash = hash_password("correct horse").expect("hash");
        assert!(hash.starts_with("$argon2"));
        assert!(verify_password("correct horse", &hash));
        assert!(!verify_password("wrong horse", &hash));
        assert!(!verify_password("correct horse", "not a hash"));
    }

    #[test]
    fn the_limiter_blocks_after_the_maximum_and_forgets_after_the_window() {
        let limiter = LoginLimiter::new(2, Duration::from_millis(200));
        let keys = vec!["user:a".to_owned(), "addr:1".to_owned()];
        // Attempts count before they are checked, so parallel ones cannot all pass.
        assert!(limiter.attempt(&keys));
        assert!(limiter.attempt(&keys));
        assert!(!limiter.attempt(&keys), "over the limit");
        assert!(!limiter.attempt(&["addr:1".to_owned()]), "per address too");
        assert!(
            !limiter.attempt(&["user:a".to_owned()]),
            "per user name too"
        );
        std::thread::sleep(Duration::from_millis(250));
        assert!(limiter.attempt(&keys), "forgotten after the window");
        // A success takes its own attempt back and forgets the user name's failures.
        limiter.succeeded(&keys);
        assert!(limiter.attempt(&["user:a".to_owned()]));
        assert!(limiter.attempt(&["addr:1".to_owned()]));
    }

    #[test]
    fn roles_are_ordered_and_map_to_agent_scopes() {
        assert!(Role::Admin > Role::Operator && Role::Operator > Role::Viewer);
        assert_eq!(Role::Viewer.agent_scope(), bosun_serve::token::Scope::Read);
        assert_eq!(
            Role::Operator.agent_scope(),
            bosun_serve::token::Scope::Admin
        );
    }
}
