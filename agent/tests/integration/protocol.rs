//! The Docker protocol rules a proxy must keep (DESIGN.md, "Protocol rules"), checked with a
//! raw HTTP/1.1 client against the agent in front of the real engine, and against fake
//! engines for what the real one cannot show: the headers that reach it, how many
//! connections it gets, a slow or endless answer during shutdown.

use std::collections::BTreeSet;
use std::convert::Infallible;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Request, Response, StatusCode};
use http_body_util::combinators::BoxBody;
use http_body_util::{BodyExt, Full, StreamBody};
use hyper::body::{Frame, Incoming};
use hyper::client::conn::http1::SendRequest;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpListener;

use crate::harness::*;
use bosun_testkit::https::*;

/// Reads until `needle` shows up or the stream ends; returns everything read.
async fn read_until(io: &mut (impl AsyncRead + Unpin), needle: &[u8]) -> Vec<u8> {
    let mut seen = Vec::new();
    let mut buf = [0u8; 4096];
    let found = tokio::time::timeout(LIVENESS, async {
        loop {
            if seen.windows(needle.len()).any(|w| w == needle) {
                return true;
            }
            match io.read(&mut buf).await {
                Ok(0) | Err(_) => return false,
                Ok(n) => seen.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(
        found == Ok(true),
        "{:?} never arrived (stream {}); got {:?}",
        String::from_utf8_lossy(needle),
        if found.is_err() { "stalled" } else { "ended" },
        String::from_utf8_lossy(&seen)
    );
    seen
}

/// Splits Docker's multiplexed stream (8-byte headers: stream id, 3 zero bytes, big-endian
/// length) into stdout and stderr.
fn demux(mut bytes: &[u8]) -> (Vec<u8>, Vec<u8>) {
    let (mut out, mut err) = (Vec::new(), Vec::new());
    while !bytes.is_empty() {
        assert!(bytes.len() >= 8, "truncated frame header: {bytes:?}");
        let len = u32::from_be_bytes([bytes[4], bytes[5], bytes[6], bytes[7]]) as usize;
        assert!(bytes.len() >= 8 + len, "truncated frame: {bytes:?}");
        let payload = &bytes[8..8 + len];
        match bytes[0] {
            1 => out.extend_from_slice(payload),
            2 => err.extend_from_slice(payload),
            other => panic!("frame for stream {other}: {bytes:?}"),
        }
        bytes = &bytes[8 + len..];
    }
    (out, err)
}

fn unique(tag: &str) -> String {
    static N: AtomicUsize = AtomicUsize::new(0);
    let nanos = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.subsec_nanos())
        .unwrap_or(0);
    let n = N.fetch_add(1, Ordering::Relaxed);
    format!("bosun-it-{tag}-{}-{nanos}-{n}", std::process::id())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn version_prefix_is_optional_and_the_engines_answer_passes_as_is() {
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let mut direct = connect_engine().await;
    let (truth, truth_body) = roundtrip(&mut direct, empty(request("GET", "/v1.41/version"))).await;
    let truth_json = json_of(&truth_body);

    let mut client = connect(&pki, agent.addr, true).await;
    for path in ["/v1.41/version", "/version"] {
        let (parts, body) = roundtrip(&mut client, empty(request("GET", path))).await;
        assert_eq!(parts.status, StatusCode::OK, "GET {path}");
        assert_eq!(
            parts.headers.get(header::CONTENT_TYPE),
            truth.headers.get(header::CONTENT_TYPE),
            "GET {path}: Content-Type must be the engine's, byte for byte"
        );
        // The CLI negotiates its API version from this header.
        assert_eq!(
            parts.headers.get("api-version"),
            truth.headers.get("api-version"),
            "GET {path}"
        );
        let v = json_of(&body);
        assert_eq!(v["Version"], truth_json["Version"], "GET {path}: {v}");
        assert_eq!(v["ApiVersion"], truth_json["ApiVersion"], "GET {path}: {v}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn engine_errors_pass_through_in_dockers_shape() {
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let path = "/v1.41/containers/does-not-exist-xyz/json";
    let (truth, truth_body) =
        roundtrip(&mut connect_engine().await, empty(request("GET", path))).await;
    let mut client = connect(&pki, agent.addr, true).await;
    let (parts, body) = roundtrip(&mut client, empty(request("GET", path))).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    assert_eq!(truth.status, StatusCode::NOT_FOUND);
    // The CLI prints the engine's message only for exactly this type.
    assert_eq!(
        header_str(&parts.headers, "content-type"),
        Some("application/json")
    );
    let message = json_of(&body)["message"].clone();
    assert_eq!(message, json_of(&truth_body)["message"]);
    assert!(
        message
            .as_str()
            .is_some_and(|m| m.contains("does-not-exist-xyz")),
        "{message}"
    );
}

/// The agent asks the engine for logs in a way that lets it read them in large pieces; the
/// client still gets the engine's exact bytes over its own kept-alive HTTP/1.1 connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn logs_arrive_byte_for_byte_on_a_connection_that_stays_open() {
    blocking(ensure_image);
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let name = Name::new("logs");
    name.run(&["sh", "-c", "seq 1 20000; seq 1 300 >&2"]);
    blocking(|| {
        wait_for(
            "the container to exit",
            Duration::from_secs(30),
            || match name.state().as_str() {
                "exited" => Ok(()),
                other => Err(format!("it is {other}")),
            },
        )
    });
    let path = format!(
        "/v1.41/containers/{}/logs?stdout=1&stderr=1&timestamps=0",
        name.as_str()
    );
    let (truth, truth_body) =
        roundtrip(&mut connect_engine().await, empty(request("GET", &path))).await;
    assert_eq!(truth.status, StatusCode::OK);

    let mut client = connect(&pki, agent.addr, true).await;
    let (parts, body) = roundtrip(&mut client, empty(request("GET", &path))).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        parts.version,
        http::Version::HTTP_11,
        "the client's own version"
    );
    assert_eq!(body.len(), truth_body.len());
    assert!(
        body == truth_body,
        "the engine's bytes, stdout and stderr frames in order"
    );
    let (stdout, stderr) = demux(&body);
    assert!(String::from_utf8_lossy(&stdout).ends_with("19999\n20000\n"));
    assert_eq!(String::from_utf8_lossy(&stderr).lines().count(), 300);

    // The same connection serves the next request.
    let (ping, pong) = roundtrip(&mut client, empty(request("GET", "/_ping"))).await;
    assert_eq!(ping.status, StatusCode::OK);
    assert_eq!(&pong[..], b"OK");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_head_arrives_while_the_container_still_runs() {
    blocking(ensure_image);
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let name = Name::new("wait");
    name.run(&["sleep", "30"]);

    let mut client = connect(&pki, agent.addr, true).await;
    let path = format!("/v1.41/containers/{}/wait", name.as_str());
    let resp = send(&mut client, empty(request("POST", &path))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let running = engine_ok(&["inspect", "-f", "{{.State.Running}}", name.as_str()]);
    assert_eq!(
        running, "true",
        "the head must arrive before the container ends, not with the result"
    );

    engine_ok(&["kill", name.as_str()]);
    let result = json_of(&body_of(resp).await);
    assert_eq!(result["StatusCode"], 137, "{result}");
}

/// `docker run` asks for the wait before it starts the container; a proxy that holds the
/// head until the body comes deadlocks it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wait_before_start_gets_its_head_and_then_the_exit_code() {
    blocking(ensure_image);
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let name = Name::new("wait-next");
    engine_ok(&[
        "create",
        "--name",
        name.as_str(),
        IMAGE,
        "sh",
        "-c",
        "exit 3",
    ]);

    let mut waiter = connect(&pki, agent.addr, true).await;
    let path = format!(
        "/v1.41/containers/{}/wait?condition=next-exit",
        name.as_str()
    );
    let resp = send(&mut waiter, empty(request("POST", &path))).await;
    assert_eq!(resp.status(), StatusCode::OK);

    let mut starter = connect(&pki, agent.addr, true).await;
    let start = format!("/v1.41/containers/{}/start", name.as_str());
    let (parts, body) = roundtrip(&mut starter, empty(request("POST", &start))).await;
    assert_eq!(
        parts.status,
        StatusCode::NO_CONTENT,
        "{}",
        String::from_utf8_lossy(&body)
    );
    let result = json_of(&body_of(resp).await);
    assert_eq!(result["StatusCode"], 3, "{result}");
}

/// Creates a non-TTY exec with stdin on `container` through `sender`; returns its id.
async fn create_exec(sender: &mut SendRequest<ReqBody>, container: &str, cmd: &[&str]) -> String {
    let path = format!("/v1.41/containers/{container}/exec");
    let spec = json!({
        "AttachStdin": true, "AttachStdout": true, "AttachStderr": true, "Tty": false, "Cmd": cmd,
    });
    let (parts, body) = roundtrip(sender, with_json(request("POST", &path), &spec)).await;
    assert_eq!(
        parts.status,
        StatusCode::CREATED,
        "{}",
        String::from_utf8_lossy(&body)
    );
    json_of(&body)["Id"].as_str().expect("exec Id").to_owned()
}

async fn start_exec(sender: &mut SendRequest<ReqBody>, id: &str) -> Response<Incoming> {
    let path = format!("/v1.41/exec/{id}/start");
    let req = request("POST", &path)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "tcp");
    send(
        sender,
        with_json(req, &json!({ "Detach": false, "Tty": false })),
    )
    .await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn exec_hijack_relays_stdin_and_keeps_output_flowing_after_half_close() {
    blocking(ensure_image);
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let name = Name::new("hijack");
    name.run(&["sleep", "60"]);

    // What the engine itself says for a non-TTY exec on this API version.
    let mut direct = connect_engine().await;
    let truth_id = create_exec(&mut direct, name.as_str(), &["true"]).await;
    let truth = start_exec(&mut direct, &truth_id).await;
    assert_eq!(truth.status(), StatusCode::SWITCHING_PROTOCOLS);
    let truth_type = truth.headers().get(header::CONTENT_TYPE).cloned();
    drop(truth);

    let mut client = connect(&pki, agent.addr, true).await;
    let id = create_exec(
        &mut client,
        name.as_str(),
        &["sh", "-c", "echo before; cat; echo after"],
    )
    .await;
    let resp = start_exec(&mut client, &id).await;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    let content_type = resp.headers().get(header::CONTENT_TYPE).cloned();
    assert!(
        content_type
            .as_ref()
            .and_then(|v| v.to_str().ok())
            .is_some_and(|v| v.starts_with("application/vnd.docker")),
        "{content_type:?}"
    );
    assert_eq!(
        content_type, truth_type,
        "Content-Type must be the engine's"
    );
    assert_eq!(header_str(resp.headers(), "upgrade"), Some("tcp"));

    let upgraded = tokio::time::timeout(LIVENESS, hyper::upgrade::on(resp))
        .await
        .expect("upgrade within the liveness limit")
        .expect("upgrade");
    let mut io = TokioIo::new(upgraded);
    io.write_all(b"from-stdin\n").await.expect("write stdin");
    // The CLI does this at once when it has no stdin; output must still come.
    io.shutdown().await.expect("half-close");
    let mut raw = Vec::new();
    tokio::time::timeout(LIVENESS, io.read_to_end(&mut raw))
        .await
        .unwrap_or_else(|_| {
            panic!(
                "the stream did not end after half-close (stdin EOF lost?); got {:?}",
                String::from_utf8_lossy(&raw)
            )
        })
        .expect("read the stream to its end");
    let (stdout, stderr) = demux(&raw);
    assert_eq!(
        String::from_utf8_lossy(&stdout),
        "before\nfrom-stdin\nafter\n",
        "stderr: {}",
        String::from_utf8_lossy(&stderr)
    );
}

/// BuildKit's session: the engine answers 101 and then dials back as the HTTP/2 client.
async fn open_session(pki: &Pki, addr: SocketAddr, host: &str) {
    let mut client = connect(pki, addr, true).await;
    let req = Request::builder()
        .method("POST")
        .uri("/session")
        .header(header::HOST, host)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "h2c")
        .header("X-Docker-Expose-Session-Uuid", unique("session"))
        .header("X-Docker-Expose-Session-Name", "test")
        .header("X-Docker-Expose-Session-Sharedkey", "x")
        .body(Full::default())
        .expect("request");
    let resp = send(&mut client, req).await;
    assert_eq!(
        resp.status(),
        StatusCode::SWITCHING_PROTOCOLS,
        "Host {host:?}: {}",
        String::from_utf8_lossy(&body_of(resp).await)
    );
    assert_eq!(header_str(resp.headers(), "upgrade"), Some("h2c"));
    let upgraded = tokio::time::timeout(LIVENESS, hyper::upgrade::on(resp))
        .await
        .expect("upgrade within the liveness limit")
        .expect("upgrade");
    let mut io = TokioIo::new(upgraded);
    let preface = b"PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n";
    let mut got = vec![0u8; preface.len()];
    tokio::time::timeout(LIVENESS, io.read_exact(&mut got))
        .await
        .expect("the engine's HTTP/2 preface within the liveness limit")
        .expect("read the preface");
    assert_eq!(got, preface, "{:?}", String::from_utf8_lossy(&got));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn buildkit_session_upgrades_to_h2c_and_the_engine_dials_back() {
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    open_session(&pki, agent.addr, "localhost").await;
    // BuildKit's dialer may send an empty Host; Go's server takes it, so must we.
    open_session(&pki, agent.addr, "").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn attach_websocket_relays_the_containers_output() {
    blocking(ensure_image);
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let name = Name::new("attach-ws");
    engine_ok(&[
        "create",
        "--name",
        name.as_str(),
        IMAGE,
        "sh",
        "-c",
        "sleep 1; echo ws-line; sleep 30",
    ]);

    let mut client = connect(&pki, agent.addr, true).await;
    let path = format!(
        "/v1.41/containers/{}/attach/ws?stream=1&stdout=1",
        name.as_str()
    );
    let req = request("GET", &path)
        .header(header::CONNECTION, "Upgrade")
        .header(header::UPGRADE, "websocket")
        .header("Sec-WebSocket-Version", "13")
        .header("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ==");
    let resp = send(&mut client, empty(req)).await;
    assert_eq!(resp.status(), StatusCode::SWITCHING_PROTOCOLS);
    // RFC 6455's own example answer for this key.
    assert_eq!(
        header_str(resp.headers(), "sec-websocket-accept"),
        Some("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=")
    );
    assert_eq!(header_str(resp.headers(), "upgrade"), Some("websocket"));
    let upgraded = tokio::time::timeout(LIVENESS, hyper::upgrade::on(resp))
        .await
        .expect("upgrade within the liveness limit")
        .expect("upgrade");
    // Attached before the start, so the line cannot be missed.
    engine_ok(&["start", name.as_str()]);
    read_until(&mut TokioIo::new(upgraded), b"ws-line\n").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn archive_stat_header_is_kept() {
    blocking(ensure_image);
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let name = Name::new("archive");
    engine_ok(&["create", "--name", name.as_str(), IMAGE, "true"]);
    let path = format!("/v1.41/containers/{}/archive?path=/bin/sh", name.as_str());

    let (truth, _) = roundtrip(&mut connect_engine().await, empty(request("HEAD", &path))).await;
    let stat = truth
        .headers
        .get("x-docker-container-path-stat")
        .expect("the engine sends the stat header")
        .clone();

    let mut client = connect(&pki, agent.addr, true).await;
    let (parts, _) = roundtrip(&mut client, empty(request("HEAD", &path))).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        parts.headers.get("x-docker-container-path-stat"),
        Some(&stat)
    );

    // `docker cp` reads the same header on the GET that carries the tar.
    let (parts, body) = roundtrip(&mut client, empty(request("GET", &path))).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert_eq!(
        parts.headers.get("x-docker-container-path-stat"),
        Some(&stat)
    );
    assert_eq!(
        header_str(&parts.headers, "content-type"),
        Some("application/x-tar")
    );
    // A tar header block names the entry in its first 100 bytes.
    assert!(
        body.len() >= 512 && body.starts_with(b"sh"),
        "{} bytes",
        body.len()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_unknown_target_is_a_404_naming_the_known_node() {
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let node = engine_name();
    let mut client = connect(&pki, agent.addr, true).await;
    let req = request("GET", "/v1.41/containers/json").header("X-Agent-Target", "no-such-node");
    let (parts, body) = roundtrip(&mut client, empty(req)).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);
    assert_eq!(
        header_str(&parts.headers, "content-type"),
        Some("application/json")
    );
    let message = json_of(&body)["message"]
        .as_str()
        .expect("message")
        .to_owned();
    assert!(message.contains("no-such-node"), "{message}");
    assert!(message.contains(&node), "should name {node:?}: {message}");

    // The alias Portainer's clients send.
    let req =
        request("GET", "/v1.41/containers/json").header("X-PortainerAgent-Target", "no-such-node");
    let (parts, _) = roundtrip(&mut client, empty(req)).await;
    assert_eq!(parts.status, StatusCode::NOT_FOUND);

    // The node's own name runs locally.
    let req = request("GET", "/v1.41/containers/json").header("X-Agent-Target", node.as_str());
    let (parts, body) = roundtrip(&mut client, empty(req)).await;
    assert_eq!(parts.status, StatusCode::OK);
    assert!(json_of(&body).is_array());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn agent_health_is_open_and_info_needs_credentials() {
    let pki = blocking(Pki::by_commands);
    let agent = blocking(|| Agent::start(&pki));
    let node = engine_name();
    let engine_version = engine_ok(&["version", "--format", "{{.Server.Version}}"]);

    let mut anonymous = connect(&pki, agent.addr, false).await;
    let (parts, body) = roundtrip(&mut anonymous, empty(request("GET", "/agent/v1/health"))).await;
    assert_eq!(
        parts.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&body)
    );

    let (parts, body) = roundtrip(&mut anonymous, empty(request("GET", "/agent/v1/info"))).await;
    assert_eq!(parts.status, StatusCode::UNAUTHORIZED);
    assert_eq!(
        header_str(&parts.headers, "content-type"),
        Some("application/json")
    );
    assert!(json_of(&body)["message"].is_string());

    let mut client = connect(&pki, agent.addr, true).await;
    let (parts, body) = roundtrip(&mut client, empty(request("GET", "/agent/v1/info"))).await;
    assert_eq!(parts.status, StatusCode::OK);
    let info = json_of(&body);
    assert_eq!(info["NodeName"], node.as_str(), "{info}");
    assert_eq!(info["AgentVersion"], bosun_agent::VERSION, "{info}");
    assert_eq!(info["EngineVersion"], engine_version.as_str(), "{info}");
    assert_eq!(info["ApiVersion"], "1.41", "{info}");
    assert!(info["UptimeSeconds"].is_u64(), "{info}");
}

/// What a fake engine saw of one request.
#[derive(Debug, Clone)]
struct Seen {
    method: String,
    target: String,
    headers: HeaderMap,
    /// Which of the engine's connections it came on, counted from 1 as they were accepted.
    conn: usize,
}

/// A tiny engine on 127.0.0.1:0 that records what reaches it. `/slow` answers after
/// 1.5 s; `/hang` sends one chunk and never ends.
struct FakeEngine {
    addr: SocketAddr,
    seen: Arc<Mutex<Vec<Seen>>>,
}

type FakeBody = BoxBody<Bytes, Infallible>;

impl FakeEngine {
    async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind the fake engine");
        let addr = listener.local_addr().expect("local addr");
        let seen = Arc::new(Mutex::new(Vec::new()));
        let log = Arc::clone(&seen);
        tokio::spawn(async move {
            let mut accepted = 0;
            while let Ok((stream, _)) = listener.accept().await {
                accepted += 1;
                let conn = accepted;
                let log = Arc::clone(&log);
                let service = hyper::service::service_fn(move |req| {
                    let log = Arc::clone(&log);
                    async move { Ok::<_, Infallible>(fake_answer(&log, conn, req).await) }
                });
                tokio::spawn(
                    hyper::server::conn::http1::Builder::new()
                        .serve_connection(TokioIo::new(stream), service),
                );
            }
        });
        Self { addr, seen }
    }

    fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    fn seen(&self) -> Vec<Seen> {
        self.seen.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    fn saw(&self, path: &str) -> bool {
        self.seen().iter().any(|s| s.target == path)
    }

    /// An agent of `pki`'s cluster in front of this engine.
    fn agent(&self, pki: &Pki, extra: &[&str]) -> Agent {
        let mut args = pki.run_args();
        args.extend(["--docker-host".to_owned(), self.docker_host()]);
        args.extend(extra.iter().map(|a| (*a).to_owned()));
        blocking(|| Agent::start_with(&args))
    }
}

async fn fake_answer(
    log: &Mutex<Vec<Seen>>,
    conn: usize,
    req: Request<Incoming>,
) -> Response<FakeBody> {
    let target = req
        .uri()
        .path_and_query()
        .map(|pq| pq.as_str().to_owned())
        .unwrap_or_default();
    log.lock().unwrap_or_else(|p| p.into_inner()).push(Seen {
        method: req.method().to_string(),
        target: target.clone(),
        headers: req.headers().clone(),
        conn,
    });
    let path = bosun_agent::path::strip_version(req.uri().path()).to_owned();
    let json = |v: Value| {
        Response::builder()
            .header(header::CONTENT_TYPE, "application/json")
            .body(Full::new(Bytes::from(v.to_string())).boxed())
            .expect("response")
    };
    match path.as_str() {
        "/_ping" => Response::builder()
            .header(header::CONTENT_TYPE, "text/plain; charset=utf-8")
            .body(Full::new(Bytes::from_static(b"OK")).boxed())
            .expect("response"),
        "/info" => json(json!({ "Name": "fake" })),
        "/slow" => {
            tokio::time::sleep(Duration::from_millis(1500)).await;
            json(json!({ "slow": true }))
        }
        "/hang" => {
            use futures_util::StreamExt;
            let first = Frame::data(Bytes::from_static(b"{\"status\":\"first\"}\n"));
            let frames = futures_util::stream::once(futures_util::future::ready(Ok(first)))
                .chain(futures_util::stream::pending());
            Response::builder()
                .header(header::CONTENT_TYPE, "application/json")
                .body(BodyExt::boxed(StreamBody::new(frames)))
                .expect("response")
        }
        _ => json(json!({})),
    }
}

/// Polls `cond` until it holds; panics with `what` after the liveness limit.
async fn until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = tokio::time::Instant::now() + LIVENESS;
    while !cond() {
        assert!(tokio::time::Instant::now() < deadline, "{what}");
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_reaches_the_engine_verbatim_without_hop_headers_or_credentials() {
    let fake = FakeEngine::start().await;
    let pki = blocking(Pki::by_commands);
    let agent = fake.agent(&pki, &[]);
    let token = blocking(|| pki.token("tester", "admin"));

    let target = "/v1.41/containers/json?all=1&filters=%7B%7D";
    let mut client = connect(&pki, agent.addr, false).await;
    let req = request("GET", target)
        .header(header::AUTHORIZATION, format!("Bearer {token}"))
        .header("X-Registry-Auth", "abc")
        .header(header::CONNECTION, "keep-alive, X-Hop")
        .header("X-Hop", "1")
        // The fake engine's /info named the node "fake".
        .header("X-Agent-Target", "fake");
    let (parts, body) = roundtrip(&mut client, empty(req)).await;
    assert_eq!(
        parts.status,
        StatusCode::OK,
        "{}",
        String::from_utf8_lossy(&body)
    );
    assert_eq!(json_of(&body), json!({}));

    let seen = fake.seen();
    let got = seen
        .iter()
        .find(|s| s.target.starts_with("/v1.41/containers/json"))
        .unwrap_or_else(|| panic!("the engine never saw the request: {seen:?}"));
    assert_eq!(got.method, "GET");
    assert_eq!(got.target, target, "path and query must pass verbatim");
    let h = &got.headers;
    assert_eq!(header_str(h, "x-registry-auth"), Some("abc"), "{h:?}");
    assert!(!h.contains_key(header::AUTHORIZATION), "{h:?}");
    assert!(
        !h.contains_key("x-hop"),
        "named in Connection, so hop-by-hop: {h:?}"
    );
    assert!(
        !h.get_all(header::CONNECTION).iter().any(|v| v
            .to_str()
            .is_ok_and(|v| v.to_ascii_lowercase().contains("keep-alive"))),
        "{h:?}"
    );
    assert!(!h.contains_key("x-agent-target"), "{h:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sequential_requests_share_one_engine_connection() {
    let fake = FakeEngine::start().await;
    let pki = blocking(Pki::by_commands);
    let agent = fake.agent(&pki, &[]);

    // A new client connection each time: the pool is the agent's, not the client's. The
    // agent's own background work (its node's metadata, usage) has connections of its
    // own, so the engine's connections are told apart by what came on them.
    for i in 0..5 {
        let mut client = connect(&pki, agent.addr, true).await;
        let path = format!("/v1.41/containers/json?sequential={i}");
        let (parts, _) = roundtrip(&mut client, empty(request("GET", &path))).await;
        assert_eq!(parts.status, StatusCode::OK, "request {i}");
    }
    let carried: BTreeSet<usize> = fake
        .seen()
        .iter()
        .filter(|s| s.target.contains("sequential="))
        .map(|s| s.conn)
        .collect();
    assert_eq!(
        carried.len(),
        1,
        "5 sequential requests came on the engine connections {carried:?}"
    );
}

/// A new connection after SIGTERM: refused, or closed without an answer.
async fn assert_no_answer_on_a_new_connection(pki: &Pki, addr: SocketAddr) {
    let attempt = async {
        let tls = match tls_stream(pki, addr, true).await {
            Ok(tls) => tls,
            Err(e) => return format!("refused: {e}"),
        };
        let (mut sender, conn) =
            match hyper::client::conn::http1::handshake(TokioIo::new(tls)).await {
                Ok(pair) => pair,
                Err(e) => return format!("closed: {e}"),
            };
        tokio::spawn(conn);
        match sender
            .send_request(empty(request("GET", "/v1.41/version")))
            .await
        {
            Ok(resp) => panic!("the agent answered a new connection after SIGTERM: {resp:?}"),
            Err(e) => format!("closed: {e}"),
        }
    };
    let outcome = tokio::time::timeout(LIVENESS, attempt)
        .await
        .expect("a new connection after SIGTERM is neither refused nor closed");
    eprintln!("new connection after SIGTERM: {outcome}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_lets_in_flight_requests_finish_and_takes_no_new_ones() {
    let fake = FakeEngine::start().await;
    let pki = blocking(Pki::by_commands);
    let mut agent = fake.agent(&pki, &["--shutdown-grace", "5s"]);

    let mut client = connect(&pki, agent.addr, true).await;
    let in_flight = tokio::spawn(async move {
        let (parts, body) = roundtrip(&mut client, empty(request("GET", "/slow"))).await;
        (parts.status, body)
    });
    until("the engine never saw /slow", || fake.saw("/slow")).await;
    agent.terminate();
    until("the agent never logged its shutdown", || {
        agent.log().contains("shutting down")
    })
    .await;

    assert_no_answer_on_a_new_connection(&pki, agent.addr).await;

    let (status, body) = in_flight.await.expect("the in-flight request");
    assert_eq!(status, StatusCode::OK, "{}", String::from_utf8_lossy(&body));
    assert_eq!(json_of(&body), json!({ "slow": true }));

    let exit = blocking(|| agent.wait_exit(Duration::from_secs(5 + 5)));
    let exit = exit.unwrap_or_else(|| {
        panic!(
            "still running 5 s after the grace period; log:\n{}",
            agent.log()
        )
    });
    assert!(exit.success(), "{exit}; log:\n{}", agent.log());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn sigterm_closes_an_endless_stream_once_the_grace_period_is_over() {
    let fake = FakeEngine::start().await;
    let pki = blocking(Pki::by_commands);
    let mut agent = fake.agent(&pki, &["--shutdown-grace", "1s"]);

    let mut client = connect(&pki, agent.addr, true).await;
    let resp = send(&mut client, empty(request("GET", "/hang"))).await;
    assert_eq!(resp.status(), StatusCode::OK);
    let mut body = resp.into_body();
    let first = tokio::time::timeout(LIVENESS, body.frame())
        .await
        .expect("the first chunk within the liveness limit")
        .expect("a first chunk")
        .expect("a good first chunk");
    assert_eq!(
        first.into_data().expect("data"),
        Bytes::from_static(b"{\"status\":\"first\"}\n")
    );

    agent.terminate();
    let exit = blocking(|| agent.wait_exit(Duration::from_secs(1 + 5)));
    let exit = exit.unwrap_or_else(|| {
        panic!(
            "still running 5 s after a 1 s grace period; log:\n{}",
            agent.log()
        )
    });
    assert!(exit.success(), "{exit}; log:\n{}", agent.log());
    // The client learns the stream is over rather than waiting forever.
    let rest = tokio::time::timeout(LIVENESS, body.collect()).await;
    assert!(
        rest.is_ok(),
        "the client's stream stayed open after the agent exited"
    );
}
