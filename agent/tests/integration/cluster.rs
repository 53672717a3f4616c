//! Several agents on loopback, one in front of the machine's real engine and the others in
//! front of fake engines (many nodes, latency and failure being what one real engine cannot
//! show): membership, merged lists, routing to the owning node and to managers, failure,
//! forged gossip and agent tokens, and DNS discovery against a DNS server of the test's own.

use std::net::SocketAddr;
use std::time::{Duration, Instant};

use bosun_fake_engine::{FakeEngine, FakeEngineSpec, SwarmRole};
use serde_json::Value;

use crate::harness::*;
use bosun_testkit::https::*;

/// A bound on how long a cluster may take to agree, so that a broken one fails.
const CONVERGE: Duration = Duration::from_secs(30);

/// An agent of `pki`'s cluster gossiping on loopback, in front of `docker_host` (the real
/// engine when `None`), joining `join` when given.
fn cluster_agent(
    pki: &Pki,
    docker_host: Option<&str>,
    join: Option<SocketAddr>,
    extra: &[&str],
) -> Agent {
    let mut args = pki.run_args();
    args.extend(
        [
            "--gossip-listen",
            "127.0.0.1:0",
            "--fanout-deadline",
            "3s",
            "--discovery-interval",
            "500ms",
        ]
        .map(String::from),
    );
    if let Some(host) = docker_host {
        args.extend(["--docker-host".into(), host.to_owned()]);
    }
    if let Some(join) = join {
        args.extend(["--join".into(), join.to_string()]);
    }
    args.extend(extra.iter().map(|s| (*s).to_owned()));
    Agent::start_with(&args)
}

async fn fake(name: &str, containers: usize, swarm: Option<SwarmRole>) -> FakeEngine {
    let mut spec = FakeEngineSpec::new(name);
    spec.containers = containers;
    spec.swarm = swarm;
    FakeEngine::start(spec).await.expect("start a fake engine")
}

/// `GET path` through `agent` with the client certificate; status, headers and JSON.
async fn get(
    pki: &Pki,
    agent: &Agent,
    path: &str,
    headers: &[(&str, &str)],
) -> (http::response::Parts, Value) {
    let mut sender = connect(pki, agent.addr, true).await;
    let mut builder = request("GET", path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let (parts, body) = roundtrip(&mut sender, empty(builder)).await;
    let value = serde_json::from_slice(&body).unwrap_or(Value::Null);
    (parts, value)
}

/// The members `agent` sees, by node name, with their state.
async fn members(pki: &Pki, agent: &Agent) -> Vec<(String, String, Value)> {
    let (_, v) = get(pki, agent, "/agent/v1/members", &[]).await;
    v["Members"]
        .as_array()
        .map(|ms| {
            ms.iter()
                .map(|m| {
                    (
                        m["NodeName"].as_str().unwrap_or_default().to_owned(),
                        m["State"].as_str().unwrap_or_default().to_owned(),
                        m.clone(),
                    )
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Waits until `agent` sees exactly the nodes `alive` alive (and possibly others down).
async fn until_alive(pki: &Pki, agent: &Agent, alive: &[&str]) {
    let started = Instant::now();
    loop {
        let seen = members(pki, agent).await;
        let mut names: Vec<&str> = seen
            .iter()
            .filter(|m| m.1 == "alive")
            .map(|m| m.0.as_str())
            .collect();
        names.sort();
        names.dedup();
        let mut want = alive.to_vec();
        want.sort();
        if names == want {
            return;
        }
        assert!(
            started.elapsed() < CONVERGE,
            "agent {} sees {seen:?}, not {alive:?}; its log:\n{}",
            agent.addr,
            agent.log()
        );
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

fn names_by_node(list: &Value) -> Vec<(String, String)> {
    list.as_array()
        .expect("a JSON list")
        .iter()
        .map(|c| {
            (
                c["Agent"]["NodeName"]
                    .as_str()
                    .expect("decorated with its node")
                    .to_owned(),
                c["Names"][0]
                    .as_str()
                    .unwrap_or_default()
                    .trim_start_matches('/')
                    .to_owned(),
            )
        })
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn membership_converges_and_lists_merge_every_node_once() {
    let pki = Pki::by_commands();
    let f1 = fake("fake-1", 3, None).await;
    let f2 = fake("fake-2", 4, None).await;
    let real = blocking(|| cluster_agent(&pki, None, None, &[]));
    let seed = real.gossip.expect("gossip address");
    let a1 = blocking(|| cluster_agent(&pki, Some(&f1.docker_host()), Some(seed), &[]));
    let a2 = blocking(|| cluster_agent(&pki, Some(&f2.docker_host()), Some(seed), &[]));
    // A second agent in front of the same fake engine: still one node.
    let a2_twin = blocking(|| cluster_agent(&pki, Some(&f2.docker_host()), Some(seed), &[]));
    let engine = engine_name();
    for agent in [&real, &a1, &a2, &a2_twin] {
        until_alive(&pki, agent, &[&engine, "fake-1", "fake-2"]).await;
    }

    for agent in [&real, &a1, &a2_twin] {
        let (parts, list) = get(&pki, agent, "/v1.41/containers/json?all=1", &[]).await;
        assert_eq!(parts.status, 200);
        assert!(parts.headers.get("x-agent-partial").is_none());
        let items = names_by_node(&list);
        let fake1: Vec<_> = items.iter().filter(|(n, _)| n == "fake-1").collect();
        let fake2: Vec<_> = items.iter().filter(|(n, _)| n == "fake-2").collect();
        assert_eq!(fake1.len(), 3, "{items:?}");
        assert_eq!(
            fake2.len(),
            4,
            "every node once, however many agents front it: {items:?}"
        );
        let mut ids: Vec<&str> = list
            .as_array()
            .expect("list")
            .iter()
            .filter_map(|c| c["Id"].as_str())
            .collect();
        let total = ids.len();
        ids.sort();
        ids.dedup();
        assert_eq!(ids.len(), total, "no container twice");
        for name in f2.container_names() {
            assert!(fake2.iter().any(|(_, n)| *n == name), "{name} from fake-2");
        }
    }
}

// ---------------------------------------------------------------------------------------
// Helpers for the tests below.

/// `METHOD path` through `agent` with the client certificate, an optional JSON body and
/// extra headers; status, headers and the body as JSON (`Null` when it is not JSON).
async fn call(
    pki: &Pki,
    agent: &Agent,
    method: &str,
    path: &str,
    headers: &[(&str, &str)],
    body: Option<&Value>,
) -> (http::response::Parts, Value) {
    let mut sender = connect(pki, agent.addr, true).await;
    let mut builder = request(method, path);
    for (k, v) in headers {
        builder = builder.header(*k, *v);
    }
    let req = match body {
        Some(body) => with_json(builder, body),
        None => empty(builder),
    };
    let (parts, bytes) = roundtrip(&mut sender, req).await;
    (parts, serde_json::from_slice(&bytes).unwrap_or(Value::Null))
}

/// How many requests `fake` received whose method is `method` and whose path (version
/// prefix and query included) contains `part`.
fn asked(fake: &FakeEngine, method: &str, part: &str) -> usize {
    fake.requests()
        .iter()
        .filter(|r| r.method == method && r.path_and_query.contains(part) && !own_sandbox_lookup(r))
        .count()
}

/// The agent's own look for the sandbox containers its checks left, made at start: not a
/// client's request.
fn own_sandbox_lookup(r: &bosun_fake_engine::RecordedRequest) -> bool {
    r.path_and_query.contains("bosun%2Echeck%2Eagent")
}

/// The entry `agent` has for node `name` that is not down, if any.
async fn live_member(pki: &Pki, agent: &Agent, name: &str) -> Option<Value> {
    members(pki, agent)
        .await
        .into_iter()
        .find(|(n, state, _)| n == name && state != "down")
        .map(|(_, _, m)| m)
}

/// Waits until `agent` sees `name` as a manager whose `Leader` is `leader`.
async fn until_manager(pki: &Pki, agent: &Agent, name: &str, leader: bool) {
    eventually(
        &format!("{name} seen as a manager with Leader={leader}"),
        CONVERGE,
        || async {
            match live_member(pki, agent, name).await {
                Some(m) if m["Role"] == "manager" && m["Leader"] == leader => Ok(()),
                other => Err(format!("{other:?}")),
            }
        },
    )
    .await;
}

/// `(node, name)` of every item of a merged container list.
fn sorted_names_by_node(list: &Value) -> Vec<(String, String)> {
    let mut items = names_by_node(list);
    items.sort();
    items
}

/// What a fake node contributes to a merged container list.
fn items_of(fake: &FakeEngine) -> Vec<(String, String)> {
    fake.container_names()
        .into_iter()
        .map(|n| (fake.name(), n))
        .collect()
}

/// Whether `text` names `node` as a word of its own (node names hold `-`, `_` and `.`).
fn names_node(text: &str, node: &str) -> bool {
    text.split(|c: char| !(c.is_alphanumeric() || "-_.".contains(c)))
        .any(|word| word.trim_end_matches('.') == node)
}

fn message(body: &Value) -> &str {
    body["message"].as_str().unwrap_or_default()
}

// ---------------------------------------------------------------------------------------
// Target routing.

#[tokio::test(flavor = "multi_thread")]
async fn a_target_header_runs_the_request_on_that_node_only() {
    let pki = Pki::by_commands();
    let f1 = fake("fake-1", 3, None).await;
    let f2 = fake("fake-2", 4, None).await;
    let a1 = blocking(|| cluster_agent(&pki, Some(&f1.docker_host()), None, &[]));
    let a2 = blocking(|| cluster_agent(&pki, Some(&f2.docker_host()), a1.gossip, &[]));
    for agent in [&a1, &a2] {
        until_alive(&pki, agent, &["fake-1", "fake-2"]).await;
    }

    let fake2_lists = asked(&f2, "GET", "/containers/json");
    for header in ["X-Agent-Target", "X-PortainerAgent-Target"] {
        let (parts, list) = get(
            &pki,
            &a2,
            "/v1.41/containers/json?all=1",
            &[(header, "fake-1")],
        )
        .await;
        assert_eq!(parts.status, 200, "{header}: {list}");
        assert!(parts.headers.get("x-agent-partial").is_none(), "{header}");
        assert_eq!(
            parts.headers.get("x-agent-node").map(|v| v.as_bytes()),
            Some(&b"fake-1"[..]),
            "{header}: the answer names the node that served it"
        );
        let items = list.as_array().expect("a JSON list");
        let mut ids: Vec<&str> = items.iter().filter_map(|c| c["Id"].as_str()).collect();
        ids.sort_unstable();
        let mut want = f1.container_ids();
        want.sort();
        assert_eq!(ids, want, "{header}: exactly fake-1's containers");
        assert!(
            items.iter().all(|c| c.get("Agent").is_none()),
            "{header}: a targeted answer is the engine's own, undecorated: {list}"
        );
    }
    assert_eq!(
        asked(&f2, "GET", "/containers/json"),
        fake2_lists,
        "the engine of the agent asked was not consulted"
    );
    let seen: Vec<_> = f1
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("/containers/json") && !own_sandbox_lookup(r))
        .collect();
    assert_eq!(seen.len(), 2, "one request per targeted call: {seen:?}");
    for r in &seen {
        assert_eq!(
            r.path_and_query, "/v1.41/containers/json?all=1",
            "path verbatim"
        );
        for (name, _) in &r.headers {
            assert!(
                ![
                    "x-agent-target",
                    "x-portaineragent-target",
                    "x-bosun-agent-token",
                    "authorization"
                ]
                .contains(&name.as_str()),
                "{name} reached the engine: {r:?}"
            );
        }
    }

    // The target applies to any request, and may be the agent's own node.
    let (parts, info) = get(&pki, &a2, "/info", &[("X-Agent-Target", "fake-1")]).await;
    assert_eq!(
        (parts.status.as_u16(), info["Name"].as_str()),
        (200, Some("fake-1"))
    );
    let (parts, list) = get(
        &pki,
        &a1,
        "/containers/json?all=1",
        &[("X-Agent-Target", "fake-1")],
    )
    .await;
    assert_eq!(parts.status, 200);
    assert_eq!(list.as_array().map(Vec::len), Some(3), "{list}");

    let (parts, body) = get(
        &pki,
        &a2,
        "/containers/json",
        &[("X-Agent-Target", "no-such-node")],
    )
    .await;
    assert_eq!(parts.status, 404, "{body}");
    assert_eq!(
        header_str(&parts.headers, "content-type"),
        Some("application/json")
    );
    let text = message(&body);
    for name in ["no-such-node", "fake-1", "fake-2"] {
        assert!(names_node(text, name), "the 404 names {name}: {text:?}");
    }
}

// ---------------------------------------------------------------------------------------
// Automatic placement, with the real docker CLI.

#[tokio::test(flavor = "multi_thread")]
async fn the_docker_cli_on_one_node_reaches_a_container_on_another() {
    blocking(ensure_image);
    let pki = Pki::by_commands();
    // A name no other test uses: the real engine is shared by every test process.
    let fake_node = format!("bosun-it-fk-{}", std::process::id());
    let f = fake(&fake_node, 3, None).await;
    let real = blocking(|| cluster_agent(&pki, None, None, &[]));
    let af = blocking(|| cluster_agent(&pki, Some(&f.docker_host()), real.gossip, &[]));
    let engine = engine_name();
    for agent in [&real, &af] {
        until_alive(&pki, agent, &[&engine, &fake_node]).await;
    }

    let name = Name::new("placed");
    let id = name.run(&["sh", "-c", "echo placed-output; sleep 300"]);
    // The CLI talks to the fake node's agent; the container is on the real engine.
    let docker = Docker::new(&af, &pki, Cred::Mtls);
    let logs = eventually("docker logs shows the output", CONVERGE, || async {
        let out = blocking(|| docker.run(&["logs", name.as_str()]));
        let text = String::from_utf8_lossy(&out.stdout).into_owned();
        if out.status.success() && text.contains("placed-output") {
            Ok(text)
        } else {
            Err(format!(
                "{text:?} {:?}",
                String::from_utf8_lossy(&out.stderr)
            ))
        }
    })
    .await;
    assert_eq!(logs.trim(), "placed-output");

    let inspected =
        blocking(|| docker.ok(&["inspect", "--format", "{{.Id}} {{.Name}}", name.as_str()]));
    assert_eq!(inspected.trim(), format!("{id} /{}", name.as_str()));

    let said = blocking(|| docker.ok(&["exec", name.as_str(), "echo", "hi"]));
    assert_eq!(said.trim(), "hi");

    let ps = blocking(|| docker.ok(&["ps", "--format", "{{.Names}}"]));
    let listed: Vec<&str> = ps.lines().map(str::trim).collect();
    assert!(
        listed.contains(&name.as_str()),
        "the real engine's container: {ps}"
    );
    for running in [format!("{fake_node}-c0"), format!("{fake_node}-c1")] {
        assert!(
            listed.contains(&running.as_str()),
            "{running} from the fake node: {ps}"
        );
    }
    let ps_all = blocking(|| docker.ok(&["ps", "-a", "--format", "{{.Names}}"]));
    assert!(
        ps_all
            .lines()
            .any(|l| l.trim() == format!("{fake_node}-c2")),
        "{ps_all}"
    );

    // The same name on two nodes: the agent does not choose.
    let dup = Name(format!("{fake_node}-c0"));
    engine_ok(&["create", "--name", dup.as_str(), IMAGE, "true"]);
    for agent in [&af, &real] {
        let (parts, body) = get(
            &pki,
            agent,
            &format!("/v1.41/containers/{}/json", dup.as_str()),
            &[],
        )
        .await;
        assert_eq!(parts.status, 409, "{body}");
        let text = message(&body);
        assert!(
            names_node(text, &engine) && names_node(text, &fake_node),
            "the 409 names both nodes: {text:?}"
        );
    }
    let err = blocking(|| docker.fails(&["logs", dup.as_str()]));
    assert!(
        names_node(&err, &engine) && names_node(&err, &fake_node),
        "the CLI shows both nodes: {err}"
    );
    let (parts, body) = get(
        &pki,
        &af,
        &format!("/containers/{}/json", dup.as_str()),
        &[("X-Agent-Target", &fake_node)],
    )
    .await;
    assert_eq!(parts.status, 200, "{body}");
    let c0 = f
        .container_names()
        .into_iter()
        .zip(f.container_ids())
        .find(|(n, _)| *n == dup.as_str())
        .map(|(_, id)| id);
    assert_eq!(
        body["Id"].as_str(),
        c0.as_deref(),
        "the fake node's own {}",
        dup.as_str()
    );
}

// ---------------------------------------------------------------------------------------
// Manager operations.

#[tokio::test(flavor = "multi_thread")]
async fn manager_operations_through_a_worker_run_on_the_manager() {
    let pki = Pki::by_commands();
    let w = fake("fake-w", 1, Some(SwarmRole::Worker)).await;
    let m = fake("fake-m", 1, Some(SwarmRole::Manager { leader: true })).await;
    let am = blocking(|| cluster_agent(&pki, Some(&m.docker_host()), None, &[]));
    let aw = blocking(|| cluster_agent(&pki, Some(&w.docker_host()), am.gossip, &[]));
    for agent in [&am, &aw] {
        until_alive(&pki, agent, &["fake-m", "fake-w"]).await;
    }
    until_manager(&pki, &aw, "fake-m", true).await;

    let (parts, list) = call(&pki, &aw, "GET", "/v1.41/services", &[], None).await;
    assert_eq!(parts.status, 200, "{list}");
    assert_eq!(list, serde_json::json!([]));
    assert_eq!(
        asked(&m, "GET", "/v1.41/services"),
        1,
        "the manager answered"
    );

    let service = format!("bosun-it-svc-{}", std::process::id());
    let spec = serde_json::json!({
        "Name": service,
        "TaskTemplate": {"ContainerSpec": {"Image": IMAGE}},
        "Mode": {"Replicated": {"Replicas": 1}},
    });
    let (parts, created) = call(
        &pki,
        &aw,
        "POST",
        "/v1.41/services/create",
        &[],
        Some(&spec),
    )
    .await;
    assert_eq!(parts.status, 201, "{created}");
    assert!(
        created["ID"].as_str().is_some_and(|id| !id.is_empty()),
        "{created}"
    );
    assert_eq!(asked(&m, "POST", "/services/create"), 1);
    let (parts, got) = call(
        &pki,
        &aw,
        "GET",
        &format!("/v1.41/services/{service}"),
        &[],
        None,
    )
    .await;
    assert_eq!(
        (parts.status.as_u16(), &got["Spec"]["Name"]),
        (200, &Value::from(service.clone()))
    );

    let (parts, _) = call(&pki, &aw, "GET", "/_ping", &[], None).await;
    assert_eq!(parts.status, 200);
    assert_eq!(header_str(&parts.headers, "swarm"), Some("active/manager"));
    let (parts, info) = call(&pki, &aw, "GET", "/v1.41/info", &[], None).await;
    assert_eq!(parts.status, 200);
    assert_eq!(info["Name"], "fake-w", "the worker's own info");
    assert_eq!(info["Swarm"]["ControlAvailable"], true, "{info}");
    assert_eq!(info["Swarm"]["Cluster"]["ID"], "fake-cluster", "{info}");

    let docker = Docker::new(&aw, &pki, Cred::Mtls);
    let ls = blocking(|| docker.ok(&["service", "ls", "--format", "{{.Name}}"]));
    assert!(
        ls.lines().any(|l| l.trim() == service),
        "docker service ls: {ls}"
    );

    for part in ["/services", "/tasks", "/swarm"] {
        assert_eq!(
            w.requests()
                .iter()
                .filter(|r| r.path_and_query.contains(part))
                .count(),
            0,
            "the worker's engine got no {part} request: {:?}",
            w.requests()
        );
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_leader_is_followed_and_a_dead_one_passed_over() {
    let pki = Pki::by_commands();
    let m1 = fake("fake-m1", 1, Some(SwarmRole::Manager { leader: true })).await;
    let m2 = fake("fake-m2", 1, Some(SwarmRole::Manager { leader: false })).await;
    let w = fake("fake-w", 1, Some(SwarmRole::Worker)).await;
    let a1 = blocking(|| cluster_agent(&pki, Some(&m1.docker_host()), None, &[]));
    let a2 = blocking(|| cluster_agent(&pki, Some(&m2.docker_host()), a1.gossip, &[]));
    let aw = blocking(|| cluster_agent(&pki, Some(&w.docker_host()), a1.gossip, &[]));
    until_alive(&pki, &aw, &["fake-m1", "fake-m2", "fake-w"]).await;
    until_manager(&pki, &aw, "fake-m1", true).await;
    until_manager(&pki, &aw, "fake-m2", false).await;

    let services = |m: &FakeEngine| asked(m, "GET", "/services");
    let (parts, body) = call(&pki, &aw, "GET", "/services", &[], None).await;
    assert_eq!(parts.status, 200, "{body}");
    assert_eq!((services(&m1), services(&m2)), (1, 0), "the leader answers");

    // Leadership moves: the engines say so, the agents notice and gossip it.
    m1.set_role(Some(SwarmRole::Manager { leader: false }));
    m2.set_role(Some(SwarmRole::Manager { leader: true }));
    until_manager(&pki, &aw, "fake-m2", true).await;
    until_manager(&pki, &aw, "fake-m1", false).await;
    let (parts, body) = call(&pki, &aw, "GET", "/services", &[], None).await;
    assert_eq!(parts.status, 200, "{body}");
    assert_eq!(
        (services(&m1), services(&m2)),
        (1, 1),
        "the new leader answers"
    );

    // The leader's agent dies: the request goes to the other manager at once, before the
    // cluster has even noticed.
    blocking(|| drop(a2));
    let (parts, body) = call(&pki, &aw, "GET", "/services", &[], None).await;
    assert_eq!(parts.status, 200, "{body}");
    assert_eq!(
        (services(&m1), services(&m2)),
        (2, 1),
        "the remaining manager answers"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_leader_whose_engine_is_down_is_passed_over() {
    let pki = Pki::by_commands();
    let m1 = fake("fake-m1", 1, Some(SwarmRole::Manager { leader: true })).await;
    let m2 = fake("fake-m2", 1, Some(SwarmRole::Manager { leader: false })).await;
    let w = fake("fake-w", 1, Some(SwarmRole::Worker)).await;
    let a1 = blocking(|| cluster_agent(&pki, Some(&m1.docker_host()), None, &[]));
    let _a2 = blocking(|| cluster_agent(&pki, Some(&m2.docker_host()), a1.gossip, &[]));
    let aw = blocking(|| cluster_agent(&pki, Some(&w.docker_host()), a1.gossip, &[]));
    until_alive(&pki, &aw, &["fake-m1", "fake-m2", "fake-w"]).await;
    until_manager(&pki, &aw, "fake-m1", true).await;
    until_manager(&pki, &aw, "fake-m2", false).await;

    // The leader's engine dies; its agent lives on. From the first request on, and for as
    // long as the engine stays down (several metadata refreshes), the other manager
    // answers.
    m1.stop();
    let down = Instant::now();
    let mut answered = 0;
    while down.elapsed() < Duration::from_secs(6) {
        let (parts, body) = call(&pki, &aw, "GET", "/services", &[], None).await;
        answered += 1;
        assert_eq!(
            (parts.status.as_u16(), asked(&m2, "GET", "/services")),
            (200, answered),
            "{:?} after the leader's engine went down: {body}",
            down.elapsed()
        );
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

// ---------------------------------------------------------------------------------------
// A node that dies.

#[tokio::test(flavor = "multi_thread")]
async fn a_node_whose_engine_is_down_keeps_its_name() {
    let pki = Pki::by_commands();
    let f1 = fake("fake-1", 3, None).await;
    let f2 = fake("fake-2", 4, None).await;
    let a1 = blocking(|| cluster_agent(&pki, Some(&f1.docker_host()), None, &[]));
    let a2 = blocking(|| cluster_agent(&pki, Some(&f2.docker_host()), a1.gossip, &[]));
    for agent in [&a1, &a2] {
        until_alive(&pki, agent, &["fake-1", "fake-2"]).await;
    }

    // fake-2's engine is down for a while (its agent re-reads it every 2 s): the node is
    // still fake-2, and lists say that fake-2 is missing.
    f2.stop();
    let down = Instant::now();
    while down.elapsed() < Duration::from_secs(6) {
        for agent in [&a1, &a2] {
            let seen = members(&pki, agent).await;
            assert!(
                seen.iter().all(|m| m.0 == "fake-1" || m.0 == "fake-2"),
                "{:?} after the engine of fake-2 went down, agent {} sees {seen:?}",
                down.elapsed(),
                agent.addr
            );
        }
        let (parts, list) = get(&pki, &a1, "/containers/json?all=1", &[]).await;
        assert_eq!(parts.status, 200, "{list}");
        let partial = header_str(&parts.headers, "x-agent-partial").unwrap_or_default();
        assert!(
            partial.starts_with("fake-2: "),
            "{:?} after the engine went down, X-Agent-Partial: {partial:?}",
            down.elapsed()
        );
        assert_eq!(sorted_names_by_node(&list), items_of(&f1));
        let (parts, body) = get(&pki, &a1, "/info", &[("X-Agent-Target", "fake-2")]).await;
        assert_ne!(parts.status, 404, "fake-2 is still a node: {body}");
        tokio::time::sleep(Duration::from_millis(300)).await;
    }

    f2.restart().await.expect("restart fake-2");
    let mut everyone = items_of(&f1);
    everyone.extend(items_of(&f2));
    everyone.sort();
    eventually("fake-2's containers are back", CONVERGE, || async {
        let (parts, list) = get(&pki, &a1, "/containers/json?all=1", &[]).await;
        let partial = header_str(&parts.headers, "x-agent-partial").map(str::to_owned);
        if parts.status == 200 && partial.is_none() && sorted_names_by_node(&list) == everyone {
            Ok(())
        } else {
            Err(format!("{} {partial:?} {list}", parts.status))
        }
    })
    .await;
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_killed_during_a_fan_out_is_left_out_marked_down_and_welcomed_back() {
    let pki = Pki::by_commands();
    let f1 = fake("fake-1", 3, None).await;
    let f2 = fake("fake-2", 4, None).await;
    let slow = fake("fake-slow", 2, None).await;
    let a1 = blocking(|| cluster_agent(&pki, Some(&f1.docker_host()), None, &[]));
    let a2 = blocking(|| cluster_agent(&pki, Some(&f2.docker_host()), a1.gossip, &[]));
    let s = blocking(|| cluster_agent(&pki, Some(&slow.docker_host()), a1.gossip, &[]));
    let all = ["fake-1", "fake-2", "fake-slow"];
    for agent in [&a1, &a2, &s] {
        until_alive(&pki, agent, &all).await;
    }
    let mut survivors = items_of(&f1);
    survivors.extend(items_of(&f2));
    survivors.sort();

    // A fan-out through a1 is waiting on the slow node when that node's agent is killed.
    slow.set_latency(Duration::from_secs(2));
    let lists_before = asked(&slow, "GET", "/containers/json");
    let mut sender = connect(&pki, a1.addr, true).await;
    let in_flight = tokio::spawn(async move {
        roundtrip(
            &mut sender,
            empty(request("GET", "/v1.41/containers/json?all=1")),
        )
        .await
    });
    eventually("the fan-out reaches the slow node", CONVERGE, || async {
        if asked(&slow, "GET", "/containers/json") > lists_before {
            Ok(())
        } else {
            Err("no list request at the slow node yet".to_owned())
        }
    })
    .await;
    assert!(
        !in_flight.is_finished(),
        "the slow node holds the answer back"
    );
    blocking(|| drop(s));
    let killed = Instant::now();
    let (parts, body) = tokio::time::timeout(LIVENESS, in_flight)
        .await
        .expect("the fan-out answers once a node's agent died")
        .expect("the request task");
    assert!(killed.elapsed() < LIVENESS);
    assert_eq!(parts.status, 200, "{}", String::from_utf8_lossy(&body));
    let partial = header_str(&parts.headers, "x-agent-partial").unwrap_or_default();
    assert!(
        partial.contains("fake-slow"),
        "X-Agent-Partial names the dead node: {partial:?}"
    );
    assert!(
        !partial.contains("fake-1") && !partial.contains("fake-2"),
        "{partial:?}"
    );
    assert_eq!(sorted_names_by_node(&json_of(&body)), survivors);
    slow.set_latency(Duration::ZERO);

    // All or nothing: the dead node fails a strict request, whether it is still a member
    // (asked, and failing) or already marked down (not asked, and named as down).
    let dead_is_down = |seen: &[(String, String, Value)]| {
        seen.iter()
            .filter(|m| m.0 == "fake-slow")
            .all(|m| m.1 == "down")
    };
    let (parts, body) = get(
        &pki,
        &a1,
        "/containers/json?all=1",
        &[("X-Agent-Strict", "1")],
    )
    .await;
    assert_eq!(parts.status, 502, "{body}");
    assert!(message(&body).contains("fake-slow"), "{body}");

    for agent in [&a1, &a2] {
        eventually("the dead agent is marked down", CONVERGE, || async {
            let seen = members(&pki, agent).await;
            if dead_is_down(&seen) {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        })
        .await;
    }
    // Marked down, it is named as down.
    let (parts, list) = get(&pki, &a1, "/containers/json?all=1", &[]).await;
    assert_eq!(parts.status, 200, "{list}");
    let partial = header_str(&parts.headers, "x-agent-partial").unwrap_or_default();
    assert!(
        partial.starts_with("fake-slow: node down"),
        "a down node is named: {partial:?}"
    );
    assert_eq!(sorted_names_by_node(&list), survivors);

    // A new agent in front of the same engine joins: the node is back.
    let s2 = blocking(|| cluster_agent(&pki, Some(&slow.docker_host()), a2.gossip, &[]));
    for agent in [&a1, &a2, &s2] {
        until_alive(&pki, agent, &all).await;
    }
    let mut everyone = survivors.clone();
    everyone.extend(items_of(&slow));
    everyone.sort();
    for agent in [&a1, &a2, &s2] {
        let (parts, list) = get(
            &pki,
            agent,
            "/containers/json?all=1",
            &[("X-Agent-Strict", "1")],
        )
        .await;
        assert_eq!(parts.status, 200, "{list}");
        assert_eq!(sorted_names_by_node(&list), everyone);
    }
}

// ---------------------------------------------------------------------------------------
// Security between agents.

/// Not cryptographic: bytes that are no packet of anyone's.
fn noise(len: usize) -> Vec<u8> {
    let mut x = std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_nanos() as u64)
        .unwrap_or(1)
        | 1;
    (0..len)
        .map(|_| {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x as u8
        })
        .collect()
}

async fn gossip_counts(pki: &Pki, agent: &Agent) -> Value {
    let (parts, v) = get(pki, agent, "/agent/v1/members", &[]).await;
    assert_eq!(parts.status, 200, "{v}");
    v["Gossip"].clone()
}

fn count(counts: &Value, key: &str) -> u64 {
    counts[key]
        .as_u64()
        .unwrap_or_else(|| panic!("{key} in {counts}"))
}

/// Who `agent` sees, as `(name, gossip address)`, sorted.
async fn membership(pki: &Pki, agent: &Agent) -> Vec<(String, String)> {
    let mut seen: Vec<_> = members(pki, agent)
        .await
        .into_iter()
        .map(|(name, _, m)| {
            let gossip = m["GossipAddr"].as_str().unwrap_or_default().to_owned();
            (name, gossip)
        })
        .collect();
    seen.sort();
    seen
}

#[tokio::test(flavor = "multi_thread")]
async fn forged_stale_and_malformed_gossip_is_dropped_and_counted() {
    use bosun_agent::cluster::seal::Sealer;
    use bosun_agent::secret::Secret;

    let pki = Pki::by_commands();
    let fa = fake("fake-a", 1, None).await;
    let fb = fake("fake-b", 1, None).await;
    let a = blocking(|| cluster_agent(&pki, Some(&fa.docker_host()), None, &[]));
    let _b = blocking(|| cluster_agent(&pki, Some(&fb.docker_host()), a.gossip, &[]));
    until_alive(&pki, &a, &["fake-a", "fake-b"]).await;
    let gossip = a.gossip.expect("gossip address");
    let view = membership(&pki, &a).await;
    let start = gossip_counts(&pki, &a).await;

    let ours = Sealer::new(&Secret::read(&pki.secret).expect("the cluster secret"));
    let theirs =
        Sealer::new(&Secret::from_text("another cluster's secret, 32 chars+").expect("secret"));
    let now = bosun_agent::auth::now_secs();
    let payload = b"\x01 a member list this agent must never see";
    let mut random = noise(200);
    random[0] = 1; // the version byte, so that it gets as far as the key
    let malformed: Vec<Vec<u8>> = vec![
        b"hello".to_vec(),
        vec![2u8; 100],
        Vec::from(&ours.seal(payload, now)[..30]),
    ];
    let forged: Vec<Vec<u8>> = vec![random, theirs.seal(payload, now), {
        let mut flipped = ours.seal(payload, now);
        let last = flipped.len() - 1;
        flipped[last] ^= 0x80;
        flipped
    }];
    let stale: Vec<Vec<u8>> = vec![ours.seal(payload, now - 600), ours.seal(payload, now + 600)];
    let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
        .await
        .expect("bind");
    for packet in malformed.iter().chain(&forged).chain(&stale) {
        socket.send_to(packet, gossip).await.expect("send");
    }
    let want = [
        ("dropped_malformed", malformed.len() as u64),
        ("dropped_forged", forged.len() as u64),
        ("dropped_stale", stale.len() as u64),
    ];
    let counts = eventually("every bad packet counted", CONVERGE, || async {
        let now = gossip_counts(&pki, &a).await;
        let done = want
            .iter()
            .all(|(key, n)| count(&now, key) >= count(&start, key) + n);
        if done {
            Ok(now)
        } else {
            Err(format!("{start} -> {now}"))
        }
    })
    .await;
    for (key, n) in want {
        assert_eq!(
            count(&counts, key) - count(&start, key),
            n,
            "{key}: {start} -> {counts}"
        );
    }
    assert!(
        count(&counts, "received") >= count(&start, "received") + 8,
        "{counts}"
    );

    // Another cluster's agent tries to join: everything it says is forged here.
    let other = Pki::by_commands();
    let fx = fake("fake-x", 1, None).await;
    let x = blocking(|| cluster_agent(&other, Some(&fx.docker_host()), a.gossip, &[]));
    eventually("the other cluster's packets dropped", CONVERGE, || async {
        let now = gossip_counts(&pki, &a).await;
        if count(&now, "dropped_forged") > count(&counts, "dropped_forged") {
            Ok(())
        } else {
            Err(format!("{now}"))
        }
    })
    .await;
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_eq!(
        membership(&pki, &a).await,
        view,
        "the membership is unchanged"
    );
    let x_sees: Vec<String> = members(&other, &x).await.into_iter().map(|m| m.0).collect();
    assert_eq!(
        x_sees,
        ["fake-x"],
        "nor did the other cluster learn of this one"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn a_request_with_a_bad_agent_token_is_refused_before_the_engine() {
    use bosun_agent::auth::{Credential, Identity};
    use bosun_agent::cluster::token::{AgentTokens, Bound};
    use bosun_agent::secret::Secret;

    let pki = Pki::by_commands();
    let fa = fake("fake-a", 3, None).await;
    let a = blocking(|| cluster_agent(&pki, Some(&fa.docker_host()), None, &[]));
    let secret = Secret::read(&pki.secret).expect("the cluster secret");
    let admin = Identity {
        subject: "intruder".into(),
        profile: "admin".into(),
        credential: Credential::Token,
    };
    let get = http::Method::GET;
    let bound = |path: &'static str| Bound {
        node: "fake-a",
        method: &get,
        path_and_query: path,
    };
    let other = Secret::from_text("another cluster's secret, 32 chars+").expect("secret");
    let foreign = AgentTokens::new(&other)
        .mint(
            &admin,
            "fake-x",
            bound("/v1.41/containers/json?all=1&probe=another-secret"),
        )
        .expect("mint");
    // Minted by this cluster, but for another request: replayed, it is refused.
    let replayed = AgentTokens::new(&secret)
        .mint(&admin, "fake-x", bound("/v1.41/containers/json?all=1"))
        .expect("mint");
    let expired = {
        let now = bosun_agent::auth::now_secs();
        let claims = serde_json::json!({
            "sub": "intruder", "scope": "admin", "aud": "bosun-agent", "iss": "fake-x",
            "iat": now - 7200, "exp": now - 3600,
        });
        jsonwebtoken::encode(
            &jsonwebtoken::Header::new(jsonwebtoken::Algorithm::HS256),
            &claims,
            &jsonwebtoken::EncodingKey::from_secret(&secret.derive("agent-token")),
        )
        .expect("encode")
    };
    let client_token = blocking(|| pki.token("tester", "admin"));
    let bad = [
        ("garbage", "garbage".to_owned(), false),
        ("another-secret", foreign, false),
        ("expired", expired, false),
        ("client-token", client_token, false),
        ("replayed", replayed, false),
        ("garbage-with-cert", "garbage".to_owned(), true),
    ];
    let victim = fa.container_ids()[0].clone();
    for (what, token, with_cert) in &bad {
        for (method, path) in [
            ("GET", format!("/v1.41/containers/json?all=1&probe={what}")),
            (
                "POST",
                format!("/v1.41/containers/{victim}/stop?probe={what}"),
            ),
        ] {
            let mut sender = connect(&pki, a.addr, *with_cert).await;
            let req = empty(request(method, &path).header("X-Bosun-Agent-Token", token.as_str()));
            let (parts, body) = roundtrip(&mut sender, req).await;
            assert_eq!(
                parts.status,
                401,
                "{what}: {method} {path}: {}",
                String::from_utf8_lossy(&body)
            );
        }
    }
    let leaked: Vec<_> = fa
        .requests()
        .into_iter()
        .filter(|r| r.path_and_query.contains("probe="))
        .collect();
    assert!(
        leaked.is_empty(),
        "the engine saw refused requests: {leaked:?}"
    );

    // The control: a token from this cluster's secret is accepted, and reaches the engine.
    let good = AgentTokens::new(&secret)
        .mint(
            &admin,
            "fake-b",
            bound("/v1.41/containers/json?all=1&probe=good"),
        )
        .expect("mint");
    let mut sender = connect(&pki, a.addr, false).await;
    let req = empty(
        request("GET", "/v1.41/containers/json?all=1&probe=good")
            .header("X-Bosun-Agent-Token", good.as_str()),
    );
    let (parts, body) = roundtrip(&mut sender, req).await;
    assert_eq!(parts.status, 200, "{}", String::from_utf8_lossy(&body));
    assert_eq!(asked(&fa, "GET", "probe=good"), 1);
    assert!(
        fa.requests()
            .iter()
            .all(|r| r.headers.iter().all(|(k, _)| k != "x-bosun-agent-token")),
        "the agent token never reaches the engine"
    );
}

// ---------------------------------------------------------------------------------------
// DNS discovery.

/// A DNS server on `127.0.0.1` answering A queries for `tasks.agent.` from a list the test
/// changes, and counting the queries it gets.
struct DnsServer {
    addr: SocketAddr,
    listed: std::sync::Arc<std::sync::Mutex<Vec<std::net::Ipv4Addr>>>,
    queries: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: tokio::task::JoinHandle<()>,
}

const CLUSTER_NAME: &str = "tasks.agent";

impl DnsServer {
    async fn start(listed: &[std::net::Ipv4Addr]) -> Self {
        let socket = tokio::net::UdpSocket::bind("127.0.0.1:0")
            .await
            .expect("bind DNS");
        let addr = socket.local_addr().expect("DNS address");
        let listed = std::sync::Arc::new(std::sync::Mutex::new(listed.to_vec()));
        let queries = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let (list, count) = (listed.clone(), queries.clone());
        let task = tokio::spawn(async move {
            let mut buf = [0u8; 1500];
            loop {
                let Ok((len, from)) = socket.recv_from(&mut buf).await else {
                    continue;
                };
                let ips = list.lock().unwrap_or_else(|p| p.into_inner()).clone();
                if let Some(answer) = dns_answer(&buf[..len], &ips) {
                    count.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                    let _ = socket.send_to(&answer, from).await;
                }
            }
        });
        Self {
            addr,
            listed,
            queries,
            task,
        }
    }

    fn set(&self, ips: &[std::net::Ipv4Addr]) {
        *self.listed.lock().unwrap_or_else(|p| p.into_inner()) = ips.to_vec();
    }

    fn queries(&self) -> usize {
        self.queries.load(std::sync::atomic::Ordering::Relaxed)
    }
}

impl Drop for DnsServer {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// The answer to one query: the header's id, the question copied, flags `0x8180`, and for
/// `tasks.agent.` A records (TTL 600, as Docker's DNS) of `ips`; other names NXDOMAIN.
/// The query's additional records (EDNS) are ignored.
fn dns_answer(query: &[u8], ips: &[std::net::Ipv4Addr]) -> Option<Vec<u8>> {
    if query.len() < 12 || u16::from_be_bytes([query[4], query[5]]) != 1 {
        return None;
    }
    let mut at = 12;
    let mut labels = Vec::new();
    loop {
        let len = usize::from(*query.get(at)?);
        at += 1;
        if len == 0 {
            break;
        }
        if len & 0xC0 != 0 {
            return None;
        }
        labels.push(String::from_utf8_lossy(query.get(at..at + len)?).to_ascii_lowercase());
        at += len;
    }
    let question = query.get(12..at + 4)?;
    let qtype = u16::from_be_bytes([query[at], query[at + 1]]);
    let ours = labels.join(".") == CLUSTER_NAME;
    let answers: &[std::net::Ipv4Addr] = if ours && qtype == 1 { ips } else { &[] };
    let mut out = Vec::with_capacity(512);
    out.extend_from_slice(&query[..2]);
    out.extend_from_slice(&[0x81, if ours { 0x80 } else { 0x83 }]);
    out.extend_from_slice(&1u16.to_be_bytes());
    out.extend_from_slice(&(answers.len() as u16).to_be_bytes());
    out.extend_from_slice(&[0, 0, 0, 0]);
    out.extend_from_slice(question);
    for ip in answers {
        out.extend_from_slice(&[0xC0, 12, 0, 1, 0, 1]);
        out.extend_from_slice(&600u32.to_be_bytes());
        out.extend_from_slice(&4u16.to_be_bytes());
        out.extend_from_slice(&ip.octets());
    }
    Some(out)
}

/// A UDP port free on both addresses.
fn free_port_on(ips: &[&str]) -> u16 {
    for _ in 0..50 {
        let first = std::net::UdpSocket::bind((ips[0], 0)).expect("bind");
        let port = first.local_addr().expect("address").port();
        if ips[1..]
            .iter()
            .all(|ip| std::net::UdpSocket::bind((*ip, port)).is_ok())
        {
            return port;
        }
    }
    panic!("no UDP port free on {ips:?}");
}

#[tokio::test(flavor = "multi_thread")]
async fn dns_discovery_finds_a_peer_that_is_listed_only_later() {
    use std::net::Ipv4Addr;

    let pki = Pki::by_commands();
    let fa = fake("fake-a", 2, None).await;
    let fb = fake("fake-b", 3, None).await;
    let (ip_a, ip_b) = (Ipv4Addr::new(127, 0, 0, 2), Ipv4Addr::new(127, 0, 0, 3));
    // Each agent asks its own server, so that at first each is listed only to itself: B
    // cannot find A, and A finds B only by looking up the name again later.
    let dns_a = DnsServer::start(&[ip_a]).await;
    let dns_b = DnsServer::start(&[ip_b]).await;
    let port = free_port_on(&["127.0.0.2", "127.0.0.3"]);
    let start = |ip: Ipv4Addr, dns: SocketAddr, engine: &FakeEngine| {
        let mut args = pki.run_args();
        args.extend([
            "--docker-host".into(),
            engine.docker_host(),
            "--gossip-listen".into(),
            format!("{ip}:{port}"),
            "--cluster-addr".into(),
            CLUSTER_NAME.into(),
            "--dns-server".into(),
            dns.to_string(),
            "--discovery-interval".into(),
            "500ms".into(),
            "--fanout-deadline".into(),
            "3s".into(),
        ]);
        blocking(|| Agent::start_listening(&format!("{ip}:0"), &args))
    };
    let a = start(ip_a, dns_a.addr, &fa);
    let b = start(ip_b, dns_b.addr, &fb);
    assert_eq!(a.gossip, Some(SocketAddr::from((ip_a, port))));
    assert_eq!(b.addr.ip(), std::net::IpAddr::from(ip_b));

    // Several look-ups each, and still apart.
    let (qa, qb) = (dns_a.queries(), dns_b.queries());
    eventually(
        "both agents look the name up again and again",
        CONVERGE,
        || async {
            if dns_a.queries() >= qa + 3 && dns_b.queries() >= qb + 3 {
                Ok(())
            } else {
                Err(format!(
                    "queries: a {}, b {}",
                    dns_a.queries(),
                    dns_b.queries()
                ))
            }
        },
    )
    .await;
    for (agent, me) in [(&a, "fake-a"), (&b, "fake-b")] {
        let seen: Vec<String> = members(&pki, agent)
            .await
            .into_iter()
            .map(|m| m.0)
            .collect();
        assert_eq!(seen, [me], "not listed, not found");
    }

    // B's address appears under the name: A finds it at its next look-up.
    dns_a.set(&[ip_a, ip_b]);
    for agent in [&a, &b] {
        until_alive(&pki, agent, &["fake-a", "fake-b"]).await;
    }
    let seen_by_a = live_member(&pki, &a, "fake-b").await.expect("fake-b");
    assert_eq!(seen_by_a["GossipAddr"], format!("{ip_b}:{port}"));
    assert_eq!(seen_by_a["ApiAddr"], b.addr.to_string());
    let seen_by_b = live_member(&pki, &b, "fake-a").await.expect("fake-a");
    assert_eq!(seen_by_b["GossipAddr"], format!("{ip_a}:{port}"));

    // And requests cross between the two addresses.
    let mut want = items_of(&fa);
    want.extend(items_of(&fb));
    want.sort();
    for agent in [&a, &b] {
        let (parts, list) = get(
            &pki,
            agent,
            "/containers/json?all=1",
            &[("X-Agent-Strict", "1")],
        )
        .await;
        assert_eq!(parts.status, 200, "{list}");
        assert_eq!(sorted_names_by_node(&list), want);
    }
}

#[tokio::test(flavor = "multi_thread")]
async fn every_list_kind_merges_and_events_stream_from_every_node() {
    let pki = Pki::by_commands();
    let manager = Some(SwarmRole::Manager { leader: true });
    let f1 = fake("merge-1", 2, manager).await;
    let f2 = fake("merge-2", 2, Some(SwarmRole::Worker)).await;
    let a1 = blocking(|| cluster_agent(&pki, Some(&f1.docker_host()), None, &[]));
    let a2 = blocking(|| cluster_agent(&pki, Some(&f2.docker_host()), a1.gossip, &[]));
    until_alive(&pki, &a1, &["merge-1", "merge-2"]).await;
    until_alive(&pki, &a2, &["merge-1", "merge-2"]).await;

    let nodes_of = |items: &Value| -> Vec<String> {
        let mut nodes: Vec<String> = items
            .as_array()
            .expect("a list")
            .iter()
            .map(|i| {
                i["Agent"]["NodeName"]
                    .as_str()
                    .expect("decorated")
                    .to_owned()
            })
            .collect();
        nodes.sort();
        nodes
    };
    let (_, images) = get(&pki, &a2, "/images/json", &[]).await;
    assert_eq!(
        nodes_of(&images),
        ["merge-1", "merge-1", "merge-2", "merge-2"]
    );
    let shared = images
        .as_array()
        .expect("list")
        .iter()
        .filter(|i| i["Id"] == bosun_fake_engine::SHARED_IMAGE_ID)
        .count();
    assert_eq!(shared, 2, "the same image on two nodes is two items");

    let (_, volumes) = get(&pki, &a2, "/volumes", &[]).await;
    assert_eq!(nodes_of(&volumes["Volumes"]), ["merge-1", "merge-2"]);

    let (_, networks) = get(&pki, &a2, "/networks", &[]).await;
    let list = networks.as_array().expect("list");
    let swarm: Vec<&Value> = list.iter().filter(|n| n["Scope"] == "swarm").collect();
    assert_eq!(swarm.len(), 1, "a swarm-scoped network once: {networks}");
    let bridges = list.iter().filter(|n| n["Name"] == "bridge").count();
    assert_eq!(bridges, 2, "a local network per node");

    let (_, df) = get(&pki, &a2, "/system/df", &[]).await;
    let (_, df1) = get(&pki, &a2, "/system/df", &[("X-Agent-Target", "merge-1")]).await;
    let (_, df2) = get(&pki, &a2, "/system/df", &[("X-Agent-Target", "merge-2")]).await;
    assert_eq!(
        df["LayersSize"].as_u64(),
        Some(df1["LayersSize"].as_u64().expect("n") + df2["LayersSize"].as_u64().expect("n"))
    );

    // A merged live stream: an event on each node arrives, decorated with its node.
    let mut sender = connect(&pki, a2.addr, true).await;
    let resp = send(&mut sender, empty(request("GET", "/v1.41/events"))).await;
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "application/json");
    let mut body = resp.into_body();
    for (engine, id) in [(&f1, "event-from-1"), (&f2, "event-from-2")] {
        engine.emit_event(serde_json::json!({
            "Type": "container", "Action": "start", "status": "start", "id": id,
            "Actor": {"ID": id, "Attributes": {"name": id}}, "time": 1, "timeNano": 1
        }));
    }
    let mut seen = Vec::new();
    let mut pending = Vec::new();
    while seen.len() < 2 {
        use http_body_util::BodyExt;
        let frame = tokio::time::timeout(CONVERGE, body.frame())
            .await
            .expect("events within the liveness bound")
            .expect("the stream stays open")
            .expect("a frame");
        pending.extend_from_slice(&frame.into_data().unwrap_or_default());
        while let Some(end) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=end).collect();
            let event: Value = serde_json::from_slice(&line).expect("one JSON event per line");
            seen.push((
                event["id"].as_str().unwrap_or_default().to_owned(),
                event["Agent"]["NodeName"]
                    .as_str()
                    .unwrap_or_default()
                    .to_owned(),
            ));
        }
    }
    seen.sort();
    assert_eq!(
        seen,
        [
            ("event-from-1".to_owned(), "merge-1".to_owned()),
            ("event-from-2".to_owned(), "merge-2".to_owned())
        ]
    );
}

/// Usage through any agent: `/agent/v1/metrics?scope=cluster` names every node's samples,
/// and `/metrics?scope=cluster` is one exposition with each node's series, each family
/// described once; a node whose agent stops is named missing.
#[tokio::test(flavor = "multi_thread")]
async fn every_nodes_usage_comes_from_any_agent() {
    let pki = Pki::by_commands();
    let f1 = fake("usage-1", 2, None).await;
    let fast = ["--metrics-interval", "1s"];
    let real = blocking(|| cluster_agent(&pki, None, None, &fast));
    let seed = real.gossip.expect("gossip address");
    let mut a1 = blocking(|| cluster_agent(&pki, Some(&f1.docker_host()), Some(seed), &fast));
    let engine = engine_name();
    until_alive(&pki, &real, &[&engine, "usage-1"]).await;

    let nodes = eventually("both nodes' samples", CONVERGE, || async {
        let (parts, v) = get(&pki, &real, "/agent/v1/metrics?scope=cluster&since=0", &[]).await;
        let mut names: Vec<String> = v["nodes"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|n| n["samples"].as_array().is_some_and(|s| !s.is_empty()))
            .filter_map(|n| n["node"].as_str().map(str::to_owned))
            .collect();
        names.sort();
        let mut want = vec![engine.clone(), "usage-1".to_owned()];
        want.sort();
        if parts.status == 200 && names == want && v["missing"] == serde_json::json!([]) {
            Ok(v)
        } else {
            Err(format!("{} {v}", parts.status))
        }
    })
    .await;
    for node in nodes["nodes"].as_array().expect("nodes") {
        assert_eq!(node["interval_secs"], 1);
        assert!(
            node["samples"][0]["host"]["memory"]["total"]
                .as_u64()
                .unwrap_or(0)
                > 0
        );
    }

    let mut sender = connect(&pki, real.addr, true).await;
    let (parts, body) =
        roundtrip(&mut sender, empty(request("GET", "/metrics?scope=cluster"))).await;
    assert_eq!(parts.status, 200);
    assert!(header_str(&parts.headers, "content-type")
        .is_some_and(|t| t.starts_with("application/openmetrics-text")));
    let text = String::from_utf8_lossy(&body);
    assert!(text.ends_with("# EOF\n"));
    assert_eq!(
        text.matches("# TYPE bosun_host_memory_bytes gauge").count(),
        1,
        "{text}"
    );
    for node in [engine.as_str(), "usage-1"] {
        assert!(
            text.contains(&format!(
                "bosun_host_memory_bytes{{node=\"{node}\",kind=\"total\"}}"
            )),
            "{node}'s series in {text}"
        );
    }

    a1.terminate();
    let _ = a1.wait_exit(Duration::from_secs(10));
    let missing = eventually("the stopped node named missing", CONVERGE, || async {
        let (parts, v) = get(&pki, &real, "/agent/v1/metrics?scope=cluster", &[]).await;
        let partial = header_str(&parts.headers, "x-agent-partial").map(str::to_owned);
        match (v["missing"][0]["node"].as_str(), partial) {
            (Some("usage-1"), Some(p)) if p.contains("usage-1") => Ok(v),
            _ => Err(v.to_string()),
        }
    })
    .await;
    assert_eq!(missing["nodes"].as_array().map(Vec::len), Some(1));
}
