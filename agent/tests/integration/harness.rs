//! What only the agent's integration tests need on top of `bosun_testkit`: the agent's own
//! binary and commands, a cluster's credentials made with them, a running agent process on
//! a free port, and the docker CLI pointed at it.
#![allow(dead_code)]

use std::io::{BufRead, BufReader};
use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::sync::{mpsc, Arc, Mutex};
use std::time::Duration;

use tempfile::TempDir;

pub use bosun_testkit::*;

pub fn bin() -> &'static str {
    env!("CARGO_BIN_EXE_bosun-agent")
}

/// Runs `bosun-agent ARGS` to completion.
pub fn agent_cmd(args: &[&str]) -> Output {
    Command::new(bin())
        .args(args)
        .env_remove("AGENT_SECRET")
        .env_remove("AGENT_SECRET_FILE")
        .env_remove("AGENT_TLS_DIR")
        .output()
        .expect("run bosun-agent")
}

/// A cluster's credentials made and used with the agent's own commands.
pub trait AgentCommands {
    /// The CA, the secret and the client bundle from `certs init`, `secret` and
    /// `certs client`.
    fn by_commands() -> Self;

    /// A token from `bosun-agent token --scope SCOPE`.
    fn token(&self, subject: &str, scope: &str) -> String;

    /// A token from `bosun-agent token --profile PROFILE`.
    fn profile_token(&self, subject: &str, profile: &str) -> String;
}

impl AgentCommands for Pki {
    fn by_commands() -> Self {
        Pki::made_by(|pki| {
            let s = |p: &Path| p.to_str().expect("utf-8 path").to_owned();
            ok(
                agent_cmd(&["certs", "init", "--dir", &s(&pki.ca_dir)]),
                "certs init",
            );
            ok(agent_cmd(&["secret", "--out", &s(&pki.secret)]), "secret");
            ok(
                agent_cmd(&[
                    "certs",
                    "client",
                    "--dir",
                    &s(&pki.ca_dir),
                    "--name",
                    "tester",
                    "--out",
                    &s(&pki.client),
                ]),
                "certs client",
            );
        })
    }

    fn token(&self, subject: &str, scope: &str) -> String {
        mint(self, subject, "--scope", scope)
    }

    fn profile_token(&self, subject: &str, profile: &str) -> String {
        mint(self, subject, "--profile", profile)
    }
}

/// `bosun-agent token --subject SUBJECT FLAG VALUE --ttl 10m`.
fn mint(pki: &Pki, subject: &str, flag: &str, value: &str) -> String {
    let out = agent_cmd(&[
        "token",
        "--secret-file",
        pki.secret.to_str().expect("utf-8"),
        "--subject",
        subject,
        flag,
        value,
        "--ttl",
        "10m",
    ]);
    ok(out, &format!("token {flag}")).trim().to_owned()
}

/// A running `bosun-agent run`, killed when dropped.
pub struct Agent {
    child: Child,
    pub addr: SocketAddr,
    /// The gossip socket, for an agent in a cluster.
    pub gossip: Option<SocketAddr>,
    log: Arc<Mutex<String>>,
}

impl Agent {
    /// An agent of `pki`'s cluster in front of the machine's engine.
    pub fn start(pki: &Pki) -> Self {
        Self::start_with(&pki.run_args())
    }

    /// `bosun-agent run --listen 127.0.0.1:0 --log-format json ARGS`.
    pub fn start_with(args: &[String]) -> Self {
        Self::start_listening("127.0.0.1:0", args)
    }

    /// `bosun-agent run --listen LISTEN --log-format json ARGS`: an agent on an address of
    /// the test's choosing (another loopback address, say), which [`Agent::start_with`]
    /// fixes to `127.0.0.1:0`.
    pub fn start_listening(listen: &str, args: &[String]) -> Self {
        let mut child = Command::new(bin())
            .arg("run")
            .args([
                "--listen",
                listen,
                "--log-format",
                "json",
                "--log-level",
                "info",
            ])
            .args(args)
            .env_remove("DOCKER_HOST")
            .env_remove("AGENT_SECRET")
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .spawn()
            .expect("spawn bosun-agent");
        let stderr = child.stderr.take().expect("stderr");
        let log = Arc::new(Mutex::new(String::new()));
        let (tx, rx) = mpsc::channel();
        let sink = Arc::clone(&log);
        std::thread::spawn(move || {
            for line in BufReader::new(stderr).lines().map_while(Result::ok) {
                if let Ok(v) = serde_json::from_str::<serde_json::Value>(&line) {
                    if v["message"] == "listening" {
                        let parse = |key: &str| v[key].as_str().and_then(|a| a.parse().ok());
                        if let Some(addr) = parse("addr") {
                            let _ = tx.send((addr, parse("gossip")));
                        }
                    }
                }
                let mut log = sink.lock().unwrap_or_else(|p| p.into_inner());
                log.push_str(&line);
                log.push('\n');
            }
        });
        let Ok((addr, gossip)) = rx.recv_timeout(Duration::from_secs(30)) else {
            let _ = child.kill();
            let _ = child.wait();
            panic!(
                "the agent did not start listening on {listen} within 30 s; its log:\n{}",
                log.lock().unwrap_or_else(|p| p.into_inner())
            );
        };
        Self {
            child,
            addr,
            gossip,
            log,
        }
    }

    pub fn docker_host(&self) -> String {
        format!("tcp://{}", self.addr)
    }

    pub fn log(&self) -> String {
        self.log.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }

    /// Sends SIGTERM.
    pub fn terminate(&self) {
        let status = Command::new("kill")
            .args(["-TERM", &self.child.id().to_string()])
            .status()
            .expect("kill");
        assert!(status.success());
    }

    /// Waits for the process to end, up to `limit`.
    pub fn wait_exit(&mut self, limit: Duration) -> Option<std::process::ExitStatus> {
        let deadline = std::time::Instant::now() + limit;
        while std::time::Instant::now() < deadline {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            std::thread::sleep(Duration::from_millis(50));
        }
        None
    }
}

impl Drop for Agent {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// How a docker CLI client proves itself to the agent.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Cred {
    /// A client certificate from the cluster CA.
    Mtls,
    /// An admin bearer token in `config.json`'s `HttpHeaders`.
    Jwt,
}

pub const BOTH: [Cred; 2] = [Cred::Mtls, Cred::Jwt];

/// The docker CLI pointed at an agent, with its own `DOCKER_CONFIG`.
pub struct Docker {
    envs: Vec<(String, String)>,
    config: TempDir,
}

impl Docker {
    pub fn new(agent: &Agent, pki: &Pki, cred: Cred) -> Self {
        match cred {
            Cred::Mtls => Self::with_cert_path(agent, &pki.client, None),
            Cred::Jwt => {
                Self::with_cert_path(agent, &pki.ca_only, Some(&pki.token("tester", "admin")))
            }
        }
    }

    /// A client verifying the agent with `cert_path` and sending `token` if given.
    pub fn with_cert_path(agent: &Agent, cert_path: &Path, token: Option<&str>) -> Self {
        Self::at(&agent.docker_host(), cert_path, token)
    }

    /// A client of the agent at `docker_host` (`tcp://HOST:PORT`).
    pub fn at(docker_host: &str, cert_path: &Path, token: Option<&str>) -> Self {
        let config = tempfile::tempdir().expect("tempdir");
        let mut cfg = serde_json::json!({});
        if let Some(token) = token {
            cfg["HttpHeaders"] = serde_json::json!({ "Authorization": format!("Bearer {token}") });
        }
        std::fs::write(config.path().join("config.json"), cfg.to_string()).expect("config.json");
        let envs = vec![
            ("DOCKER_HOST".into(), docker_host.to_owned()),
            ("DOCKER_TLS_VERIFY".into(), "1".into()),
            ("DOCKER_CERT_PATH".into(), cert_path.display().to_string()),
            ("DOCKER_CONFIG".into(), config.path().display().to_string()),
        ];
        Self { envs, config }
    }

    pub fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new("timeout");
        cmd.arg("120").arg("docker").args(args);
        cmd.env_remove("DOCKER_CONTEXT");
        for (k, v) in &self.envs {
            cmd.env(k, v);
        }
        cmd
    }

    pub fn run(&self, args: &[&str]) -> Output {
        self.command(args).output().expect("run docker")
    }

    /// Runs and asserts success; returns stdout.
    pub fn ok(&self, args: &[&str]) -> String {
        let out = self.run(args);
        ok(out, &format!("docker {}", args.join(" ")))
    }

    /// Runs and asserts failure; returns stderr.
    pub fn fails(&self, args: &[&str]) -> String {
        let out = self.run(args);
        assert!(
            !out.status.success(),
            "docker {} should have failed: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stdout)
        );
        String::from_utf8_lossy(&out.stderr).into_owned()
    }
}
