//! The stock docker CLI through the console's Docker API, with personal tokens, at an edge
//! agent that listens on no port (`--listen none`): `ps`, `run` (detached and attached),
//! `logs -f` and `exec -i` with stdin work, a viewer's token reads but cannot remove, a
//! deleted token ends a followed log at once, and every write is audited with the node
//! that ran it.

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};

use http::StatusCode;
use serde_json::json;
use tokio::io::AsyncWriteExt;
use tokio_util::sync::CancellationToken;

use crate::audit_rows;
use crate::common::*;
use crate::edge::{edge_agent_with, enrol_token, scene, until_connected};

/// A docker CLI set up for the console: `DOCKER_HOST` at endpoint `id`'s Docker API, TLS
/// verified against the console's CA, and `token` (if any) in its `HttpHeaders`.
pub(crate) struct Cli {
    host: String,
    certs: PathBuf,
    config: tempfile::TempDir,
}

impl Cli {
    pub(crate) fn new(console: SocketAddr, id: i64, ca: &Path, token: Option<&str>) -> Self {
        let config = tempfile::tempdir().expect("tempdir");
        std::fs::copy(ca, config.path().join("ca.pem")).expect("the CA for the CLI");
        let headers = match token {
            Some(t) => json!({"HttpHeaders": {"Authorization": format!("Bearer {t}")}}),
            None => json!({}),
        };
        std::fs::write(config.path().join("config.json"), headers.to_string()).expect("config");
        Self {
            host: format!("tcp://{console}/api/endpoints/{id}/docker"),
            certs: config.path().to_path_buf(),
            config,
        }
    }

    pub(crate) fn command(&self, args: &[&str]) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("docker");
        cmd.args(args)
            .env("DOCKER_HOST", &self.host)
            .env("DOCKER_TLS_VERIFY", "1")
            .env("DOCKER_CERT_PATH", &self.certs)
            .env("DOCKER_CONFIG", self.config.path())
            .env_remove("DOCKER_CONTEXT")
            .stdin(Stdio::null())
            .kill_on_drop(true);
        cmd
    }

    /// Runs `docker ARGS` to its end, within a minute: exit status, stdout, stderr.
    pub(crate) async fn run(&self, args: &[&str]) -> (bool, String, String) {
        let out = tokio::time::timeout(Duration::from_secs(60), self.command(args).output())
            .await
            .unwrap_or_else(|_| panic!("docker {args:?} did not end within 60 s"))
            .expect("the docker CLI runs");
        (
            out.status.success(),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// `docker logs -f CONTAINER`, checked to be still following 2 s later.
    pub(crate) async fn follow(&self, container: &str) -> tokio::process::Child {
        let mut following = self
            .command(&["logs", "-f", container])
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("docker logs -f");
        tokio::time::sleep(Duration::from_secs(2)).await;
        assert!(
            following.try_wait().expect("the CLI").is_none(),
            "the followed log runs"
        );
        following
    }

    pub(crate) async fn ok(&self, args: &[&str]) -> String {
        let (ok, out, err) = self.run(args).await;
        assert!(ok, "docker {args:?} through the console failed: {err}{out}");
        out
    }
}

pub(crate) async fn personal_token(client: &Client, name: &str) -> (String, i64) {
    let made = client.post("/api/tokens", &json!({"name": name})).await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let made = made.json();
    (
        made["token"].as_str().expect("the token").to_owned(),
        made["personal_token"]["id"].as_i64().expect("its ID"),
    )
}

/// The `docker.api` audit row of a `POST` to a path ending in `path_end`, among `rows`.
pub(crate) fn posted<'a>(rows: &'a [serde_json::Value], path_end: &str) -> &'a serde_json::Value {
    rows.iter()
        .find(|r| {
            r["target"]
                .as_str()
                .is_some_and(|t| t.starts_with("POST ") && t.ends_with(path_end))
        })
        .unwrap_or_else(|| panic!("no audited POST …{path_end}: {rows:?}"))
}

/// The endpoint named `name`'s ID.
pub(crate) async fn endpoint_id(admin: &Client, name: &str) -> i64 {
    let endpoints = admin.get("/api/endpoints").await.json();
    endpoints
        .as_array()
        .and_then(|all| all.iter().find(|e| e["name"] == name))
        .and_then(|e| e["id"].as_i64())
        .unwrap_or_else(|| panic!("no endpoint {name:?}: {endpoints}"))
}

/// Through `cli`: `ps` lists `waiting`, `run -d` and `logs -f` to its end, `run --rm`
/// attached, and `exec -i` in `waiting` with stdin. The container run detached is given
/// back.
pub(crate) async fn lists_runs_follows_and_execs(cli: &Cli, waiting: &Name) -> Name {
    // Lists: a container of the engine, seen through the console and the tunnel.
    let names = cli.ok(&["ps", "--format", "{{.Names}}"]).await;
    assert!(names.lines().any(|n| n == waiting.0), "docker ps: {names}");

    // Runs a container, and follows its log to its end.
    let ran = Name::new("ui-cli-run");
    cli.ok(&[
        "run",
        "-d",
        "--name",
        &ran.0,
        IMAGE,
        "sh",
        "-c",
        "for i in 1 2 3; do echo line-$i; sleep 0.3; done",
    ])
    .await;
    let log = cli.ok(&["logs", "-f", &ran.0]).await;
    assert_eq!(log, "line-1\nline-2\nline-3\n", "docker logs -f");
    // Attached: the output comes over the upgraded attach stream, then the container goes.
    let attached = Name::new("ui-cli-attached");
    let said = cli
        .ok(&[
            "run",
            "--rm",
            "--name",
            &attached.0,
            IMAGE,
            "echo",
            "attached through the console",
        ])
        .await;
    assert_eq!(
        said, "attached through the console\n",
        "docker run, attached"
    );

    // exec -i: stdin goes in, and its end is the command's end of input.
    let mut exec = cli.command(&["exec", "-i", &waiting.0, "sh", "-c", "tr a-z A-Z"]);
    let mut child = exec
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("docker exec");
    let mut stdin = child.stdin.take().expect("stdin");
    stdin
        .write_all(b"through the console\n")
        .await
        .expect("stdin written");
    drop(stdin);
    let out = tokio::time::timeout(Duration::from_secs(30), child.wait_with_output())
        .await
        .expect("docker exec -i ends once its input does")
        .expect("docker exec");
    assert!(
        out.status.success(),
        "docker exec -i: {}",
        String::from_utf8_lossy(&out.stderr)
    );
    assert_eq!(
        String::from_utf8_lossy(&out.stdout),
        "THROUGH THE CONSOLE\n"
    );

    ran
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_docker_cli_runs_logs_and_execs_through_the_console_at_an_edge_agent() {
    let (pki, _data, addr, admin) = scene().await;
    let made = enrol_token(&admin, json!({"endpoint": "shop", "max_uses": 1})).await;
    let stop = CancellationToken::new();
    // An agent with no port at all (`--listen none`): the tunnel is its only way in.
    let _agent = edge_agent_with(&pki, addr, made["token"].as_str(), &stop, |c| {
        c.no_listener = true;
    })
    .await;
    until_connected(&admin, 1, SETTLE).await;
    let id = endpoint_id(&admin, "shop").await;
    let (token, token_id) = personal_token(&admin, "laptop").await;
    let cli = Cli::new(addr, id, &pki.ca_cert(), Some(&token));

    let waiting = container("cli-ps");
    let ran = lists_runs_follows_and_execs(&cli, &waiting).await;

    // Every write is audited, with the node that ran it; reads are not.
    let rows = audit_rows(&admin, "action=docker.api").await;
    let created = posted(&rows, "/containers/create");
    assert_eq!(created["user"], ADMIN);
    assert_eq!(created["endpoint"], "shop");
    assert_eq!(created["node"], engine_name(), "the node that ran it");
    assert!(
        rows.iter()
            .all(|r| !r["target"].as_str().unwrap_or_default().starts_with("GET ")),
        "reads are not audited: {rows:?}"
    );

    // A viewer's token reads, and the agent refuses it a removal, with Docker's message.
    admin.add_user("watcher", "viewer").await;
    let viewer = Client::logged_in(addr, "watcher", "password-123").await;
    let (viewer_token, _) = personal_token(&viewer, "ci").await;
    let viewer_cli = Cli::new(addr, id, &pki.ca_cert(), Some(&viewer_token));
    let names = viewer_cli.ok(&["ps", "-a", "--format", "{{.Names}}"]).await;
    assert!(names.lines().any(|n| n == ran.0), "a viewer lists: {names}");
    let (ok, _, err) = viewer_cli.run(&["rm", "-f", &ran.0]).await;
    assert!(!ok, "a viewer cannot remove a container");
    assert!(
        err.contains("does not allow"),
        "the refusal says why: {err}"
    );
    assert_eq!(
        engine_ok(&["inspect", "-f", "{{.Name}}", &ran.0]).trim(),
        format!("/{}", ran.0)
    );

    // No token, a session's token or a made-up one: refused, with the console's reason.
    let (ok, _, err) = Cli::new(addr, id, &pki.ca_cert(), None).run(&["ps"]).await;
    assert!(!ok && err.contains("log in first"), "no credential: {err}");
    let (ok, _, err) = Cli::new(addr, id, &pki.ca_cert(), Some("bosun_pat_00"))
        .run(&["ps"])
        .await;
    assert!(!ok && err.contains("unknown"), "a made-up token: {err}");
    // A session's cookie does not open the Docker API: it is for tools, with tokens.
    let by_session = admin
        .get(&format!("/api/endpoints/{id}/docker/_ping"))
        .await;
    assert_eq!(
        by_session.status,
        StatusCode::UNAUTHORIZED,
        "{}",
        by_session.text()
    );
    assert!(
        by_session.message().contains("personal token"),
        "{}",
        by_session.text()
    );
    // A token cannot make another.
    let by_token = Client::with_token(addr, &token);
    assert_eq!(
        by_token.get("/api/session").await.json()["user"]["username"],
        ADMIN
    );
    let refused = by_token.post("/api/tokens", &json!({"name": "x"})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());

    // Deleting the token ends a followed log through it within a second or two.
    let mut following = cli.follow(&waiting.0).await;
    let deleted_at = Instant::now();
    let answer = admin.delete(&format!("/api/tokens/{token_id}")).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    tokio::time::timeout(Duration::from_secs(5), following.wait())
        .await
        .expect("the followed log ends once its token is deleted")
        .expect("the CLI");
    let ended_in = deleted_at.elapsed();
    assert!(
        ended_in < Duration::from_secs(2),
        "it ended after {ended_in:?}"
    );
    let (ok, _, err) = cli.run(&["ps"]).await;
    assert!(!ok && err.contains("unknown"), "a deleted token: {err}");

    stop.cancel();
}
