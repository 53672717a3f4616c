//! Signed check policies and their results on real agents: a policy signed with the
//! trusted key runs at once and its results are read with a cursor, the retries state
//! machine on a port the test closes, refusals (another key, altered, older, another
//! node, no key) that leave the running policy running, a restarted agent running its
//! kept policy, an overflowing results buffer counting what it lost once, who may push,
//! a push through one agent to a cluster of three (`cluster`), and a script check run in
//! a sandbox on the real engine until a policy drops it (`sandbox`).

mod cluster;
mod sandbox;

use std::path::{Path, PathBuf};
use std::time::Duration;

use base64::Engine as _;
use serde_json::{json, Value};
use tempfile::TempDir;

use crate::harness::*;
use bosun_serve::checks::POLICY_TYP;
use bosun_testkit::https::*;

/// A bound on how long results take to come, so that a broken schedule fails.
const RESULTS: Duration = Duration::from_secs(30);

/// The console's side: an Ed25519 key, its public half in a PEM file for the agent.
pub struct Signer {
    der: Vec<u8>,
    pub public_pem: PathBuf,
    _dir: TempDir,
}

impl Signer {
    pub fn new() -> Self {
        use aws_lc_rs::signature::KeyPair as _;
        let rng = aws_lc_rs::rand::SystemRandom::new();
        let der = aws_lc_rs::signature::Ed25519KeyPair::generate_pkcs8(&rng)
            .expect("an Ed25519 key")
            .as_ref()
            .to_vec();
        let pair = aws_lc_rs::signature::Ed25519KeyPair::from_pkcs8(&der).expect("the key");
        // SubjectPublicKeyInfo for Ed25519: a fixed prefix and the 32-byte key.
        let mut spki = vec![
            0x30, 0x2a, 0x30, 0x05, 0x06, 0x03, 0x2b, 0x65, 0x70, 0x03, 0x21, 0x00,
        ];
        spki.extend_from_slice(pair.public_key().as_ref());
        let dir = tempfile::tempdir().expect("tempdir");
        let public_pem = dir.path().join("policy-key.pem");
        std::fs::write(
            &public_pem,
            format!(
                "-----BEGIN PUBLIC KEY-----\n{}\n-----END PUBLIC KEY-----\n",
                base64::engine::general_purpose::STANDARD.encode(&spki)
            ),
        )
        .expect("write the public key");
        Self {
            der,
            public_pem,
            _dir: dir,
        }
    }

    /// `claims` as a signed policy.
    pub fn sign(&self, claims: &Value) -> String {
        let mut header = jsonwebtoken::Header::new(jsonwebtoken::Algorithm::EdDSA);
        header.typ = Some(POLICY_TYP.to_owned());
        jsonwebtoken::encode(
            &header,
            claims,
            &jsonwebtoken::EncodingKey::from_ed_der(&self.der),
        )
        .expect("sign")
    }
}

/// A policy's claims for `node`.
pub fn policy(node: &str, version: u64, checks: Vec<Value>) -> Value {
    json!({
        "kind": "bosun-check-policy",
        "node": node,
        "version": version,
        "issued_at": 1_700_000_000u64,
        "concurrency": 10,
        "checks": checks,
    })
}

/// A tcp check on loopback every second.
pub fn tcp_check(id: &str, port: u16, retries: u32) -> Value {
    json!({
        "id": id, "name": format!("port {id}"), "interval_secs": 1, "timeout_secs": 2,
        "retries": retries, "probe": {"kind": "tcp", "host": "127.0.0.1", "port": port}
    })
}

/// A loopback port that accepts connections until it is closed.
pub struct Port {
    pub port: u16,
    task: tokio::task::JoinHandle<()>,
}

impl Port {
    pub async fn open() -> Self {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0")
            .await
            .expect("bind");
        let port = listener.local_addr().expect("addr").port();
        let task = tokio::spawn(async move {
            while let Ok((conn, _)) = listener.accept().await {
                drop(conn);
            }
        });
        Self { port, task }
    }

    /// Stops accepting and closes the listener: connects are refused from now on.
    pub async fn close(self) {
        self.task.abort();
        let _ = self.task.await;
    }
}

/// The `bosun-agent run` flags of an agent of `pki`'s cluster with its own data
/// directory, trusting `signer`'s key for policies.
pub fn args(pki: &Pki, data_dir: &Path, signer: Option<&Signer>, extra: &[&str]) -> Vec<String> {
    let mut args = vec![
        "--tls-dir".to_owned(),
        pki.ca_dir.display().to_string(),
        "--secret-file".to_owned(),
        pki.secret.display().to_string(),
        "--data-dir".to_owned(),
        data_dir.display().to_string(),
        "--update-check-interval".to_owned(),
        "0".to_owned(),
    ];
    if let Some(signer) = signer {
        args.push("--policy-public-key".to_owned());
        args.push(signer.public_pem.display().to_string());
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    args
}

/// `METHOD path` through `agent`, with the client certificate or else `token`; status,
/// headers and JSON.
pub async fn call(
    pki: &Pki,
    agent: &Agent,
    method: &str,
    path: &str,
    body: Option<&Value>,
    token: Option<&str>,
) -> (http::response::Parts, Value) {
    let mut sender = connect(pki, agent.addr, token.is_none()).await;
    let mut builder = request(method, path);
    if let Some(token) = token {
        builder = builder.header("authorization", format!("Bearer {token}"));
    }
    let req = match body {
        Some(b) => with_json(builder, b),
        None => empty(builder),
    };
    let (parts, bytes) = roundtrip(&mut sender, req).await;
    (parts, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// Pushes `policies` (node → signed policy) through `agent`; the outcomes by node.
pub async fn push(
    pki: &Pki,
    agent: &Agent,
    policies: &[(impl AsRef<str>, impl AsRef<str>)],
) -> Vec<Value> {
    let body = json!({
        "policies": policies
            .iter()
            .map(|(n, p)| (n.as_ref().to_owned(), json!(p.as_ref())))
            .collect::<serde_json::Map<_, _>>()
    });
    let (parts, answer) = call(
        pki,
        agent,
        "PUT",
        "/agent/v1/checks/policies",
        Some(&body),
        None,
    )
    .await;
    assert_eq!(parts.status, 200, "{answer}");
    answer["nodes"].as_array().expect("nodes").clone()
}

/// `GET /agent/v1/checks?QUERY`, asserting 200.
pub async fn results(pki: &Pki, agent: &Agent, query: &str) -> Value {
    let (parts, v) = call(
        pki,
        agent,
        "GET",
        &format!("/agent/v1/checks?{query}"),
        None,
        None,
    )
    .await;
    assert_eq!(parts.status, 200, "{v}");
    v
}

/// `GET /agent/v1/checks/policy`, asserting 200.
async fn running(pki: &Pki, agent: &Agent) -> Value {
    let (parts, v) = call(pki, agent, "GET", "/agent/v1/checks/policy", None, None).await;
    assert_eq!(parts.status, 200, "{v}");
    v
}

fn seqs(read: &Value) -> Vec<u64> {
    read["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| r["seq"].as_u64().expect("seq"))
        .collect()
}

fn contiguous(seqs: &[u64]) -> bool {
    seqs.windows(2).all(|w| w[1] == w[0] + 1)
}

/// One outcome of a push, asserting there is one for `node` only.
fn only<'a>(outcomes: &'a [Value], node: &str) -> &'a Value {
    assert_eq!(outcomes.len(), 1, "{outcomes:?}");
    assert_eq!(outcomes[0]["node"], node, "{outcomes:?}");
    &outcomes[0]
}

#[tokio::test(flavor = "multi_thread")]
async fn a_signed_policy_runs_and_its_state_changes_after_its_retries() {
    let pki = Pki::by_commands();
    let signer = Signer::new();
    let data = tempfile::tempdir().expect("tempdir");
    let agent = blocking(|| Agent::start_with(&args(&pki, data.path(), Some(&signer), &[])));
    let node = engine_name();

    let before = running(&pki, &agent).await;
    assert_eq!(before["policy"], Value::Null, "{before}");
    assert_eq!(before["status"]["version"], 0, "{before}");

    let port = Port::open().await;
    let jws = signer.sign(&policy(&node, 1, vec![tcp_check("port", port.port, 2)]));
    let outcomes = push(&pki, &agent, &[(&node, &jws)]).await;
    let applied = only(&outcomes, &node);
    assert_eq!(applied["outcome"], "applied", "{applied}");
    assert_eq!(applied["version"], 1);
    let again = push(&pki, &agent, &[(&node, &jws)]).await;
    assert_eq!(only(&again, &node)["outcome"], "unchanged", "{again:?}");

    let now = running(&pki, &agent).await;
    assert_eq!(now["policy"]["checks"][0]["id"], "port", "{now}");
    assert_eq!(now["status"]["version"], 1);
    assert_eq!(now["status"]["checks"], 1);
    assert!(now["status"]["applied_at"].as_u64().is_some(), "{now}");
    let kept = data.path().join("checks/policy.jws");
    assert_eq!(std::fs::read_to_string(&kept).expect("kept"), jws);
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(&kept).expect("meta").permissions().mode();
    assert_eq!(mode & 0o777, 0o600);

    // Results come without a restart, oldest first, numbered one after the other.
    let read = eventually("three results", RESULTS, || async {
        let read = results(&pki, &agent, "").await;
        if seqs(&read).len() >= 3 {
            Ok(read)
        } else {
            Err(read.to_string())
        }
    })
    .await;
    let all = seqs(&read);
    assert_eq!(all[0], 1, "{read}");
    assert!(contiguous(&all), "{all:?}");
    assert_eq!(read["node"], node.as_str());
    assert_eq!(read["capacity"], 1000);
    assert_eq!(read["first_seq"], 1);
    assert!(
        read["epoch"].as_str().is_some_and(|e| e.len() >= 8),
        "{read}"
    );
    assert!(
        read["agent_id"].as_str().is_some_and(|a| !a.is_empty()),
        "{read}"
    );
    let first = &read["results"][0];
    assert_eq!(
        (&first["check"], &first["status"], &first["state"]),
        (&json!("port"), &json!("ok"), &json!("ok")),
        "{first}"
    );
    assert!(first["output"].as_str().is_some_and(|o| !o.is_empty()));
    assert_eq!(read["states"][0]["state"], "ok", "{read}");
    assert_eq!(read["states"][0]["last"]["check"], "port", "{read}");

    // A cursor answers only what came after it.
    let after = results(&pki, &agent, &format!("cursor={}&limit=1", all[1])).await;
    assert_eq!(seqs(&after), [all[1] + 1], "{after}");

    // The port closes: each run is critical at once, the state only on the third.
    port.close().await;
    let read = eventually("the state turns critical", RESULTS, || async {
        let read = results(&pki, &agent, "").await;
        if read["states"][0]["state"] == "critical" {
            Ok(read)
        } else {
            Err(read["states"].to_string())
        }
    })
    .await;
    let runs: Vec<(String, String)> = read["results"]
        .as_array()
        .expect("results")
        .iter()
        .map(|r| {
            (
                r["status"].as_str().expect("status").to_owned(),
                r["state"].as_str().expect("state").to_owned(),
            )
        })
        .collect();
    let i = runs
        .iter()
        .position(|(status, _)| status == "critical")
        .expect("a critical run");
    let pair = |s: &str, t: &str| (s.to_owned(), t.to_owned());
    assert_eq!(
        runs[i..i + 3],
        [
            pair("critical", "ok"),
            pair("critical", "ok"),
            pair("critical", "critical")
        ],
        "{runs:?}"
    );
    assert!(runs[..i].iter().all(|r| *r == pair("ok", "ok")), "{runs:?}");
    let since = read["states"][0]["since_ms"].as_u64().expect("since");
    assert_eq!(since, read["results"][i + 2]["at_ms"].as_u64().expect("at"));
}

#[tokio::test(flavor = "multi_thread")]
async fn refused_policies_leave_the_running_one_running() {
    let pki = Pki::by_commands();
    let (signer, stranger) = (Signer::new(), Signer::new());
    let data = tempfile::tempdir().expect("tempdir");
    let agent = blocking(|| Agent::start_with(&args(&pki, data.path(), Some(&signer), &[])));
    let node = engine_name();
    let port = Port::open().await;
    let checks = || vec![tcp_check("port", port.port, 0)];
    let v5 = signer.sign(&policy(&node, 5, checks()));
    assert_eq!(
        only(&push(&pki, &agent, &[(&node, &v5)]).await, &node)["outcome"],
        "applied"
    );

    let good_v6 = signer.sign(&policy(&node, 6, checks()));
    let tampered = {
        let mut parts: Vec<String> = good_v6.split('.').map(str::to_owned).collect();
        let mut payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(&parts[1])
            .expect("payload");
        // The version claimed goes up by one, the signature stays.
        let at = payload
            .windows(11)
            .position(|w| w == b"\"version\":6")
            .expect("the version claim")
            + 10;
        payload[at] = b'7';
        parts[1] = base64::engine::general_purpose::URL_SAFE_NO_PAD.encode(&payload);
        parts.join(".")
    };
    let mut other_interval = checks();
    other_interval[0]["interval_secs"] = json!(2);
    let cases = [
        (
            "another key",
            stranger.sign(&policy(&node, 6, checks())),
            Some(6),
            "signature",
        ),
        ("altered", tampered, Some(7), "altered"),
        (
            "older",
            signer.sign(&policy(&node, 4, checks())),
            Some(4),
            "older",
        ),
        (
            "another node",
            signer.sign(&policy("elsewhere", 7, checks())),
            Some(7),
            "\"elsewhere\"",
        ),
        (
            "same version, other checks",
            signer.sign(&policy(&node, 5, other_interval)),
            Some(5),
            "new version",
        ),
        (
            "not a check policy",
            pki.token("alice", "admin"),
            None,
            "typ",
        ),
    ];
    for (what, jws, version, reason) in cases {
        let next_before = results(&pki, &agent, "").await["next_seq"]
            .as_u64()
            .expect("next_seq");
        let outcomes = push(&pki, &agent, &[(&node, &jws)]).await;
        let refused = only(&outcomes, &node);
        assert_eq!(refused["outcome"], "refused", "{what}: {refused}");
        assert_eq!(
            refused["version"], 5,
            "{what}: the running version: {refused}"
        );
        assert!(
            refused["reason"]
                .as_str()
                .is_some_and(|r| r.contains(reason)),
            "{what}: {refused}"
        );
        let status = running(&pki, &agent).await;
        assert_eq!(status["status"]["version"], 5, "{what}: {status}");
        assert_eq!(
            status["status"]["refused"]["version"],
            json!(version),
            "{what}: {status}"
        );
        assert!(
            status["status"]["refused"]["reason"]
                .as_str()
                .is_some_and(|r| r.contains(reason)),
            "{what}: {status}"
        );
        // The running policy keeps running.
        eventually(&format!("{what}: results go on"), RESULTS, || async {
            let read = results(&pki, &agent, "").await;
            match read["next_seq"].as_u64() {
                Some(n) if n > next_before => Ok(()),
                _ => Err(read["next_seq"].to_string()),
            }
        })
        .await;
    }
    assert_eq!(
        std::fs::read_to_string(data.path().join("checks/policy.jws")).expect("kept"),
        v5,
        "a refused policy is not kept"
    );

    // A reader may read, and may not push.
    let reader = pki.token("reader", "read");
    let (parts, v) = call(&pki, &agent, "GET", "/agent/v1/checks", None, Some(&reader)).await;
    assert_eq!(parts.status, 200, "{v}");
    let mut policies = serde_json::Map::new();
    policies.insert(node.clone(), json!(good_v6));
    let body = json!({ "policies": policies });
    let (parts, v) = call(
        &pki,
        &agent,
        "PUT",
        "/agent/v1/checks/policies",
        Some(&body),
        Some(&reader),
    )
    .await;
    assert_eq!(parts.status, 403, "{v}");
    let message = v["message"].as_str().expect("a message");
    assert!(
        message.contains("\"read\"") && message.contains("write"),
        "{message}"
    );
    assert_eq!(running(&pki, &agent).await["status"]["version"], 5);

    // Bad pushes are told what is wrong.
    let (parts, v) = call(
        &pki,
        &agent,
        "PUT",
        "/agent/v1/checks/policies",
        Some(&json!({"nope": 1})),
        None,
    )
    .await;
    assert_eq!(parts.status, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("policies")),
        "{v}"
    );
    let (parts, v) = call(
        &pki,
        &agent,
        "POST",
        "/agent/v1/checks/policies",
        None,
        None,
    )
    .await;
    assert_eq!(parts.status, 405, "{v}");
    let (parts, v) = call(&pki, &agent, "GET", "/agent/v1/checks?limit=0", None, None).await;
    assert_eq!(parts.status, 400, "{v}");

    // A newer, good one runs and clears the refusal.
    let applied = push(&pki, &agent, &[(&node, &good_v6)]).await;
    assert_eq!(only(&applied, &node)["outcome"], "applied", "{applied:?}");
    let status = running(&pki, &agent).await;
    assert_eq!(status["status"]["version"], 6, "{status}");
    assert_eq!(status["status"]["refused"], Value::Null, "{status}");
    port.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn without_a_key_every_policy_is_refused_naming_the_flag() {
    let pki = Pki::by_commands();
    let signer = Signer::new();
    let data = tempfile::tempdir().expect("tempdir");
    let agent = blocking(|| Agent::start_with(&args(&pki, data.path(), None, &[])));
    let node = engine_name();
    let jws = signer.sign(&policy(&node, 1, vec![tcp_check("port", 9, 0)]));
    let outcomes = push(&pki, &agent, &[(&node, &jws)]).await;
    let refused = only(&outcomes, &node);
    assert_eq!(refused["outcome"], "refused", "{refused}");
    assert!(
        refused["reason"]
            .as_str()
            .is_some_and(|r| r.contains("--policy-public-key")),
        "{refused}"
    );
    assert_eq!(running(&pki, &agent).await["status"]["version"], 0);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_restarted_agent_runs_its_kept_policy_and_refuses_an_altered_one() {
    let pki = Pki::by_commands();
    let signer = Signer::new();
    let data = tempfile::tempdir().expect("tempdir");
    let node = engine_name();
    let port = Port::open().await;
    let jws = signer.sign(&policy(&node, 3, vec![tcp_check("port", port.port, 0)]));
    let first_epoch = {
        let agent = blocking(|| Agent::start_with(&args(&pki, data.path(), Some(&signer), &[])));
        assert_eq!(
            only(&push(&pki, &agent, &[(&node, &jws)]).await, &node)["outcome"],
            "applied"
        );
        results(&pki, &agent, "").await["epoch"]
            .as_str()
            .expect("epoch")
            .to_owned()
    };

    let agent = blocking(|| Agent::start_with(&args(&pki, data.path(), Some(&signer), &[])));
    let status = running(&pki, &agent).await;
    assert_eq!(status["status"]["version"], 3, "{status}");
    assert_eq!(status["status"]["refused"], Value::Null, "{status}");
    let read = eventually("the kept policy's results", RESULTS, || async {
        let read = results(&pki, &agent, "").await;
        if read["results"][0]["check"] == "port" {
            Ok(read)
        } else {
            Err(read.to_string())
        }
    })
    .await;
    assert_ne!(
        read["epoch"],
        first_epoch.as_str(),
        "a new epoch at each start"
    );
    assert_eq!(read["first_seq"], 1, "numbering starts again: {read}");
    // An older version is still refused after the restart.
    let older = signer.sign(&policy(&node, 2, vec![tcp_check("port", port.port, 0)]));
    let outcomes = push(&pki, &agent, &[(&node, &older)]).await;
    assert_eq!(only(&outcomes, &node)["outcome"], "refused", "{outcomes:?}");
    drop(agent);

    // Altered on disk: refused at start, and the refusal says where it came from.
    let kept = data.path().join("checks/policy.jws");
    let altered = jws.replacen(".", ".e", 1);
    std::fs::write(&kept, altered).expect("alter");
    let agent = blocking(|| Agent::start_with(&args(&pki, data.path(), Some(&signer), &[])));
    let status = running(&pki, &agent).await;
    assert_eq!(status["policy"], Value::Null, "{status}");
    assert_eq!(status["status"]["version"], 0, "{status}");
    let reason = status["status"]["refused"]["reason"]
        .as_str()
        .expect("a refusal")
        .to_owned();
    assert!(reason.contains("policy.jws"), "{reason}");
    port.close().await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_overflowing_buffer_counts_what_no_reader_had_once() {
    let pki = Pki::by_commands();
    let signer = Signer::new();
    let data = tempfile::tempdir().expect("tempdir");
    let agent = blocking(|| {
        Agent::start_with(&args(
            &pki,
            data.path(),
            Some(&signer),
            &["--check-results", "10"],
        ))
    });
    let node = engine_name();
    let port = Port::open().await;
    let jws = signer.sign(&policy(&node, 1, vec![tcp_check("port", port.port, 0)]));
    assert_eq!(
        only(&push(&pki, &agent, &[(&node, &jws)]).await, &node)["outcome"],
        "applied"
    );

    // Read with cursor 0 only, which acknowledges nothing, until 15 results have come.
    let read = eventually("15 results", Duration::from_secs(40), || async {
        let read = results(&pki, &agent, "").await;
        match read["next_seq"].as_u64() {
            Some(n) if n > 15 => Ok(read),
            _ => Err(read["next_seq"].to_string()),
        }
    })
    .await;
    assert_eq!(read["capacity"], 10);
    assert_eq!(seqs(&read).len(), 10, "{read}");
    let first = read["first_seq"].as_u64().expect("first_seq");
    let lost = read["lost"].as_u64().expect("lost");
    assert!(lost > 0, "{read}");
    assert_eq!(lost, first - 1, "every result dropped was unread: {read}");

    // The reader acknowledges what it has: what goes after counts only past the cursor.
    let newest = read["next_seq"].as_u64().expect("next") - 1;
    let acked = results(&pki, &agent, &format!("cursor={newest}")).await;
    let acked_lost = acked["lost"].as_u64().expect("lost");
    let acked_first = acked["first_seq"].as_u64().expect("first");
    assert_eq!(acked_lost, acked_first - 1, "{acked}");
    let later = eventually("three more results", RESULTS, || async {
        let read = results(&pki, &agent, "").await;
        match read["next_seq"].as_u64() {
            Some(n) if n > newest + 3 => Ok(read),
            _ => Err(read["next_seq"].to_string()),
        }
    })
    .await;
    let later_first = later["first_seq"].as_u64().expect("first");
    assert!(later_first > acked_first, "{later}");
    let dropped_unread = (later_first - 1).saturating_sub(newest.max(acked_first - 1));
    assert_eq!(
        later["lost"].as_u64().expect("lost"),
        acked_lost + dropped_unread,
        "dropped results the reader had are not lost, and none is counted twice: {acked} then {later}"
    );
    port.close().await;
}

#[test]
fn the_results_buffer_has_bounds() {
    let pki = Pki::by_commands();
    let data = tempfile::tempdir().expect("tempdir");
    let mut command = std::process::Command::new(bin());
    command
        .arg("run")
        .args(args(&pki, data.path(), None, &["--check-results", "5"]))
        .env_remove("AGENT_SECRET");
    let out = command.output().expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--check-results"), "{stderr}");
    let missing = data.path().join("absent.pem");
    let out = std::process::Command::new(bin())
        .arg("run")
        .args(args(
            &pki,
            data.path(),
            None,
            &["--policy-public-key", missing.to_str().expect("utf-8")],
        ))
        .env_remove("AGENT_SECRET")
        .output()
        .expect("run");
    assert_eq!(out.status.code(), Some(2), "{out:?}");
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("--policy-public-key"), "{stderr}");
}
