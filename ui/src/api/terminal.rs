//! An interactive terminal in a container: the browser's WebSocket piped both ways to an
//! exec with a TTY, started through the agent's hijack, and resized with the browser's
//! window. Recorded once, when it ends: who, on which container, the command, how long
//! it ran and its exit code.
//!
//! On the socket: binary messages are the terminal's bytes, both ways; a text message
//! from the browser is a control, `{"resize": {"cols": C, "rows": R}}`; a text message to
//! the browser is `{"error": "..."}` or `{"exit": CODE}` just before the socket closes.

use std::time::{Duration, Instant};

use axum::extract::ws::{Message, WebSocket, WebSocketUpgrade};
use axum::extract::{Path, Query, State};
use axum::http::{Method, StatusCode};
use axum::response::Response;
use axum::routing::get;
use axum::Router;
use hyper_util::rt::TokioIo;
use serde::Deserialize;
use serde_json::json;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use super::action::Action;
use super::cluster::{container_ref, Cluster, AGENT_TIMEOUT, STATUS_TIMEOUT};
use super::{ApiError, ApiResult, Authed, Shared, CLUSTER};
use crate::agent::Call;
use crate::auth::Role;
use crate::store::Endpoint;

/// What the audit log calls a terminal session.
const AUDITED_AS: &str = "container.terminal";
/// The row written when a terminal opens, so that a session the console does not see the
/// end of (a restart, a crash, hours of shell) is on record from its start.
const OPENED_AS: &str = "container.terminal.open";
/// The longest command line a terminal may be opened with.
const MAX_COMMAND: usize = 256;
/// Sent to the shell when the browser leaves: end of input, so that an idle shell exits
/// rather than outlive its terminal (the engine does not end an exec on detach).
const END_OF_INPUT: u8 = 0x04;

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(
        &format!("{CLUSTER}/containers/{{cid}}/terminal"),
        get(terminal),
    )
}

#[derive(Deserialize)]
struct TerminalQuery {
    /// The command, words split on white space; `sh` when not given.
    cmd: Option<String>,
    /// The session's CSRF token: a browser cannot put headers on a WebSocket, and the
    /// token keeps another site from opening one with the user's cookie.
    csrf: Option<String>,
    cols: Option<u16>,
    rows: Option<u16>,
}

/// A terminal ready to be attached: the exec made on the container's node.
struct Opened {
    endpoint: Endpoint,
    node: String,
    container: String,
    exec_id: String,
    command: String,
    size: Option<(u16, u16)>,
}

#[derive(Deserialize)]
struct Control {
    resize: Option<Size>,
}

#[derive(Deserialize)]
struct Size {
    cols: u16,
    rows: u16,
}

async fn terminal(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    Query(q): Query<TerminalQuery>,
    upgrade: Result<WebSocketUpgrade, axum::extract::ws::rejection::WebSocketUpgradeRejection>,
) -> ApiResult<Response> {
    // The same role as exec; the row is written when the session ends.
    who.require(Role::Operator)?;
    if !crate::auth::same(q.csrf.as_deref().unwrap_or_default(), &who.csrf) {
        return Err(ApiError::new(
            StatusCode::FORBIDDEN,
            "missing or wrong csrf in the query",
        ));
    }
    let upgrade = upgrade
        .map_err(|e| ApiError::bad(format!("a terminal is a WebSocket: {}", e.body_text())))?;
    let cid = container_ref(&cid)?;
    let command = q.cmd.as_deref().unwrap_or("sh").trim();
    let words: Vec<&str> = command.split_whitespace().collect();
    if words.is_empty() || command.len() > MAX_COMMAND {
        return Err(ApiError::bad(format!(
            "cmd is a command of 1 to {MAX_COMMAND} characters"
        )));
    }
    let cluster = Cluster::open(&app, id, &who).await?;
    let (inspect, found) = cluster.inspect(cid, STATUS_TIMEOUT).await?;
    if inspect["State"]["Running"] != true {
        return Err(ApiError::new(
            StatusCode::CONFLICT,
            format!("{} is not running", found.name),
        ));
    }
    let create = Call::new(Method::POST, format!("/containers/{}/exec", found.id))
        .json(json!({
            "AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": true,
            "Cmd": words, "Env": ["TERM=xterm-256color"],
        }))
        .on(&found.node);
    let (_, created) = cluster.json(create, AGENT_TIMEOUT).await?;
    let exec_id = created["Id"]
        .as_str()
        .ok_or_else(|| ApiError::new(StatusCode::BAD_GATEWAY, "no exec ID in the answer"))?
        .to_owned();
    let opened = Opened {
        endpoint: cluster.endpoint.clone(),
        node: found.node,
        container: found.name,
        exec_id,
        command: command.to_owned(),
        size: q.cols.zip(q.rows),
    };
    Ok(upgrade.on_upgrade(move |socket| session(app, who, opened, socket)))
}

/// Runs the terminal until the command or the browser ends, then records it.
async fn session(app: Shared, who: Authed, opened: Opened, mut socket: WebSocket) {
    let started = Instant::now();
    let cluster = match Cluster::of(&app, opened.endpoint.clone(), &who) {
        Ok(cluster) => cluster,
        Err(e) => {
            let _ = socket
                .send(Message::Text(
                    json!({"error": e.to_string()}).to_string().into(),
                ))
                .await;
            return;
        }
    };
    if let Ok(action) = Action::start(&who, Role::Operator, OPENED_AS) {
        action
            .at(&opened.endpoint.name, &opened.node)
            .on(format!("{}: {}", opened.container, opened.command))
            .record(&app, None)
            .await;
    }
    let ran = pipe(&cluster, &opened, &mut socket, who.ended()).await;
    let exit_code = cluster
        .json(
            Call::get(format!("/exec/{}/json", opened.exec_id)).on(&opened.node),
            STATUS_TIMEOUT,
        )
        .await
        .ok()
        .and_then(|(_, inspect)| inspect["ExitCode"].as_i64());
    let last = match (&ran, exit_code) {
        (Err(e), _) => json!({"error": e}),
        (Ok(()), code) => json!({"exit": code}),
    };
    let _ = socket.send(Message::Text(last.to_string().into())).await;
    let _ = socket.send(Message::Close(None)).await;
    let took = started.elapsed().as_secs();
    let exit = exit_code.map_or("still running".to_owned(), |c| format!("exit {c}"));
    if let Ok(action) = Action::start(&who, Role::Operator, AUDITED_AS) {
        action
            .at(&opened.endpoint.name, &opened.node)
            .on(format!(
                "{}: {} ({took} s, {exit})",
                opened.container, opened.command
            ))
            .record(&app, ran.as_ref().err().map(String::as_str))
            .await;
    }
}

/// Starts the exec and copies bytes both ways until the command ends, the browser leaves
/// or `stop` completes; an error says why it could not go on.
async fn pipe(
    cluster: &Cluster<'_>,
    opened: &Opened,
    socket: &mut WebSocket,
    stop: impl std::future::Future<Output = ()>,
) -> Result<(), String> {
    let start = Call::new(Method::POST, format!("/exec/{}/start", opened.exec_id))
        .json(json!({"Detach": false, "Tty": true}))
        .on(&opened.node)
        .upgrade();
    let resp = cluster
        .open_stream(start)
        .await
        .map_err(|e| e.to_string())?;
    if resp.status() != StatusCode::SWITCHING_PROTOCOLS {
        return Err(format!(
            "the agent answered {} instead of a raw stream",
            resp.status()
        ));
    }
    let upgraded = hyper::upgrade::on(resp).await.map_err(|e| e.to_string())?;
    let (mut output, mut input) = tokio::io::split(TokioIo::new(upgraded));
    if let Some((cols, rows)) = opened.size {
        resize(cluster, opened, cols, rows).await;
    }
    let mut buf = vec![0u8; 16 * 1024];
    tokio::pin!(stop);
    loop {
        tokio::select! {
            read = output.read(&mut buf) => match read {
                Ok(0) => return Ok(()),
                Ok(n) => {
                    let bytes = bytes::Bytes::copy_from_slice(&buf[..n]);
                    if socket.send(Message::Binary(bytes)).await.is_err() {
                        let _ = to_input(&mut input, &[END_OF_INPUT]).await;
                        return Ok(());
                    }
                }
                Err(e) => return Err(format!("the terminal's stream: {e}")),
            },
            message = socket.recv() => match message {
                Some(Ok(Message::Binary(data))) => {
                    to_input(&mut input, &data).await.map_err(|e| format!("the terminal's input: {e}"))?;
                }
                Some(Ok(Message::Text(text))) => {
                    if let Ok(Control { resize: Some(size) }) = serde_json::from_str(text.as_str()) {
                        resize(cluster, opened, size.cols, size.rows).await;
                    }
                }
                Some(Ok(Message::Ping(_) | Message::Pong(_))) => {}
                // The browser closed the terminal or went away.
                Some(Ok(Message::Close(_)) | Err(_)) | None => {
                    let _ = to_input(&mut input, &[END_OF_INPUT]).await;
                    return Ok(());
                }
            },
            () = &mut stop => {
                let _ = to_input(&mut input, &[END_OF_INPUT]).await;
                return Err("the session was ended".to_owned());
            }
        }
    }
}

/// Sends `bytes` to the command's input now. Over TLS the stream may take bytes into its
/// records and send them only on a later write or a flush (when the socket was full as
/// they came); a keystroke must not wait for the next one, nor the end of input be lost.
async fn to_input<W>(input: &mut W, bytes: &[u8]) -> std::io::Result<()>
where
    W: tokio::io::AsyncWrite + Unpin,
{
    input.write_all(bytes).await?;
    input.flush().await
}

/// Tells the engine the terminal's size; a failure only leaves the old size.
async fn resize(cluster: &Cluster<'_>, opened: &Opened, cols: u16, rows: u16) {
    if cols == 0 || rows == 0 {
        return;
    }
    let call = Call::new(
        Method::POST,
        format!("/exec/{}/resize?h={rows}&w={cols}", opened.exec_id),
    )
    .on(&opened.node);
    if let Err(e) = cluster.call(call, Duration::from_secs(5)).await {
        tracing::debug!(error = %e, "resizing a terminal");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn input_goes_out_at_once_from_a_stream_that_holds_it_until_flushed() {
        let (near, mut far) = tokio::io::duplex(1024);
        // Holds what it is given until flushed, as a TLS stream may.
        let mut input = tokio::io::BufWriter::new(near);
        to_input(&mut input, b"ls\r").await.expect("written");
        let mut got = [0u8; 3];
        tokio::time::timeout(Duration::from_secs(5), far.read_exact(&mut got))
            .await
            .expect("the keystrokes arrived without a later write")
            .expect("read");
        assert_eq!(&got, b"ls\r");
    }
}
