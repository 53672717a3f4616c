//! The `script` kind: a shell script or an argv run in a short-lived sandbox container on
//! the local engine, read with Nagios's exit codes.
//!
//! The sandbox: the check's image (never pulled), a read-only root filesystem, every
//! capability dropped, `no-new-privileges`, no network unless the check asks for it, a
//! memory limit without swap, a CPU and a PID limit, a small `/tmp` in memory, and only
//! the listed host paths, each mounted read-only at the same path (a bind mount that
//! must exist: the engine never creates a missing host path for it). Named
//! `bosun-check-<agent>-<check>-<seq>` and labelled with the agent's id and the check's,
//! so that what a stopped agent left behind is found and removed at its next start.
//! Whatever happens, the container is removed after the run.

use std::time::Duration;

use bosun_serve::checks::{Check, ScriptProbe, Status, OUTPUT_LIMIT};
use bytes::Bytes;
use http::{header, Method, Request};
use http_body_util::BodyExt;
use percent_encoding::{utf8_percent_encode, NON_ALPHANUMERIC};
use serde_json::{json, Value};
use tokio::time::Instant;

use super::{Outcome, ProbeContext, STOPPING};
use crate::body;
use crate::upstream::UpstreamError;

/// The label naming the agent whose check made a container.
pub const AGENT_LABEL: &str = "bosun.check.agent";
/// The label naming the check.
pub const CHECK_LABEL: &str = "bosun.check";
/// How long the engine has to create or start the sandbox (the check's timeout bounds
/// these too).
const ENGINE_TIMEOUT: Duration = Duration::from_secs(30);
/// How long the engine has for each step after the script's time: kill, inspect, logs,
/// remove. A run thus ends at most 45 s after its timeout (kill and remove, or inspect,
/// logs and remove).
const AFTER_TIMEOUT: Duration = Duration::from_secs(15);
/// The most of the logs read to find the output's first [`OUTPUT_LIMIT`] bytes.
const LOG_READ_LIMIT: usize = 64 * 1024;
const MB: u64 = 1024 * 1024;
/// The exit code of a process killed with SIGKILL (128 + 9).
const SIGKILLED: i64 = 137;

/// How a run inside its time ended.
enum Ran {
    Exited(i64),
    /// It could not run; the outcome says why.
    Failed(Outcome),
}

pub(super) async fn run(
    check: &Check,
    p: &ScriptProbe,
    seq: u64,
    cx: &ProbeContext,
    limit: Duration,
) -> Outcome {
    let name = container_name(&cx.agent_id, &check.id, seq);
    let deadline = Instant::now() + limit;
    let ran =
        tokio::time::timeout_at(deadline, create_start_wait(check, p, &name, cx, limit)).await;
    let outcome = match ran {
        Err(_) => {
            // The kill is best effort: the forced removal below kills too.
            let kill = format!("/containers/{name}/kill");
            let _ = call_within(cx, Method::POST, &kill, None, AFTER_TIMEOUT).await;
            Outcome::critical(format!(
                "timed out after {}s, container killed",
                limit.as_secs()
            ))
        }
        Ok(Ran::Failed(outcome)) => outcome,
        Ok(Ran::Exited(code)) => finished(p, &name, code, cx).await,
    };
    if let Err(e) = remove(cx, &name).await {
        tracing::warn!(container = %name, error = %e, "could not remove a check's container");
    }
    outcome
}

/// `bosun-check-<first 8 of the agent id>-<check id>-<seq>`, in the characters a
/// container name may have.
pub fn container_name(agent_id: &str, check: &str, seq: u64) -> String {
    let agent: String = agent_id
        .chars()
        .filter(|c| c.is_ascii_alphanumeric() || matches!(c, '-' | '_' | '.'))
        .take(8)
        .collect();
    let agent = if agent.is_empty() { "agent" } else { &agent };
    format!("bosun-check-{agent}-{check}-{seq}")
}

/// The create request for the sandbox.
fn spec(check: &Check, p: &ScriptProbe, cx: &ProbeContext) -> Value {
    let (entrypoint, cmd): (Vec<String>, Vec<String>) = match (&p.script, p.argv.split_first()) {
        (Some(script), _) => (vec!["/bin/sh".into(), "-c".into()], vec![script.clone()]),
        (None, Some((first, rest))) => (vec![first.clone()], rest.to_vec()),
        // Refused by `Check::validate` before any run.
        (None, None) => (vec![], vec![]),
    };
    let memory = p.memory_mb.saturating_mul(MB);
    let mounts: Vec<Value> = p
        .mounts
        .iter()
        .map(|path| json!({"Type": "bind", "Source": path, "Target": path, "ReadOnly": true}))
        .collect();
    let mut spec = json!({
        "Image": p.image,
        "Entrypoint": entrypoint,
        "Cmd": cmd,
        "Env": p.env.iter().map(|(k, v)| format!("{k}={v}")).collect::<Vec<_>>(),
        "Labels": {AGENT_LABEL: cx.agent_id, CHECK_LABEL: check.id},
        "AttachStdin": false,
        "AttachStdout": false,
        "AttachStderr": false,
        "Tty": false,
        "OpenStdin": false,
        "HostConfig": {
            "Privileged": false,
            "ReadonlyRootfs": true,
            "CapDrop": ["ALL"],
            "SecurityOpt": ["no-new-privileges"],
            "NetworkMode": if p.network { "default" } else { "none" },
            "Memory": memory,
            "MemorySwap": memory,
            "NanoCpus": (p.cpus * 1e9).round() as i64,
            "PidsLimit": p.pids,
            "Mounts": mounts,
            "Tmpfs": {"/tmp": "size=16m"},
            "AutoRemove": false,
            "RestartPolicy": {"Name": "no"},
            // The output is read from the logs, whatever the node's default driver is.
            "LogConfig": {"Type": "json-file", "Config": {"max-size": "10m", "max-file": "1"}},
        },
    });
    if let Some(user) = &p.user {
        spec["User"] = json!(user);
    }
    spec
}

/// Creates and starts the sandbox and waits for it to exit; bounded by the caller's
/// deadline.
async fn create_start_wait(
    check: &Check,
    p: &ScriptProbe,
    name: &str,
    cx: &ProbeContext,
    limit: Duration,
) -> Ran {
    let spec = spec(check, p, cx);
    let create = format!("/containers/create?name={name}");
    let mut created = call(cx, Method::POST, &create, Some(&spec)).await;
    if let Err(UpstreamError::Status { status: 409, .. }) = &created {
        // A container of this name is left from an earlier run of this agent.
        let _ = remove(cx, name).await;
        created = call(cx, Method::POST, &create, Some(&spec)).await;
    }
    match created {
        Ok(_) => {}
        Err(UpstreamError::Status {
            status: 404,
            message,
            ..
        }) => {
            return Ran::Failed(Outcome::unknown(format!(
                "image {:?} is not on node {}; checks never pull: pull it on the node ({message})",
                p.image, cx.node
            )))
        }
        Err(e) => {
            return Ran::Failed(Outcome::unknown(format!(
                "the engine did not create the check's container: {e}"
            )))
        }
    }
    // A stopping agent starts nothing more; the caller removes what it made.
    if cx.stop.is_cancelled() {
        return Ran::Failed(Outcome::unknown(STOPPING));
    }
    if let Err(e) = call(cx, Method::POST, &format!("/containers/{name}/start"), None).await {
        return Ran::Failed(Outcome::unknown(format!(
            "the check's container did not start: {e}"
        )));
    }
    let wait = format!("/containers/{name}/wait?condition=not-running");
    let waited = tokio::select! {
        waited = call_within(cx, Method::POST, &wait, None, limit + ENGINE_TIMEOUT) => waited,
        // The caller's forced removal kills the script.
        _ = cx.stop.cancelled() => return Ran::Failed(Outcome::unknown(STOPPING)),
    };
    match waited {
        Ok(bytes) => {
            let answer: Value = serde_json::from_slice(&bytes).unwrap_or_default();
            match answer["StatusCode"].as_i64() {
                Some(code) => Ran::Exited(code),
                None => Ran::Failed(Outcome::unknown(format!(
                    "the engine's wait gave no exit code: {}",
                    String::from_utf8_lossy(&bytes).trim()
                ))),
            }
        }
        Err(e) => Ran::Failed(Outcome::unknown(format!(
            "waiting for the check's container failed: {e}"
        ))),
    }
}

/// The outcome of a script that exited: its exit code read as Nagios does, unless the
/// kernel killed it for its memory; its output from the logs.
async fn finished(p: &ScriptProbe, name: &str, code: i64, cx: &ProbeContext) -> Outcome {
    let oom = cx
        .engine
        .get_json(&format!("/containers/{name}/json"), AFTER_TIMEOUT)
        .await
        .map(|inspect| inspect["State"]["OOMKilled"].as_bool() == Some(true))
        .unwrap_or(false);
    let logs = match output(cx, name).await {
        Ok(text) => text,
        Err(e) => format!("(the output could not be read: {e})"),
    };
    // The engine does not always hear of the kernel's OOM kill (its notice races the
    // container's exit): a SIGKILL the agent did not send is read the same way, saying so.
    let killed = match (oom, code) {
        (true, _) => Some(format!("killed: out of memory (limit {} MB)", p.memory_mb)),
        (false, SIGKILLED) => Some(format!(
            "killed: out of memory (limit {} MB) as far as can be told: SIGKILL (exit code {code}), \
             the engine saw no OOM event",
            p.memory_mb
        )),
        _ => None,
    };
    if let Some(mut text) = killed {
        if !logs.is_empty() {
            text.push('\n');
            text.push_str(&logs);
        }
        return Outcome::critical(text);
    }
    let mut text = logs;
    if text.is_empty() {
        text = format!("(no output, exit code {code})");
    } else if !(0..=3).contains(&code) {
        text.push_str(&format!("\n(exit code {code})"));
    }
    Outcome::new(Status::from_exit_code(code), text)
}

/// The first [`OUTPUT_LIMIT`] bytes the script wrote, stdout and stderr as they came.
async fn output(cx: &ProbeContext, name: &str) -> Result<String, UpstreamError> {
    let req = Request::get(format!("/containers/{name}/logs?stdout=1&stderr=1"))
        .header(header::HOST, "docker")
        .body(body::empty())
        .map_err(|e| UpstreamError::Json {
            addr: cx.engine.label().to_owned(),
            reason: e.to_string(),
        })?;
    let read = async {
        let resp = cx.engine.send(req).await?;
        let status = resp.status();
        let mut body = resp.into_body();
        let mut raw = Vec::new();
        while raw.len() < LOG_READ_LIMIT {
            match body.frame().await {
                None => break,
                Some(Ok(frame)) => {
                    if let Ok(data) = frame.into_data() {
                        raw.extend_from_slice(&data);
                    }
                }
                Some(Err(e)) => {
                    return Err(UpstreamError::Http {
                        addr: cx.engine.label().to_owned(),
                        source: e,
                    })
                }
            }
            if demux(&raw).len() >= OUTPUT_LIMIT {
                break;
            }
        }
        if !status.is_success() {
            return Err(UpstreamError::Status {
                addr: cx.engine.label().to_owned(),
                status: status.as_u16(),
                message: String::from_utf8_lossy(&raw).trim().to_owned(),
            });
        }
        Ok(raw)
    };
    let raw = tokio::time::timeout(AFTER_TIMEOUT, read)
        .await
        .map_err(|_| UpstreamError::Timeout {
            addr: cx.engine.label().to_owned(),
            secs: AFTER_TIMEOUT.as_secs(),
        })??;
    let mut text = String::from_utf8_lossy(&demux(&raw)).into_owned();
    super::cut(&mut text, OUTPUT_LIMIT);
    Ok(text.trim_end().to_owned())
}

/// The payload of the engine's multiplexed stream; a partial last frame (the read stopped
/// at the limit) gives what it has.
fn demux(raw: &[u8]) -> Vec<u8> {
    let (mut out, rest) = bosun_serve::docker_stream::demux(raw);
    if rest.len() > 8 {
        out.extend_from_slice(&rest[8..]);
    }
    out
}

/// Removes the container, running or not, with its anonymous volumes; one already gone
/// is fine.
async fn remove(cx: &ProbeContext, name: &str) -> Result<(), UpstreamError> {
    let path = format!("/containers/{name}?force=true&v=true");
    match call_within(cx, Method::DELETE, &path, None, AFTER_TIMEOUT).await {
        Ok(_) | Err(UpstreamError::Status { status: 404, .. }) => Ok(()),
        Err(e) => Err(e),
    }
}

/// Removes every sandbox container labelled with this agent's id, a previous run's or
/// this one's; how many.
pub async fn remove_sandboxes(cx: &ProbeContext) -> Result<usize, UpstreamError> {
    let filters = json!({"label": [format!("{AGENT_LABEL}={}", cx.agent_id)]}).to_string();
    let path = format!(
        "/containers/json?all=1&filters={}",
        utf8_percent_encode(&filters, NON_ALPHANUMERIC)
    );
    let listed = cx.engine.get_json(&path, ENGINE_TIMEOUT).await?;
    let mut removed = 0;
    for c in listed.as_array().map(Vec::as_slice).unwrap_or_default() {
        if let Some(id) = c["Id"].as_str() {
            match remove(cx, id).await {
                Ok(()) => removed += 1,
                Err(e) => {
                    tracing::warn!(container = id, error = %e, "could not remove a check's container")
                }
            }
        }
    }
    Ok(removed)
}

async fn call(
    cx: &ProbeContext,
    method: Method,
    path: &str,
    json: Option<&Value>,
) -> Result<Bytes, UpstreamError> {
    call_within(cx, method, path, json, ENGINE_TIMEOUT).await
}

/// One request to the engine whose whole answer is read within `timeout`.
async fn call_within(
    cx: &ProbeContext,
    method: Method,
    path: &str,
    json: Option<&Value>,
    timeout: Duration,
) -> Result<Bytes, UpstreamError> {
    let builder = Request::builder()
        .method(method)
        .uri(path)
        .header(header::HOST, "docker");
    let req = match json {
        Some(v) => builder
            .header(header::CONTENT_TYPE, "application/json")
            .body(body::full(v.to_string())),
        None => builder.body(body::empty()),
    }
    .map_err(|e| UpstreamError::Json {
        addr: cx.engine.label().to_owned(),
        reason: e.to_string(),
    })?;
    cx.engine.read_answer(req, timeout).await
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_carry_the_agent_check_and_run() {
        assert_eq!(
            container_name("0f1e2d3c-4b5a-6978", "disk", 12),
            "bosun-check-0f1e2d3c-disk-12"
        );
        assert_eq!(container_name("a b/c", "x", 1), "bosun-check-abc-x-1");
        assert_eq!(container_name("///", "x", 1), "bosun-check-agent-x-1");
    }

    #[test]
    fn demux_joins_frames_and_keeps_a_partial_one() {
        let mut raw = vec![1, 0, 0, 0, 0, 0, 0, 3];
        raw.extend_from_slice(b"out");
        raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        raw.extend_from_slice(b"err\n");
        raw.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 9]);
        raw.extend_from_slice(b"part");
        assert_eq!(demux(&raw), b"outerr\npart");
    }
}
