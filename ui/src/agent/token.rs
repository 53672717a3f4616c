//! The short-lived tokens the console sends its agents: they name the console user, carry
//! the profile the endpoint maps them to (or else the role's scope), and are signed with
//! the cluster secret or the console's own Ed25519 key.

use std::sync::Arc;

use jsonwebtoken::{Algorithm, Header};

use bosun_serve::ed25519::SigningKey;
use bosun_serve::secret::Secret;
use bosun_serve::token::Claims;

use super::{AgentError, Caller};
use crate::profiles::ProfileMap;
use crate::store::Endpoint;

/// How long a token the console mints is valid.
const TOKEN_TTL: u64 = 60;

/// The console's own Ed25519 key, for endpoints that trust it instead of sharing the
/// cluster secret.
pub struct ConsoleKey {
    key: SigningKey,
}

impl ConsoleKey {
    /// A new key, as PKCS#8 DER.
    pub fn generate() -> Result<Vec<u8>, String> {
        SigningKey::generate()
    }

    pub fn from_pkcs8(der: &[u8]) -> Result<Self, String> {
        Ok(Self {
            key: SigningKey::from_pkcs8(der)?,
        })
    }

    pub fn public_pem(&self) -> &str {
        self.key.public_pem()
    }

    /// A check policy as a compact JWS (`alg: EdDSA`, `typ:` [`POLICY_TYP`]), which an
    /// agent that trusts this key runs.
    ///
    /// [`POLICY_TYP`]: bosun_serve::checks::POLICY_TYP
    pub fn sign_policy(&self, policy: &bosun_serve::checks::Policy) -> Result<String, String> {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = Some(bosun_serve::checks::POLICY_TYP.to_owned());
        jsonwebtoken::encode(&header, policy, self.key.encoding())
            .map_err(|e| format!("cannot sign the policy for node {}: {e}", policy.node))
    }
}

enum Signer {
    Secret(Secret),
    Key(Arc<ConsoleKey>),
}

/// One endpoint's way of minting tokens: its signer and its profile mapping.
pub(super) struct Tokens {
    signer: Signer,
    profiles: ProfileMap,
}

impl Tokens {
    pub(super) fn new(endpoint: &Endpoint, key: &Arc<ConsoleKey>) -> Result<Self, AgentError> {
        let signer = match (endpoint.auth.as_str(), &endpoint.secret) {
            ("secret", Some(secret)) => Signer::Secret(
                Secret::from_text(secret).map_err(|e| AgentError::Config(e.to_string()))?,
            ),
            ("key", _) => Signer::Key(Arc::clone(key)),
            _ => return Err(AgentError::Config("has no secret".into())),
        };
        Ok(Self {
            signer,
            profiles: endpoint.profiles.clone(),
        })
    }

    /// What a token for the caller claims: the profile the endpoint maps them to, or else
    /// the role's scope.
    fn claims(&self, caller: Caller<'_>) -> Claims {
        let now = crate::store::now_secs() as u64;
        let profile = if caller.user == super::CONSOLE_SUBJECT {
            None
        } else {
            self.profiles
                .pick(caller.user, caller.role)
                .map(str::to_owned)
        };
        Claims {
            sub: caller.user.to_owned(),
            exp: now + TOKEN_TTL,
            iat: Some(now),
            nbf: None,
            // A token that names a profile carries no scope, as the agent's own tokens
            // do: an agent that knows no profiles refuses it rather than reading the
            // role's wider scope from it.
            scope: profile.is_none().then(|| caller.role.agent_scope()),
            profile,
        }
    }

    pub(super) fn token(&self, caller: Caller<'_>) -> Result<String, AgentError> {
        let claims = self.claims(caller);
        let signed = match &self.signer {
            Signer::Secret(secret) => bosun_serve::token::sign(secret, &claims),
            Signer::Key(key) => {
                jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, key.key.encoding())
            }
        };
        signed.map_err(|e| AgentError::Config(format!("cannot sign a token: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::Role;
    use bosun_serve::token::Scope;

    #[test]
    fn tokens_name_the_mapped_profile_or_else_the_roles_scope() {
        let (ca, _key_pem) = bosun_serve::pki::Ca::generate("test CA").expect("CA");
        let secret = Secret::generate().expect("secret");
        let secret_text = String::from_utf8(secret.as_bytes().to_vec()).expect("hex");
        let endpoint = Endpoint {
            id: 1,
            name: "e".into(),
            url: "https://localhost:9001".into(),
            ca_pem: ca.cert_pem().to_owned(),
            auth: "secret".into(),
            secret: Some(secret_text),
            profiles: ProfileMap::from_json(&serde_json::json!({
                "roles": {"operator": "watcher"},
                "users": {"alice": "payments"},
            }))
            .expect("valid"),
        };
        let key = ConsoleKey::from_pkcs8(&ConsoleKey::generate().expect("key")).expect("load");
        let tokens = Tokens::new(&endpoint, &Arc::new(key)).expect("tokens");
        let auth = bosun_agent::auth::Authenticator::new(Some(&secret), vec![]);
        let profile_of = |user: &str, role: Role| {
            let token = tokens.token(Caller { user, role }).expect("token");
            let who = auth.verify_token(&token).expect("the agent accepts it");
            assert_eq!(&*who.subject, user);
            who.profile.to_string()
        };
        assert_eq!(profile_of("alice", Role::Viewer), "payments");
        assert_eq!(profile_of("olga", Role::Operator), "watcher");
        assert_eq!(profile_of("olga", Role::Admin), "admin");
        assert_eq!(profile_of("victor", Role::Viewer), "read");
        let mapped = tokens.claims(Caller {
            user: "olga",
            role: Role::Operator,
        });
        assert_eq!(
            (mapped.profile.as_deref(), mapped.scope),
            (Some("watcher"), None)
        );
        let unmapped = tokens.claims(Caller {
            user: "victor",
            role: Role::Viewer,
        });
        assert_eq!(
            (unmapped.profile, unmapped.scope),
            (None, Some(Scope::Read))
        );
        // The console's own pulls read, whatever the viewer role is mapped to.
        let mut viewers_mapped = endpoint.clone();
        viewers_mapped.profiles =
            ProfileMap::from_json(&serde_json::json!({"roles": {"viewer": "watcher"}}))
                .expect("valid");
        let tokens = Tokens::new(&viewers_mapped, &tokens_key()).expect("tokens");
        let console = tokens.claims(Caller::CONSOLE);
        assert_eq!(
            (console.sub.as_str(), console.profile, console.scope),
            (super::super::CONSOLE_SUBJECT, None, Some(Scope::Read))
        );
        let viewer = tokens.claims(Caller {
            user: "victor",
            role: Role::Viewer,
        });
        assert_eq!(viewer.profile.as_deref(), Some("watcher"));
    }

    fn tokens_key() -> Arc<ConsoleKey> {
        Arc::new(ConsoleKey::from_pkcs8(&ConsoleKey::generate().expect("key")).expect("load"))
    }

    #[test]
    fn the_console_key_signs_tokens_an_agent_accepts() {
        let der = ConsoleKey::generate().expect("key");
        let key = ConsoleKey::from_pkcs8(&der).expect("load");
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("console.pem");
        std::fs::write(&path, key.public_pem()).expect("write");
        let trusted = bosun_agent::auth::TrustedKey::read(&path).expect("the agent reads it");
        let claims = Claims {
            sub: "alice".into(),
            exp: crate::store::now_secs() as u64 + 60,
            iat: Some(crate::store::now_secs() as u64),
            nbf: None,
            scope: Some(Scope::Read),
            profile: None,
        };
        let token =
            jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, key.key.encoding())
                .expect("sign");
        let auth = bosun_agent::auth::Authenticator::new(None, vec![trusted]);
        let who = auth.verify_token(&token).expect("the agent accepts it");
        assert_eq!(&*who.subject, "alice");
        assert_eq!(&*who.profile, "read");
    }
}
