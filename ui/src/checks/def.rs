//! A check as the console keeps it: the check the agents run, which nodes run it, and
//! whether it is on. Its input is read and checked here, so that every error names the
//! field that is wrong.

use bosun_serve::checks::{Check, Probe};
use serde::{Deserialize, Serialize};

use super::target::Target;

fn yes() -> bool {
    true
}

/// One check of an endpoint.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct CheckDef {
    /// Given by the console when the check is made (`c1`, `c2`, ...); stable across edits.
    pub id: String,
    pub name: String,
    pub interval_secs: u64,
    pub timeout_secs: u64,
    #[serde(default)]
    pub retries: u32,
    pub probe: Probe,
    pub target: Target,
    #[serde(default = "yes")]
    pub enabled: bool,
}

/// A check as a request gives it: everything but the id, which the console gives (or the
/// path names).
#[derive(Debug, Clone, PartialEq, Deserialize)]
pub struct CheckInput {
    pub name: String,
    pub interval_secs: u64,
    pub timeout_secs: u64,
    #[serde(default)]
    pub retries: u32,
    pub probe: Probe,
    pub target: Target,
    #[serde(default = "yes")]
    pub enabled: bool,
}

impl CheckInput {
    /// The check as the audit names it: its name, kind and target.
    pub fn describe(&self) -> String {
        format!(
            "{} ({}, {})",
            self.name.trim(),
            self.probe.kind(),
            self.target.describe()
        )
    }

    /// Reads a request's body; what is wrong names the field.
    pub fn parse(body: &[u8]) -> Result<Self, String> {
        let input: Self = serde_json::from_slice(body).map_err(|e| format!("the check: {e}"))?;
        input.validate()?;
        Ok(input)
    }

    /// What is wrong with the check or its target, the field named.
    pub fn validate(&self) -> Result<(), String> {
        self.clone().with_id("new").check().validate()?;
        self.target.validate()
    }

    /// The check with its id.
    pub fn with_id(self, id: &str) -> CheckDef {
        CheckDef {
            id: id.to_owned(),
            name: self.name.trim().to_owned(),
            interval_secs: self.interval_secs,
            timeout_secs: self.timeout_secs,
            retries: self.retries,
            probe: self.probe,
            target: self.target,
            enabled: self.enabled,
        }
    }
}

impl CheckDef {
    /// What an agent runs.
    pub fn check(&self) -> Check {
        Check {
            id: self.id.clone(),
            name: self.name.clone(),
            interval_secs: self.interval_secs,
            timeout_secs: self.timeout_secs,
            retries: self.retries,
            probe: self.probe.clone(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn body(v: serde_json::Value) -> Vec<u8> {
        v.to_string().into_bytes()
    }

    #[test]
    fn a_check_reads_with_defaults_and_gets_its_id() {
        let input = CheckInput::parse(&body(json!({
            "name": " web ", "interval_secs": 10, "timeout_secs": 2,
            "probe": {"kind": "tcp", "host": "127.0.0.1", "port": 80},
            "target": {"by": "all"}
        })))
        .expect("valid");
        assert!(input.enabled);
        let def = input.with_id("c3");
        assert_eq!((def.id.as_str(), def.name.as_str()), ("c3", "web"));
        assert_eq!(def.check().probe.kind(), "tcp");
        let again: CheckDef = serde_json::from_value(serde_json::to_value(&def).unwrap()).unwrap();
        assert_eq!(again, def);
    }

    #[test]
    fn bad_input_names_the_field() {
        let cases = [
            (
                json!({"name": "x", "timeout_secs": 2,
                    "probe": {"kind": "tcp", "host": "h", "port": 1}, "target": {"by": "all"}}),
                "interval_secs",
            ),
            (
                json!({"name": "x", "interval_secs": 0, "timeout_secs": 2,
                    "probe": {"kind": "tcp", "host": "h", "port": 1}, "target": {"by": "all"}}),
                "interval_secs",
            ),
            (
                json!({"name": "x", "interval_secs": 5, "timeout_secs": 2,
                    "probe": {"kind": "http", "url": "ftp://h"}, "target": {"by": "all"}}),
                "url",
            ),
            (
                json!({"name": "x", "interval_secs": 5, "timeout_secs": 2,
                    "probe": {"kind": "tcp", "host": "h", "port": 1},
                    "target": {"by": "names", "names": []}}),
                "target.names",
            ),
            (
                json!({"name": "x", "interval_secs": 5, "timeout_secs": 2,
                    "probe": {"kind": "tcp", "host": "h", "port": 1}}),
                "target",
            ),
            (
                json!({"name": "", "interval_secs": 5, "timeout_secs": 2,
                    "probe": {"kind": "tcp", "host": "h", "port": 1}, "target": {"by": "all"}}),
                "name",
            ),
        ];
        for (input, field) in cases {
            let err = CheckInput::parse(&body(input.clone())).expect_err("refused");
            assert!(err.contains(field), "{field} in {err:?} for {input}");
        }
    }
}
