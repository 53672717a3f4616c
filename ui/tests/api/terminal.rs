//! The terminal over a real WebSocket: a shell in a real container through the agent's
//! exec hijack, typed into, resized, ended, and the audit row it leaves.

use std::time::Duration;

use futures_util::{SinkExt, StreamExt};
use http::StatusCode;
use serde_json::{json, Value};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::Message;

use crate::common::*;

type Socket =
    tokio_tungstenite::WebSocketStream<tokio_rustls::client::TlsStream<tokio::net::TcpStream>>;

/// A terminal WebSocket opened on the console as `client`.
async fn open_terminal(client: &Client, path: &str) -> Socket {
    let stream =
        bosun_testkit::https::tls_stream_with(client.addr, bosun_testkit::https::any_server())
            .await
            .expect("TLS to the console");
    let url = format!("wss://localhost:{}{path}", client.addr.port());
    let mut req = url.into_client_request().expect("a request");
    req.headers_mut().insert(
        "cookie",
        client
            .cookie
            .as_deref()
            .expect("logged in")
            .parse()
            .expect("a header"),
    );
    let (socket, resp) = tokio_tungstenite::client_async(req, stream)
        .await
        .expect("the WebSocket opens");
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    socket
}

/// Reads the terminal until its output holds `wanted`; everything read.
async fn read_until(socket: &mut Socket, seen: &mut String, wanted: &str) {
    let found = tokio::time::timeout(SETTLE, async {
        while !seen.contains(wanted) {
            match socket.next().await {
                Some(Ok(Message::Binary(bytes))) => seen.push_str(&String::from_utf8_lossy(&bytes)),
                Some(Ok(Message::Text(text))) => seen.push_str(&format!("<<{text}>>")),
                Some(Ok(_)) => {}
                _ => return false,
            }
        }
        true
    })
    .await;
    assert_eq!(found, Ok(true), "{wanted:?} in the terminal: {seen:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn a_terminal_runs_a_shell_resizes_and_is_audited_when_it_ends() {
    let (_creds, _agent, console) = stack().await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let id = super::local_endpoint(&admin.get("/api/endpoints").await.json());
    let c = container("terminal");
    let node = engine_ok(&["info", "--format", "{{.Name}}"]);
    let csrf = admin.csrf.clone().expect("a CSRF token");
    let path = format!("/api/endpoints/{id}/containers/{}/terminal", c.0);

    // A viewer may not, as with exec.
    admin.add_user("vera", "viewer").await;
    let viewer = Client::logged_in(console.addr, "vera", "password-123").await;
    let refused = viewer
        .get(&format!(
            "{path}?csrf={}",
            viewer.csrf.clone().unwrap_or_default()
        ))
        .await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert!(refused.message().contains("operator"), "{}", refused.text());

    // Without the session's CSRF token, or not as a WebSocket: refused with a message.
    let forged = admin.get(&format!("{path}?cmd=sh")).await;
    assert_eq!(forged.status, StatusCode::FORBIDDEN, "{}", forged.text());
    assert!(forged.message().contains("csrf"), "{}", forged.text());
    let plain = admin.get(&format!("{path}?csrf={csrf}")).await;
    assert_eq!(plain.status, StatusCode::BAD_REQUEST, "{}", plain.text());
    assert!(plain.message().contains("WebSocket"), "{}", plain.text());

    let mut socket = open_terminal(
        &admin,
        &format!("{path}?cmd=sh&cols=80&rows=24&csrf={csrf}"),
    )
    .await;
    let mut seen = String::new();
    socket
        .send(Message::Binary("echo hi-$((6*7))\n".into()))
        .await
        .expect("typed");
    read_until(&mut socket, &mut seen, "hi-42").await;

    let resize = json!({"resize": {"cols": 101, "rows": 33}}).to_string();
    socket
        .send(Message::Text(resize.into()))
        .await
        .expect("resized");
    // The resize and the typing go different ways to the engine: let the resize land.
    tokio::time::sleep(Duration::from_millis(300)).await;
    socket
        .send(Message::Binary("stty size\n".into()))
        .await
        .expect("typed");
    read_until(&mut socket, &mut seen, "33 101").await;

    let started = std::time::Instant::now();
    socket
        .send(Message::Binary("exit 3\n".into()))
        .await
        .expect("typed");
    read_until(&mut socket, &mut seen, "<<{\"exit\":3}>>").await;
    assert!(started.elapsed() < SETTLE);

    let row = eventually("the terminal's audit row", SETTLE, || async {
        let rows: Vec<Value> = admin
            .get("/api/audit?action=container.terminal")
            .await
            .json()
            .as_array()
            .cloned()
            .unwrap_or_default();
        rows.into_iter()
            .find(|r| r["target"].as_str().unwrap_or_default().starts_with(&c.0))
            .ok_or_else(|| "no row yet".to_owned())
    })
    .await;
    let opened: Vec<Value> = admin
        .get("/api/audit?action=container.terminal.open")
        .await
        .json()
        .as_array()
        .cloned()
        .unwrap_or_default();
    assert!(
        opened
            .iter()
            .any(|r| r["target"] == format!("{}: sh", c.0) && r["result"] == "ok"),
        "the row of the terminal's opening: {opened:?}"
    );
    assert_eq!(row["user"], ADMIN);
    assert_eq!(row["endpoint"], "local");
    assert_eq!(row["node"], node.as_str());
    assert_eq!(row["result"], "ok");
    let target = row["target"].as_str().unwrap_or_default();
    assert!(
        target.starts_with(&format!("{}: sh (", c.0)) && target.ends_with(" s, exit 3)"),
        "who, container, command, how long and the exit code: {row}"
    );
}
