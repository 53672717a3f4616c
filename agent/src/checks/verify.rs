//! Whether a signed policy may run here: its signature by a trusted key (EdDSA or ES256),
//! its `typ`, its claims, the node it names, and its version against the running one.

use std::collections::HashSet;

use base64::Engine as _;
use bosun_serve::checks::{Policy, POLICY_TYP};
use jsonwebtoken::{Algorithm, Validation};

use crate::auth::TrustedKey;

/// Where the keys that verify policies came from, for a refusal that says what to set.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum KeySource {
    /// `--policy-public-key`.
    Policy,
    /// `--jwt-public-key`, as no policy key is given.
    Jwt,
    None,
}

/// Why a policy is not run: the reason, and its version where it could be read.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Refused {
    pub version: Option<u64>,
    pub reason: String,
}

/// Checks policies against the keys trusted to sign them.
#[derive(Clone)]
pub struct Verifier {
    keys: Vec<TrustedKey>,
    source: KeySource,
}

impl Verifier {
    /// The policy keys when any are given, else the token keys.
    pub fn new(policy_keys: &[TrustedKey], jwt_keys: &[TrustedKey]) -> Self {
        let (keys, source) = match (policy_keys.is_empty(), jwt_keys.is_empty()) {
            (false, _) => (policy_keys.to_vec(), KeySource::Policy),
            (true, false) => (jwt_keys.to_vec(), KeySource::Jwt),
            (true, true) => (Vec::new(), KeySource::None),
        };
        Self { keys, source }
    }

    /// The policy `jws` carries, when a trusted key signed it as a policy for `node`
    /// and its checks are sound.
    pub fn verify(&self, jws: &str, node: &str) -> Result<Policy, Refused> {
        let jws = jws.trim();
        let refuse = |reason: String| Refused {
            version: claimed_version(jws),
            reason,
        };
        let header = jsonwebtoken::decode_header(jws)
            .map_err(|e| refuse(format!("not a signed policy (a compact JWS): {e}")))?;
        if header.typ.as_deref() != Some(POLICY_TYP) {
            return Err(refuse(format!(
                "its typ is {:?}, not {POLICY_TYP:?}: it is not a check policy",
                header.typ.as_deref().unwrap_or("")
            )));
        }
        if !matches!(header.alg, Algorithm::EdDSA | Algorithm::ES256) {
            return Err(refuse(format!(
                "it is signed with {:?}; policies are signed with EdDSA or ES256",
                header.alg
            )));
        }
        if self.keys.is_empty() {
            return Err(refuse(
                "this agent has no key to verify policies with: set --policy-public-key (or --jwt-public-key) to the console's public key".into(),
            ));
        }
        let candidates: Vec<&TrustedKey> = self
            .keys
            .iter()
            .filter(|k| k.algorithm() == header.alg)
            .collect();
        if candidates.is_empty() {
            return Err(refuse(format!(
                "no {:?} key among the {}",
                header.alg,
                self.keys_named()
            )));
        }
        let mut validation = Validation::new(header.alg);
        // A policy does not expire and has no audience: it runs until a newer one
        // replaces it.
        validation.required_spec_claims = HashSet::new();
        validation.validate_exp = false;
        validation.validate_nbf = false;
        validation.validate_aud = false;
        let mut last = String::new();
        for key in candidates {
            match jsonwebtoken::decode::<Policy>(jws, key.decoding_key(), &validation) {
                Ok(data) => return self.sound(data.claims, node),
                Err(e) => {
                    use jsonwebtoken::errors::ErrorKind;
                    last = match e.kind() {
                        ErrorKind::InvalidSignature => format!(
                            "its signature matches none of the {} (signed by another key, or altered)",
                            self.keys_named()
                        ),
                        ErrorKind::Json(e) => format!("its claims are not a policy: {e}"),
                        _ => format!("it cannot be verified: {e}"),
                    };
                }
            }
        }
        Err(refuse(last))
    }

    /// The checks a signature does not make: the claims are a valid policy for `node`.
    fn sound(&self, policy: Policy, node: &str) -> Result<Policy, Refused> {
        let refuse = |reason: String| Refused {
            version: Some(policy.version),
            reason,
        };
        policy.validate().map_err(refuse)?;
        if policy.node != node {
            return Err(refuse(format!(
                "it is for node {:?}, and this is node {node:?}",
                policy.node
            )));
        }
        if policy.version == 0 {
            return Err(refuse("version 0: versions start at 1".into()));
        }
        Ok(policy)
    }

    fn keys_named(&self) -> &'static str {
        match self.source {
            KeySource::Policy => "keys of --policy-public-key",
            KeySource::Jwt => "keys of --jwt-public-key (no --policy-public-key is set)",
            KeySource::None => "keys configured (none)",
        }
    }
}

/// What a new policy is to the running one.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Change {
    /// Newer, or the first: run it.
    Newer,
    /// The very policy running now.
    Same,
}

/// A verified policy against the running one: never older, and a version names one
/// content only.
pub fn compare(running: Option<&Policy>, new: &Policy) -> Result<Change, Refused> {
    let Some(running) = running else {
        return Ok(Change::Newer);
    };
    let refuse = |reason: String| Refused {
        version: Some(new.version),
        reason,
    };
    match new.version.cmp(&running.version) {
        std::cmp::Ordering::Greater => Ok(Change::Newer),
        std::cmp::Ordering::Less => Err(refuse(format!(
            "version {} is older than version {} running here: a node never goes back",
            new.version, running.version
        ))),
        std::cmp::Ordering::Equal if new == running => Ok(Change::Same),
        std::cmp::Ordering::Equal => Err(refuse(format!(
            "version {} runs here already with other checks: a changed policy needs a new version",
            new.version
        ))),
    }
}

/// The version a policy claims, read without trusting it, for the refusal's record.
fn claimed_version(jws: &str) -> Option<u64> {
    let payload = jws.split('.').nth(1)?;
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload.trim_end_matches('='))
        .ok()?;
    serde_json::from_slice::<serde_json::Value>(&bytes)
        .ok()?
        .get("version")?
        .as_u64()
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_serve::checks::{Check, Probe, TcpProbe, POLICY_KIND};
    use jsonwebtoken::{EncodingKey, Header};

    struct Key {
        der: Vec<u8>,
        trusted: TrustedKey,
        _dir: tempfile::TempDir,
    }

    fn key() -> Key {
        use aws_lc_rs::signature::KeyPair as _;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .expect("key")
            .as_ref()
            .to_vec();
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der).expect("pair");
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let pem = format!(
            "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
            base64::engine::general_purpose::STANDARD.encode(&spki)
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("key.pem");
        std::fs::write(&path, pem).expect("write");
        Key {
            der,
            trusted: TrustedKey::read(&path).expect("read"),
            _dir: dir,
        }
    }

    fn policy(node: &str, version: u64) -> Policy {
        Policy {
            kind: POLICY_KIND.into(),
            node: node.into(),
            version,
            issued_at: 1,
            concurrency: 10,
            checks: vec![Check {
                id: "port".into(),
                name: "port".into(),
                interval_secs: 10,
                timeout_secs: 2,
                retries: 0,
                probe: Probe::Tcp(TcpProbe {
                    host: "127.0.0.1".into(),
                    port: 9,
                }),
            }],
        }
    }

    fn sign(key: &Key, typ: Option<&str>, claims: &impl serde::Serialize) -> String {
        let mut header = Header::new(Algorithm::EdDSA);
        header.typ = typ.map(str::to_owned);
        jsonwebtoken::encode(&header, claims, &EncodingKey::from_ed_der(&key.der)).expect("sign")
    }

    #[test]
    fn a_policy_signed_by_a_trusted_key_for_this_node_verifies() {
        let k = key();
        let v = Verifier::new(std::slice::from_ref(&k.trusted), &[]);
        let jws = sign(&k, Some(POLICY_TYP), &policy("n1", 3));
        assert_eq!(v.verify(&jws, "n1"), Ok(policy("n1", 3)));
        // The token keys stand in when no policy key is given.
        let v = Verifier::new(&[], std::slice::from_ref(&k.trusted));
        assert_eq!(v.verify(&jws, "n1"), Ok(policy("n1", 3)));
    }

    #[test]
    fn other_keys_altered_payloads_and_other_typs_are_refused() {
        let (k, other) = (key(), key());
        let v = Verifier::new(std::slice::from_ref(&k.trusted), &[]);
        let forged = sign(&other, Some(POLICY_TYP), &policy("n1", 3));
        let refused = v.verify(&forged, "n1").expect_err("another key");
        assert_eq!(refused.version, Some(3));
        assert!(
            refused.reason.contains("--policy-public-key"),
            "{refused:?}"
        );

        let jws = sign(&k, Some(POLICY_TYP), &policy("n1", 3));
        let mut parts: Vec<String> = jws.split('.').map(str::to_owned).collect();
        let mut payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .expect("payload");
        let at = payload
            .iter()
            .position(|b| *b == b'3')
            .expect("the version");
        payload[at] = b'4';
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        let refused = v.verify(&parts.join("."), "n1").expect_err("tampered");
        assert!(refused.reason.contains("altered"), "{refused:?}");

        let token_like = sign(&k, Some("JWT"), &policy("n1", 3));
        assert!(v
            .verify(&token_like, "n1")
            .unwrap_err()
            .reason
            .contains("typ"));
        let untyped = sign(&k, None, &policy("n1", 3));
        assert!(v.verify(&untyped, "n1").is_err());
        let access_token = sign(
            &k,
            Some(POLICY_TYP),
            &serde_json::json!({"sub": "alice", "exp": 9_999_999_999u64, "scope": "admin"}),
        );
        assert!(v
            .verify(&access_token, "n1")
            .unwrap_err()
            .reason
            .contains("not a policy"));
        assert!(v.verify("garbage", "n1").is_err());
        assert!(v.verify("", "n1").is_err());
    }

    #[test]
    fn without_keys_every_policy_is_refused_naming_the_flag() {
        let k = key();
        let v = Verifier::new(&[], &[]);
        let jws = sign(&k, Some(POLICY_TYP), &policy("n1", 3));
        let refused = v.verify(&jws, "n1").expect_err("no key");
        assert!(
            refused.reason.contains("--policy-public-key"),
            "{refused:?}"
        );
        assert_eq!(refused.version, Some(3));
    }

    #[test]
    fn another_nodes_policy_and_unsound_checks_are_refused() {
        let k = key();
        let v = Verifier::new(std::slice::from_ref(&k.trusted), &[]);
        let jws = sign(&k, Some(POLICY_TYP), &policy("n2", 3));
        assert!(v.verify(&jws, "n1").unwrap_err().reason.contains("\"n2\""));
        let mut bad = policy("n1", 3);
        bad.checks[0].interval_secs = 0;
        let jws = sign(&k, Some(POLICY_TYP), &bad);
        assert!(v
            .verify(&jws, "n1")
            .unwrap_err()
            .reason
            .contains("interval_secs"));
        let mut bad = policy("n1", 3);
        bad.kind = "something-else".into();
        assert!(v
            .verify(&sign(&k, Some(POLICY_TYP), &bad), "n1")
            .unwrap_err()
            .reason
            .contains("kind"));
        assert!(v
            .verify(&sign(&k, Some(POLICY_TYP), &policy("n1", 0)), "n1")
            .is_err());
    }

    #[test]
    fn versions_only_go_forward_and_name_one_content() {
        let running = policy("n1", 5);
        assert_eq!(compare(None, &running), Ok(Change::Newer));
        assert_eq!(compare(Some(&running), &policy("n1", 6)), Ok(Change::Newer));
        assert_eq!(compare(Some(&running), &policy("n1", 5)), Ok(Change::Same));
        let older = compare(Some(&running), &policy("n1", 4)).expect_err("older");
        assert_eq!(older.version, Some(4));
        assert!(older.reason.contains("older"));
        let mut changed = policy("n1", 5);
        changed.concurrency = 2;
        assert!(compare(Some(&running), &changed)
            .unwrap_err()
            .reason
            .contains("new version"));
    }
}
