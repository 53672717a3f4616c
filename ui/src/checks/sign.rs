//! One node's policy: the enabled checks whose target selects the node, at the endpoint's
//! version, signed with the console's key. The same version always makes the same
//! policy, so that sending it again is `unchanged`, never a conflict.

use bosun_serve::checks::{Policy, POLICY_KIND};

use super::def::CheckDef;
use super::target::Member;
use crate::agent::ConsoleKey;

/// `member`'s policy at `version`: the enabled checks of `defs` that select it, by id.
pub fn policy_for(member: &Member, defs: &[CheckDef], version: u64, concurrency: usize) -> Policy {
    let mut checks: Vec<_> = defs
        .iter()
        .filter(|d| d.enabled && d.target.selects(member))
        .map(CheckDef::check)
        .collect();
    checks.sort_by(|a, b| a.id.cmp(&b.id));
    Policy {
        kind: POLICY_KIND.to_owned(),
        node: member.node.clone(),
        version,
        // From the version (milliseconds when it was made), so that signing the same
        // version again gives the same claims.
        issued_at: version / 1000,
        concurrency,
        checks,
    }
}

/// [`policy_for`], signed.
pub fn sign(
    key: &ConsoleKey,
    member: &Member,
    defs: &[CheckDef],
    version: u64,
    concurrency: usize,
) -> Result<String, String> {
    let policy = policy_for(member, defs, version, concurrency);
    policy
        .validate()
        .map_err(|e| format!("the policy for node {}: {e}", member.node))?;
    key.sign_policy(&policy)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::checks::def::CheckInput;
    use bosun_serve::checks::POLICY_TYP;
    use jsonwebtoken::{Algorithm, DecodingKey, Validation};
    use serde_json::json;
    use std::collections::BTreeMap;

    fn def(id: &str, target: serde_json::Value, enabled: bool) -> CheckDef {
        CheckInput::parse(
            json!({"name": id, "interval_secs": 5, "timeout_secs": 2, "enabled": enabled,
                   "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 9}, "target": target})
            .to_string()
            .as_bytes(),
        )
        .expect("valid")
        .with_id(id)
    }

    fn member(node: &str, role: &str) -> Member {
        Member {
            node: node.into(),
            role: role.into(),
            state: "alive".into(),
            agent_id: String::new(),
            labels: BTreeMap::from([("zone".to_owned(), "east".to_owned())]),
        }
    }

    #[test]
    fn a_policy_holds_the_enabled_checks_that_select_the_node_and_verifies_with_the_public_key() {
        let defs = [
            def("c2", json!({"by": "all"}), true),
            def("c1", json!({"by": "names", "names": ["n1"]}), true),
            def("c3", json!({"by": "role", "role": "worker"}), true),
            def("c4", json!({"by": "all"}), false),
            def(
                "c5",
                json!({"by": "labels", "labels": {"zone": "east"}}),
                true,
            ),
        ];
        let n1 = member("n1", "manager");
        let policy = policy_for(&n1, &defs, 1_700_000_000_123, 10);
        let ids: Vec<&str> = policy.checks.iter().map(|c| c.id.as_str()).collect();
        assert_eq!(ids, ["c1", "c2", "c5"]);
        assert_eq!(policy.issued_at, 1_700_000_000);
        let n9 = member("n9", "standalone");
        let only_all = policy_for(&n9, &defs[..2], 7, 10);
        assert_eq!(only_all.checks.len(), 1);
        assert_eq!(only_all.checks[0].id, "c2");
        let empty = policy_for(&n9, &defs[1..2], 7, 10);
        assert!(
            empty.checks.is_empty(),
            "a node with no check gets an empty policy"
        );

        let key = ConsoleKey::from_pkcs8(&ConsoleKey::generate().expect("key")).expect("load");
        let jws = sign(&key, &n1, &defs, 1_700_000_000_123, 10).expect("signed");
        assert_eq!(
            jws,
            sign(&key, &n1, &defs, 1_700_000_000_123, 10).expect("signed"),
            "the same version signs to the same policy"
        );
        let header = jsonwebtoken::decode_header(&jws).expect("header");
        assert_eq!(header.alg, Algorithm::EdDSA);
        assert_eq!(header.typ.as_deref(), Some(POLICY_TYP));
        let decoding = DecodingKey::from_ed_pem(key.public_pem().as_bytes()).expect("public key");
        let mut validation = Validation::new(Algorithm::EdDSA);
        validation.required_spec_claims.clear();
        validation.validate_exp = false;
        let read = jsonwebtoken::decode::<Policy>(&jws, &decoding, &validation).expect("verifies");
        assert_eq!(read.claims, policy);

        let other = ConsoleKey::from_pkcs8(&ConsoleKey::generate().expect("key")).expect("load");
        let wrong = DecodingKey::from_ed_pem(other.public_pem().as_bytes()).expect("public key");
        assert!(jsonwebtoken::decode::<Policy>(&jws, &wrong, &validation).is_err());
    }
}
