//! The `container` kind: a named container on this node is running, and healthy where it
//! has a health check, as the local engine reports it.

use std::time::Duration;

use bosun_serve::checks::{ContainerProbe, Status};
use percent_encoding::{utf8_percent_encode, AsciiSet, NON_ALPHANUMERIC};
use serde_json::Value;

use super::{Outcome, ProbeContext};
use crate::upstream::UpstreamError;

/// How long the engine has to describe the container; the check's timeout bounds it too.
const ENGINE_TIMEOUT: Duration = Duration::from_secs(30);

/// What a container name or id may carry into a path unencoded.
const NAME: &AsciiSet = &NON_ALPHANUMERIC.remove(b'-').remove(b'_').remove(b'.');

pub(super) async fn run(p: &ContainerProbe, cx: &ProbeContext) -> Outcome {
    let name = p.container.trim().trim_start_matches('/');
    let path = format!("/containers/{}/json", utf8_percent_encode(name, NAME));
    match cx.engine.get_json(&path, ENGINE_TIMEOUT).await {
        Ok(inspect) => judge(name, &inspect),
        Err(UpstreamError::Status { status: 404, .. }) => {
            Outcome::critical(format!("no container {name:?} on node {}", cx.node))
        }
        Err(e) => Outcome::unknown(format!("could not ask the engine about {name:?}: {e}")),
    }
}

/// The status a container's state earns.
fn judge(name: &str, inspect: &Value) -> Outcome {
    let state = &inspect["State"];
    let status = state["Status"].as_str().unwrap_or("unknown");
    let exit_code = state["ExitCode"].as_i64().unwrap_or(0);
    if status != "running" {
        let mut text = format!("{name} is {status} (exit code {exit_code})");
        if let Some(error) = state["Error"].as_str().filter(|e| !e.is_empty()) {
            text.push_str(&format!(": {error}"));
        }
        if state["OOMKilled"].as_bool() == Some(true) {
            text.push_str(", killed: out of memory");
        }
        return Outcome::critical(text);
    }
    if state["Paused"].as_bool() == Some(true) {
        return Outcome::critical(format!("{name} is paused"));
    }
    let since = state["StartedAt"].as_str().unwrap_or("?");
    let health = &state["Health"];
    match health["Status"].as_str() {
        None | Some("none") | Some("") => {
            Outcome::ok(format!("{name} is running since {since} (no health check)"))
        }
        Some("healthy") => Outcome::ok(format!("{name} is running and healthy since {since}")),
        Some("starting") => Outcome::new(
            Status::Warning,
            format!("{name} is running, its health check is starting"),
        ),
        Some(other) => {
            let streak = health["FailingStreak"].as_i64().unwrap_or(0);
            let last = health["Log"]
                .as_array()
                .and_then(|log| log.last())
                .map(|entry| {
                    let said = entry["Output"].as_str().unwrap_or("").trim();
                    let code = entry["ExitCode"].as_i64().unwrap_or(-1);
                    if said.is_empty() {
                        format!("last check exited {code}")
                    } else {
                        format!("last check exited {code}: {said}")
                    }
                })
                .unwrap_or_else(|| "no health check log".to_owned());
            Outcome::critical(format!(
                "{name} is {other} ({streak} failing in a row); {last}"
            ))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn states_read_as_statuses() {
        let running = json!({"State": {"Status": "running", "StartedAt": "t"}});
        assert_eq!(judge("c", &running).status, Status::Ok);
        let starting = json!({"State": {"Status": "running", "Health": {"Status": "starting"}}});
        assert_eq!(judge("c", &starting).status, Status::Warning);
        let unhealthy = json!({"State": {"Status": "running", "Health": {
            "Status": "unhealthy", "FailingStreak": 3,
            "Log": [{"ExitCode": 1, "Output": "first"}, {"ExitCode": 1, "Output": "db down\n"}]}}});
        let out = judge("c", &unhealthy);
        assert_eq!(out.status, Status::Critical);
        assert!(
            out.output.ends_with("last check exited 1: db down"),
            "{}",
            out.output
        );
        let exited = json!({"State": {"Status": "exited", "ExitCode": 3}});
        let out = judge("c", &exited);
        assert_eq!(out.status, Status::Critical);
        assert_eq!(out.output, "c is exited (exit code 3)");
    }
}
