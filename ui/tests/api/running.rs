//! Running the console: the start scripts refuse a taken port before they build anything;
//! the console's image (from `scripts/build-image.sh`) runs as a plain container with its
//! admin password from a secret file, signs in over HTTPS and reaches an agent's container
//! by name; and the console's stack file is a valid one.

use std::net::{SocketAddr, TcpListener};
use std::path::Path;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use http::StatusCode;

use crate::common::*;

/// A start script, run with `env`, within `limit`: (exit code, stdout, stderr).
fn run_script(script: &str, env: &[(&str, String)], limit: Duration) -> (i32, String, String) {
    let mut child = Command::new(repo_root().join(script))
        .envs(env.iter().map(|(k, v)| (*k, v.as_str())))
        .stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .unwrap_or_else(|e| panic!("start {script}: {e}"));
    let started = Instant::now();
    loop {
        if child.try_wait().expect("the script's state").is_some() {
            break;
        }
        if started.elapsed() > limit {
            let _ = child.kill();
            let out = child.wait_with_output().expect("the script's output");
            panic!(
                "{script} still ran after {limit:?}, so it went past the port check: {}{}",
                String::from_utf8_lossy(&out.stdout),
                String::from_utf8_lossy(&out.stderr)
            );
        }
        std::thread::sleep(Duration::from_millis(50));
    }
    let out = child.wait_with_output().expect("the script's output");
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
        String::from_utf8_lossy(&out.stderr).into_owned(),
    )
}

#[test]
fn the_start_scripts_say_which_variable_to_set_when_the_port_is_taken_before_building() {
    let taken = TcpListener::bind("127.0.0.1:0").expect("a port to hold");
    let port = taken.local_addr().expect("addr").port();
    let state = tempfile::tempdir().expect("tempdir");
    for (script, variable) in [
        ("scripts/start-local.sh", "AGENT_LISTEN"),
        ("scripts/start-console.sh", "BOSUN_UI_LISTEN"),
    ] {
        let env = [
            (variable, format!("127.0.0.1:{port}")),
            ("BOSUN_STATE_DIR", state.path().display().to_string()),
        ];
        // Well under a build of either binary, even an up-to-date one.
        let (code, stdout, stderr) = run_script(script, &env, Duration::from_secs(15));
        assert_eq!(code, 2, "{script}: exit code; {stdout}{stderr}");
        assert_eq!(stdout, "", "{script} printed nothing else first");
        assert!(
            stderr.contains(&format!("port {port} is already in use")),
            "{script} says the port is taken: {stderr}"
        );
        assert!(
            stderr.contains(&format!("{variable}=127.0.0.1:{}", port + 1)),
            "{script} names the variable to set: {stderr}"
        );
        assert!(
            !stderr.contains("Compiling") && !stderr.contains("Finished"),
            "{script} did not build: {stderr}"
        );
    }
    drop(taken);
}

/// The images, as `scripts/build-image.sh` tags them.
const CONSOLE_IMAGE: &str = "bosun-ui:latest";
const AGENT_IMAGE: &str = "bosun-agent:latest";

/// A console container, an agent container, their network and the console's data volume,
/// removed when dropped.
struct Deployment {
    console: String,
    agent: String,
    network: String,
    volume: String,
}

impl Deployment {
    fn named(base: &Name) -> Self {
        Self {
            console: base.0.clone(),
            agent: format!("{}-agent", base.0),
            network: format!("{}-net", base.0),
            volume: format!("{}-data", base.0),
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        let _ = engine(&["rm", "-f", "-v", &self.console, &self.agent]);
        let _ = engine(&["volume", "rm", "-f", &self.volume]);
        let _ = engine(&["network", "rm", &self.network]);
    }
}

/// Waits until `container`'s log has `line`; panics if it stops first.
fn wait_for_log(container: &str, line: &str) {
    wait_for(&format!("{container} to log {line:?}"), SETTLE, || {
        let out = engine(&["logs", container]);
        let log = format!(
            "{}{}",
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
        let running = engine_ok(&["inspect", "--format", "{{.State.Running}}", container]);
        assert_eq!(running, "true", "{container} stopped: {log}");
        if log.contains(line) {
            Ok(())
        } else {
            Err(log)
        }
    });
}

/// A mount of a host file or folder, read-only.
fn read_only(host: &Path, target: &str) -> String {
    format!("{}:{target}:ro", host.display())
}

#[tokio::test(flavor = "multi_thread")]
async fn the_console_image_runs_as_a_container_with_its_password_from_a_secret_file() {
    for image in [CONSOLE_IMAGE, AGENT_IMAGE] {
        let present = engine(&["image", "inspect", "--format", "{{.Id}}", image]);
        assert!(
            present.status.success(),
            "{image} is missing: scripts/test.sh builds it with scripts/build-image.sh"
        );
    }
    ensure_image();
    let creds = Pki::new();
    let secrets = tempfile::tempdir().expect("tempdir");
    let password = secrets.path().join("console_admin_password");
    std::fs::write(&password, format!("{ADMIN_PASSWORD}\n")).expect("password file");
    let base = Name::new("console");
    let d = Deployment::named(&base);

    // An agent in its image on a network of its own, reached by its container's name
    // (Docker's DNS), as the console's stack reaches the agents' service.
    engine_ok(&["network", "create", &d.network]);
    engine_ok(&[
        "run",
        "-d",
        "--name",
        &d.agent,
        "--network",
        &d.network,
        "-v",
        "/var/run/docker.sock:/var/run/docker.sock",
        "-v",
        &read_only(&creds.ca_dir, "/run/bosun/ca"),
        "-v",
        &read_only(&creds.secret, "/run/bosun/secret"),
        AGENT_IMAGE,
        "run",
        "--tls-dir",
        "/run/bosun/ca",
        "--secret-file",
        "/run/bosun/secret",
        "--tls-san",
        &d.agent,
    ]);

    // The console: published on a loopback port, data on a volume, the admin's password
    // and the agent's credentials from mounted files.
    let endpoint_url = format!("BOSUN_UI_ENDPOINT_URL=https://{}:9001", d.agent);
    engine_ok(&[
        "run",
        "-d",
        "--name",
        &d.console,
        "--network",
        &d.network,
        "-p",
        "127.0.0.1::9443",
        "-v",
        &format!("{}:/var/lib/bosun-ui", d.volume),
        "-v",
        &read_only(&password, "/run/secrets/console_admin_password"),
        "-v",
        &read_only(&creds.ca_cert(), "/run/secrets/bosun_ca"),
        "-v",
        &read_only(&creds.secret, "/run/secrets/bosun_secret"),
        "-e",
        "BOSUN_UI_ADMIN_PASSWORD_FILE=/run/secrets/console_admin_password",
        "-e",
        &endpoint_url,
        "-e",
        "BOSUN_UI_ENDPOINT_CA=/run/secrets/bosun_ca",
        "-e",
        "BOSUN_UI_ENDPOINT_SECRET_FILE=/run/secrets/bosun_secret",
        CONSOLE_IMAGE,
    ]);
    let port = engine_ok(&["port", &d.console, "9443/tcp"]);
    let addr: SocketAddr = port
        .lines()
        .next()
        .and_then(|l| l.trim().parse().ok())
        .unwrap_or_else(|| panic!("the published port: {port:?}"));
    // The published port takes connections before the console listens: wait for its log.
    wait_for_log(&d.agent, "listening");
    wait_for_log(&d.console, "listening");

    // Signed in over HTTPS as the admin the secret file made, and served its front end,
    // Debian's Chart.js included.
    let admin = Client::logged_in(addr, ADMIN, ADMIN_PASSWORD).await;
    let session = admin.get("/api/session").await;
    assert_eq!(session.status, StatusCode::OK, "{}", session.text());
    assert_eq!(session.json()["user"]["role"], "admin");
    let shell = admin.get("/").await;
    assert!(shell.text().contains("/assets/js/app.js"), "the page shell");
    let chart = admin.get("/assets/vendor/chart.umd.js").await;
    assert_eq!(chart.status, StatusCode::OK, "the embedded Chart.js");

    // The static binary resolves the agent's name and reaches it: the engine's
    // containers, the console's own among them, through the agent.
    let containers = eventually("the agent's containers", SETTLE, || async {
        let answer = admin.get("/api/endpoints/1/containers").await;
        if answer.status == StatusCode::OK && answer.text().contains(&d.console) {
            Ok(answer.text())
        } else {
            Err(format!("{}: {}", answer.status, answer.text()))
        }
    })
    .await;
    assert!(containers.contains(&d.agent), "{containers}");

    // Its data is on the volume.
    let listed = engine_ok(&[
        "run",
        "--rm",
        "-v",
        &format!("{}:/data:ro", d.volume),
        "--entrypoint",
        "/bin/ls",
        IMAGE,
        "/data",
    ]);
    assert!(
        listed.contains("console.db"),
        "the database is on the volume: {listed}"
    );
    drop(d);
}

#[test]
fn the_consoles_stack_file_is_valid_and_takes_its_password_from_a_secret() {
    let out = Command::new("docker")
        .arg("stack")
        .arg("config")
        .arg("-c")
        .arg(repo_root().join("stack/console.yml"))
        .output()
        .expect("run docker stack config");
    let config = ok(out, "docker stack config -c stack/console.yml");
    for line in [
        "BOSUN_UI_ADMIN_PASSWORD_FILE: /run/secrets/bosun_console_admin_password",
        "BOSUN_UI_ENDPOINT_SECRET_FILE: /run/secrets/bosun_secret",
        "target: /var/lib/bosun-ui",
        "image: bosun-ui:latest",
        "name: agent_agent_network",
    ] {
        assert!(config.contains(line), "{line:?} in: {config}");
    }
    let agents = Command::new("docker")
        .arg("stack")
        .arg("config")
        .arg("-c")
        .arg(repo_root().join("stack/portainer-agent.yml"))
        .output()
        .expect("run docker stack config");
    let agents = ok(agents, "docker stack config -c stack/portainer-agent.yml");
    assert!(
        agents.contains("AGENT_TLS_SAN: agent"),
        "the agents' certificates name their service, which the console dials: {agents}"
    );
}
