//! Access profiles end to end: the read allowlist, restricted profiles through the real
//! docker CLI, certificates and tokens mapped to profiles, revocation, the audit trail,
//! profiles enforced on every node of a cluster, and the cached health endpoint. A
//! recording fake engine proves that what is refused never reaches an engine.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use bosun_fake_engine::{FakeEngine, FakeEngineSpec};
use http_body_util::Full;
use serde_json::{json, Value};

use crate::harness::*;
use bosun_testkit::https::*;

/// A policy file in the test's temporary directory.
fn policy(pki: &Pki, text: &str) -> PathBuf {
    let path = pki.dir.path().join("policy.toml");
    std::fs::write(&path, text).expect("write the policy");
    path
}

fn with_policy(pki: &Pki, path: &Path, extra: &[&str]) -> Vec<String> {
    let mut args = pki.run_args();
    args.extend(["--policy".to_owned(), path.display().to_string()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

async fn fake(name: &str) -> FakeEngine {
    FakeEngine::start(FakeEngineSpec::new(name))
        .await
        .expect("start a fake engine")
}

/// `METHOD path` with a bearer token (no client certificate) and optional raw body;
/// status and the JSON message, if any.
pub async fn as_token(
    pki: &Pki,
    agent: &Agent,
    token: &str,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<Vec<u8>>,
) -> (u16, String) {
    let mut sender = connect(pki, agent.addr, false).await;
    let mut builder = request(method, path).header("authorization", format!("Bearer {token}"));
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = builder
        .body(Full::new(bytes::Bytes::from(body.unwrap_or_default())))
        .expect("request");
    let (parts, bytes) = roundtrip(&mut sender, req).await;
    let message =
        message_of(&bytes).unwrap_or_else(|| String::from_utf8_lossy(&bytes).into_owned());
    (parts.status.as_u16(), message)
}

#[tokio::test(flavor = "multi_thread")]
async fn read_is_an_allowlist_and_nothing_refused_reaches_the_engine() {
    let pki = Pki::by_commands();
    let fa = fake("fake-read").await;
    let agent = blocking(|| {
        let mut args = pki.run_args();
        args.extend(["--docker-host".to_owned(), fa.docker_host()]);
        Agent::start_with(&args)
    });
    let read = blocking(|| pki.token("viewer", "read"));
    let id = fa.container_ids()[0].clone();
    let refused: Vec<(&str, String, u16)> = vec![
        (
            "GET",
            format!("/v1.41/containers/{id}/attach/ws?stream=1&stdout=1&probe=1"),
            400,
        ),
        (
            "GET",
            format!("/v1.41/containers/{id}/archive?path=/etc&probe=2"),
            403,
        ),
        (
            "HEAD",
            format!("/v1.41/containers/{id}/archive?path=/etc&probe=3"),
            403,
        ),
        ("GET", format!("/v1.41/containers/{id}/export?probe=4"), 403),
        ("GET", "/v1.41/images/get?names=busybox&probe=5".into(), 403),
        ("GET", "/v1.41/images/busybox/get?probe=6".into(), 403),
        (
            "GET",
            "/v1.41/distribution/127.0.0.9:1/x/json?probe=7".into(),
            403,
        ),
        (
            "GET",
            "/v1.41/images/search?term=127.0.0.9:1/x&probe=8".into(),
            403,
        ),
        (
            "GET",
            "/v1.41/plugins/privileges?remote=127.0.0.9:1/x&probe=9".into(),
            403,
        ),
        ("GET", "/v1.41/swarm/unlockkey?probe=10".into(), 403),
        (
            "POST",
            format!("/v1.41/containers/{id}/attach?stream=1&probe=11"),
            403,
        ),
        ("POST", format!("/v1.41/containers/{id}/exec?probe=12"), 403),
        ("POST", "/session?probe=13".into(), 403),
        ("POST", "/v1.41/build?probe=14".into(), 403),
        ("GET", "/v1.41/nonsense?probe=15".into(), 403),
        (
            "GET",
            "/v1.41/containers/x%2Fattach%2Fws/json?probe=16".into(),
            400,
        ),
        (
            "GET",
            "/v1.41/containers/../images/get?probe=17".into(),
            400,
        ),
    ];
    for (method, path, status) in &refused {
        let (got, message) = as_token(&pki, &agent, &read, method, path, &[], None).await;
        assert_eq!(got, *status, "{method} {path}: {message}");
        if *status == 403 && *method != "HEAD" {
            assert!(
                message.contains("profile \"read\""),
                "{method} {path}: {message}"
            );
        }
    }
    // A body on a read is refused on its head, before a byte of it is read or forwarded,
    // whatever the token: the client has sent 64 KiB of the 4 MiB it announced.
    let admin = blocking(|| pki.token("root", "admin"));
    for token in [&read, &admin] {
        let (status, message) = head_with_body_announced(&pki, &agent, token).await;
        assert_eq!(status, 400, "{message}");
        assert!(message.contains("carries no body"), "{message}");
    }
    // Reads still read.
    for path in [
        "/v1.41/containers/json?all=1&probe=ok".to_owned(),
        format!("/v1.41/containers/{id}/json?probe=ok"),
        format!("/v1.41/containers/{id}/logs?stdout=1&probe=ok"),
        "/_ping?probe=ok".to_owned(),
    ] {
        let (got, message) = as_token(&pki, &agent, &read, "GET", &path, &[], None).await;
        assert_eq!(got, 200, "{path}: {message}");
    }
    let leaked: Vec<String> = fa
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("probe=") && !r.path_and_query.contains("probe=ok"))
        .map(|r| format!("{} {}", r.method, r.path_and_query))
        .collect();
    assert!(
        leaked.is_empty(),
        "refused requests reached the engine: {leaked:?}"
    );
}

/// `GET /services` announcing a 4 MiB body, of which only 64 KiB is sent; the status
/// and the message of the answer.
async fn head_with_body_announced(pki: &Pki, agent: &Agent, token: &str) -> (u16, String) {
    let head = format!(
        "GET /v1.41/services?probe=18 HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\nAuthorization: Bearer {token}\r\nContent-Length: {}\r\n\r\n",
        4 << 20
    );
    exchange(pki, agent, head, vec![b'x'; 64 << 10]).await
}

/// Writes a request head and body over TLS while reading the answer, so that an answer
/// the agent gives before it has read the body (a refusal) is seen, not a write error.
pub async fn exchange(pki: &Pki, agent: &Agent, head: String, body: Vec<u8>) -> (u16, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let tls = tls_stream(pki, agent.addr, false).await.expect("TLS");
    let (mut rd, mut wr) = tokio::io::split(tls);
    let writer = tokio::spawn(async move {
        let _ = wr.write_all(head.as_bytes()).await;
        let _ = wr.write_all(&body).await;
        // A TLS stream may take the last bytes into its records without sending them
        // (the socket was full): they go out on a later write or a flush, and a body
        // missing its end would keep the agent waiting for it.
        let _ = wr.flush().await;
        wr
    });
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    let complete = |answer: &[u8]| {
        answer
            .windows(4)
            .position(|w| w == b"\r\n\r\n")
            .is_some_and(|at| answer[at + 4..].contains(&b'\n'))
    };
    let read = tokio::time::timeout(LIVENESS, async {
        while !complete(&answer) {
            match rd.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buf[..n]),
            }
        }
    })
    .await;
    assert!(read.is_ok(), "no answer within {LIVENESS:?}");
    writer.abort();
    let text = String::from_utf8_lossy(&answer).into_owned();
    let status = text
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .unwrap_or(0);
    let body = text.split("\r\n\r\n").nth(1).unwrap_or("");
    // A chunked body starts with its size; the JSON is the line that parses.
    let message = body
        .lines()
        .find_map(|l| serde_json::from_str::<Value>(l).ok())
        .and_then(|v| v["message"].as_str().map(str::to_owned))
        .unwrap_or(text);
    (status, message)
}

#[tokio::test(flavor = "multi_thread")]
async fn attach_ws_without_a_handshake_cannot_freeze_a_container() {
    ensure_image();
    let pki = Pki::by_commands();
    let agent = blocking(|| Agent::start(&pki));
    let name = Name::new("attachws");
    // A container that writes without pause: a stuck attach would fill its output pipe.
    name.run(&["sh", "-c", "while true; do echo tick; done"]);
    let admin = blocking(|| pki.token("root", "admin"));
    let read = blocking(|| pki.token("viewer", "read"));
    let path = format!(
        "/v1.41/containers/{}/attach/ws?stream=1&stdout=1&stderr=1",
        name.as_str()
    );
    let (status, message) = as_token(&pki, &agent, &admin, "GET", &path, &[], None).await;
    assert_eq!(status, 400, "{message}");
    assert!(message.contains("websocket"), "{message}");
    let (status, _) = as_token(&pki, &agent, &read, "GET", &path, &[], None).await;
    assert_eq!(status, 400);
    tokio::time::sleep(Duration::from_secs(2)).await;
    // The engine still answers for the container at once, and it keeps running.
    let started = Instant::now();
    let state = engine_ok(&["inspect", "--format", "{{.State.Running}}", name.as_str()]);
    assert_eq!(state, "true");
    engine_ok(&["kill", name.as_str()]);
    assert!(
        started.elapsed() < Duration::from_secs(15),
        "inspect and kill took {:?}",
        started.elapsed()
    );
}

#[test]
fn a_restricted_profile_through_the_docker_cli() {
    ensure_image();
    let pki = Pki::by_commands();
    let team = format!("payments-{}", std::process::id());
    let allowed_dir = pki.dir.path().join("payments-data");
    std::fs::create_dir_all(&allowed_dir).expect("mkdir");
    let file = policy(
        &pki,
        &format!(
            r#"
[profiles.payments]
allow = {{ "*" = "read", containers = "write", networks = "write", volumes = "write" }}
labels = {{ "bosun-it-team" = "{team}" }}
[profiles.payments.create]
bind_mounts = ["{}"]
"#,
            allowed_dir.display()
        ),
    );
    let agent = Agent::start_with(&with_policy(&pki, &file, &[]));
    let token = pki.profile_token("alice", "payments");
    let docker = Docker::with_cert_path(&agent, &pki.ca_only, Some(&token));

    let ours = Name::new("ours");
    let theirs = Name::new("theirs");
    let label = format!("bosun-it-team={team}");
    ok(
        engine(&[
            "create",
            "--name",
            ours.as_str(),
            "--label",
            &label,
            IMAGE,
            "sleep",
            "60",
        ]),
        "create ours",
    );
    ok(
        engine(&["create", "--name", theirs.as_str(), IMAGE, "sleep", "60"]),
        "create theirs",
    );

    let listed = docker.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(listed.lines().any(|l| l == ours.as_str()), "{listed}");
    assert!(
        !listed.contains(theirs.as_str()),
        "outside the scope: {listed}"
    );

    let stderr = docker.fails(&["inspect", theirs.as_str()]);
    assert!(stderr.contains("No such"), "{stderr}");
    let stderr = docker.fails(&["stop", theirs.as_str()]);
    assert!(stderr.contains("No such container"), "{stderr}");
    assert!(engine_has_container(theirs.as_str()));
    docker.ok(&["inspect", ours.as_str()]);

    let privileged = Name::new("priv");
    let stderr = docker.fails(&[
        "run",
        "-d",
        "--name",
        privileged.as_str(),
        "--privileged",
        IMAGE,
        "true",
    ]);
    assert!(
        stderr.contains("privileged") && stderr.contains("payments"),
        "{stderr}"
    );
    assert!(!engine_has_container(privileged.as_str()));
    let root = Name::new("root");
    let stderr = docker.fails(&[
        "run",
        "-d",
        "--name",
        root.as_str(),
        "-v",
        "/:/host",
        IMAGE,
        "true",
    ]);
    assert!(stderr.contains("bind_mounts"), "{stderr}");
    assert!(!engine_has_container(root.as_str()));
    let host_net = Name::new("hostnet");
    let stderr = docker.fails(&[
        "run",
        "-d",
        "--name",
        host_net.as_str(),
        "--network",
        "host",
        IMAGE,
        "true",
    ]);
    assert!(stderr.contains("host_namespaces"), "{stderr}");

    let stderr = docker.fails(&["exec", ours.as_str(), "true"]);
    assert!(stderr.contains("exec"), "{stderr}");

    // What a new container names must be inside the scope too.
    let net = format!("bosun-it-net-{}", std::process::id());
    let vol = format!("bosun-it-vol-{}", std::process::id());
    let _cleanup = Cleanup(vec![
        vec!["network".into(), "rm".into(), net.clone()],
        vec!["volume".into(), "rm".into(), "-f".into(), vol.clone()],
    ]);
    ok(engine(&["network", "create", &net]), "network create");
    let joined = Name::new("joined");
    let stderr = docker.fails(&[
        "run",
        "-d",
        "--name",
        joined.as_str(),
        "--volumes-from",
        theirs.as_str(),
        IMAGE,
        "true",
    ]);
    assert!(
        stderr.contains("outside the profile's label scope"),
        "{stderr}"
    );
    let stderr = docker.fails(&[
        "run",
        "-d",
        "--name",
        joined.as_str(),
        "--network",
        &net,
        IMAGE,
        "true",
    ]);
    assert!(stderr.contains(&format!("network \"{net}\"")), "{stderr}");
    assert!(!engine_has_container(joined.as_str()));
    let with_volume = Name::new("withvol");
    docker.ok(&[
        "run",
        "-d",
        "--name",
        with_volume.as_str(),
        "-v",
        &format!("{vol}:/data"),
        IMAGE,
        "true",
    ]);
    let volume_team = ok(
        engine(&[
            "volume",
            "inspect",
            "--format",
            "{{index .Labels \"bosun-it-team\"}}",
            &vol,
        ]),
        "volume inspect",
    );
    assert_eq!(
        volume_team.trim(),
        team,
        "a volume made for the container is inside the scope"
    );
    docker.ok(&["volume", "inspect", &vol]);
    let stderr = docker.fails(&["system", "df"]);
    assert!(stderr.contains("label scope"), "{stderr}");
    let stderr = docker.fails(&[
        "run",
        "-d",
        "--name",
        joined.as_str(),
        "--link",
        &format!("{}:db", theirs.as_str()),
        IMAGE,
        "true",
    ]);
    assert!(
        stderr.contains("outside the profile's label scope"),
        "{stderr}"
    );
    // A network of the scope's own, and a container outside it that may not join it.
    let own_net = format!("bosun-it-own-{}", std::process::id());
    let _own_net = Cleanup(vec![vec!["network".into(), "rm".into(), own_net.clone()]]);
    docker.ok(&["network", "create", &own_net]);
    let stderr = docker.fails(&["network", "connect", &own_net, theirs.as_str()]);
    assert!(
        stderr.contains("outside the profile's label scope"),
        "{stderr}"
    );
    docker.ok(&["network", "connect", &own_net, ours.as_str()]);

    let made = Name::new("made");
    let writable = format!("{}:/data", allowed_dir.display());
    let stderr = docker.fails(&[
        "run",
        "-d",
        "--name",
        made.as_str(),
        "-v",
        &writable,
        IMAGE,
        "true",
    ]);
    assert!(stderr.contains("writable bind mount"), "{stderr}");
    let bind = format!("{}:/data:ro", allowed_dir.display());
    docker.ok(&[
        "run",
        "-d",
        "--name",
        made.as_str(),
        "-v",
        &bind,
        IMAGE,
        "sleep",
        "30",
    ]);
    let labels = ok(
        engine(&[
            "inspect",
            "--format",
            "{{index .Config.Labels \"bosun-it-team\"}}",
            made.as_str(),
        ]),
        "inspect made",
    );
    assert_eq!(
        labels.trim(),
        team,
        "created under the profile, labelled by it"
    );
    docker.ok(&["stop", "-t", "1", made.as_str()]);
}

#[tokio::test(flavor = "multi_thread")]
async fn keys_in_any_case_are_checked_as_the_engine_reads_them() {
    ensure_image();
    let pki = Pki::by_commands();
    let file = policy(
        &pki,
        "[profiles.builder]\nallow = { \"*\" = \"read\", containers = \"write\", volumes = \"write\" }\n",
    );
    let agent = blocking(|| Agent::start_with(&with_policy(&pki, &file, &[])));
    let builder = blocking(|| pki.profile_token("bob", "builder"));
    let admin = blocking(|| pki.token("root", "admin"));
    let lower = |name: &str| {
        serde_json::to_vec(
            &json!({"image": IMAGE, "cmd": ["true"], "hostconfig": {"privileged": true}}),
        )
        .map(|b| (format!("/v1.41/containers/create?name={name}"), b))
        .expect("json")
    };
    // The engine itself reads the keys without regard to case: an admin's container is
    // privileged.
    let control = Name::new("lowercase-admin");
    let (path, body) = lower(control.as_str());
    let (code, message) = as_token(
        &pki,
        &agent,
        &admin,
        "POST",
        &path,
        &[("content-type", "application/json")],
        Some(body),
    )
    .await;
    assert_eq!(code, 201, "{message}");
    assert_eq!(
        engine_ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.Privileged}}",
            control.as_str()
        ]),
        "true"
    );
    // Under a profile, the same body is refused by the rule.
    let refused = Name::new("lowercase-builder");
    let (path, body) = lower(refused.as_str());
    let (code, message) = as_token(
        &pki,
        &agent,
        &builder,
        "POST",
        &path,
        &[("content-type", "application/json")],
        Some(body),
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("\"privileged\""), "{message}");
    assert!(!engine_has_container(refused.as_str()));
    // Old top-level host fields are ignored: the agent always sends a HostConfig.
    let legacy = Name::new("legacy");
    let body = serde_json::to_vec(
        &json!({"Image": IMAGE, "Cmd": ["true"], "Privileged": true, "Binds": ["/:/host:ro"]}),
    )
    .expect("json");
    let (code, message) = as_token(
        &pki,
        &agent,
        &builder,
        "POST",
        &format!("/v1.41/containers/create?name={}", legacy.as_str()),
        &[("content-type", "application/json")],
        Some(body),
    )
    .await;
    assert_eq!(code, 201, "{message}");
    assert_eq!(
        engine_ok(&[
            "inspect",
            "--format",
            "{{.HostConfig.Privileged}} {{len .HostConfig.Binds}}",
            legacy.as_str()
        ]),
        "false 0"
    );
    // Before API 1.24, start could replace the host configuration: not for a profile.
    let (code, message) = as_token(
        &pki,
        &agent,
        &builder,
        "POST",
        &format!("/v1.23/containers/{}/start", legacy.as_str()),
        &[("content-type", "application/json")],
        Some(br#"{"Privileged":true}"#.to_vec()),
    )
    .await;
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("1.24"), "{message}");
    // The local driver's options mount host paths by other names than bind.
    let overlay = serde_json::to_vec(&json!({"Name": "bosun-it-overlay", "DriverOpts": {"type": "overlay", "device": "overlay", "o": "lowerdir=/etc:/opt"}})).expect("json");
    let (code, message) = as_token(
        &pki,
        &agent,
        &builder,
        "POST",
        "/v1.41/volumes/create",
        &[("content-type", "application/json")],
        Some(overlay),
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("volume_options"), "{message}");
    // A container may not borrow, by joining it, what it may not have: an existing
    // container in the host's PID namespace (made here directly, never started).
    let lender = Name::new("lender");
    engine_ok(&[
        "create",
        "--name",
        lender.as_str(),
        "--pid",
        "host",
        IMAGE,
        "true",
    ]);
    let borrower = Name::new("borrower");
    let body = serde_json::to_vec(&json!({"Image": IMAGE, "HostConfig": {"PidMode": format!("container:{}", lender.as_str())}})).expect("json");
    let (code, message) = as_token(
        &pki,
        &agent,
        &builder,
        "POST",
        &format!("/v1.41/containers/create?name={}", borrower.as_str()),
        &[("content-type", "application/json")],
        Some(body),
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(
        message.contains("host_namespaces") && message.contains(lender.as_str()),
        "{message}"
    );
    assert!(!engine_has_container(borrower.as_str()));
    // CapAdd as one string is a list of one to the engine.
    let body = serde_json::to_vec(&json!({"Image": IMAGE, "HostConfig": {"CapAdd": "ALL"}}))
        .expect("json");
    let (code, message) = as_token(
        &pki,
        &agent,
        &builder,
        "POST",
        &format!("/v1.41/containers/create?name={}", borrower.as_str()),
        &[("content-type", "application/json")],
        Some(body),
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("capabilities"), "{message}");
    let ambiguous = serde_json::to_vec(
        &json!({"Image": IMAGE, "HostConfig": {"Privileged": false, "privileged": true}}),
    )
    .expect("json");
    let (code, message) = as_token(
        &pki,
        &agent,
        &builder,
        "POST",
        &format!("/v1.41/containers/create?name={}", refused.as_str()),
        &[("content-type", "application/json")],
        Some(ambiguous),
    )
    .await;
    assert_eq!(code, 400, "{message}");
    assert!(message.contains("ambiguous"), "{message}");
    assert!(!engine_has_container(refused.as_str()));
}

/// Engine commands run when dropped: removes what a test made besides containers.
struct Cleanup(Vec<Vec<String>>);

impl Drop for Cleanup {
    fn drop(&mut self) {
        for args in &self.0 {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            let _ = engine(&args);
        }
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn certificates_map_to_profiles_servers_are_no_clients_and_revocation_needs_no_restart() {
    let pki = Pki::by_commands();
    let fa = fake("fake-certs").await;
    let file = policy(&pki, "[profiles.watcher]\nallow = { \"*\" = \"read\" }\n");
    let agent = blocking(|| {
        Agent::start_with(&with_policy(
            &pki,
            &file,
            &["--docker-host", &fa.docker_host()],
        ))
    });
    let ca = bosun_agent::tls::Ca::load_dir(&pki.ca_dir).expect("the CA");
    let id = fa.container_ids()[0].clone();
    let stop = format!("/v1.41/containers/{id}/stop?probe=cert");

    // A client certificate whose profile is `watcher`: it lists, and may not stop.
    let watcher = ca
        .issue_client("wanda", "watcher", Duration::from_secs(3600))
        .expect("issue");
    let status = |cert: &bosun_agent::tls::pki::IssuedCert, method: &'static str, path: String| {
        let cert = cert.clone();
        let pki = &pki;
        let agent = &agent;
        async move { call_with_cert(pki, agent, &cert, method, &path).await }
    };
    assert_eq!(
        status(&watcher, "GET", "/v1.41/containers/json".into())
            .await
            .0,
        200
    );
    let (code, message) = status(&watcher, "POST", stop.clone()).await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("watcher"), "{message}");

    // A node's server certificate is no client credential, though the CA signed it.
    let server = ca
        .issue_server("node-x", &["localhost".into()], &[], 1)
        .expect("issue");
    let (code, message) = status(&server, "GET", "/v1.41/containers/json".into()).await;
    assert_eq!(code, 401, "{message}");
    assert!(message.contains("server authentication"), "{message}");

    // An admin certificate works until its serial is revoked in the policy file.
    let admin = ca
        .issue_client("adam", "admin", Duration::from_secs(3600))
        .expect("issue");
    assert_eq!(status(&admin, "GET", "/v1.41/_ping".into()).await.0, 200);
    let serial = bosun_agent::tls::pki::serial_of_pem(&admin.cert_pem).expect("serial");
    std::fs::write(
        &file,
        format!("[certificates]\nrevoked = [\"{serial}\"]\n[profiles.watcher]\nallow = {{ \"*\" = \"read\" }}\n"),
    )
    .expect("rewrite the policy");
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let (code, message) = status(&admin, "GET", "/v1.41/_ping?probe=revoked".into()).await;
        if code == 401 {
            assert!(message.contains("revoked"), "{message}");
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the revocation was not applied: {code} {message}"
        );
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
    assert_eq!(status(&watcher, "GET", "/v1.41/_ping".into()).await.0, 200);
    assert!(
        fa.requests()
            .iter()
            .all(|r| !r.path_and_query.contains("probe=cert")),
        "refused requests reached the engine"
    );
    let deadline = Instant::now() + Duration::from_secs(5);
    while !agent.log().contains("policy reloaded") {
        assert!(
            Instant::now() < deadline,
            "the reload is logged: {}",
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// `METHOD path` over mTLS with `cert` as the client certificate.
async fn call_with_cert(
    pki: &Pki,
    agent: &Agent,
    cert: &bosun_agent::tls::pki::IssuedCert,
    method: &str,
    path: &str,
) -> (u16, String) {
    let tls = verifying(
        &std::fs::read(pki.client.join("ca.pem")).expect("ca.pem"),
        Some((cert.cert_pem.as_bytes(), cert.key_pem.as_bytes())),
    );
    let mut sender = connect_with(agent.addr, tls).await;
    let (parts, bytes) = roundtrip(&mut sender, empty(request(method, path))).await;
    let message = message_of(&bytes).unwrap_or_default();
    (parts.status.as_u16(), message)
}

#[tokio::test(flavor = "multi_thread")]
async fn tokens_past_the_maximum_lifetime_are_refused() {
    let pki = Pki::by_commands();
    let fa = fake("fake-ttl").await;
    let agent = blocking(|| {
        let mut args = pki.run_args();
        args.extend(
            [
                "--docker-host",
                &fa.docker_host(),
                "--max-token-lifetime",
                "1h",
            ]
            .map(String::from),
        );
        Agent::start_with(&args)
    });
    let long = blocking(|| {
        ok(
            agent_cmd(&[
                "token",
                "--secret-file",
                pki.secret.to_str().expect("utf-8"),
                "--subject",
                "alice",
                "--ttl",
                "2h",
            ]),
            "token",
        )
    });
    let (code, message) = as_token(
        &pki,
        &agent,
        long.trim(),
        "GET",
        "/_ping?probe=long",
        &[],
        None,
    )
    .await;
    assert_eq!(code, 401, "{message}");
    assert!(message.contains("--max-token-lifetime"), "{message}");
    let short = blocking(|| pki.token("alice", "admin"));
    assert_eq!(
        as_token(&pki, &agent, &short, "GET", "/_ping", &[], None)
            .await
            .0,
        200
    );
    let out = agent_cmd(&[
        "token",
        "--secret-file",
        pki.secret.to_str().expect("utf-8"),
        "--subject",
        " ",
    ]);
    assert!(
        !out.status.success(),
        "an empty subject is refused at minting too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_audit_file_says_who_did_what_and_what_was_refused() {
    let pki = Pki::by_commands();
    let fa = fake("fake-audit").await;
    let file = policy(&pki, "[profiles.watcher]\nallow = { \"*\" = \"read\" }\n");
    let audit = pki.dir.path().join("audit/audit.log");
    let agent = blocking(|| {
        Agent::start_with(&with_policy(
            &pki,
            &file,
            &[
                "--docker-host",
                &fa.docker_host(),
                "--audit-file",
                audit.to_str().expect("utf-8"),
            ],
        ))
    });
    let admin = blocking(|| pki.token("root", "admin"));
    let watcher = blocking(|| pki.profile_token("wanda", "watcher"));
    let id = fa.container_ids()[0].clone();
    let stop = format!("/v1.41/containers/{id}/stop");
    // A stranger's read is not audited; its attempt to change something is.
    for (method, path) in [("GET", "/v1.41/containers/json"), ("POST", stop.as_str())] {
        let (code, _) = as_token(&pki, &agent, "not-a-token", method, path, &[], None).await;
        assert_eq!(code, 401);
    }
    assert_eq!(
        as_token(&pki, &agent, &watcher, "POST", &stop, &[], None)
            .await
            .0,
        403
    );
    assert_eq!(
        as_token(&pki, &agent, &admin, "POST", &stop, &[], None)
            .await
            .0,
        204
    );
    assert_eq!(
        as_token(
            &pki,
            &agent,
            &admin,
            "GET",
            "/v1.41/containers/json",
            &[],
            None
        )
        .await
        .0,
        200
    );
    let lines = {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let text = std::fs::read_to_string(&audit).unwrap_or_default();
            let lines: Vec<Value> = text
                .lines()
                .filter_map(|l| serde_json::from_str(l).ok())
                .collect();
            if lines.len() >= 3 || Instant::now() > deadline {
                break lines;
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    };
    assert_eq!(
        lines.len(),
        3,
        "a stranger's stop, a refused stop and a stop; reads are not audited: {lines:?}"
    );
    assert_eq!(lines[0]["subject"], Value::Null);
    assert_eq!(lines[0]["method"], "POST");
    assert_eq!(lines[0]["status"], 401);
    let lines = &lines[1..];
    assert_eq!(lines[0]["subject"], "wanda");
    assert_eq!(lines[0]["profile"], "watcher");
    assert_eq!(lines[0]["status"], 403);
    assert_eq!(lines[1]["subject"], "root");
    assert_eq!(lines[1]["profile"], "admin");
    assert_eq!(lines[1]["method"], "POST");
    assert_eq!(lines[1]["path"], stop.as_str());
    assert_eq!(lines[1]["object"], format!("container {id}").as_str());
    assert_eq!(lines[1]["node"], "fake-audit");
    assert_eq!(lines[1]["status"], 204);
    assert!(lines[1]["client"]
        .as_str()
        .is_some_and(|c| c.starts_with("127.0.0.1:")));
    assert!(lines[1]["time"].as_str().is_some_and(|t| t.contains('T')));
    assert!(
        agent.log().contains("\"target\":\"audit\""),
        "the log carries the audit too"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_open_health_endpoint_asks_a_slow_engine_once_a_second() {
    let pki = Pki::by_commands();
    let fa = fake("fake-health").await;
    fa.set_latency(Duration::from_millis(300));
    let agent = blocking(|| {
        let mut args = pki.run_args();
        args.extend(["--docker-host".to_owned(), fa.docker_host()]);
        Agent::start_with(&args)
    });
    let before = fa
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("_ping"))
        .count();
    let started = Instant::now();
    let mut tasks = tokio::task::JoinSet::new();
    // 2,000 calls over 50 kept-alive connections.
    for _ in 0..50 {
        let pki = &pki;
        let mut sender = connect(pki, agent.addr, false).await;
        tasks.spawn(async move {
            let mut ok = 0;
            for _ in 0..40 {
                let (parts, _) =
                    roundtrip(&mut sender, empty(request("GET", "/agent/v1/health"))).await;
                ok += usize::from(parts.status == 200);
            }
            ok
        });
    }
    let mut answered = 0;
    while let Some(n) = tasks.join_next().await {
        answered += n.expect("task");
    }
    let elapsed = started.elapsed().as_secs() + 1;
    let pings = fa
        .requests()
        .iter()
        .filter(|r| r.path_and_query.contains("_ping"))
        .count()
        - before;
    assert_eq!(answered, 2000);
    assert!(
        pings as u64 <= elapsed + 1,
        "{pings} engine pings for 2,000 health calls in {elapsed} s"
    );
    assert!(
        fa.connections_accepted() <= 4,
        "{} engine connections",
        fa.connections_accepted()
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_profile_holds_on_every_node_of_a_cluster() {
    let pki = Pki::by_commands();
    let fa = fake("fake-pa").await;
    let fb = fake("fake-pb").await;
    let file = policy(
        &pki,
        r#"
[profiles.index1]
allow = { containers = "write", system = "read" }
labels = { index = "1" }
[profiles.only-a]
allow = { "*" = "read" }
nodes = ["fake-pa"]
"#,
    );
    let cluster = |host: String, join: Option<std::net::SocketAddr>| {
        let mut args = with_policy(
            &pki,
            &file,
            &[
                "--gossip-listen",
                "127.0.0.1:0",
                "--discovery-interval",
                "500ms",
            ],
        );
        args.extend(["--docker-host".to_owned(), host]);
        if let Some(j) = join {
            args.extend(["--join".to_owned(), j.to_string()]);
        }
        Agent::start_with(&args)
    };
    let a = blocking(|| cluster(fa.docker_host(), None));
    let b = blocking(|| cluster(fb.docker_host(), a.gossip));
    let admin = blocking(|| pki.token("root", "admin"));
    let scoped = blocking(|| pki.profile_token("ivy", "index1"));
    let only_a = blocking(|| pki.profile_token("olga", "only-a"));
    // Wait until agent a lists both nodes.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let (code, body) = as_token(&pki, &a, &admin, "GET", "/agent/v1/members", &[], None).await;
        if code == 200 && body.contains("fake-pb") && body.matches("\"alive\"").count() >= 2 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "the cluster did not form: {body}"
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
    // The scoped list through a: index 1 of both nodes, nothing else.
    let list = {
        let mut sender = connect(&pki, a.addr, false).await;
        let req = empty(
            request("GET", "/v1.41/containers/json?all=1")
                .header("authorization", format!("Bearer {scoped}")),
        );
        let (_, bytes) = roundtrip(&mut sender, req).await;
        json_of(&bytes)
    };
    let mut seen: Vec<String> = list
        .as_array()
        .expect("a list")
        .iter()
        .map(|c| {
            format!(
                "{}/{}",
                c["Labels"]["node"].as_str().unwrap_or(""),
                c["Labels"]["index"].as_str().unwrap_or("")
            )
        })
        .collect();
    seen.sort();
    assert_eq!(seen, vec!["fake-pa/1", "fake-pb/1"]);
    // The stock CLI through agent a: the scope's containers of both nodes, and another's
    // said not to exist.
    let docker = Docker::with_cert_path(&a, &pki.ca_only, Some(&scoped));
    let names = blocking(|| docker.ok(&["ps", "-a", "--format", "{{.Names}}"]));
    let mut names: Vec<&str> = names.lines().collect();
    names.sort();
    let mut expected = vec![
        fa.container_names()[1].clone(),
        fb.container_names()[1].clone(),
    ];
    expected.sort();
    assert_eq!(names, expected);
    let stderr = blocking(|| docker.fails(&["container", "inspect", &fb.container_names()[0]]));
    assert!(stderr.contains("No such container"), "{stderr}");
    // Out of scope on the other node: missing, and never stopped.
    let outside = fb.container_ids()[0].clone();
    let (code, message) = as_token(
        &pki,
        &a,
        &scoped,
        "POST",
        &format!("/v1.41/containers/{outside}/stop?probe=scope"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 404, "{message}");
    // A privileged create aimed at node b: refused with the rule's name.
    let spec = serde_json::to_vec(&json!({"Image": "x", "HostConfig": {"Privileged": true}}))
        .expect("json");
    let (code, message) = as_token(
        &pki,
        &a,
        &scoped,
        "POST",
        "/v1.41/containers/create?probe=priv",
        &[
            ("x-agent-target", "fake-pb"),
            ("content-type", "application/json"),
        ],
        Some(spec.clone()),
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("privileged"), "{message}");
    // The receiving agent enforces it too: a forwarded request minted by a peer.
    let secret = bosun_agent::secret::Secret::read(&pki.secret).expect("secret");
    let ivy = bosun_agent::auth::Identity {
        subject: "ivy".into(),
        profile: "index1".into(),
        credential: bosun_agent::auth::Credential::Token,
    };
    let post = http::Method::POST;
    let path = "/v1.41/containers/create?probe=forwarded";
    let token = bosun_agent::cluster::token::AgentTokens::new(&secret)
        .mint(
            &ivy,
            "fake-pa",
            bosun_agent::cluster::token::Bound {
                node: "fake-pb",
                method: &post,
                path_and_query: path,
            },
        )
        .expect("mint");
    let mut sender = connect(&pki, b.addr, false).await;
    let req = request("POST", path)
        .header("x-bosun-agent-token", token)
        .header("content-type", "application/json")
        .body(Full::new(bytes::Bytes::from(spec)))
        .expect("request");
    let (parts, bytes) = roundtrip(&mut sender, req).await;
    assert_eq!(parts.status, 403, "{}", String::from_utf8_lossy(&bytes));
    // Nodes: a profile limited to node a may not reach b.
    let (code, message) = as_token(
        &pki,
        &a,
        &only_a,
        "GET",
        "/v1.41/containers/json?probe=nodes",
        &[("x-agent-target", "fake-pb")],
        None,
    )
    .await;
    assert_eq!(code, 403, "{message}");
    assert!(message.contains("fake-pb"), "{message}");
    let (code, _) = as_token(
        &pki,
        &a,
        &only_a,
        "GET",
        "/v1.41/containers/json",
        &[("x-agent-target", "fake-pa")],
        None,
    )
    .await;
    assert_eq!(code, 200);
    for fake in [&fa, &fb] {
        let leaked: Vec<String> = fake
            .requests()
            .into_iter()
            .filter(|r| r.path_and_query.contains("probe="))
            .map(|r| format!("{} {}", r.method, r.path_and_query))
            .collect();
        assert!(
            leaked.is_empty(),
            "{}: refused requests reached the engine: {leaked:?}",
            fake.name()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn one_client_cannot_hold_every_stream() {
    let pki = Pki::by_commands();
    let fa = fake("fake-streams").await;
    let agent = blocking(|| {
        let mut args = pki.run_args();
        args.extend(["--docker-host".to_owned(), fa.docker_host()]);
        Agent::start_with(&args)
    });
    let read = blocking(|| pki.token("watcher", "read"));
    let admin = blocking(|| pki.token("root", "admin"));
    // Event streams on kept connections, each left open.
    let mut open = Vec::new();
    for _ in 0..bosun_agent::proxy::streams::PER_SUBJECT {
        let mut sender = connect(&pki, agent.addr, false).await;
        let req = empty(
            request("GET", "/v1.41/events").header("authorization", format!("Bearer {read}")),
        );
        let resp = send(&mut sender, req).await;
        assert_eq!(resp.status(), 200);
        open.push((sender, resp));
    }
    let (code, message) = as_token(&pki, &agent, &read, "GET", "/v1.41/events", &[], None).await;
    assert_eq!(code, 503, "{message}");
    assert!(
        message.contains("watcher already has 64 streams"),
        "{message}"
    );
    // Others, and short requests, are served.
    assert_eq!(
        as_token(
            &pki,
            &agent,
            &read,
            "GET",
            "/v1.41/containers/json",
            &[],
            None
        )
        .await
        .0,
        200
    );
    let mut sender = connect(&pki, agent.addr, false).await;
    let req =
        empty(request("GET", "/v1.41/events").header("authorization", format!("Bearer {admin}")));
    assert_eq!(send(&mut sender, req).await.status(), 200);
    // A stream that ends gives its place back.
    open.truncate(10);
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        let mut sender = connect(&pki, agent.addr, false).await;
        let req = empty(
            request("GET", "/v1.41/events").header("authorization", format!("Bearer {read}")),
        );
        if send(&mut sender, req).await.status() == 200 {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "closed streams did not give their places back"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_checked_name_reaches_the_engine_as_the_id_the_check_saw() {
    let pki = Pki::by_commands();
    let fa = fake("fake-pin").await;
    let file = policy(
        &pki,
        "[profiles.index1]\nallow = { \"*\" = \"read\" }\nlabels = { index = \"1\" }\n",
    );
    let agent = blocking(|| {
        Agent::start_with(&with_policy(
            &pki,
            &file,
            &["--docker-host", &fa.docker_host()],
        ))
    });
    let scoped = blocking(|| pki.profile_token("ivy", "index1"));
    let name = fa.container_names()[1].clone();
    let id = fa.container_ids()[1].clone();
    let (code, message) = as_token(
        &pki,
        &agent,
        &scoped,
        "GET",
        &format!("/v1.41/containers/{name}/json?probe=pin"),
        &[],
        None,
    )
    .await;
    assert_eq!(code, 200, "{message}");
    let asked: Vec<String> = fa
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("probe=pin"))
        .map(|r| r.path_and_query)
        .collect();
    assert_eq!(
        asked,
        vec![format!("/v1.41/containers/{id}/json?probe=pin")]
    );
}
