//! The bearer tokens Bosun speaks: what they claim, and how the cluster secret signs
//! them. The agent verifies them (`bosun_agent::auth`); the console and `bosun-agent
//! token` make them.

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use serde::{Deserialize, Serialize};

use crate::clock::now_secs;
use crate::secret::Secret;

/// The built-in profile a token's `scope` claim names, for tokens that name no profile.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// The read allowlist (`docs/security.md`).
    Read,
    /// Everything.
    Admin,
}

impl Scope {
    pub fn as_str(self) -> &'static str {
        match self {
            Scope::Read => "read",
            Scope::Admin => "admin",
        }
    }
}

impl std::str::FromStr for Scope {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        match s {
            "read" => Ok(Scope::Read),
            "admin" => Ok(Scope::Admin),
            other => Err(format!("unknown scope {other:?} (read or admin)")),
        }
    }
}

/// The claims of a Bosun token. A token names a profile, or a scope (`read`, `admin`)
/// that stands for the built-in profile of that name.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub scope: Option<Scope>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub profile: Option<String>,
}

impl Claims {
    /// The profile the token acts under: its `profile` claim, else its scope's.
    pub fn profile_name(&self) -> Option<String> {
        self.profile
            .clone()
            .filter(|p| !p.trim().is_empty())
            .or_else(|| self.scope.map(|s| s.as_str().to_owned()))
    }
}

/// Signs an HS256 token with the cluster secret.
pub fn mint_token(
    secret: &Secret,
    subject: &str,
    scope: Scope,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    mint_for_profile(secret, subject, scope.as_str(), ttl_secs)
}

/// Signs an HS256 token that names a profile.
pub fn mint_for_profile(
    secret: &Secret,
    subject: &str,
    profile: &str,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = now_secs();
    let scope = profile.parse::<Scope>().ok();
    sign(
        secret,
        &Claims {
            sub: subject.to_owned(),
            exp: now + ttl_secs,
            iat: Some(now),
            nbf: None,
            profile: scope.is_none().then(|| profile.to_owned()),
            scope,
        },
    )
}

/// Signs any claims with the cluster secret (HS256).
pub fn sign(secret: &Secret, claims: &Claims) -> Result<String, jsonwebtoken::errors::Error> {
    jsonwebtoken::encode(
        &Header::new(Algorithm::HS256),
        claims,
        &EncodingKey::from_secret(secret.as_bytes()),
    )
}
