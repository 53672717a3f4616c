//! Console users: roles, argon2 password hashes, session tokens, and the login rate limit.
//! The client's address behind proxies is in `proxy`, OpenID Connect sign-in in `oidc`,
//! the hashing of passwords in `password`, personal access tokens in `personal`.

pub mod oidc;
mod password;
pub mod personal;
pub mod proxy;

pub use password::{decoy_hash, hash_password, spawn_hash, spawn_verify, verify_password};

use std::collections::HashMap;
use std::net::IpAddr;
use std::sync::Mutex;
use std::time::{Duration, Instant};

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

/// How many failed logins a key may have within a window before further attempts wait.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Limit {
    pub max: usize,
    pub window: Duration,
}

/// The login limits: per user name, and a higher one per client address, so that a
/// typo'd or unknown user name from a shared address locks out no real account, while a
/// spray of names from one address is stopped.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct LoginLimits {
    pub per_user: Limit,
    pub per_address: Limit,
}

impl Default for LoginLimits {
    fn default() -> Self {
        Self {
            per_user: Limit {
                max: 5,
                window: Duration::from_secs(300),
            },
            per_address: Limit {
                max: 20,
                window: Duration::from_secs(300),
            },
        }
    }
}

/// Which limit refused a login.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum Throttled {
    #[error("too many failed logins for this user name; wait a few minutes")]
    User,
    #[error("too many failed logins from this address; wait a few minutes")]
    Address,
}

/// The failures counted for one limit, by key.
struct Failures {
    limit: Limit,
    by_key: HashMap<String, Vec<Instant>>,
}

impl Failures {
    fn new(limit: Limit) -> Self {
        Self {
            limit,
            by_key: HashMap::new(),
        }
    }

    fn over(&mut self, key: &str, now: Instant) -> bool {
        let window = self.limit.window;
        self.by_key.get_mut(key).is_some_and(|times| {
            times.retain(|t| now.duration_since(*t) < window);
            times.len() >= self.limit.max
        })
    }

    fn count(&mut self, key: &str, now: Instant) {
        let window = self.limit.window;
        // Keys whose failures all aged out go, so that a spray of names does not grow
        // the map for good.
        if self.by_key.len() > 4096 {
            self.by_key.retain(|_, times| {
                times.retain(|t| now.duration_since(*t) < window);
                !times.is_empty()
            });
        }
        self.by_key.entry(key.to_owned()).or_default().push(now);
    }
}

/// What the address limit counts by: an IPv4 address, or an IPv6 address's /64, which
/// one client usually holds whole and could otherwise walk through.
fn address_key(address: IpAddr) -> String {
    match address.to_canonical() {
        IpAddr::V4(v4) => v4.to_string(),
        IpAddr::V6(v6) => {
            let s = v6.segments();
            format!("{:x}:{:x}:{:x}:{:x}::/64", s[0], s[1], s[2], s[3])
        }
    }
}

/// Failed logins per user name and per client address, each against its own limit:
/// after `max` failures within `window`, further attempts are refused until the oldest
/// failure ages out. Every user name counts, known or not, so that the answer does not
/// tell which exist; a name's failures only ever hold back that name.
pub struct LoginLimiter {
    users: Mutex<Failures>,
    addresses: Mutex<Failures>,
    /// When each held-back name or address was last put on record, so that a flood of
    /// refused attempts (which cost the console nothing else) writes one audit row per
    /// window, not one per request.
    recorded: Mutex<HashMap<String, Instant>>,
    /// The longer of the two windows.
    window: Duration,
}

impl LoginLimiter {
    pub fn new(limits: LoginLimits) -> Self {
        Self {
            window: limits.per_user.window.max(limits.per_address.window),
            users: Mutex::new(Failures::new(limits.per_user)),
            addresses: Mutex::new(Failures::new(limits.per_address)),
            recorded: Mutex::new(HashMap::new()),
        }
    }

    /// Whether a refusal by `limit` of `user` from `address` is the first one within the
    /// window, and so one to record.
    pub fn first_refusal(&self, limit: Throttled, user: &str, address: IpAddr) -> bool {
        let key = match limit {
            Throttled::User => format!("user {user}"),
            Throttled::Address => format!("address {}", address_key(address)),
        };
        let now = Instant::now();
        let mut recorded = self.recorded.lock().unwrap_or_else(|p| p.into_inner());
        if recorded.len() > 4096 {
            recorded.retain(|_, at| now.duration_since(*at) < self.window);
        }
        match recorded.get(&key) {
            Some(at) if now.duration_since(*at) < self.window => false,
            _ => {
                recorded.insert(key, now);
                true
            }
        }
    }

    /// Checks both limits and counts this attempt as a failure in one step, so that
    /// parallel attempts cannot all pass; nothing is counted when refused.
    pub fn attempt(&self, user: &str, address: IpAddr) -> Result<(), Throttled> {
        let now = Instant::now();
        let address = address_key(address);
        // Always in this order: users, then addresses.
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        if users.over(user, now) {
            return Err(Throttled::User);
        }
        if addresses.over(&address, now) {
            return Err(Throttled::Address);
        }
        users.count(user, now);
        addresses.count(&address, now);
        Ok(())
    }

    /// Takes back the attempt counted for a login that succeeded, and forgets the user
    /// name's failures.
    pub fn succeeded(&self, user: &str, address: IpAddr) {
        let mut users = self.users.lock().unwrap_or_else(|p| p.into_inner());
        let mut addresses = self.addresses.lock().unwrap_or_else(|p| p.into_inner());
        users.by_key.remove(user);
        if let Some(times) = addresses.by_key.get_mut(&address_key(address)) {
            times.pop();
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
    fn the_limiter_counts_names_and_addresses_apart_and_forgets_after_the_window() {
        let limit = |max| Limit {
            max,
            window: Duration::from_millis(300),
        };
        let limiter = LoginLimiter::new(LoginLimits {
            per_user: limit(2),
            per_address: limit(4),
        });
        let (office, home): (IpAddr, IpAddr) = ([10, 0, 0, 1].into(), [10, 0, 0, 2].into());
        // Attempts count before they are checked, so parallel ones cannot all pass.
        assert_eq!(limiter.attempt("typo", office), Ok(()));
        assert_eq!(limiter.attempt("typo", office), Ok(()));
        assert_eq!(limiter.attempt("typo", home), Err(Throttled::User));
        assert!(limiter.first_refusal(Throttled::User, "typo", home));
        assert!(
            !limiter.first_refusal(Throttled::User, "typo", home),
            "one record per window"
        );
        assert_eq!(
            limiter.attempt("admin", office),
            Ok(()),
            "another name passes"
        );
        assert_eq!(limiter.attempt("other", office), Ok(()));
        assert_eq!(
            limiter.attempt("third", office),
            Err(Throttled::Address),
            "the address has had its four"
        );
        assert_eq!(limiter.attempt("third", home), Ok(()));
        // A success takes its own attempt back and forgets the user name's failures.
        limiter.succeeded("third", home);
        // One IPv6 client's /64 is one address.
        let (a, b): (IpAddr, IpAddr) = (
            "2001:db8:1:2::1".parse().expect("v6"),
            "2001:db8:1:2:ffff::9".parse().expect("v6"),
        );
        for n in 0..4 {
            let from = if n % 2 == 0 { a } else { b };
            assert_eq!(limiter.attempt(&format!("v6-{n}"), from), Ok(()));
        }
        assert_eq!(limiter.attempt("v6-x", b), Err(Throttled::Address));
        std::thread::sleep(Duration::from_millis(350));
        assert_eq!(limiter.attempt("typo", office), Ok(()), "forgotten");
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
