//! Agent tokens: a request one agent forwards to another carries a short-lived token that
//! proves it comes from an agent of the cluster, keeps the original client's subject and
//! profile, which the receiving agent enforces too, and is bound to that one request: its
//! method, path and query, and the node it is for.

use jsonwebtoken::{Algorithm, DecodingKey, EncodingKey, Header, Validation};
use serde::{Deserialize, Serialize};

use crate::auth::{now_secs, AuthError, Credential, Identity};
use crate::secret::Secret;

/// The header that carries it; never forwarded to an engine.
pub const HEADER: http::HeaderName = http::HeaderName::from_static("x-bosun-agent-token");
/// A forwarded request reaches its node within milliseconds; a few seconds cover a busy
/// node, and a stolen token is useless soon after.
const TTL_SECS: u64 = 10;
/// Clock skew tolerated between the nodes of a cluster.
const LEEWAY_SECS: u64 = 5;
const AUDIENCE: &str = "bosun-agent";

#[derive(Debug, Serialize, Deserialize)]
struct AgentClaims {
    sub: String,
    profile: String,
    exp: u64,
    iat: u64,
    aud: String,
    /// The node that forwarded the request.
    iss: String,
    /// The node the request is for.
    node: String,
    method: String,
    /// Path and query, exactly as sent.
    path: String,
}

/// The one request a token is for.
#[derive(Debug, Clone, Copy)]
pub struct Bound<'a> {
    pub node: &'a str,
    pub method: &'a http::Method,
    pub path_and_query: &'a str,
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
        to: Bound<'_>,
    ) -> Result<String, jsonwebtoken::errors::Error> {
        let now = now_secs();
        let claims = AgentClaims {
            sub: identity.subject.to_string(),
            profile: identity.profile.to_string(),
            exp: now + TTL_SECS,
            iat: now,
            aud: AUDIENCE.into(),
            iss: from_node.into(),
            node: to.node.into(),
            method: to.method.as_str().into(),
            path: to.path_and_query.into(),
        };
        jsonwebtoken::encode(&Header::new(Algorithm::HS256), &claims, &self.encoding)
    }

    /// Checks a token and that it was minted for `request` on this node.
    pub fn verify(&self, token: &str, request: Bound<'_>) -> Result<Identity, AuthError> {
        let mut validation = Validation::new(Algorithm::HS256);
        validation.leeway = LEEWAY_SECS;
        validation.set_audience(&[AUDIENCE]);
        validation.set_required_spec_claims(&["exp", "sub", "aud"]);
        let data = jsonwebtoken::decode::<AgentClaims>(token, &self.decoding, &validation)
            .map_err(|e| AuthError::Token(format!("agent token: {e}")))?;
        let c = data.claims;
        let refuse = |what: &str, minted: &str, got: &str| {
            Err(AuthError::Token(format!(
                "agent token from {} was minted for {what} {minted:?}, not {got:?}",
                c.iss
            )))
        };
        if c.iat > now_secs() + LEEWAY_SECS || c.exp.saturating_sub(c.iat) > TTL_SECS {
            return Err(AuthError::Token(format!(
                "agent token from {} has a lifetime this agent does not mint",
                c.iss
            )));
        }
        if c.node != request.node {
            return refuse("node", &c.node, request.node);
        }
        if c.method != request.method.as_str() {
            return refuse("method", &c.method, request.method.as_str());
        }
        if c.path != request.path_and_query {
            return refuse("path", &c.path, request.path_and_query);
        }
        Ok(Identity {
            subject: c.sub.into(),
            profile: c.profile.into(),
            credential: Credential::Forwarded { by: c.iss },
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bound<'a>(node: &'a str, method: &'a http::Method, path: &'a str) -> Bound<'a> {
        Bound {
            node,
            method,
            path_and_query: path,
        }
    }

    #[test]
    fn agent_tokens_keep_the_client_and_are_not_client_tokens() {
        let secret = Secret::from_text("0123456789abcdef0123456789abcdef").expect("secret");
        let tokens = AgentTokens::new(&secret);
        let alice = Identity {
            subject: "alice".into(),
            profile: "payments".into(),
            credential: Credential::Token,
        };
        let get = http::Method::GET;
        let t = tokens
            .mint(
                &alice,
                "node-1",
                bound("node-2", &get, "/containers/json?all=1"),
            )
            .expect("mint");
        let back = tokens
            .verify(&t, bound("node-2", &get, "/containers/json?all=1"))
            .expect("valid");
        assert_eq!((&*back.subject, &*back.profile), ("alice", "payments"));
        assert_eq!(back.forwarded_by(), Some("node-1"));

        let client_token =
            crate::auth::mint_token(&secret, "alice", crate::auth::Scope::Admin, 60).expect("mint");
        assert!(tokens
            .verify(
                &client_token,
                bound("node-2", &get, "/containers/json?all=1")
            )
            .is_err());
        let auth = crate::auth::Authenticator::new(Some(&secret), vec![]);
        assert!(auth.verify_token(&t).is_err());
        let other =
            AgentTokens::new(&Secret::from_text("ffffffffffffffffffffffffffffffff").expect("s"));
        assert!(other
            .verify(&t, bound("node-2", &get, "/containers/json?all=1"))
            .is_err());
    }

    #[test]
    fn a_token_serves_only_the_request_it_was_minted_for() {
        let secret = Secret::from_text("0123456789abcdef0123456789abcdef").expect("secret");
        let tokens = AgentTokens::new(&secret);
        let who = Identity {
            subject: "alice".into(),
            profile: "read".into(),
            credential: Credential::Token,
        };
        let get = http::Method::GET;
        let delete = http::Method::DELETE;
        let t = tokens
            .mint(&who, "node-1", bound("node-2", &get, "/containers/x/json"))
            .expect("mint");
        for (node, method, path) in [
            ("node-3", &get, "/containers/x/json"),
            ("node-2", &delete, "/containers/x/json"),
            ("node-2", &get, "/containers/y/json"),
            ("node-2", &get, "/containers/x/json?size=1"),
        ] {
            let refused = tokens.verify(&t, bound(node, method, path));
            assert!(refused.is_err(), "{node} {method} {path}");
        }
    }
}
