//! Who a client is and what it may do: bearer tokens (JWT) and client certificates.

use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use jsonwebtoken::{Algorithm, DecodingKey, Validation};

use crate::access::Policy;
use crate::secret::Secret;

use crate::tls::ClientCert;
pub use bosun_serve::clock::now_secs;
pub use bosun_serve::token::{mint_for_profile, mint_token, sign, Claims, Scope};

/// Clock skew tolerated on `exp` and `nbf`.
pub const LEEWAY_SECS: u64 = 60;

/// How the client proved who it is.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Credential {
    /// A client certificate from the cluster CA, by its serial.
    Certificate {
        serial: Arc<str>,
    },
    Token,
    /// Forwarded by another agent of the cluster (the node named), on behalf of the
    /// client named.
    Forwarded {
        by: String,
    },
}

/// An authenticated client and the profile it acts under.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Identity {
    /// Shared, as the audit record and the steps of a request take it, rather than copied.
    pub subject: Arc<str>,
    /// The name of a profile of the policy (`admin`, `read`, or one of the file's).
    pub profile: Arc<str>,
    pub credential: Credential,
}

impl Identity {
    /// The agent that forwarded the request, if one did.
    pub fn forwarded_by(&self) -> Option<&str> {
        match &self.credential {
            Credential::Forwarded { by } => Some(by),
            _ => None,
        }
    }
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

/// Default for `--max-token-lifetime`: a user token may be valid for a day at most.
pub const DEFAULT_MAX_TOKEN_LIFETIME: Duration = Duration::from_secs(24 * 3600);

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
        Self::from_pem(&pem).ok_or_else(|| KeyError::Unsupported {
            path: path.display().to_string(),
        })
    }

    /// A PEM public key: Ed25519 or P-256; `None` for anything else.
    pub fn from_pem(pem: &[u8]) -> Option<Self> {
        let algorithm = spki_algorithm(pem)?;
        let key = match algorithm {
            Algorithm::EdDSA => DecodingKey::from_ed_pem(pem),
            _ => DecodingKey::from_ec_pem(pem),
        }
        .ok()?;
        Some(Self { algorithm, key })
    }

    /// The algorithm this key verifies: EdDSA or ES256.
    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn decoding_key(&self) -> &DecodingKey {
        &self.key
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
    /// Keys learned while running: the console's, from an edge tunnel.
    learned: LearnedKeys,
    max_lifetime: Duration,
}

/// Keys trusted since start, shared with what learns them.
#[derive(Clone, Default)]
pub struct LearnedKeys(Arc<std::sync::RwLock<Vec<TrustedKey>>>);

impl LearnedKeys {
    /// Trusts `key` from now on, in place of what was learned before.
    pub fn set(&self, key: TrustedKey) {
        *self.0.write().unwrap_or_else(|p| p.into_inner()) = vec![key];
    }
}

impl Authenticator {
    pub fn new(secret: Option<&Secret>, trusted: Vec<TrustedKey>) -> Self {
        Self {
            secret: secret.map(|s| DecodingKey::from_secret(s.as_bytes())),
            trusted,
            learned: LearnedKeys::default(),
            max_lifetime: DEFAULT_MAX_TOKEN_LIFETIME,
        }
    }

    /// Where keys learned while running go.
    pub fn learned(&self) -> LearnedKeys {
        self.learned.clone()
    }

    /// The longest a token may be valid, from `iat` to `exp`.
    pub fn with_max_lifetime(mut self, max: Duration) -> Self {
        self.max_lifetime = max;
        self
    }

    /// Decides who the client is. A bearer token, when sent, decides alone (a bad one is
    /// never excused by a certificate); otherwise the client certificate does, and the
    /// policy says which profile it gets and whether it is revoked.
    pub fn authenticate(
        &self,
        authorization: Option<&[u8]>,
        cert: &ClientCert,
        policy: &Policy,
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
            ClientCert::Trusted { subject } => {
                if policy.is_revoked(&subject.serial) {
                    return Err(AuthError::Certificate(format!(
                        "client certificate {:?} (serial {}) is revoked",
                        subject.common_name, subject.serial
                    )));
                }
                Ok(Identity {
                    subject: subject.common_name.clone(),
                    profile: policy.certificate_profile(subject),
                    credential: Credential::Certificate {
                        serial: subject.serial.clone(),
                    },
                })
            }
            ClientCert::Rejected { reason } => Err(AuthError::Certificate(reason.clone())),
            ClientCert::None => Err(AuthError::Missing),
        }
    }

    pub fn verify_token(&self, token: &str) -> Result<Identity, AuthError> {
        let header =
            jsonwebtoken::decode_header(token).map_err(|e| AuthError::Token(e.to_string()))?;
        let learned;
        let candidates: Vec<&DecodingKey> = match header.alg {
            Algorithm::HS256 => self.secret.iter().collect(),
            Algorithm::EdDSA | Algorithm::ES256 => {
                learned = self.learned.0.read().unwrap_or_else(|p| p.into_inner());
                self.trusted
                    .iter()
                    .chain(learned.iter())
                    .filter(|k| k.algorithm == header.alg)
                    .map(|k| &k.key)
                    .collect()
            }
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
        validation.set_required_spec_claims(&["exp", "sub", "iat"]);
        let mut last = AuthError::Token("signature does not match".into());
        for key in candidates {
            match jsonwebtoken::decode::<Claims>(token, key, &validation) {
                Ok(data) => return self.admit(data.claims),
                Err(e) => last = AuthError::Token(describe(&e)),
            }
        }
        Err(last)
    }

    /// The checks on a token's claims that its signature does not make.
    fn admit(&self, claims: Claims) -> Result<Identity, AuthError> {
        let bad = |m: String| Err(AuthError::Token(m));
        if claims.sub.trim().is_empty() {
            return bad("the subject (sub) is empty".into());
        }
        let Some(iat) = claims.iat else {
            return bad("claim \"iat\" is required".into());
        };
        if iat > now_secs() + LEEWAY_SECS {
            return bad("it was issued in the future (iat)".into());
        }
        let lifetime = claims.exp.saturating_sub(iat);
        if lifetime > self.max_lifetime.as_secs() {
            return bad(format!(
                "it is valid for {lifetime} s, longer than this agent accepts ({} s, --max-token-lifetime)",
                self.max_lifetime.as_secs()
            ));
        }
        let Some(profile) = claims.profile_name() else {
            return bad("it names neither a profile nor a scope".into());
        };
        Ok(Identity {
            subject: claims.sub.into(),
            profile: profile.into(),
            credential: Credential::Token,
        })
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::CertSubject;
    use jsonwebtoken::{EncodingKey, Header};

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

    fn auth() -> (Secret, Authenticator) {
        let s = secret("0123456789abcdef0123456789abcdef");
        let a = Authenticator::new(Some(&s), vec![]);
        (s, a)
    }

    #[test]
    fn a_minted_token_verifies_with_its_subject_and_profile() {
        let (s, auth) = auth();
        let t = mint_token(&s, "alice", Scope::Read, 60).expect("mint");
        let id = auth.verify_token(&t).expect("valid");
        assert_eq!(&*id.subject, "alice");
        assert_eq!(&*id.profile, "read");
        assert_eq!(id.credential, Credential::Token);
        let t = mint_for_profile(&s, "bob", "payments", 60).expect("mint");
        assert_eq!(&*auth.verify_token(&t).expect("valid").profile, "payments");
    }

    #[test]
    fn expiry_is_checked_with_sixty_seconds_of_leeway() {
        let (s, auth) = auth();
        let now = now_secs();
        let within = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"admin","iat": now - 90,"exp": now - 30}),
        );
        assert!(auth.verify_token(&within).is_ok());
        let past = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"admin","iat": now - 200,"exp": now - 120}),
        );
        assert_eq!(
            auth.verify_token(&past),
            Err(AuthError::Token("token has expired".into()))
        );
    }

    #[test]
    fn exp_iat_subject_and_profile_are_required() {
        let (s, auth) = auth();
        let now = now_secs();
        let no_exp = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"admin","iat":now}),
        );
        assert!(auth.verify_token(&no_exp).is_err());
        let no_iat = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"admin","exp":now + 60}),
        );
        assert!(auth.verify_token(&no_iat).is_err());
        let no_scope = token_with(
            &s,
            &serde_json::json!({"sub":"a","iat":now,"exp": now + 60}),
        );
        assert!(auth.verify_token(&no_scope).is_err());
        let odd_scope = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"root","iat":now,"exp": now + 60}),
        );
        assert!(auth.verify_token(&odd_scope).is_err());
        let empty_sub = token_with(
            &s,
            &serde_json::json!({"sub":" ","scope":"admin","iat":now,"exp": now + 60}),
        );
        assert_eq!(
            auth.verify_token(&empty_sub),
            Err(AuthError::Token("the subject (sub) is empty".into()))
        );
        let future = token_with(
            &s,
            &serde_json::json!({"sub":"a","scope":"admin","iat":now + 600,"exp": now + 660}),
        );
        assert!(auth.verify_token(&future).is_err());
        let other = secret("ffffffffffffffffffffffffffffffff");
        let forged = mint_token(&other, "mallory", Scope::Admin, 60).expect("mint");
        assert_eq!(
            auth.verify_token(&forged),
            Err(AuthError::Token("signature does not match".into()))
        );
        assert!(auth.verify_token("not.a.token").is_err());
    }

    #[test]
    fn tokens_live_no_longer_than_the_maximum() {
        let (s, auth) = auth();
        let year = mint_token(&s, "a", Scope::Admin, 365 * 86_400).expect("mint");
        let refused = auth.verify_token(&year).expect_err("too long");
        assert!(
            refused.to_string().contains("--max-token-lifetime"),
            "{refused}"
        );
        let day = mint_token(&s, "a", Scope::Admin, 86_400).expect("mint");
        assert!(auth.verify_token(&day).is_ok());
        let strict = auth.with_max_lifetime(Duration::from_secs(3600));
        assert!(strict.verify_token(&day).is_err());
    }

    #[test]
    fn a_bearer_header_decides_before_a_certificate() {
        let (_, auth) = auth();
        let policy = Policy::default();
        let trusted = ClientCert::Trusted {
            subject: CertSubject::new("bob".into(), vec!["profile=admin".into()], "1f"),
        };
        let id = auth.authenticate(None, &trusted, &policy).expect("cert");
        assert_eq!((&*id.subject, &*id.profile), ("bob", "admin"));
        assert!(auth
            .authenticate(Some(b"Bearer garbage"), &trusted, &policy)
            .is_err());
        assert_eq!(
            auth.authenticate(Some(b"Basic abc"), &trusted, &policy),
            Err(AuthError::Scheme)
        );
        assert_eq!(
            auth.authenticate(None, &ClientCert::None, &policy),
            Err(AuthError::Missing)
        );
        let revoking = Policy::parse("[certificates]\nrevoked = [\"1F\"]\n", "p").expect("policy");
        assert!(matches!(
            auth.authenticate(None, &trusted, &revoking),
            Err(AuthError::Certificate(m)) if m.contains("revoked")
        ));
    }
}
