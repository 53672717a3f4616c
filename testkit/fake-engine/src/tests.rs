//! Unit tests: a hyper client over TCP against fake nodes, as the agent would talk to them.

use bytes::Bytes;
use http::{Request, Response, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper::body::Incoming;
use hyper::client::conn::http1;
use hyper_util::rt::TokioIo;
use serde_json::{json, Value};
use tokio::io::AsyncReadExt;
use tokio::net::TcpStream;

use super::*;

async fn send(engine: &FakeEngine, method: &str, path: &str, body: &str) -> Response<Incoming> {
    send_with(engine, method, path, body, &[]).await
}

async fn send_with(
    engine: &FakeEngine,
    method: &str,
    path: &str,
    body: &str,
    headers: &[(&str, &str)],
) -> Response<Incoming> {
    let stream = TcpStream::connect(engine.addr()).await.expect("connect");
    let (mut sender, conn) = http1::handshake(TokioIo::new(stream))
        .await
        .expect("handshake");
    tokio::spawn(conn.with_upgrades());
    let mut request = Request::builder()
        .method(method)
        .uri(path)
        .header("host", "docker");
    for (name, value) in headers {
        request = request.header(*name, *value);
    }
    let request = request
        .body(Full::new(Bytes::from(body.to_owned())))
        .expect("request");
    sender.send_request(request).await.expect("response")
}

async fn get_json(engine: &FakeEngine, path: &str) -> (StatusCode, Value) {
    let response = send(engine, "GET", path, "").await;
    let status = response.status();
    let body = response
        .into_body()
        .collect()
        .await
        .expect("body")
        .to_bytes();
    (status, serde_json::from_slice(&body).expect("JSON body"))
}

async fn ping_swarm_header(engine: &FakeEngine) -> String {
    let response = send(engine, "HEAD", "/_ping", "").await;
    assert_eq!(response.headers()["api-version"], "1.41");
    response.headers()["swarm"]
        .to_str()
        .expect("ascii")
        .to_owned()
}

/// Reads a streamed body until a line satisfying `want` arrives.
async fn next_line_where(
    body: &mut Incoming,
    buffer: &mut String,
    want: impl Fn(&Value) -> bool,
) -> Value {
    loop {
        while let Some(end) = buffer.find('\n') {
            let line: String = buffer.drain(..=end).collect();
            let value: Value = serde_json::from_str(&line).expect("one JSON object per line");
            if want(&value) {
                return value;
            }
        }
        let frame = body.frame().await.expect("stream open").expect("frame");
        if let Ok(data) = frame.into_data() {
            buffer.push_str(std::str::from_utf8(&data).expect("utf-8"));
        }
    }
}

#[tokio::test]
async fn info_ping_and_manager_routes_follow_the_role() {
    let engine = FakeEngine::start(FakeEngineSpec::new("n1"))
        .await
        .expect("start");

    let (_, info) = get_json(&engine, "/v1.41/info").await;
    assert_eq!(info["Name"], "n1");
    assert_eq!(info["Swarm"]["LocalNodeState"], "inactive");
    assert_eq!(ping_swarm_header(&engine).await, "inactive");
    let (status, error) = get_json(&engine, "/v1.41/services").await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error["message"]
        .as_str()
        .expect("message")
        .contains("docker swarm init"));

    engine.set_role(Some(SwarmRole::Manager { leader: true }));
    let (_, info) = get_json(&engine, "/info").await;
    assert_eq!(info["Swarm"]["ControlAvailable"], true);
    assert_eq!(info["Swarm"]["Cluster"]["ID"], "fake-cluster");
    let node_id = info["Swarm"]["NodeID"]
        .as_str()
        .expect("node id")
        .to_owned();
    assert_eq!(ping_swarm_header(&engine).await, "active/manager");
    let (_, nodes) = get_json(&engine, "/v1.41/nodes").await;
    assert_eq!(nodes[0]["ID"], node_id.as_str());
    assert_eq!(nodes[0]["ManagerStatus"]["Leader"], true);
    let created = send(
        &engine,
        "POST",
        "/v1.41/services/create",
        r#"{"Name":"web"}"#,
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let (_, service) = get_json(&engine, "/v1.41/services/web").await;
    assert_eq!(service["Spec"]["Name"], "web");
    let (_, networks) = get_json(&engine, "/networks").await;
    assert_eq!(networks[1]["Scope"], "swarm");

    engine.set_role(Some(SwarmRole::Worker));
    assert_eq!(ping_swarm_header(&engine).await, "active/worker");
    let (_, info) = get_json(&engine, "/info").await;
    assert_eq!(info["Swarm"]["ControlAvailable"], false);
    assert_eq!(info["Swarm"]["NodeID"], node_id.as_str());
    let (status, error) = get_json(&engine, &format!("/nodes/{node_id}")).await;
    assert_eq!(status, StatusCode::SERVICE_UNAVAILABLE);
    assert!(error["message"]
        .as_str()
        .expect("message")
        .starts_with("This node is not a swarm manager. Worker"));
}

#[tokio::test]
async fn containers_json_honours_all_limit_size_and_filters() {
    let mut spec = FakeEngineSpec::new("n2");
    spec.containers = 6;
    let engine = FakeEngine::start(spec).await.expect("start");
    let names = |list: &Value| -> Vec<String> {
        let items = list.as_array().expect("list");
        items
            .iter()
            .map(|c| c["Names"][0].as_str().expect("name").to_owned())
            .collect()
    };

    let (_, running) = get_json(&engine, "/v1.41/containers/json").await;
    assert_eq!(names(&running), ["/n2-c0", "/n2-c1", "/n2-c3", "/n2-c4"]);
    let (_, all) = get_json(&engine, "/containers/json?all=1").await;
    assert_eq!(all.as_array().expect("list").len(), 6);
    assert!(all[0]["Created"].as_i64() > all[1]["Created"].as_i64());
    assert!(all[0].get("SizeRw").is_none());
    let (_, limited) = get_json(&engine, "/containers/json?limit=2&size=1").await;
    assert_eq!(names(&limited), ["/n2-c0", "/n2-c1"]);
    assert!(limited[0]["SizeRw"].is_u64());

    let encoded = "%7B%22status%22%3A%5B%22exited%22%5D%7D";
    let (_, exited) = get_json(&engine, &format!("/containers/json?filters={encoded}")).await;
    assert_eq!(names(&exited), ["/n2-c2", "/n2-c5"]);
    let (_, labelled) = get_json(
        &engine,
        "/containers/json?all=1&filters=%7B%22label%22%3A%5B%22index%3D3%22%5D%7D",
    )
    .await;
    assert_eq!(names(&labelled), ["/n2-c3"]);
    let id_prefix = &engine.container_ids()[4][..10];
    let filters = format!("%7B%22id%22%3A%5B%22{id_prefix}%22%5D%2C%22name%22%3A%5B%22c4%22%5D%7D");
    let (_, by_id) = get_json(&engine, &format!("/containers/json?filters={filters}")).await;
    assert_eq!(names(&by_id), ["/n2-c4"]);

    let (_, inspected) = get_json(&engine, &format!("/containers/{id_prefix}/json")).await;
    assert_eq!(inspected["Name"], "/n2-c4");
    let (status, missing) = get_json(&engine, "/containers/nope/json").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(missing["message"], "No such container: nope");
}

#[tokio::test]
async fn stop_cuts_streams_and_refuses_then_restart_serves_on_the_same_port() {
    let engine = FakeEngine::start(FakeEngineSpec::new("n3"))
        .await
        .expect("start");
    let addr = engine.addr();
    let events = send(&engine, "GET", "/v1.41/events", "").await;
    assert_eq!(events.status(), StatusCode::OK);

    engine.stop();
    assert!(
        TcpStream::connect(addr).await.is_err(),
        "a stopped node refuses connections"
    );
    let cut = events.into_body().collect().await;
    assert!(
        cut.is_err(),
        "an open stream ends in an error, not a clean end"
    );

    engine.restart().await.expect("restart");
    assert_eq!(engine.addr(), addr);
    let (status, version) = get_json(&engine, "/version").await;
    assert_eq!(status, StatusCode::OK);
    assert_eq!(version["ApiVersion"], "1.41");
    assert_eq!(engine.connections_accepted(), 2);
}

#[tokio::test]
async fn events_carry_emitted_and_container_events() {
    let engine = FakeEngine::start(FakeEngineSpec::new("n4"))
        .await
        .expect("start");
    let response = send(&engine, "GET", "/v1.41/events", "").await;
    assert_eq!(response.headers()["content-type"], "application/json");
    let mut body = response.into_body();
    let mut buffer = String::new();

    engine.emit_event(json!({"Type": "custom", "Action": "hello"}));
    let event = next_line_where(&mut body, &mut buffer, |_| true).await;
    assert_eq!(event["Action"], "hello");

    let stopped = send(&engine, "POST", "/containers/n4-c0/stop", "").await;
    assert_eq!(stopped.status(), StatusCode::NO_CONTENT);
    let die = next_line_where(&mut body, &mut buffer, |e| e["Action"] == "die").await;
    assert_eq!(die["Actor"]["Attributes"]["name"], "n4-c0");
    assert_eq!(die["id"], engine.container_ids()[0].as_str());
    let again = send(&engine, "POST", "/containers/n4-c0/stop", "").await;
    assert_eq!(again.status(), StatusCode::NOT_MODIFIED);
}

#[tokio::test]
async fn wait_and_followed_logs_end_when_the_container_stops() {
    let engine = FakeEngine::start(FakeEngineSpec::new("n5"))
        .await
        .expect("start");
    let wait = send(&engine, "POST", "/v1.41/containers/n5-c1/wait", "").await;
    assert_eq!(
        wait.status(),
        StatusCode::OK,
        "the head comes before the container stops"
    );
    let logs = send(
        &engine,
        "GET",
        "/containers/n5-c1/logs?stdout=1&follow=1",
        "",
    )
    .await;
    assert_eq!(
        logs.headers()["content-type"],
        "application/vnd.docker.raw-stream"
    );
    let mut logs = logs.into_body();
    let first = logs
        .frame()
        .await
        .expect("frame")
        .expect("data")
        .into_data()
        .expect("data");
    let line = b"log line 1 from n5-c1\n";
    assert_eq!(&first[..8], &[1, 0, 0, 0, 0, 0, 0, line.len() as u8]);
    assert_eq!(&first[8..8 + line.len()], line);

    let stopped = send(&engine, "POST", "/containers/n5-c1/stop", "").await;
    assert_eq!(stopped.status(), StatusCode::NO_CONTENT);
    let result = wait
        .into_body()
        .collect()
        .await
        .expect("wait body")
        .to_bytes();
    let result: Value = serde_json::from_slice(&result).expect("JSON");
    assert_eq!(result, json!({"StatusCode": 0, "Error": null}));
    logs.collect().await.expect("the log stream ends cleanly");
}

#[tokio::test]
async fn exec_start_upgrades_to_a_raw_stream() {
    let engine = FakeEngine::start(FakeEngineSpec::new("n6"))
        .await
        .expect("start");
    let created = send(
        &engine,
        "POST",
        "/v1.41/containers/n6-c0/exec",
        r#"{"Cmd":["sh"]}"#,
    )
    .await;
    assert_eq!(created.status(), StatusCode::CREATED);
    let created: Value = serde_json::from_slice(
        &created
            .into_body()
            .collect()
            .await
            .expect("body")
            .to_bytes(),
    )
    .expect("JSON");
    let exec_id = created["Id"].as_str().expect("exec id").to_owned();

    let upgrade = [
        ("connection", "Upgrade"),
        ("upgrade", "tcp"),
        ("content-type", "application/json"),
    ];
    let path = format!("/v1.41/exec/{exec_id}/start");
    let response = send_with(
        &engine,
        "POST",
        &path,
        r#"{"Detach":false,"Tty":false}"#,
        &upgrade,
    )
    .await;
    assert_eq!(response.status(), StatusCode::SWITCHING_PROTOCOLS);
    assert_eq!(
        response.headers()["content-type"],
        "application/vnd.docker.raw-stream"
    );
    let mut stream = TokioIo::new(hyper::upgrade::on(response).await.expect("upgraded"));
    let mut output = Vec::new();
    stream.read_to_end(&mut output).await.expect("read");
    let text = b"fake exec output from n6-c0\n";
    assert_eq!(&output[..8], &[1, 0, 0, 0, 0, 0, 0, text.len() as u8]);
    assert_eq!(&output[8..], text);

    let (_, inspect) = get_json(&engine, &format!("/exec/{exec_id}/json")).await;
    assert_eq!(inspect["ExitCode"], 0);
    assert_eq!(inspect["ContainerID"], engine.container_ids()[0].as_str());
}

#[tokio::test]
async fn failures_are_injected_and_requests_recorded() {
    let engine = FakeEngine::start(FakeEngineSpec::new("n7"))
        .await
        .expect("start");
    engine.set_failing(true);
    let (status, error) = get_json(&engine, "/v1.41/_ping").await;
    assert_eq!(status, StatusCode::INTERNAL_SERVER_ERROR);
    assert_eq!(error["message"], "injected failure");
    engine.set_failing(false);
    let (status, error) = get_json(&engine, "/v1.41/nowhere").await;
    assert_eq!(status, StatusCode::NOT_FOUND);
    assert_eq!(error["message"], "page not found");

    let requests = engine.requests();
    assert_eq!(requests.len(), 2);
    assert_eq!(requests[1].method, "GET");
    assert_eq!(requests[1].path_and_query, "/v1.41/nowhere");
    assert!(requests[1]
        .headers
        .contains(&("host".to_owned(), "docker".to_owned())));
}
