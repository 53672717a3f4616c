//! The command line as an operator meets it: clear one-line errors with exit code 2, the
//! refusal to start without credentials, and the healthcheck's exit codes.

use std::process::Command;

use crate::harness::*;

fn run_fails(args: &[&str]) -> String {
    let out = Command::new(bin())
        .arg("run")
        .args(args)
        .env_remove("AGENT_SECRET")
        .env_remove("AGENT_SECRET_FILE")
        .env_remove("AGENT_TLS_DIR")
        .output()
        .expect("run bosun-agent");
    assert_eq!(
        out.status.code(),
        Some(2),
        "exit code for a configuration error"
    );
    let stderr = String::from_utf8_lossy(&out.stderr).into_owned();
    assert!(!stderr.trim().is_empty());
    stderr
}

#[test]
fn refuses_to_start_without_credentials_and_says_how_to_make_them() {
    let stderr = run_fails(&["--listen", "127.0.0.1:0"]);
    assert!(stderr.contains("bosun-agent secret --out"), "{stderr}");
    assert!(stderr.contains("bosun-agent certs init"), "{stderr}");
    assert_eq!(stderr.trim().lines().count(), 1, "{stderr}");
}

#[test]
fn missing_files_and_bad_values_name_their_flag() {
    let stderr = run_fails(&["--secret-file", "/nonexistent/secret"]);
    assert!(
        stderr.contains("--secret-file") && stderr.contains("/nonexistent/secret"),
        "{stderr}"
    );
    let stderr = run_fails(&["--tls-dir", "/nonexistent/ca"]);
    assert!(stderr.contains("--tls-dir"), "{stderr}");

    let pki = Pki::by_commands();
    let secret = pki.secret.to_str().expect("utf-8");
    let stderr = run_fails(&["--secret-file", secret, "--listen", "not-an-address"]);
    assert!(stderr.contains("--listen"), "{stderr}");
    let stderr = run_fails(&["--secret-file", secret, "--docker-host", "ftp://x"]);
    assert!(stderr.contains("--docker-host"), "{stderr}");
    let stderr = run_fails(&["--secret-file", secret, "--jwt-public-key", secret]);
    assert!(stderr.contains("--jwt-public-key"), "{stderr}");
    let stderr = run_fails(&["--no-such-flag"]);
    assert!(stderr.contains("--no-such-flag"), "{stderr}");
}

#[test]
fn certs_and_secret_never_overwrite() {
    let pki = Pki::by_commands();
    let out = agent_cmd(&[
        "certs",
        "init",
        "--dir",
        pki.ca_dir.to_str().expect("utf-8"),
    ]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
    let out = agent_cmd(&["secret", "--out", pki.secret.to_str().expect("utf-8")]);
    assert_eq!(out.status.code(), Some(2));
    assert!(String::from_utf8_lossy(&out.stderr).contains("already exists"));
}

#[test]
fn healthcheck_reports_the_agents_state() {
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    let url = format!("https://127.0.0.1:{}/agent/v1/health", agent.addr.port());
    let out = agent_cmd(&["healthcheck", "--url", &url]);
    assert!(
        out.status.success(),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
    drop(agent);
    let out = agent_cmd(&["healthcheck", "--url", &url]);
    assert_eq!(out.status.code(), Some(1));
}

#[test]
fn healthcheck_fails_when_the_engine_is_gone() {
    let pki = Pki::by_commands();
    let mut args = pki.run_args();
    args.extend([
        "--docker-host".into(),
        "unix:///nonexistent/docker.sock".into(),
    ]);
    args.extend(["--node-name".into(), "lonely".into()]);
    let agent = Agent::start_with(&args);
    let url = format!("https://127.0.0.1:{}/agent/v1/health", agent.addr.port());
    let out = agent_cmd(&["healthcheck", "--url", &url]);
    assert_eq!(out.status.code(), Some(1));
    assert!(
        String::from_utf8_lossy(&out.stderr).contains("Cannot connect to the Docker daemon"),
        "{}",
        String::from_utf8_lossy(&out.stderr)
    );
}

#[test]
fn the_server_certificate_covers_localhost_and_the_loopback_address() {
    ensure_image();
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    for host in ["localhost", "127.0.0.1"] {
        let docker = Docker::new(&agent, &pki, Cred::Mtls);
        let out = docker
            .command(&["version", "--format", "{{.Server.Version}}"])
            .env("DOCKER_HOST", format!("tcp://{host}:{}", agent.addr.port()))
            .output()
            .expect("docker version");
        assert!(
            out.status.success(),
            "{host}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
    }
}
