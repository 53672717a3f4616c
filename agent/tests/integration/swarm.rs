//! End to end on real Swarms: the agent's image, built FROM scratch by
//! `scripts/build-image.sh`, deployed with `stack/portainer-agent.yml`, and the docker CLI
//! pointed at a node's published port.
//!
//! - On this machine's own engine as a single-node Swarm (created and left by the test when
//!   the engine is not in one).
//! - On a Swarm of three Docker engines running in containers on this machine (one manager,
//!   two workers), from the image `scripts/build-node-image.sh` builds with debootstrap.
//!
//! Both change the engine's state (a Swarm, published ports, several engines' worth of
//! load), so `.config/nextest.toml` runs them alone.

use std::net::{IpAddr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use http::HeaderMap;
use serde_json::Value;

use bosun_testkit::https;

use crate::harness::{
    engine, engine_ok, ensure_image, free_port, ok, repo_root, wait_for, AgentCommands, Docker,
    LocalSwarm, Pki, IMAGE,
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

/// On the machine's own engine: deploy the stack, and use the agent it runs through the
/// published port with the docker CLI.
#[test]
fn single_node_swarm_serves_the_docker_cli_through_the_published_port() {
    build_agent_image();
    let pki = Pki::by_commands();
    let mut undo = Undo::default();
    let tag = format!("bosun-e2e-{}", std::process::id());

    let swarm = LocalSwarm::join();
    let created = swarm.created();
    if created {
        undo.push("leave the Swarm the test created", move || drop(swarm));
    } else {
        let control = engine_ok(&["info", "--format", "{{.Swarm.ControlAvailable}}"]);
        assert_eq!(
            control, "true",
            "this engine is a Swarm worker; the test deploys a stack and needs a manager"
        );
    }

    // The cluster's credentials as Docker secrets, named for this run.
    let prefix = format!("{tag}-");
    let ca_cert = pki.ca_dir.join("ca.pem");
    let ca_key = pki.ca_dir.join("ca-key.pem");
    for (name, file) in [
        ("secret", &pki.secret),
        ("ca", &ca_cert),
        ("ca_key", &ca_key),
    ] {
        let secret = format!("{prefix}{name}");
        engine_ok(&["secret", "create", &secret, path_str(file)]);
        undo.push(format!("remove secret {secret}"), move || {
            // A secret cannot go while a task still uses it.
            for _ in 0..60 {
                if engine(&["secret", "rm", &secret]).status.success() {
                    return;
                }
                std::thread::sleep(Duration::from_millis(500));
            }
        });
    }

    let port = free_port("0.0.0.0");
    let mut deploy = Command::new("docker");
    deploy
        .args(["stack", "deploy", "--resolve-image", "never", "-c"])
        .arg(stack_file())
        .arg(&tag)
        .env_remove("DOCKER_HOST")
        .envs(stack_env(&prefix, port, "10s"));
    // The stack's data volume outlives the stack: removed once its task's container is.
    let volume = format!("{tag}_agent_data");
    undo.push(format!("remove volume {volume}"), move || {
        for _ in 0..60 {
            let out = engine(&["volume", "rm", &volume]);
            if out.status.success()
                || String::from_utf8_lossy(&out.stderr).contains("no such volume")
            {
                return;
            }
            std::thread::sleep(Duration::from_millis(500));
        }
    });
    let stack = tag.clone();
    undo.push(format!("remove stack {stack}"), move || {
        let _ = engine(&["stack", "rm", &stack]);
    });
    run_ok(
        &mut deploy,
        "docker stack deploy of stack/portainer-agent.yml",
    );

    let service = format!("{tag}_agent");
    let agent_container = wait_for("the agent's task healthy", Duration::from_secs(90), || {
        let out = engine(&[
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
                stdout(&engine(&["service", "logs", "--raw", &service]))
            )),
        }
    });

    // Through the published port, as a client outside the Swarm would.
    let docker = Docker::at(&format!("tcp://127.0.0.1:{port}"), &pki.client, None);
    let addr = SocketAddr::from(([127, 0, 0, 1], port));
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
    let node = engine_ok(&["info", "--format", "{{.Name}}"]);
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
            .all(|c| c["Agent"]["NodeName"] == node.as_str()),
        "every item names node {node}: {items}"
    );

    // A service made and listed through the agent.
    let svc = format!("{tag}-svc");
    let svc_rm = svc.clone();
    undo.push(format!("remove service {svc}"), move || {
        let _ = engine(&["service", "rm", &svc_rm]);
    });
    docker.ok(&[
        "service", "create", "--detach", "--name", &svc, IMAGE, "sleep", "3600",
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
    let app = format!("{tag}-app");
    let app_rm = app.clone();
    undo.push(format!("remove stack {app}"), move || {
        let _ = engine(&["stack", "rm", &app_rm]);
    });
    docker.ok(&[
        "stack",
        "deploy",
        "--resolve-image",
        "never",
        "-c",
        path_str(&app_stack_file()),
        &app,
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

    // Everything the test made goes, and nothing else.
    undo.run();
    if created {
        assert_eq!(
            engine_ok(&["info", "--format", "{{.Swarm.LocalNodeState}}"]),
            "inactive"
        );
    } else {
        let services = engine_ok(&["service", "ls", "--format", "{{.Name}}"]);
        assert!(!services.contains(&tag), "services left behind: {services}");
    }
    let containers = engine_ok(&["ps", "-a", "--format", "{{.Names}}"]);
    assert!(
        !containers.contains(&tag),
        "containers left behind: {containers}"
    );
}

/// The flags a node container runs with: every capability but CAP_SYS_RESOURCE, which
/// this machine's engine does not hold and so cannot grant (`--privileged` asks for it
/// and fails with "unable to apply caps: operation not permitted"), and no seccomp,
/// AppArmor or masked paths, with access to every device.
const NODE_FLAGS: &[&str] = &[
    "--cap-add=ALL",
    "--cap-drop=SYS_RESOURCE",
    "--security-opt=seccomp=unconfined",
    "--security-opt=apparmor=unconfined",
    "--security-opt=systempaths=unconfined",
    "--device-cgroup-rule=a *:* rwm",
];

/// One Docker engine of the test Swarm, running in a container.
struct Node {
    container: String,
    hostname: String,
    ip: IpAddr,
}

impl Node {
    fn exec(&self, args: &[&str]) -> Output {
        Command::new("timeout")
            .arg("120")
            .args(["docker", "exec", &self.container])
            .args(args)
            .env_remove("DOCKER_HOST")
            .output()
            .expect("docker exec")
    }

    /// `docker ARGS` on this node's own engine.
    fn docker(&self, args: &[&str]) -> String {
        let mut full = vec!["docker"];
        full.extend_from_slice(args);
        ok(
            self.exec(&full),
            &format!("on {}: docker {}", self.hostname, args.join(" ")),
        )
        .trim()
        .to_owned()
    }

    fn wait_engine(&self) {
        wait_for(
            &format!("{}'s engine", self.hostname),
            Duration::from_secs(60),
            || {
                let out = self.exec(&["docker", "info", "--format", "{{.ServerVersion}}"]);
                if out.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{}; container log: {}",
                        String::from_utf8_lossy(&out.stderr),
                        stdout(&engine(&["logs", "--tail", "5", &self.container]))
                    ))
                }
            },
        );
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
    let node_image = run_ok(
        Command::new("flock")
            .arg("/tmp/bosun-node-image.lock")
            .arg(repo_root().join("scripts/build-node-image.sh")),
        "scripts/build-node-image.sh",
    );
    let node_image = node_image
        .lines()
        .last()
        .expect("the node image's tag")
        .to_owned();
    let pki = Pki::by_commands();
    let mut undo = Undo::default();
    let tag = format!("bosun-e2e-{}", std::process::id());
    let network = format!("{tag}-net");
    let net = node_network(&network, &mut undo);

    let nodes: Vec<Node> = (1..=3)
        .map(|i| {
            let container = format!("{tag}-n{i}");
            let ip = IpAddr::from([net[0], net[1], net[2], 10 + i]);
            let c = container.clone();
            undo.push(format!("remove node {container}"), move || {
                let _ = engine(&["rm", "-f", "-v", &c]);
            });
            let ip_flag = format!("--ip={ip}");
            let mut args = vec![
                "run",
                "-d",
                "--name",
                &container,
                "--network",
                &network,
                &ip_flag,
            ];
            let hostname = format!("bosun-n{i}");
            args.extend(["--hostname", &hostname]);
            args.extend_from_slice(NODE_FLAGS);
            args.push(&node_image);
            engine_ok(&args);
            Node {
                container,
                hostname,
                ip,
            }
        })
        .collect();
    for node in &nodes {
        node.wait_engine();
    }

    // The images, loaded into every node: there is no registry to pull from.
    let images = tempfile::NamedTempFile::new().expect("temp file");
    engine_ok(&["save", "-o", path_str(images.path()), AGENT_IMAGE, IMAGE]);
    for node in &nodes {
        let file = std::fs::File::open(images.path()).expect("open saved images");
        run_ok(
            Command::new("docker")
                .args(["exec", "-i", &node.container, "docker", "load", "-q"])
                .env_remove("DOCKER_HOST")
                .stdin(Stdio::from(file)),
            &format!("docker load on {}", node.hostname),
        );
    }

    // The Swarm: n1 manages, n2 and n3 work.
    let (manager, workers) = nodes.split_first().expect("three nodes");
    manager.docker(&["swarm", "init", "--advertise-addr", &manager.ip.to_string()]);
    let token = manager.docker(&["swarm", "join-token", "-q", "worker"]);
    for worker in workers {
        worker.docker(&[
            "swarm",
            "join",
            "--token",
            &token,
            &format!("{}:2377", manager.ip),
        ]);
    }

    // The credentials and the stack, deployed on the manager as an operator would.
    for (file, target) in [
        (stack_file(), "/tmp/stack.yml"),
        (pki.secret.clone(), "/tmp/secret"),
        (pki.ca_dir.join("ca.pem"), "/tmp/ca.pem"),
        (pki.ca_dir.join("ca-key.pem"), "/tmp/ca-key.pem"),
    ] {
        engine_ok(&[
            "cp",
            path_str(&file),
            &format!("{}:{target}", manager.container),
        ]);
    }
    manager.docker(&["secret", "create", "bosun_secret", "/tmp/secret"]);
    manager.docker(&["secret", "create", "bosun_ca", "/tmp/ca.pem"]);
    manager.docker(&["secret", "create", "bosun_ca_key", "/tmp/ca-key.pem"]);
    ok(
        Command::new("docker")
            .args(["exec", "-e", "AGENT_FANOUT_DEADLINE=4s", &manager.container])
            .args(["docker", "stack", "deploy", "--resolve-image", "never"])
            .args(["-c", "/tmp/stack.yml", "agent"])
            .env_remove("DOCKER_HOST")
            .output()
            .expect("docker exec"),
        "docker stack deploy on the manager",
    );

    // Everything below goes through the second node's agent: a worker.
    let worker = &workers[0];
    let addr = SocketAddr::new(worker.ip, 9001);
    let names: Vec<String> = nodes.iter().map(|n| n.hostname.clone()).collect();
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
    let docker = Docker::at(&format!("tcp://{}:9001", worker.ip), &pki.client, None);

    // A container on every node, started on each node's own engine.
    for node in &nodes {
        node.docker(&[
            "run",
            "-d",
            "--name",
            &format!("app-{}", node.hostname),
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
                .any(|l| l == format!("app-{}", node.hostname)),
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
    let n1_app = format!("app-{}", manager.hostname);
    let n3_app = format!("app-{}", workers[1].hostname);
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
    engine_ok(&["stop", "-t", "2", &lost.container]);
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
        partial.contains(&lost.hostname),
        "the missing node is named: {headers:?}"
    );
    assert_eq!(nodes_of(&items), live, "the other nodes still answer");
    wait_for(
        "the stopped node marked down",
        Duration::from_secs(20),
        || {
            let seen = members(&pki, addr)?;
            let down = seen.iter().any(|(n, s)| n == &lost.hostname && s == "down")
                && !is_alive(&seen, &lost.hostname);
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
        partial.contains(&lost.hostname),
        "a down node is named as missing: {headers:?}"
    );
    assert_eq!(nodes_of(&items), live);
    let listed = docker.ok(&["ps", "--format", "{{.Names}}"]);
    assert!(
        listed.contains(&n1_app),
        "docker ps still answers: {listed}"
    );

    // It starts again and is back: its agent rejoins and its containers are listed.
    engine_ok(&["start", &lost.container]);
    lost.wait_engine();
    wait_for(
        "the node back in the worker's view",
        Duration::from_secs(120),
        || {
            let seen = members(&pki, addr)?;
            if !is_alive(&seen, &lost.hostname) {
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
