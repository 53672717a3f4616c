//! Who may open a tunnel. An enrolled agent proves the key the console pinned; an agent
//! not enrolled yet presents an enrol token that is neither expired, used up nor revoked,
//! with its public key and a proof signed by it. A refusal says why, to the agent and in
//! the console's log.

use base64::Engine as _;
use bosun_serve::tunnel::{Proof, PROOF_AUDIENCE};
use jsonwebtoken::{Algorithm, Validation};

use super::store::EdgeAgent;
use crate::store::{Endpoint, Store, StoreError};

/// What an agent says when it dials.
#[derive(Debug, Clone)]
pub struct Hello {
    pub agent_id: String,
    pub node: String,
    pub version: String,
    pub address: String,
    pub proof: String,
    pub enrol_token: Option<String>,
    /// base64 of the agent's 32-byte public key.
    pub key: Option<String>,
}

/// Why an agent may not open a tunnel.
#[derive(Debug, thiserror::Error)]
pub enum Refusal {
    #[error("agent {0} was revoked")]
    Revoked(String),
    #[error("agent {0} is not enrolled: start it with an enrol token")]
    Unknown(String),
    #[error("the enrol token is not known")]
    UnknownToken,
    #[error("the enrol token was revoked")]
    TokenRevoked,
    #[error("the enrol token expired")]
    TokenExpired,
    #[error("the enrol token was used {0} time(s), all it may be")]
    TokenUsedUp(u32),
    #[error("the agent's proof does not verify with {0}: {1}")]
    BadProof(&'static str, String),
    #[error("{0}")]
    Bad(String),
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl Refusal {
    pub fn status(&self) -> u16 {
        match self {
            Self::Store(_) => 500,
            Self::Bad(_) => 400,
            Self::Revoked(_) => 403,
            _ => 401,
        }
    }
}

/// An admitted agent: its endpoint, its record, and whether it enrolled just now.
pub struct Admitted {
    pub endpoint: Endpoint,
    pub agent: EdgeAgent,
    pub enrolled: bool,
}

/// Admits an agent, enrolling it when it presents a token.
pub fn admit(store: &Store, hello: &Hello) -> Result<Admitted, Refusal> {
    if let Some(agent) = store.edge_agent(&hello.agent_id)? {
        if agent.revoked {
            return Err(Refusal::Revoked(hello.agent_id.clone()));
        }
        match verify_proof(&agent.public_key, hello, "its pinned key") {
            // It holds its newest key: an older one opens nothing any more.
            Ok(()) => store.forget_previous_key(&hello.agent_id)?,
            Err(refused) => {
                // A rotation whose last step did not reach the agent: the key it held
                // still opens the tunnel, until a rotation completes.
                match store.previous_key(&hello.agent_id)? {
                    Some(old) if verify_proof(&old, hello, "its previous key").is_ok() => {
                        tracing::warn!(agent_id = %hello.agent_id, node = %hello.node, "an edge agent proved its previous key: its key rotation did not complete; rotate it again");
                    }
                    _ => return Err(refused),
                }
            }
        }
        store.edge_agent_seen(&hello.agent_id, &hello.node, &hello.address, &hello.version)?;
        let endpoint = store.endpoint(agent.endpoint)?;
        return Ok(Admitted {
            endpoint,
            agent,
            enrolled: false,
        });
    }
    let Some(token) = &hello.enrol_token else {
        return Err(Refusal::Unknown(hello.agent_id.clone()));
    };
    let key = hello
        .key
        .as_deref()
        .ok_or_else(|| Refusal::Bad("an enrolling agent sends its public key".into()))?;
    let found = store
        .enrol_token_by_hash(&crate::auth::token_hash(token))?
        .ok_or(Refusal::UnknownToken)?;
    if found.revoked {
        return Err(Refusal::TokenRevoked);
    }
    if found.expires <= bosun_serve::clock::now_secs() {
        return Err(Refusal::TokenExpired);
    }
    verify_proof(key, hello, "the key it sent")?;
    if !store.use_enrol_token(found.id)? {
        return Err(Refusal::TokenUsedUp(found.max_uses));
    }
    let endpoint = store.edge_endpoint(&found.endpoint)?;
    let now = bosun_serve::clock::now_secs();
    let agent = EdgeAgent {
        agent_id: hello.agent_id.clone(),
        endpoint: endpoint.id,
        node: hello.node.clone(),
        public_key: key.to_owned(),
        enrolled: now,
        last_seen: now,
        address: hello.address.clone(),
        version: hello.version.clone(),
        revoked: false,
    };
    store.enrol_agent(&agent)?;
    Ok(Admitted {
        endpoint,
        agent,
        enrolled: true,
    })
}

fn verify_proof(key_b64: &str, hello: &Hello, which: &'static str) -> Result<(), Refusal> {
    verify_key_proof(key_b64, &hello.proof, &hello.agent_id, which)
}

/// Checks that `proof` is a proof for `agent_id` that the key `key_b64` signed.
pub fn verify_key_proof(
    key_b64: &str,
    proof: &str,
    agent_id: &str,
    which: &'static str,
) -> Result<(), Refusal> {
    let raw: [u8; 32] = base64::engine::general_purpose::STANDARD
        .decode(key_b64)
        .ok()
        .and_then(|k| k.try_into().ok())
        .ok_or_else(|| Refusal::Bad("the agent's key is not 32 bytes of base64".into()))?;
    let mut validation = Validation::new(Algorithm::EdDSA);
    validation.set_audience(&[PROOF_AUDIENCE]);
    let proof =
        jsonwebtoken::decode::<Proof>(proof, &bosun_serve::ed25519::verifier(&raw), &validation)
            .map_err(|e| Refusal::BadProof(which, e.to_string()))?;
    if proof.claims.sub != agent_id {
        return Err(Refusal::BadProof(which, "it names another agent".into()));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_serve::ed25519::SigningKey;
    use jsonwebtoken::Header;

    fn store() -> Store {
        let store = Store::in_memory().unwrap();
        store.add_tables(super::super::store::SCHEMA).unwrap();
        store
    }

    /// An agent's hello with a fresh key: the hello, and the key.
    fn hello(agent_id: &str, token: Option<&str>) -> (Hello, SigningKey) {
        let key = SigningKey::from_pkcs8(&SigningKey::generate().unwrap()).unwrap();
        let hello = Hello {
            agent_id: agent_id.into(),
            node: "n1".into(),
            version: "test".into(),
            address: "127.0.0.1".into(),
            proof: proof(&key, agent_id),
            enrol_token: token.map(str::to_owned),
            key: Some(base64::engine::general_purpose::STANDARD.encode(key.public_raw())),
        };
        (hello, key)
    }

    fn proof(key: &SigningKey, agent_id: &str) -> String {
        let iat = bosun_serve::clock::now_secs();
        let claims = Proof {
            sub: agent_id.into(),
            aud: PROOF_AUDIENCE.into(),
            iat,
            exp: iat + 60,
        };
        jsonwebtoken::encode(&Header::new(Algorithm::EdDSA), &claims, key.encoding()).unwrap()
    }

    fn token(store: &Store, token: &str, expires: u64, uses: u32) {
        let hash = crate::auth::token_hash(token);
        store
            .create_enrol_token(&hash, "site", expires, uses, "admin")
            .unwrap();
    }

    #[test]
    fn an_expired_token_enrols_nobody_and_a_good_one_pins_the_key() {
        let store = store();
        let now = bosun_serve::clock::now_secs();
        token(&store, "old", now - 1, 5);
        token(&store, "good", now + 3600, 1);
        let (old, _) = hello("a1", Some("old"));
        assert!(matches!(admit(&store, &old), Err(Refusal::TokenExpired)));
        let (first, key) = hello("a1", Some("good"));
        let admitted = admit(&store, &first).unwrap();
        assert!(admitted.enrolled);
        assert!(super::super::is_edge(&admitted.endpoint.url));
        // Later: the pinned key's proof alone, no token.
        let later = Hello {
            enrol_token: None,
            key: None,
            proof: proof(&key, "a1"),
            ..first.clone()
        };
        assert!(!admit(&store, &later).unwrap().enrolled);
        // Another key claiming the same ID: refused.
        let (impostor, _) = hello("a1", None);
        assert!(matches!(
            admit(&store, &impostor),
            Err(Refusal::BadProof(..))
        ));
        // A proof for another agent: refused.
        let swapped = Hello {
            proof: proof(&key, "a2"),
            ..later.clone()
        };
        assert!(matches!(
            admit(&store, &swapped),
            Err(Refusal::BadProof(..))
        ));
        // The single use is spent.
        let (second, _) = hello("a2", Some("good"));
        assert!(matches!(
            admit(&store, &second),
            Err(Refusal::TokenUsedUp(1))
        ));
        // Revoked: refused with its own reason.
        store.revoke_edge_agent("a1").unwrap();
        assert!(matches!(admit(&store, &later), Err(Refusal::Revoked(_))));
    }

    #[test]
    fn after_a_rotation_the_previous_key_opens_until_it_is_forgotten() {
        let store = store();
        token(&store, "good", bosun_serve::clock::now_secs() + 3600, 1);
        let (first, old_key) = hello("a1", Some("good"));
        admit(&store, &first).unwrap();
        let (_, new_key) = hello("a1", None);
        let new_b64 = base64::engine::general_purpose::STANDARD.encode(new_key.public_raw());
        let old_b64 = base64::engine::general_purpose::STANDARD.encode(old_key.public_raw());
        assert!(store.rotate_edge_key("a1", &new_b64, &old_b64).unwrap());
        let with = |key: &SigningKey| Hello {
            enrol_token: None,
            key: None,
            proof: proof(key, "a1"),
            ..first.clone()
        };
        assert!(
            admit(&store, &with(&old_key)).is_ok(),
            "the old key still opens while the agent may not have the new one"
        );
        assert!(admit(&store, &with(&new_key)).is_ok(), "the new key opens");
        assert!(
            matches!(admit(&store, &with(&old_key)), Err(Refusal::BadProof(..))),
            "once the agent proved the new key, the old one opens nothing"
        );
        store.revoke_edge_agent("a1").unwrap();
        assert!(
            !store.rotate_edge_key("a1", &old_b64, &new_b64).unwrap(),
            "a revoked agent's key is not rotated"
        );
    }

    #[test]
    fn an_agents_table_from_before_rotations_gains_the_previous_key() {
        let store = Store::in_memory().unwrap();
        store
            .add_tables(
                "CREATE TABLE edge_agents (agent_id TEXT PRIMARY KEY, endpoint INTEGER NOT NULL, \
                 node TEXT NOT NULL, public_key TEXT NOT NULL, enrolled INTEGER NOT NULL, \
                 last_seen INTEGER NOT NULL, address TEXT NOT NULL DEFAULT '', \
                 version TEXT NOT NULL DEFAULT '', revoked INTEGER NOT NULL DEFAULT 0);",
            )
            .unwrap();
        store.add_tables(super::super::store::SCHEMA).unwrap();
        store
            .add_columns(super::super::store::ADDED_COLUMNS)
            .unwrap();
        assert_eq!(store.previous_key("nobody").unwrap(), None);
        store
            .add_columns(super::super::store::ADDED_COLUMNS)
            .expect("added once, then left alone");
    }
}
