//! Refusals: a client without valid credentials, or a read token writing, gets a clear
//! Docker-shaped error and nothing reaches the engine.

use bosun_agent::auth::{self, Claims, Scope};
use bosun_agent::secret::Secret;

use crate::harness::*;

/// Tries to create a container through `docker`; asserts the refusal mentions `expect`
/// and that the engine has no such container.
fn refused_to_create(docker: &Docker, expect: &str) {
    ensure_image();
    let name = Name::new("refused");
    let stderr = docker.fails(&["create", "--name", name.as_str(), IMAGE, "true"]);
    assert!(
        stderr.contains(expect),
        "the CLI should print the agent's message containing {expect:?}, got: {stderr}"
    );
    assert!(
        !engine_has_container(name.as_str()),
        "a refused request must not reach the engine"
    );
}

#[test]
fn no_credentials_are_refused() {
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    let docker = Docker::with_cert_path(&agent, &pki.ca_only, None);
    refused_to_create(&docker, "authentication required");
    let stderr = docker.fails(&["ps"]);
    assert!(stderr.contains("authentication required"), "{stderr}");
}

#[test]
fn a_certificate_from_another_ca_is_refused() {
    let pki = Pki::by_commands();
    let other = Pki::by_commands();
    let agent = Agent::start(&pki);
    // The other cluster's bundle, but trusting this cluster's CA for the server.
    let bundle = tempfile::tempdir().expect("tempdir");
    for f in ["cert.pem", "key.pem"] {
        std::fs::copy(other.client.join(f), bundle.path().join(f)).expect("copy");
    }
    std::fs::copy(pki.client.join("ca.pem"), bundle.path().join("ca.pem")).expect("copy");
    let docker = Docker::with_cert_path(&agent, bundle.path(), None);
    refused_to_create(&docker, "client certificate refused");
}

#[test]
fn an_expired_token_is_refused() {
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    let secret = Secret::read(&pki.secret).expect("secret");
    let now = auth::now_secs();
    let expired = auth::sign(
        &secret,
        &Claims {
            sub: "tester".into(),
            exp: now - 3600,
            iat: Some(now - 7200),
            nbf: None,
            scope: Some(Scope::Admin),
            profile: None,
        },
    )
    .expect("sign");
    let docker = Docker::with_cert_path(&agent, &pki.ca_only, Some(&expired));
    refused_to_create(&docker, "token has expired");
}

#[test]
fn a_token_signed_with_another_secret_is_refused() {
    let pki = Pki::by_commands();
    let other = Pki::by_commands();
    let agent = Agent::start(&pki);
    let forged = other.token("mallory", "admin");
    let docker = Docker::with_cert_path(&agent, &pki.ca_only, Some(&forged));
    refused_to_create(&docker, "signature does not match");
}

#[test]
fn a_read_token_reads_but_cannot_create() {
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    let read = pki.token("auditor", "read");
    let docker = Docker::with_cert_path(&agent, &pki.ca_only, Some(&read));
    docker.ok(&["ps", "-a"]);
    docker.ok(&["version"]);
    refused_to_create(&docker, "profile \"read\" does not allow");
}

#[test]
fn a_read_token_cannot_exec() {
    ensure_image();
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    let admin = Docker::new(&agent, &pki, Cred::Jwt);
    let name = Name::new("readexec");
    admin.ok(&["run", "-d", "--name", name.as_str(), IMAGE, "sleep", "300"]);
    let reader = Docker::with_cert_path(&agent, &pki.ca_only, Some(&pki.token("auditor", "read")));
    let stderr = reader.fails(&["exec", name.as_str(), "echo", "no"]);
    assert!(
        stderr.contains("profile \"read\" does not allow") && stderr.contains("exec:write"),
        "{stderr}"
    );
    let stderr = reader.fails(&["logs", "--tail", "1", "no-such-container-anywhere"]);
    assert!(
        stderr.contains("No such container"),
        "reads reach the engine: {stderr}"
    );
}
