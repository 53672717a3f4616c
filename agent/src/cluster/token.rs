//! Agent tokens: a request one agent forwards to another carries a short-lived token that
//! proves it comes from an agent of the cluster and keeps the original client's subject
//! and scope, which the receiving agent applies.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::{now_secs, AuthError, Credential, Identity, Scope};
use crate::secret::Secret;

/// The header that carries it; never forwarded to an engine.
pub const HEADER: &str = "x-bosun-agent-token";
/// Long enough for clock skew between hosts, short enough to be useless when stolen.
const TTL_SECS: u64 = 60;
const AUDIENCE: &str = "bosun-agent";

#[derive(Debug, Serialize, Deserialize)]
struct AgentClaims {
    sub: String,
    scope: Scope,
    exp: u64,
    iat: u64,
    aud: String,
    /// The node that forwarded the request.
    iss: String,
}

/// Mints and checks agent tokens with a key derived from the cluster secret, distinct from
/// the key of client tokens: a client token is no agent token, nor the reverse.
#[derive(Clone)]
pub struct AgentTokens {
    encoding: EncodingKey,
    decoding: DecodingKey,
}

impl AgentTokens {
    pub fn new(secret: &Secret) -> Self {
        let key = secret.derive("agent-token");
        Self {
            encoding: EncodingKey::from_secret(&key),
            decoding: DecodingKey::from_secret(&key),
        }
    }

    pub fn mint(
        &self,
        identity: &Identity,
        from_node: &str,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now_secs();
        let claims = AgentClaims {
            sub: identity.subject.clone(),
            scope: identity.scope,
            exp: now + TTL_SECS,
            iat: now,
            aud: AUDIENCE.into(),
            iss: from_node.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    pub fn verify(&self, token: &str) -> Result<Identity, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = crate::auth::LEEWAY_SECS;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        let data = jsonwebtoken::decode::<AgentClaims>(token, &self.decoding, &validation)
            .map_err(|e| AuthError::Token(format!("agent token: {e}")))?;
        Ok(Identity {
            subject: data.claims.sub,
            scope: data.claims.scope,
            credential: Credential::Forwarded,
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agent_tokens_keep_the_client_and_are_not_client_tokens() {
        let secret = Secret::from_text("0123456789abcdef0123456789abcdef").expect("secret");
        let tokens = AgentTokens::new(&secret);
        let alice = Identity {
            subject: "alice".into(),
            scope: Scope::Read,
            credential: Credential::Token,
        };
        let t = tokens.mint(&alice, "node-1").expect("mint");
        let back = tokens.verify(&t).expect("valid");
        assert_eq!((back.subject.as_str(), back.scope), ("alice", Scope::Read));
        assert_eq!(back.credential, Credential::Forwarded);

        let client_token =
            crate::auth::mint_token(&secret, "alice", Scope::Admin, 60).expect("mint");
        assert!(tokens.verify(&client_token).is_err());
        let auth = crate::auth::Authenticator::new(Some(&secret), vec![]);
        assert!(auth.verify_token(&t).is_err());
        let other =
            AgentTokens::new(&Secret::from_text("ffffffffffffffffffffffffffffffff").expect("s"));
        assert!(other.verify(&t).is_err());
    }
}
