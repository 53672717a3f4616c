//! Running a command in a container to its end, for operators: its exit code and output.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::post;
use axum::{Json, Router};
use http_body_util::BodyExt;
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::cluster::{container_ref, Cluster, OwnedContainer, AGENT_TIMEOUT};
use super::{ApiError, ApiResult, Authed, JsonBody, Shared, CLUSTER};
use crate::agent::docker_stream::{demux, MAX_OUTPUT};
use crate::agent::Call;
use crate::auth::Role;

/// The exit code answered when the exec's could not be read.
const UNKNOWN_EXIT: i64 = -1;

/// The longest a command may run.
const EXEC_TIMEOUT: Duration = Duration::from_secs(60);

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/containers/{{cid}}/exec"), post(exec))
}

#[derive(Deserialize)]
struct ExecBody {
    cmd: Vec<String>,
}

async fn exec(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    JsonBody(body): JsonBody<ExecBody>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Operator, "container.exec")?;
    let cid = container_ref(&cid)?;
    if body.cmd.is_empty() {
        return Err(ApiError::bad("cmd is empty"));
    }
    let cluster = Cluster::open(&app, id, &who).await?;
    let found = cluster.find_owner(cid).await;
    let action = action.at(&cluster.endpoint.name, &found.node).on(format!(
        "{}: {}",
        found.name,
        body.cmd.join(" ")
    ));
    let (exit_code, output) = match run_exec(&cluster, &found, &body.cmd).await {
        Ok(done) => done,
        Err(e) => return action.finish(&app, Err(e)).await,
    };
    // The command ran and its output is the answer either way; the audit log tells a
    // command that failed from one that worked.
    let failed = match exit_code {
        0 => None,
        UNKNOWN_EXIT => Some("ran, but its exit code could not be read".to_owned()),
        code => Some(format!("exit code {code}")),
    };
    action.record(&app, failed.as_deref()).await;
    Ok(Json(json!({"exit_code": exit_code, "output": output})))
}

/// Creates an exec on the container's node, runs it to its end (at most a minute) and
/// returns its exit code and output, stdout and stderr interleaved.
async fn run_exec(
    cluster: &Cluster<'_>,
    container: &OwnedContainer,
    cmd: &[String],
) -> ApiResult<(i64, String)> {
    let node = container.node.as_str();
    let create = Call::new(Method::POST, format!("/containers/{}/exec", container.id))
        .json(json!({"AttachStdout": true, "AttachStderr": true, "Cmd": cmd}))
        .on(node);
    let (_, created) = cluster.call(create, AGENT_TIMEOUT).await?;
    let exec_id = serde_json::from_slice::<Value>(&created)
        .ok()
        .and_then(|v| v["Id"].as_str().map(str::to_owned))
        .ok_or_else(|| ApiError::new(StatusCode::BAD_GATEWAY, "no exec ID in the answer"))?;
    let start = Call::new(Method::POST, format!("/exec/{exec_id}/start"))
        .json(json!({"Detach": false, "Tty": false}))
        .on(node)
        .upgrade();
    let resp = cluster.open_stream(start).await?;
    let raw = tokio::time::timeout(EXEC_TIMEOUT, read_output(resp))
        .await
        .map_err(|_| {
            ApiError::new(StatusCode::GATEWAY_TIMEOUT, "the command ran over a minute")
        })??;
    let output = String::from_utf8_lossy(&demux(&raw).0).into_owned();
    // The command ran: its output stands even if its exit code cannot be read.
    let exit_code = cluster
        .json(
            Call::get(format!("/exec/{exec_id}/json")).on(node),
            AGENT_TIMEOUT,
        )
        .await
        .ok()
        .and_then(|(_, inspect)| inspect["ExitCode"].as_i64())
        .unwrap_or(UNKNOWN_EXIT);
    Ok((exit_code, output))
}

/// An exec's raw output: the upgraded stream to its end, or the body of an agent that
/// did not switch; at most [`MAX_OUTPUT`].
async fn read_output(resp: hyper::Response<hyper::body::Incoming>) -> ApiResult<Vec<u8>> {
    let gateway = |e: String| ApiError::new(StatusCode::BAD_GATEWAY, e);
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        let body = http_body_util::Limited::new(resp.into_body(), MAX_OUTPUT)
            .collect()
            .await
            .map_err(|e| gateway(e.to_string()))?;
        return Ok(body.to_bytes().to_vec());
    }
    use tokio::io::AsyncReadExt;
    let upgraded = hyper::upgrade::on(resp)
        .await
        .map_err(|e| gateway(e.to_string()))?;
    let mut raw = Vec::new();
    hyper_util::rt::TokioIo::new(upgraded)
        .take(MAX_OUTPUT as u64)
        .read_to_end(&mut raw)
        .await
        .map_err(|e| gateway(e.to_string()))?;
    Ok(raw)
}
