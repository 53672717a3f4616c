//! Image update checks against real registries on loopback (Debian's `docker-registry`):
//! a moved tag and newer semantic-version tags found for containers on the real engine,
//! watch labels (What's Up Docker's and Bosun's), a registry behind basic auth with
//! credentials from a Docker config file and from the console, the cluster-wide answer
//! through one agent of two, and who may ask for a check.

use std::time::{Duration, Instant};

use bosun_fake_engine::{FakeEngine, FakeEngineSpec, SwarmRole};
use bosun_testkit::registry::Asked;
use bosun_testkit::LoopbackRegistry;

mod scene;
use scene::{create_service, item, newer, pushed_digest, scene, Tags};
use serde_json::{json, Value};

use crate::harness::*;
use bosun_testkit::https::*;

/// How long a check may take here: every container on the shared engine is checked, and
/// those whose registries are unreachable end in errors.
const CHECKED: Duration = Duration::from_secs(120);

/// An agent of `pki`'s cluster with scheduled checks off and `extra` flags.
fn agent(pki: &Pki, extra: &[&str]) -> Agent {
    let mut args = pki.run_args();
    args.extend(["--update-check-interval".to_owned(), "0".to_owned()]);
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    Agent::start_with(&args)
}

/// `METHOD path` with the client certificate and an optional JSON body; status and JSON.
async fn call(
    pki: &Pki,
    agent: &Agent,
    method: &str,
    path: &str,
    body: Option<Value>,
) -> (u16, Value) {
    let mut sender = connect(pki, agent.addr, true).await;
    let req = match body {
        Some(b) => with_json(request(method, path), &b),
        None => empty(request(method, path)),
    };
    let (parts, bytes) = tokio::time::timeout(CHECKED, roundtrip(&mut sender, req))
        .await
        .expect("the agent answers within the check's bound");
    (
        parts.status.as_u16(),
        serde_json::from_slice(&bytes).unwrap_or(Value::Null),
    )
}

/// `POST /agent/v1/updates/check`, asserting 200.
async fn check(pki: &Pki, agent: &Agent, body: Option<Value>) -> Value {
    let (status, v) = call(pki, agent, "POST", "/agent/v1/updates/check", body).await;
    assert_eq!(status, 200, "{v}");
    v
}

/// The moved tag is a `digest` update, newer tags are classified, labels narrow and link
/// them, and each distinct image and tag is asked once per check.
#[tokio::test(flavor = "multi_thread")]
async fn moved_tags_and_newer_versions_are_found() {
    let pki = Pki::by_commands();
    let scene = scene().await;
    let agent = blocking(|| agent(&pki, &["--docker-config", "/nonexistent/config.json"]));

    let (status, before) = call(&pki, &agent, "GET", "/agent/v1/updates", None).await;
    assert_eq!(status, 200, "{before}");
    assert_eq!(before["checked_at"], Value::Null, "{before}");
    assert_eq!(
        before["next_check_at"],
        Value::Null,
        "scheduled checks are off: {before}"
    );

    let asked_before = scene.registry.asked().len();
    let answer = check(&pki, &agent, None).await;
    assert_eq!(answer["node"], engine_name());
    assert!(answer["checked_at"].as_u64().is_some(), "{answer}");
    assert_eq!(answer["checking"], false);

    let host = scene.registry.host();
    let plain = item(&answer, &scene.plain.1);
    assert_eq!(plain["object"], "container");
    assert_eq!(plain["name"], scene.plain.0.as_str());
    assert_eq!(plain["registry"], host.as_str());
    assert_eq!(plain["repository"], "bosun-it-upd/app");
    assert_eq!(plain["tag"], "1.0.0");
    assert_eq!(plain["running_digest"], scene.old_digest.as_str());
    assert_eq!(plain["newest_digest"], scene.new_digest.as_str());
    assert_eq!(plain["update"], "digest", "{plain}");
    assert_eq!(plain["error"], Value::Null, "{plain}");
    assert_eq!(
        newer(&plain),
        [("2.0.0", "major"), ("1.1.0", "minor"), ("1.0.1", "patch")]
            .map(|(t, k)| (t.to_owned(), k.to_owned()))
    );
    assert_eq!(item(&answer, &scene.twin.1)["update"], "digest");

    let excluding = item(&answer, &scene.excluding.1);
    assert_eq!(excluding["running_digest"], scene.new_digest.as_str());
    assert_eq!(excluding["update"], "minor", "{excluding}");
    assert_eq!(
        newer(&excluding),
        [("1.1.0".to_owned(), "minor".to_owned())]
    );
    assert_eq!(excluding["link"], "https://example.org/app/releases/1.1.0");

    let including = item(&answer, &scene.including.1);
    assert_eq!(including["update"], Value::Null, "{including}");
    assert_eq!(newer(&including), []);
    assert_eq!(including["error"], Value::Null, "{including}");

    assert!(
        answer["items"]
            .as_array()
            .expect("items")
            .iter()
            .all(|i| i["id"] != scene.skipped.1.as_str()),
        "wud.watch=false is skipped"
    );

    // Two tags run (1.0.0 by three containers, 1.0.1 by two), one repository: one HEAD
    // per tag, one GET for the tag that moved, one tag list, per check. Other tests' agents
    // may check this engine's containers (this test's among them) at the same time, each
    // check asking the same, so once no check is halfway the registry saw whole multiples
    // of one check's questions: read until it has (a check takes well under a second).
    let whole = |asked: &[Asked]| {
        let count = |method: &str, part: &str| {
            asked
                .iter()
                .filter(|a| a.method == method && a.path.contains(part))
                .count()
        };
        let checks = count("GET", "/tags/list");
        let counts = [
            count("HEAD", "/manifests/1.0.0"),
            count("HEAD", "/manifests/1.0.1"),
            count("GET", "/manifests/"),
        ];
        (checks >= 1 && counts.iter().all(|&c| c == checks)).then_some(checks)
    };
    let settled = Instant::now();
    loop {
        let asked: Vec<_> = scene.registry.asked()[asked_before..].to_vec();
        if whole(&asked).is_some() {
            break;
        }
        assert!(
            settled.elapsed() < Duration::from_secs(10),
            "not whole checks' questions after 10 s: {asked:?}"
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    // Counted on /metrics.
    let mut sender = connect(&pki, agent.addr, true).await;
    let (_, body) = roundtrip(&mut sender, empty(request("GET", "/metrics"))).await;
    let text = String::from_utf8_lossy(&body).into_owned();
    let value = |name: &str| -> f64 {
        text.lines()
            .find(|l| l.starts_with(name))
            .and_then(|l| l.rsplit(' ').next())
            .and_then(|v| v.parse().ok())
            .unwrap_or_else(|| panic!("{name} in {text}"))
    };
    assert_eq!(value("bosun_agent_update_checks_total"), 1.0);
    // This agent's own questions of its one check: two HEADs, one GET, one tag list.
    assert!(value("bosun_agent_update_registry_requests_total") >= 4.0);

    // The GET answers the last check.
    let (_, latest) = call(&pki, &agent, "GET", "/agent/v1/updates", None).await;
    assert_eq!(latest["checked_at"], answer["checked_at"]);
    assert_eq!(item(&latest, &scene.plain.1)["update"], "digest");

    // A reader may look but not ask for a check or give credentials.
    let read = blocking(|| pki.token("viewer", "read"));
    let (code, _) =
        crate::access::as_token(&pki, &agent, &read, "GET", "/agent/v1/updates", &[], None).await;
    assert_eq!(code, 200);
    for (method, path) in [
        ("POST", "/agent/v1/updates/check"),
        ("PUT", "/agent/v1/updates/credentials"),
    ] {
        let (code, message) =
            crate::access::as_token(&pki, &agent, &read, method, path, &[], Some(b"{}".to_vec()))
                .await;
        assert_eq!(code, 403, "{method} {path}: {message}");
    }
    // Bad bodies are refused, saying why.
    let (code, v) = call(
        &pki,
        &agent,
        "PUT",
        "/agent/v1/updates/credentials",
        Some(json!({"credentials": [{"registry": "x"}]})),
    )
    .await;
    assert_eq!(code, 400, "{v}");
    assert!(
        v["message"]
            .as_str()
            .is_some_and(|m| m.contains("username")),
        "{v}"
    );
    let (code, v) = call(&pki, &agent, "DELETE", "/agent/v1/updates", None).await;
    assert_eq!(code, 405, "{v}");
}

/// A registry behind basic auth: a clear error without credentials, a clean check with
/// them from the Docker config file or from the console, and a refusal of wrong ones named.
#[tokio::test(flavor = "multi_thread")]
async fn a_registry_with_basic_auth_needs_credentials() {
    let pki = Pki::by_commands();
    let password = format!("pw-{}", std::process::id());
    let registry = LoopbackRegistry::with_basic_auth("bosun", &password).await;
    let host = registry.host();
    let config_dir = registry.scratch().join("docker-config");
    std::fs::create_dir_all(&config_dir).expect("config dir");
    let config_arg = config_dir.display().to_string();
    let mut tags = Tags(Vec::new());
    let tag = tags.add(&format!("{host}/bosun-it-upd/private:1.0.0"));
    let (name, id) = blocking(|| {
        ensure_image();
        engine_ok(&[
            "--config",
            &config_arg,
            "login",
            "-u",
            "bosun",
            "-p",
            &password,
            &host,
        ]);
        engine_ok(&["tag", IMAGE, &tag]);
        engine_ok(&["--config", &config_arg, "push", &tag]);
        let name = Name::new("upd-private");
        let id = engine_ok(&["run", "-d", "--name", name.as_str(), &tag, "sleep", "3600"]);
        (name, id)
    });
    let digest = blocking(|| pushed_digest(&tag, &host));

    // Without credentials.
    let bare = blocking(|| agent(&pki, &["--docker-config", "/nonexistent/config.json"]));
    let v = check(&pki, &bare, None).await;
    let it = item(&v, &id);
    assert_eq!(it["update"], Value::Null, "{it}");
    let error = it["error"].as_str().unwrap_or_default();
    assert!(
        error.contains(&host) && error.contains("credentials"),
        "a clear error: {it}"
    );

    // From the console: kept for the next checks too.
    let creds =
        json!({"credentials": [{"registry": host, "username": "bosun", "password": password}]});
    let v = check(&pki, &bare, Some(creds)).await;
    let it = item(&v, &id);
    assert_eq!(it["error"], Value::Null, "{it}");
    assert_eq!(it["newest_digest"], digest.as_str());
    assert_eq!(it["update"], Value::Null);
    let it = item(&check(&pki, &bare, None).await, &id);
    assert_eq!(
        it["error"],
        Value::Null,
        "the console's credentials are kept: {it}"
    );

    // Wrong ones replace them, and are named.
    let wrong =
        json!({"credentials": [{"registry": host, "username": "bosun", "password": "wrong"}]});
    let (code, v) = call(
        &pki,
        &bare,
        "PUT",
        "/agent/v1/updates/credentials",
        Some(wrong),
    )
    .await;
    assert_eq!(code, 204, "{v}");
    let it = item(&check(&pki, &bare, None).await, &id);
    let error = it["error"].as_str().unwrap_or_default();
    assert!(
        error.contains("refused the credentials") && error.contains("bosun"),
        "{it}"
    );

    // From the node's Docker config file, as `docker login` wrote it.
    let config_file = config_dir.join("config.json").display().to_string();
    let logged_in = blocking(|| agent(&pki, &["--docker-config", &config_file]));
    let it = item(&check(&pki, &logged_in, None).await, &id);
    assert_eq!(it["error"], Value::Null, "{it}");
    assert_eq!(it["newest_digest"], digest.as_str());
    drop(name);
}

/// Through one agent of two, the other in front of a fake engine: a cluster-wide check
/// answers both nodes, and the cluster-wide GET their latest results.
#[tokio::test(flavor = "multi_thread")]
async fn every_nodes_updates_come_through_any_agent() {
    let pki = Pki::by_commands();
    let scene = scene().await;
    let mut spec = FakeEngineSpec::new("upd-fake");
    spec.containers = 2;
    spec.swarm = Some(SwarmRole::Manager { leader: true });
    let fake = FakeEngine::start(spec).await.expect("fake engine");
    // A Swarm service on the fake manager, pinned to the digest 1.0.0 had, as the engine
    // pins a service's image.
    let service_image = format!(
        "{}/bosun-it-upd/app:1.0.0@{}",
        scene.registry.host(),
        scene.old_digest
    );
    let service_id = create_service(
        &fake,
        &json!({
            "Name": "bosun-it-upd-svc",
            "Labels": {"bosun.tag.exclude": "^2\\."},
            "TaskTemplate": {"ContainerSpec": {"Image": service_image}},
        }),
    )
    .await;
    let cluster = |host: Option<String>, join: Option<std::net::SocketAddr>| {
        let mut extra = vec![
            "--gossip-listen".to_owned(),
            "127.0.0.1:0".to_owned(),
            "--discovery-interval".to_owned(),
            "500ms".to_owned(),
            "--docker-config".to_owned(),
            "/nonexistent/config.json".to_owned(),
        ];
        if let Some(h) = host {
            extra.extend(["--docker-host".to_owned(), h]);
        }
        if let Some(j) = join {
            extra.extend(["--join".to_owned(), j.to_string()]);
        }
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        agent(&pki, &extra)
    };
    let real = blocking(|| cluster(None, None));
    let seed = real.gossip.expect("gossip");
    let _other = blocking(|| cluster(Some(fake.docker_host()), Some(seed)));
    let engine = engine_name();

    let v = eventually("both nodes checked", CHECKED, || async {
        let (status, v) = call(
            &pki,
            &real,
            "POST",
            "/agent/v1/updates/check?scope=cluster",
            None,
        )
        .await;
        let mut nodes: Vec<String> = v["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter_map(|n| n["node"].as_str().map(str::to_owned))
            .collect();
        nodes.sort();
        let mut want = vec![engine.clone(), "upd-fake".to_owned()];
        want.sort();
        if status == 200 && nodes == want {
            Ok(v)
        } else {
            Err(format!("{status} {v}"))
        }
    })
    .await;
    assert_eq!(v["missing"], json!([]));
    let nodes = v["nodes"].as_array().expect("nodes");
    let mine = nodes
        .iter()
        .find(|n| n["node"] == engine.as_str())
        .expect("this node");
    assert_eq!(item(mine, &scene.plain.1)["update"], "digest");
    let theirs = nodes
        .iter()
        .find(|n| n["node"] == "upd-fake")
        .expect("the fake node");
    assert!(theirs["checked_at"].as_u64().is_some(), "{theirs}");
    let service = item(theirs, &service_id);
    assert_eq!(service["object"], "service", "{service}");
    assert_eq!(service["name"], "bosun-it-upd-svc");
    assert_eq!(service["running_digest"], scene.old_digest.as_str());
    assert_eq!(service["newest_digest"], scene.new_digest.as_str());
    assert_eq!(service["update"], "digest", "{service}");
    assert_eq!(
        newer(&service),
        [("1.1.0", "minor"), ("1.0.1", "patch")].map(|(t, k)| (t.to_owned(), k.to_owned())),
        "the service's own labels apply"
    );
    for id in fake.container_ids() {
        let it = item(theirs, &id);
        assert!(
            it["error"].is_string(),
            "the fake node's image has no registry here: {it}"
        );
    }

    let (status, v) = call(&pki, &real, "GET", "/agent/v1/updates?scope=cluster", None).await;
    assert_eq!(status, 200, "{v}");
    let checked: Vec<bool> = v["nodes"]
        .as_array()
        .expect("nodes")
        .iter()
        .map(|n| n["checked_at"].as_u64().is_some())
        .collect();
    assert_eq!(checked, [true, true], "{v}");
}
