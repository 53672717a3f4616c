//! Docker engines in containers, from the `bosun-node` image `scripts/build-node-image.sh`
//! builds: where a test makes a Swarm, so that this machine's own engine, which the whole
//! suite shares, never goes through `swarm init` and `leave`.
//!
//! A node's engine serves its API on a socket in a directory of this machine bind-mounted
//! into the container, so the docker CLI here, an agent in the test process or a file on
//! this machine's disk reach it without `docker exec` or `docker cp`.

use std::net::IpAddr;
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::{engine, engine_ok, ok, repo_root, wait::blocking, wait_for};

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

/// Where the node's engine serves its API for this machine, inside the container.
const API_DIR: &str = "/run/bosun-api";

/// Builds the node image unless it exists (once per process, one process at a time);
/// its tag.
pub fn node_image() -> String {
    static IMAGE: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    IMAGE
        .get_or_init(|| {
            let out = Command::new("flock")
                .arg("/tmp/bosun-node-image.lock")
                .arg(repo_root().join("scripts/build-node-image.sh"))
                .output()
                .expect("flock and scripts/build-node-image.sh must be runnable");
            ok(out, "building the node image (scripts/build-node-image.sh)")
                .lines()
                .last()
                .expect("the node image's tag")
                .trim()
                .to_owned()
        })
        .clone()
}

/// Images saved once from this machine's engine (`docker save`), to load into nodes.
pub struct Images(tempfile::NamedTempFile);

impl Images {
    pub fn save(names: &[&str]) -> Self {
        let saved = tempfile::NamedTempFile::new().expect("a file for the saved images");
        let path = saved.path().to_str().expect("a UTF-8 path");
        let mut args = vec!["save", "-o", path];
        args.extend_from_slice(names);
        engine_ok(&args);
        Self(saved)
    }
}

/// One Docker engine in a container; the container, its volumes and everything its
/// engine made (a Swarm included) go when this is dropped.
pub struct Node {
    container: String,
    hostname: String,
    ip: IpAddr,
    api: tempfile::TempDir,
}

impl Node {
    /// Starts a node named `container` with `hostname` (its engine's node name), on
    /// `network` at a fixed address when given (it keeps it across a restart), else on
    /// the default bridge; returns once its engine answers.
    pub fn start(container: &str, hostname: &str, network: Option<(&str, IpAddr)>) -> Self {
        let image = node_image();
        let api = tempfile::Builder::new()
            .prefix("bosun-node-api")
            .tempdir()
            .expect("a directory for the node's API socket");
        let mount = format!("{}:{API_DIR}", api.path().display());
        let host_flag = format!("--host=unix://{API_DIR}/docker.sock");
        let mut args = vec![
            "run",
            "-d",
            "--name",
            container,
            "--hostname",
            hostname,
            "-v",
            &mount,
        ];
        let network_flags;
        if let Some((name, ip)) = network {
            network_flags = [format!("--network={name}"), format!("--ip={ip}")];
            args.extend(network_flags.iter().map(String::as_str));
        }
        args.extend_from_slice(NODE_FLAGS);
        args.extend([image.as_str(), host_flag.as_str()]);
        // Removed even when it does not come up.
        let mut node = Self {
            container: container.to_owned(),
            hostname: hostname.to_owned(),
            ip: IpAddr::from([0, 0, 0, 0]),
            api,
        };
        engine_ok(&args);
        node.wait_engine();
        node.ip = engine_ok(&[
            "inspect",
            "--format",
            "{{range .NetworkSettings.Networks}}{{.IPAddress}}{{end}}",
            container,
        ])
        .parse()
        .unwrap_or_else(|e| panic!("{container}'s address: {e}"));
        node
    }

    pub fn container(&self) -> &str {
        &self.container
    }

    /// Its engine's node name.
    pub fn hostname(&self) -> &str {
        &self.hostname
    }

    /// Its address on its network, where this machine reaches what it publishes.
    pub fn ip(&self) -> IpAddr {
        self.ip
    }

    /// The socket its engine's API is on, on this machine.
    pub fn socket(&self) -> PathBuf {
        self.api.path().join("docker.sock")
    }

    /// A docker CLI command talking to this node's engine.
    pub fn command(&self) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg("120")
            .arg("docker")
            .env("DOCKER_HOST", format!("unix://{}", self.socket().display()))
            .env_remove("DOCKER_TLS_VERIFY")
            .env_remove("DOCKER_CERT_PATH")
            .env_remove("DOCKER_CONTEXT");
        cmd
    }

    /// `docker ARGS` on this node's engine.
    pub fn run(&self, args: &[&str]) -> Output {
        blocking(|| self.command().args(args).output().expect("run docker"))
    }

    /// [`Node::run`], asserting success; its stdout, trimmed.
    pub fn docker(&self, args: &[&str]) -> String {
        ok(
            self.run(args),
            &format!("on {}: docker {}", self.hostname, args.join(" ")),
        )
        .trim()
        .to_owned()
    }

    /// Loads `images`, saved from this machine's engine, into the node's: there is no
    /// registry to pull them from.
    pub fn load(&self, images: &Images) {
        let file = std::fs::File::open(images.0.path()).expect("the saved images");
        let out = blocking(|| {
            self.command()
                .args(["load", "-q"])
                .stdin(Stdio::from(file))
                .output()
                .expect("run docker load")
        });
        ok(out, &format!("docker load on {}", self.hostname));
    }

    /// Makes this node's engine a Swarm's first manager, advertising its address.
    pub fn swarm_init(&self) {
        self.docker(&["swarm", "init", "--advertise-addr", &self.ip.to_string()]);
    }

    /// Stops the node's container, its engine and every container on it with it.
    pub fn stop(&self) {
        engine_ok(&["stop", "-t", "2", &self.container]);
    }

    /// Starts a stopped node again; returns once its engine answers.
    pub fn start_again(&self) {
        engine_ok(&["start", &self.container]);
        self.wait_engine();
    }

    fn wait_engine(&self) {
        wait_for(
            &format!("{}'s engine", self.hostname),
            Duration::from_secs(60),
            || {
                let out = self.run(&["info", "--format", "{{.ServerVersion}}"]);
                if out.status.success() {
                    Ok(())
                } else {
                    Err(format!(
                        "{}; container log: {}",
                        String::from_utf8_lossy(&out.stderr).trim(),
                        String::from_utf8_lossy(
                            &engine(&["logs", "--tail", "5", &self.container]).stderr
                        )
                        .trim()
                    ))
                }
            },
        );
    }
}

impl Drop for Node {
    fn drop(&mut self) {
        let _ = engine(&["rm", "-f", "-v", &self.container]);
    }
}
