//! What only the console's tests need on top of `bosun_testkit`: a console in front of a
//! real agent run in the test process, and an HTTPS client with a cookie jar.
#![allow(dead_code)]

pub mod netns;
pub mod oidc;
pub mod process;

use std::net::SocketAddr;
use std::path::Path;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Method, StatusCode};
use http_body_util::Full;
use serde_json::Value;
use tempfile::TempDir;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use bosun_testkit::https;
use bosun_ui::cli::Args;
use bosun_ui::server::Console;

pub use bosun_testkit::*;
#[allow(unused_imports)]
pub use process::{rss_kb, ConsoleProcess};

pub mod receivers;

pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

/// How long the console may take to answer, and to send a whole body.
pub const ANSWER: Duration = Duration::from_secs(30);

/// How long a state the console shows may take to come.
pub const SETTLE: Duration = Duration::from_secs(20);

/// A container on the real engine that prints a line and waits, named for the test and
/// removed when dropped.
pub fn container(tag: &str) -> Name {
    let name = Name::new(&format!("ui-{tag}"));
    name.run(&[
        "sh",
        "-c",
        "echo console-test-line; trap 'exit 0' TERM; while true; do sleep 1; done",
    ]);
    name
}

/// A console with an admin from a password file and an endpoint for `agent`.
pub struct ConsoleUnderTest {
    pub addr: SocketAddr,
    pub data: TempDir,
}

pub fn console_args(data: &Path, creds: &Pki, agent: SocketAddr) -> Args {
    let password = data.join("admin-password");
    std::fs::write(&password, format!("{ADMIN_PASSWORD}\n")).expect("password file");
    Args {
        listen: "127.0.0.1:0".parse().expect("addr"),
        data_dir: data.to_path_buf(),
        admin_password_file: Some(password),
        admin_user: ADMIN.into(),
        tls_cert: None,
        tls_key: None,
        endpoint_url: Some(format!("https://localhost:{}", agent.port())),
        endpoint_name: "local".into(),
        endpoint_ca: Some(creds.ca_cert()),
        endpoint_secret_file: Some(creds.secret.clone()),
        log_level: "info".into(),
        usage: Default::default(),
        access: Default::default(),
        updates: Default::default(),
        checks: Default::default(),
    }
}

pub async fn start_console(args: &Args) -> SocketAddr {
    let app = bosun_ui::cli::prepare(args).expect("the console prepares");
    let (chain, key) = bosun_ui::server::certificate(None, &args.data_dir).expect("a certificate");
    let console = Console::bind(args.listen, chain, key, Arc::new(app))
        .await
        .expect("the console binds");
    let addr = console.local_addr().expect("addr");
    tokio::spawn(console.run_until(CancellationToken::new()));
    addr
}

/// An agent or a console started in this process, and the way to stop it.
pub struct Running {
    pub addr: SocketAddr,
    stop: CancellationToken,
    done: JoinHandle<()>,
}

impl Running {
    /// Stops it and waits until it has.
    pub async fn stop(self) {
        self.stop.cancel();
        tokio::time::timeout(Duration::from_secs(30), self.done)
            .await
            .expect("it stops within 30 s")
            .expect("it stops cleanly");
    }
}

/// An agent of `pki`'s cluster on `listen` (port 0: any), sampling usage every `every`.
pub async fn sampling_agent(pki: &Pki, listen: SocketAddr, every: Duration) -> Running {
    sampling_agent_with(pki, listen, every, None).await
}

/// [`sampling_agent`] with the profiles of a policy file.
pub async fn sampling_agent_with(
    pki: &Pki,
    listen: SocketAddr,
    every: Duration,
    policy: Option<&Path>,
) -> Running {
    let mut config = pki.agent_config(listen);
    config.usage.interval = every;
    config.policy_file = policy.map(Path::to_path_buf);
    let agent = bosun_agent::server::Agent::bind(config)
        .await
        .expect("the agent starts");
    let addr = agent.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let done = tokio::spawn(agent.run(stop.clone()));
    Running { addr, stop, done }
}

/// A console started with `args`, which can be stopped and started again on its data.
pub async fn console_until_stopped(args: &Args) -> Running {
    let app = bosun_ui::cli::prepare(args).expect("the console prepares");
    let (chain, key) = bosun_ui::server::certificate(None, &args.data_dir).expect("a certificate");
    let console = Console::bind(args.listen, chain, key, Arc::new(app))
        .await
        .expect("the console binds");
    let addr = console.local_addr().expect("addr");
    let stop = CancellationToken::new();
    let done = tokio::spawn(console.run_until(stop.clone()));
    Running { addr, stop, done }
}

/// [`start_console`], keeping the console's shared state: the notifier's queue, for tests
/// that hand notices to the channels as the alerts do.
pub async fn start_console_with_app(args: &Args) -> (SocketAddr, Arc<bosun_ui::api::App>) {
    let app = Arc::new(bosun_ui::cli::prepare(args).expect("the console prepares"));
    let (chain, key) = bosun_ui::server::certificate(None, &args.data_dir).expect("a certificate");
    let console = Console::bind(args.listen, chain, key, Arc::clone(&app))
        .await
        .expect("the console binds");
    let addr = console.local_addr().expect("addr");
    tokio::spawn(console.run_until(CancellationToken::new()));
    (addr, app)
}

/// [`stack`], with the console's shared state.
pub async fn stack_with_app() -> (Pki, SocketAddr, ConsoleUnderTest, Arc<bosun_ui::api::App>) {
    let creds = Pki::new();
    let agent = start_agent_with(&creds, None, &AgentOptions::default()).await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &creds, agent);
    let (addr, app) = start_console_with_app(&args).await;
    (creds, agent, ConsoleUnderTest { addr, data }, app)
}

/// An agent and a console in front of it.
pub async fn stack() -> (Pki, SocketAddr, ConsoleUnderTest) {
    stack_with(&AgentOptions::default()).await
}

/// [`stack`] with an agent started with `options`.
pub async fn stack_with(options: &AgentOptions) -> (Pki, SocketAddr, ConsoleUnderTest) {
    let creds = Pki::new();
    let agent = start_agent_with(&creds, None, options).await;
    let data = tempfile::tempdir().expect("tempdir");
    let args = console_args(data.path(), &creds, agent);
    let addr = start_console(&args).await;
    (creds, agent, ConsoleUnderTest { addr, data })
}

/// A browser-like client: a cookie jar and the CSRF token from the last login.
pub struct Client {
    pub addr: SocketAddr,
    pub cookie: Option<String>,
    pub csrf: Option<String>,
    /// A personal token sent as `Authorization: Bearer`.
    pub bearer: Option<String>,
    tls: Arc<rustls::ClientConfig>,
}

pub struct Answer {
    pub status: StatusCode,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Answer {
    pub fn json(&self) -> Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "not JSON ({e}), status {}: {}",
                self.status,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.body).into_owned()
    }

    pub fn message(&self) -> String {
        self.json()["message"]
            .as_str()
            .unwrap_or_default()
            .to_owned()
    }
}

impl Client {
    pub fn new(addr: SocketAddr) -> Self {
        Self {
            addr,
            cookie: None,
            csrf: None,
            bearer: None,
            tls: https::any_server(),
        }
    }

    /// A client that presents a personal token and no session.
    pub fn with_token(addr: SocketAddr, token: &str) -> Self {
        Self {
            bearer: Some(token.to_owned()),
            ..Self::new(addr)
        }
    }

    /// Sends a request and returns the response head with its body still streaming.
    pub async fn open(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        csrf: bool,
    ) -> hyper::Response<hyper::body::Incoming> {
        let mut sender = https::connect_with(self.addr, Arc::clone(&self.tls)).await;
        let mut req = https::request(method.as_str(), path);
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie);
        }
        if let (true, Some(token)) = (csrf, &self.csrf) {
            req = req.header("x-csrf-token", token);
        }
        if let Some(token) = &self.bearer {
            req = req.header(header::AUTHORIZATION, format!("Bearer {token}"));
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        https::send_within(
            &mut sender,
            req.body(Full::new(body)).expect("request"),
            ANSWER,
        )
        .await
    }

    /// A GET whose answer's body is still streaming: an event stream, a followed log.
    pub async fn stream(&self, path: &str) -> hyper::Response<hyper::body::Incoming> {
        self.open(Method::GET, path, None, false).await
    }

    pub async fn send(
        &self,
        method: Method,
        path: &str,
        body: Option<&Value>,
        csrf: bool,
    ) -> Answer {
        let resp = self.open(method, path, body, csrf).await;
        let status = resp.status();
        let headers = resp.headers().clone();
        let body = https::body_within(resp, ANSWER).await;
        Answer {
            status,
            headers,
            body,
        }
    }

    pub async fn get(&self, path: &str) -> Answer {
        self.send(Method::GET, path, None, false).await
    }

    /// A state-changing request with the CSRF token.
    pub async fn post(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::POST, path, Some(body), true).await
    }

    pub async fn delete(&self, path: &str) -> Answer {
        self.send(Method::DELETE, path, None, true).await
    }

    pub async fn patch(&self, path: &str, body: &Value) -> Answer {
        self.send(Method::PATCH, path, Some(body), true).await
    }

    /// Logs in and keeps the cookie and CSRF token; panics on failure.
    pub async fn login(&mut self, username: &str, password: &str) {
        let answer = self
            .send(
                Method::POST,
                "/api/login",
                Some(&serde_json::json!({"username": username, "password": password})),
                false,
            )
            .await;
        assert_eq!(answer.status, StatusCode::OK, "login: {}", answer.text());
        let cookie = answer
            .headers
            .get(header::SET_COOKIE)
            .expect("a session cookie")
            .to_str()
            .expect("ASCII");
        assert!(cookie.contains("HttpOnly") && cookie.contains("Secure"));
        assert!(cookie.contains("SameSite=Strict"));
        self.cookie = Some(cookie.split(';').next().expect("name=value").to_owned());
        self.csrf = answer.json()["csrf"].as_str().map(str::to_owned);
    }

    /// As an admin, adds a user whose password is `password-123`; panics on failure.
    pub async fn add_user(&self, username: &str, role: &str) {
        let user =
            serde_json::json!({"username": username, "password": "password-123", "role": role});
        let answer = self.post("/api/users", &user).await;
        assert_eq!(answer.status, StatusCode::CREATED, "{}", answer.text());
    }

    /// Waits until endpoint 1's usage history holds samples of the container named
    /// `container`.
    pub async fn until_sampled(&self, container: &str) {
        eventually(&format!("samples of {container}"), SETTLE, || async {
            let top = self.get("/api/endpoints/1/usage/top?limit=100").await;
            if top.text().contains(&format!("\"{container}\"")) {
                Ok(())
            } else {
                Err(top.text())
            }
        })
        .await;
    }

    pub async fn logged_in(addr: SocketAddr, username: &str, password: &str) -> Self {
        let mut client = Self::new(addr);
        client.login(username, password).await;
        client
    }
}

/// Starts an agent with `config`, gossiping on loopback and joining `join` (none: the first
/// of its cluster), until `stop`; its API and gossip addresses.
pub async fn gossiping_agent(
    mut config: bosun_agent::config::AgentConfig,
    join: Option<SocketAddr>,
    stop: CancellationToken,
) -> (SocketAddr, SocketAddr) {
    config.cluster = Some(bosun_agent::cluster::ClusterConfig {
        gossip_listen: "127.0.0.1:0".parse().expect("addr"),
        advertise: None,
        discovery: bosun_agent::cluster::Discovery {
            join: join.map(|j| vec![j.to_string()]).unwrap_or_default(),
            interval: Duration::from_millis(500),
            ..Default::default()
        },
    });
    let agent = bosun_agent::server::Agent::bind(config)
        .await
        .expect("the agent starts");
    let api = agent.local_addr().expect("addr");
    let gossip = agent.gossip_addr().expect("gossip");
    tokio::spawn(agent.run(stop));
    (api, gossip)
}
