//! End to end on real Swarms: the agent's image, built FROM scratch by
//! `scripts/build-image.sh`, deployed with `stack/portainer-agent.yml`, and the docker CLI
//! pointed at a node's published port. The Swarms are made of Docker engines running in
//! containers on this machine ([`Node`], from the image `scripts/build-node-image.sh`
//! builds with debootstrap), so that this machine's own engine never goes through
//! `swarm init` and `leave`:
//!
//! - a single-node Swarm;
//! - a Swarm of three (one manager, two workers).
//!
//! Both put several engines' worth of load on this machine, so `.config/nextest.toml` runs
//! them alone.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use http::HeaderMap;
use serde_json::Value;

use bosun_testkit::https;

use crate::harness::{
    engine, ensure_image, ok, repo_root, wait_for, AgentCommands, Docker, Images, Node, Pki, IMAGE,
};

const AGENT_IMAGE: &str = "bosun-agent:latest";

/// Steps that undo what a test made, run last-first when dropped, failed or not.
#[derive(Default)]
struct Undo(Vec<(String, Box<dyn FnOnce()>)>);

impl Undo {
    fn push(&mut self, what: impl Into<String>, step: impl FnOnce() + 'static) {
        self.0.push((what.into(), Box::new(step)));
    }

    fn run(&mut self) {
        while let Some((what, step)) = self.0.pop() {
            eprintln!("cleanup: {what}");
            step();
        }
    }
}

impl Drop for Undo {
    fn drop(&mut self) {
        self.run();
    }
}

fn run_ok(cmd: &mut Command, what: &str) -> String {
    let out = cmd.output().unwrap_or_else(|e| panic!("{what}: {e}"));
    ok(out, what).trim().to_owned()
}

fn stdout(out: &Output) -> String {
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// Builds the agent's image with the project's script, once per test process and one
/// process at a time.
fn build_agent_image() {
    ensure_image();
    let script = repo_root().join("scripts/build-image.sh");
    let out = run_ok(
        Command::new("flock")
            .arg("/tmp/bosun-agent-image.lock")
            .arg(&script),
        "scripts/build-image.sh",
    );
    eprintln!("{out}");
}

/// A GET to an agent over mTLS, from a fresh runtime: the answer's headers and JSON body.
fn agent_get(pki: &Pki, addr: SocketAddr, path: &str) -> Result<(HeaderMap, Value), String> {
    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| e.to_string())?;
    runtime.block_on(async {
        let tls = tokio::time::timeout(https::LIVENESS, https::tls_stream(pki, addr, true))
            .await
            .map_err(|_| format!("{addr}: no TLS handshake within {:?}", https::LIVENESS))?
            .map_err(|e| format!("{addr}: {e}"))?;
        let mut sender = https::handshake(tls).await;
        let (parts, body) =
            https::roundtrip(&mut sender, https::empty(https::request("GET", path))).await;
        if !parts.status.is_success() {
            return Err(format!(
                "GET {path}: {} {}",
                parts.status,
                String::from_utf8_lossy(&body)
            ));
        }
        let value = serde_json::from_slice(&body).map_err(|e| format!("GET {path}: {e}"))?;
        Ok((parts.headers, value))
    })
}

/// The node names of the items of a merged `/containers/json`.
fn nodes_of(items: &Value) -> Vec<String> {
    let mut nodes: Vec<String> = items
        .as_array()
        .map(|a| {
            a.iter()
                .filter_map(|c| c["Agent"]["NodeName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default();
    nodes.sort();
    nodes.dedup();
    nodes
}

/// `(node name, state)` of every member an agent knows, itself included.
fn members(pki: &Pki, addr: SocketAddr) -> Result<Vec<(String, String)>, String> {
    let (_, body) = agent_get(pki, addr, "/agent/v1/members")?;
    Ok(body["Members"]
        .as_array()
        .ok_or("no Members")?
        .iter()
        .map(|m| {
            (
                m["NodeName"].as_str().unwrap_or_default().to_owned(),
                m["State"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect())
}

fn is_alive(members: &[(String, String)], node: &str) -> bool {
    members.iter().any(|(n, s)| n == node && s == "alive")
}

/// The environment `docker stack deploy` interpolates into the stack file.
fn stack_env(prefix: &str, published_port: u16, fanout_deadline: &str) -> Vec<(String, String)> {
    vec![
        ("AGENT_IMAGE".into(), AGENT_IMAGE.into()),
        ("AGENT_PUBLISHED_PORT".into(), published_port.to_string()),
        ("AGENT_FANOUT_DEADLINE".into(), fanout_deadline.into()),
        ("BOSUN_SECRET_NAME".into(), format!("{prefix}secret")),
        ("BOSUN_CA_NAME".into(), format!("{prefix}ca")),
        ("BOSUN_CA_KEY_NAME".into(), format!("{prefix}ca_key")),
    ]
}

fn stack_file() -> PathBuf {
    repo_root().join("stack/portainer-agent.yml")
}

/// The application the single-node test deploys through the agent: next to this file.
fn app_stack_file() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/integration/swarm/app-stack.yml")
}

fn path_str(p: &Path) -> &str {
    p.to_str().expect("utf-8 path")
}

/// On one engine in a container made a single-node Swarm: deploy the stack, and use the
/// agent it runs through the port it publishes with the docker CLI.
#[test]
fn single_node_swarm_serves_the_docker_cli_through_the_published_port() {
    build_agent_image();
    let pki = Pki::by_commands();
    let tag = format!("bosun-e2e-{}", std::process::id());
    let node = Node::start(&format!("{tag}-single"), "bosun-single", None);
    node.load(&Images::save(&[AGENT_IMAGE, IMAGE]));
    node.swarm_init();

    // The cluster's credentials as Docker secrets, under names of the operator's choice,
    // and the agent on a port of theirs.
    let prefix = "cluster1_";
    create_secrets(&node, &pki, prefix);
    let port = 9443;
    deploy_agents(&node, prefix, port, "10s");

    let service = "agent_agent";
    let agent_container = wait_for("the agent's task healthy", Duration::from_secs(90), || {
        let out = node.run(&[
            "ps",
            "--filter",
            &format!("label=com.docker.swarm.service.name={service}"),
            "--format",
            "{{.ID}} {{.Status}}",
        ]);
        let line = stdout(&out);
        match line.split_once(' ') {
            Some((id, status)) if status.contains("(healthy)") => Ok(id.to_owned()),
            _ => Err(format!(
                "{line:?}; logs: {}",
                stdout(&node.run(&["service", "logs", "--raw", service]))
            )),
        }
    });

    // Through the published port, as a client outside the Swarm would.
    let docker = Docker::at(&format!("tcp://{}:{port}", node.ip()), &pki.client, None);
    let addr = SocketAddr::new(node.ip(), port);
    wait_for(
        "the agent answering on the published port",
        Duration::from_secs(30),
        || {
            let out = docker.run(&["version", "--format", "{{.Server.Version}}"]);
            if out.status.success() {
                Ok(())
            } else {
                Err(String::from_utf8_lossy(&out.stderr).into_owned())
            }
        },
    );

    // ps: the engine's containers, each decorated with its node.
    let ids = docker.ok(&["ps", "-q", "--no-trunc"]);
    assert!(
        ids.contains(&agent_container),
        "docker ps through the agent lists the agent's own task: {ids}"
    );
    let (_, items) = agent_get(&pki, addr, "/containers/json").expect("GET /containers/json");
    assert!(!items.as_array().expect("a list").is_empty());
    assert!(
        items
            .as_array()
            .expect("a list")
            .iter()
            .all(|c| c["Agent"]["NodeName"] == node.hostname()),
        "every item names node {}: {items}",
        node.hostname()
    );

    // A service made and listed through the agent.
    let svc = "e2e-svc";
    docker.ok(&[
        "service", "create", "--detach", "--name", svc, IMAGE, "sleep", "3600",
    ]);
    let listed = docker.ok(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(
        listed.lines().any(|l| l == svc),
        "service ls through the agent: {listed}"
    );
    assert!(
        listed.lines().any(|l| l == service),
        "the agent's own service is listed: {listed}"
    );

    // A stack deployed through the agent; logs and exec on its task.
    let app = "app";
    docker.ok(&[
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        path_str(&app_stack_file()),
        app,
    ]);
    let task = wait_for(
        "the app stack's task running",
        Duration::from_secs(60),
        || {
            let ids = docker.ok(&[
                "ps",
                "-q",
                "--filter",
                &format!("label=com.docker.stack.namespace={app}"),
            ]);
            ids.lines()
                .next()
                .map(str::to_owned)
                .ok_or_else(|| "no task yet".to_owned())
        },
    );
    let logs = wait_for("the app's first log line", Duration::from_secs(30), || {
        let logs = docker.ok(&["logs", &task]);
        if logs.contains("app-started on") {
            Ok(logs)
        } else {
            Err(logs)
        }
    });
    assert!(
        logs.contains(&task[..12]),
        "the task logged its hostname: {logs}"
    );
    let said = docker.ok(&["exec", &task, "echo", "exec-ok"]);
    assert_eq!(said.trim(), "exec-ok");
    let stacks = docker.ok(&["stack", "ls", "--format", "{{.Name}}"]);
    assert!(
        stacks.lines().any(|l| l == app),
        "stack ls through the agent: {stacks}"
    );
}

/// `docker stack deploy` of `stack/portainer-agent.yml` as the stack `agent` on `node`, a
/// manager, with this machine's CLI: the agents' image, the secrets `PREFIX*`, the port they
/// publish and their fan-out deadline.
fn deploy_agents(node: &Node, prefix: &str, published_port: u16, fanout_deadline: &str) {
    let deployed = node
        .command()
        .args(["stack", "deploy", "--resolve-image", "never", "-c"])
        .arg(stack_file())
        .arg("agent")
        .envs(stack_env(prefix, published_port, fanout_deadline))
        .output()
        .expect("docker stack deploy");
    ok(
        deployed,
        &format!(
            "docker stack deploy of stack/portainer-agent.yml on {}",
            node.hostname()
        ),
    );
}

/// The cluster's secret and CA as the Docker secrets the stack names `PREFIXsecret`,
/// `PREFIXca` and `PREFIXca_key`, on `node`'s Swarm.
fn create_secrets(node: &Node, pki: &Pki, prefix: &str) {
    for (name, file) in [
        ("secret", pki.secret.clone()),
        ("ca", pki.ca_dir.join("ca.pem")),
        ("ca_key", pki.ca_dir.join("ca-key.pem")),
    ] {
        node.docker(&[
            "secret",
            "create",
            &format!("{prefix}{name}"),
            path_str(&file),
        ]);
    }
}

/// A bridge network for the nodes with a subnet of its own, so that nodes keep their
/// addresses across a restart.
fn node_network(name: &str, undo: &mut Undo) -> [u8; 3] {
    let start = (std::process::id() % 200) as u8;
    for i in 0..50u8 {
        let third = 10 + start.wrapping_add(i) % 240;
        let subnet = format!("10.241.{third}.0/24");
        if engine(&["network", "create", "--subnet", &subnet, name])
            .status
            .success()
        {
            let net = name.to_owned();
            undo.push(format!("remove network {net}"), move || {
                let _ = engine(&["network", "rm", &net]);
            });
            return [10, 241, third];
        }
    }
    panic!("no free subnet in 10.241.0.0/16 for the nodes' network");
}

/// Three engines in containers, one manager and two workers, with the agent's stack
/// deployed: through a worker's agent, the whole cluster; a node stopped and started.
#[test]
fn multi_node_swarm_of_engines_in_containers() {
    build_agent_image();
    let pki = Pki::by_commands();
    let mut undo = Undo::default();
    let tag = format!("bosun-e2e-{}", std::process::id());
    let network = format!("{tag}-net");
    let net = node_network(&network, &mut undo);

    // Dropped before `undo`, which removes their network.
    let images = Images::save(&[AGENT_IMAGE, IMAGE]);
    let nodes: Vec<Node> = (1..=3)
        .map(|i| {
            let ip = IpAddr::from([net[0], net[1], net[2], 10 + i]);
            let node = Node::start(
                &format!("{tag}-n{i}"),
                &format!("bosun-n{i}"),
                Some((&network, ip)),
            );
            node.load(&images);
            node
        })
        .collect();

    // The Swarm: n1 manages, n2 and n3 work.
    let (manager, workers) = nodes.split_first().expect("three nodes");
    manager.swarm_init();
    let token = manager.docker(&["swarm", "join-token", "-q", "worker"]);
    for worker in workers {
        worker.docker(&[
            "swarm",
            "join",
            "--token",
            &token,
            &format!("{}:2377", manager.ip()),
        ]);
    }

    // The credentials and the stack, deployed on the manager as an operator would.
    create_secrets(manager, &pki, "bosun_");
    deploy_agents(manager, "bosun_", 9001, "4s");

    // Everything below goes through the second node's agent: a worker.
    let worker = &workers[0];
    let addr = SocketAddr::new(worker.ip(), 9001);
    let names: Vec<String> = nodes.iter().map(|n| n.hostname().to_owned()).collect();
    wait_for(
        "every agent alive in the worker's view",
        Duration::from_secs(120),
        || {
            let seen = members(&pki, addr)?;
            if names.iter().all(|n| is_alive(&seen, n)) {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    );
    let docker = Docker::at(&format!("tcp://{}:9001", worker.ip()), &pki.client, None);

    // A container on every node, started on each node's own engine.
    for node in &nodes {
        node.docker(&[
            "run",
            "-d",
            "--name",
            &format!("app-{}", node.hostname()),
            IMAGE,
            "sh",
            "-c",
            "echo hello from $(hostname); while true; do sleep 1; done",
        ]);
    }
    let listed = docker.ok(&["ps", "--format", "{{.Names}}"]);
    for node in &nodes {
        assert!(
            listed
                .lines()
                .any(|l| l == format!("app-{}", node.hostname())),
            "one docker ps through a worker lists every node's containers: {listed}"
        );
    }
    let (headers, items) = agent_get(&pki, addr, "/containers/json").expect("GET /containers/json");
    assert_eq!(nodes_of(&items), names, "items decorated with every node");
    assert!(
        headers.get("x-agent-partial").is_none(),
        "no node missing: {headers:?}"
    );

    // logs and exec on containers of other nodes.
    let n1_app = format!("app-{}", manager.hostname());
    let n3_app = format!("app-{}", workers[1].hostname());
    let n1_host = manager.docker(&["inspect", "--format", "{{.Config.Hostname}}", &n1_app]);
    let expected = format!("hello from {n1_host}");
    wait_for(
        "the manager's container's log",
        Duration::from_secs(20),
        || {
            let logs = docker.ok(&["logs", &n1_app]);
            if logs.contains(&expected) {
                Ok(())
            } else {
                Err(logs)
            }
        },
    );
    let inside = docker.ok(&["exec", &n3_app, "cat", "/etc/hostname"]);
    let direct = workers[1].docker(&["exec", &n3_app, "cat", "/etc/hostname"]);
    assert_eq!(
        inside.trim(),
        direct.trim(),
        "exec ran on the third node's container"
    );

    // A service, created through a worker: the agent sends it to the manager.
    docker.ok(&[
        "service", "create", "--detach", "--name", "e2e-web", IMAGE, "sleep", "3600",
    ]);
    let services = docker.ok(&["service", "ls", "--format", "{{.Name}}"]);
    assert!(services.lines().any(|l| l == "e2e-web"), "{services}");
    assert_eq!(
        manager.docker(&[
            "service",
            "inspect",
            "--format",
            "{{.Spec.Name}}",
            "e2e-web"
        ]),
        "e2e-web"
    );

    // One node stops: answers keep coming, naming it, and it is marked down.
    let lost = &workers[1];
    lost.stop();
    let asked = Instant::now();
    let (headers, items) = agent_get(&pki, addr, "/containers/json").expect("GET /containers/json");
    let took = asked.elapsed();
    assert!(
        took < Duration::from_secs(4 + 3),
        "the list came within the fan-out deadline (4 s) and some slack: {took:?}"
    );
    let partial = headers
        .get("x-agent-partial")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    let live: Vec<String> = names[..2].to_vec();
    assert!(
        partial.contains(lost.hostname()),
        "the missing node is named: {headers:?}"
    );
    assert_eq!(nodes_of(&items), live, "the other nodes still answer");
    wait_for(
        "the stopped node marked down",
        Duration::from_secs(20),
        || {
            let seen = members(&pki, addr)?;
            let down = seen
                .iter()
                .any(|(n, s)| n == lost.hostname() && s == "down")
                && !is_alive(&seen, lost.hostname());
            if down {
                Ok(())
            } else {
                Err(format!("{seen:?}"))
            }
        },
    );
    let (headers, items) = agent_get(&pki, addr, "/containers/json").expect("GET /containers/json");
    let partial = headers
        .get("x-agent-partial")
        .map(|v| v.to_str().unwrap_or_default().to_owned())
        .unwrap_or_default();
    assert!(
        partial.contains(lost.hostname()),
        "a down node is named as missing: {headers:?}"
    );
    assert_eq!(nodes_of(&items), live);
    let listed = docker.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(
        listed.contains(&n1_app),
        "docker ps still answers: {listed}"
    );

    // It starts again and is back: its agent rejoins and its containers are listed.
    lost.start_again();
    wait_for(
        "the node back in the worker's view",
        Duration::from_secs(120),
        || {
            let seen = members(&pki, addr)?;
            if !is_alive(&seen, lost.hostname()) {
                return Err(format!("{seen:?}"));
            }
            let (headers, items) = agent_get(&pki, addr, "/containers/json?all=1")?;
            if nodes_of(&items) == names && headers.get("x-agent-partial").is_none() {
                Ok(())
            } else {
                Err(format!("nodes {:?}, headers {headers:?}", nodes_of(&items)))
            }
        },
    );
    let all = docker.ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        all.contains(&n3_app),
        "the restarted node's container is listed again: {all}"
    );
}
