//! Who a client is and what it may do: bearer tokens (JWT) and client certificates.

use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::secret::Secret;
use crate::tls::ClientCert;

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// What a client may do.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum Scope {
    /// `GET` and `HEAD` only, and no hijack or upgrade.
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

/// How the client proved who it is.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Credential {
    Certificate,
    Token,
    /// Forwarded by another agent of the cluster, on behalf of the client named.
    Forwarded,
}

/// An authenticated client.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    pub subject: String,
    pub scope: Scope,
    pub credential: Credential,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum AuthError {
    #[error("authentication required: present a client certificate from the cluster CA or an 'Authorization: Bearer <token>' header")]
    Missing,
    #[error("{0}")]
    Certificate(String),
    #[error("invalid bearer token: {0}")]
    Token(String),
    #[error("the Authorization header must be 'Bearer <token>'")]
    Scheme,
}

/// The claims of a Bosun token.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub exp: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub iat: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub nbf: Option<u64>,
    pub scope: Scope,
}

#[derive(Debug, thiserror::Error)]
pub enum KeyError {
    #[error("{path}: {source}")]
    Io {
        path: String,
        source: std::io::Error,
    },
    #[error("{path}: neither an Ed25519 nor a P-256 public key in PEM form")]
    Unsupported { path: String },
}

/// A public key trusted to sign tokens (the console's, say).
#[derive(Clone)]
pub struct TrustedKey {
    algorithm: Algorithm,
    key: DecodingKey,
}

impl TrustedKey {
    /// Reads a PEM public key: Ed25519 (EdDSA tokens) or P-256 (ES256 tokens).
    pub fn read(path: &Path) -> Result<Self, KeyError> {
        let pem = std::fs::read(path).map_err(|source| KeyError::Io {
            path: path.display().to_string(),
            source,
        })?;
        let unsupported = || KeyError::Unsupported {
            path: path.display().to_string(),
        };
        let algorithm = spki_algorithm(&pem).ok_or_else(unsupported)?;
        let key = match algorithm {
            Algorithm::EdDSA => DecodingKey::from_ed_pem(&pem),
            _ => DecodingKey::from_ec_pem(&pem),
        }
        .map_err(|_| unsupported())?;
        Ok(Self { algorithm, key })
    }
}

/// Which token algorithm a PEM public key is for, from its SubjectPublicKeyInfo.
fn spki_algorithm(pem: &[u8]) -> Option<Algorithm> {
    use x509_parser::oid_registry::{OID_EC_P256, OID_KEY_TYPE_EC_PUBLIC_KEY, OID_SIG_ED25519};
    use x509_parser::prelude::FromDer;
    let (_, block) = x509_parser::pem::parse_x509_pem(pem).ok()?;
    if block.label != "PUBLIC KEY" {
        return None;
    }
    let (_, spki) = x509_parser::x509::SubjectPublicKeyInfo::from_der(&block.contents).ok()?;
    let oid = &spki.algorithm.algorithm;
    if *oid == OID_SIG_ED25519 {
        return Some(Algorithm::EdDSA);
    }
    let curve = spki.algorithm.parameters.as_ref()?.as_oid().ok()?;
    (*oid == OID_KEY_TYPE_EC_PUBLIC_KEY && curve == OID_EC_P256).then_some(Algorithm::ES256)
}

/// Checks credentials. Built once at start from the configured secret and keys.
#[derive(Clone)]
pub struct Authenticator {
    secret: Option<DecodingKey>,
    trusted: Vec<TrustedKey>,
}

impl Authenticator {
    pub fn new(secret: Option<&Secret>, trusted: Vec<TrustedKey>) -> Self {
        Self {
            secret: secret.map(|s| DecodingKey::from_secret(s.as_bytes())),
            trusted,
        }
    }

    /// Decides who the client is. A bearer token, when sent, decides alone (a bad one is
    /// never excused by a certificate); otherwise the client certificate does.
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        cert: &ClientCert,
    ) -> Result<Identity, AuthError> {
        if let Some(header) = authorization {
            let header = std::str::from_utf8(header).map_err(|_| AuthError::Scheme)?;
            let token = header
                .strip_prefix("Bearer ")
                .or_else(|| header.strip_prefix("bearer "))
                .ok_or(AuthError::Scheme)?
                .trim();
            return self.verify_token(token);
        }
        match cert {
            ClientCert::Trusted { subject } => Ok(Identity {
                subject: subject.clone(),
                scope: Scope::Admin,
                credential: Credential::Certificate,
            }),
            ClientCert::Rejected { reason } => Err(AuthError::Certificate(reason.clone())),
            ClientCert::None => Err(AuthError::Missing),
        }
    }

    pub fn verify_token(&self, token: &str) -> Result<Identity, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Token(e.to_string()))?;
        let candidates: Vec<&DecodingKey> = match header.alg {
            Algorithm::HS256 => self.secret.iter().collect(),
            Algorithm::EdDSA | Algorithm::ES256 => self
                .trusted
                .iter()
                .filter(|k| k.algorithm == header.alg)
                .map(|k| &k.key)
                .collect(),
            other => {
                return Err(AuthError::Token(format!(
                    "algorithm {other:?} is not accepted (HS256, EdDSA or ES256)"
                )))
            }
        };
        if candidates.is_empty() {
            return Err(AuthError::Token(format!(
                "no key configured for {:?} tokens",
                header.alg
            )));
        }
        let mut validation = Validation::new(header.alg);
        validation.leeway = LEEWAY_SECS;
        validation.validate_nbf = true;
        validation.set_required_spec_claims(&["exp", "sub"]);
        let mut last = AuthError::Token("signature does not match".into());
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => {
                    return Ok(Identity {
                        subject: data.claims.sub,
                        scope: data.claims.scope,
                        credential: Credential::Token,
                    })
                }
                Err(e) => last = AuthError::Token(describe(&e)),
            }
        }
        Err(last)
    }
}

fn describe(e: &jsonwebtoken::errors::Error) -> String {
    use jsonwebtoken::errors::ErrorKind;
    match e.kind() {
        ErrorKind::ExpiredSignature => "token has expired".into(),
        ErrorKind::ImmatureSignature => "token is not valid yet (nbf)".into(),
        ErrorKind::InvalidSignature => "signature does not match".into(),
        ErrorKind::MissingRequiredClaim(c) => format!("claim {c:?} is required"),
        _ => e.to_string(),
    }
}

pub fn now_secs() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map(|d| d.as_secs())
        .unwrap_or(0)
}

/// Signs an HS256 token with the cluster secret.
pub fn mint_token(
    secret: &Secret,
    subject: &str,
    scope: Scope,
    ttl_secs: u64,
) -> Result<String, jsonwebtoken::errors::Error> {
    let now = now_secs();
    sign(
        secret,
        &Claims {
            sub: subject.to_owned(),
            exp: now + ttl_secs,
            iat: Some(now),
            nbf: None,
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

/// Whether a request is one a `read` identity may make: reads only, and nothing that
/// opens a stream into a container.
pub fn read_allows(method: &http::Method, upgrade_or_hijack: bool) -> bool {
    (method == http::Method::GET || method == http::Method::HEAD) && !upgrade_or_hijack
}

#[cfg(test)]
mod tests {
    use super::*;

    fn secret(s: &str) -> Secret {
        Secret::from_text(s).expect("secret")
    }

    fn token_with(secret: &Secret, claims: &serde_json::Value) -> String {
        jsonwebtoken::encode(
            &Header::new(Algorithm::HS256),
            claims,
            &EncodingKey::from_secret(secret.as_bytes()),
        )
        .expect("encode")
    }

    #[test]
    fn a_minted_token_verifies_with_its_subject_and_scope() {
        let s = secret("0123456789abcdef0123456789abcdef");
        let auth = Authenticator::new(Some(&s), vec![]);
        let t = mint_token(&s, "alice", Scope::Read, 60).expect("mint");
        let id = auth.verify_token(&t).expect("valid");
        assert_eq!(id.subject, "alice");
        assert_eq!(id.scope, Scope::Read);
        assert_eq!(id.credential, Credential::Token);
    }

    #[test]
    fn expiry_is_checked_with_sixty_seconds_of_leeway() {
        let s = secret("0123456789abcdef0123456789abcdef");
        let auth = Authenticator::new(Some(&s), vec![]);
        let now = now_secs();
        let within = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"admin","exp": now - 30}),
        );
        assert!(auth.verify_token(&within).is_ok());
        let past = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"admin","exp": now - 120}),
        );
        assert_eq!(
            auth.verify_token(&past),
            Err(AuthError::Token("token has expired".into()))
        );
    }

    #[test]
    fn exp_scope_and_the_right_secret_are_required() {
        let s = secret("0123456789abcdef0123456789abcdef");
        let auth = Authenticator::new(Some(&s), vec![]);
        let no_exp = token_with(&s, &serde_json::json!({"sub":"a","scope":"admin"}));
        assert!(auth.verify_token(&no_exp).is_err());
        let no_scope = token_with(&s, &serde_json::json!({"sub":"a","exp": now_secs() + 60}));
        assert!(auth.verify_token(&no_scope).is_err());
        let odd_scope = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"root","exp": now_secs() + 60}),
        );
        assert!(auth.verify_token(&odd_scope).is_err());
        let other = secret("ffffffffffffffffffffffffffffffff");
        let forged = mint_token(&other, "mallory", Scope::Admin, 60).expect("mint");
        assert_eq!(
            auth.verify_token(&forged),
            Err(AuthError::Token("signature does not match".into()))
        );
        assert!(auth.verify_token("not.a.token").is_err());
    }

    #[test]
    fn a_bearer_header_decides_before_a_certificate() {
        let s = secret("0123456789abcdef0123456789abcdef");
        let auth = Authenticator::new(Some(&s), vec![]);
        let trusted = ClientCert::Trusted {
            subject: "bob".into(),
        };
        assert_eq!(
            auth.authenticate(None, &trusted).expect("cert").subject,
            "bob"
        );
        assert!(auth
            .authenticate(Some(b"Bearer garbage"), &trusted)
            .is_err());
        assert_eq!(
            auth.authenticate(Some(b"Basic abc"), &trusted),
            Err(AuthError::Scheme)
        );
        assert_eq!(
            auth.authenticate(None, &ClientCert::None),
            Err(AuthError::Missing)
        );
    }

    #[test]
    fn read_scope_allows_only_plain_reads() {
        assert!(read_allows(&http::Method::GET, false));
        assert!(read_allows(&http::Method::HEAD, false));
        assert!(!read_allows(&http::Method::GET, true));
        assert!(!read_allows(&http::Method::POST, false));
        assert!(!read_allows(&http::Method::DELETE, false));
    }
}
