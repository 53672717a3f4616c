//! What the console's tests share: a real agent in front of this machine's engine, run in
//! the test process, a console in front of it, and an HTTPS client with a cookie jar.
#![allow(dead_code)]

use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::sync::Arc;
use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderMap, Method, Request, StatusCode};
use http_body_util::{BodyExt, Full};
use hyper_util::rt::TokioIo;
use serde_json::Value;
use tempfile::TempDir;

use bosun_agent::config::{AgentConfig, CaFiles};
use bosun_agent::secret::Secret;
use bosun_agent::tls::pki::Ca;
use bosun_agent::upstream::EngineAddr;
use bosun_ui::cli::Args;
use bosun_ui::server::Console;

pub const IMAGE: &str = "bosun-test:latest";
pub const ADMIN: &str = "admin";
pub const ADMIN_PASSWORD: &str = "admin-password-1";

pub fn repo_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR"))
        .parent()
        .expect("workspace root")
        .to_path_buf()
}

/// Builds the test image unless it exists (the project's script, one process at a time).
pub fn ensure_image() {
    let out = Command::new("flock")
        .arg("/tmp/bosun-test-image.lock")
        .arg(repo_root().join("scripts/build-test-image.sh"))
        .output()
        .expect("flock and scripts/build-test-image.sh must be runnable");
    assert!(
        out.status.success(),
        "building the test image failed: {}",
        String::from_utf8_lossy(&out.stderr)
    );
}

pub fn docker(args: &[&str]) -> String {
    let out = Command::new("docker")
        .args(args)
        .env_remove("DOCKER_HOST")
        .output()
        .expect("run docker");
    assert!(
        out.status.success(),
        "docker {} failed: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).trim().to_owned()
}

/// A container on the real engine, removed when dropped.
pub struct Container(pub String);

impl Container {
    pub fn run(tag: &str) -> Self {
        ensure_image();
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let name = format!("bosun-it-ui-{tag}-{}-{n}", std::process::id());
        docker(&[
            "run",
            "-d",
            "--name",
            &name,
            IMAGE,
            "sh",
            "-c",
            "echo console-test-line; trap 'exit 0' TERM; while true; do sleep 1; done",
        ]);
        Self(name)
    }

    pub fn state(&self) -> String {
        docker(&["inspect", "--format", "{{.State.Status}}", &self.0])
    }
}

impl Drop for Container {
    fn drop(&mut self) {
        let _ = Command::new("docker")
            .args(["rm", "-f", &self.0])
            .env_remove("DOCKER_HOST")
            .output();
    }
}

/// A cluster's credentials.
pub struct Creds {
    pub dir: TempDir,
    pub ca_pem: String,
    pub secret_text: String,
}

impl Creds {
    pub fn new() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let ca = Ca::init_dir(&dir.path().join("ca")).expect("CA");
        let secret = Secret::generate().expect("secret");
        let secret_text = String::from_utf8(secret.as_bytes().to_vec()).expect("hex");
        std::fs::write(dir.path().join("secret"), &secret_text).expect("secret file");
        Self {
            ca_pem: ca.cert_pem().to_owned(),
            dir,
            secret_text,
        }
    }

    pub fn ca_path(&self) -> PathBuf {
        self.dir.path().join("ca/ca.pem")
    }

    pub fn secret_path(&self) -> PathBuf {
        self.dir.path().join("secret")
    }
}

/// What an agent is started with beyond its credentials: the settings of
/// `bosun-agent run --policy FILE --audit-file FILE`.
#[derive(Debug, Clone, Default)]
pub struct AgentOptions {
    /// `--policy`: profiles beyond the built-in `admin` and `read`.
    pub policy_file: Option<PathBuf>,
    /// `--audit-file`: the agent's audit trail as JSON lines.
    pub audit_file: Option<PathBuf>,
}

/// An agent in front of the real engine, in this process.
pub async fn start_agent(creds: &Creds, trusted_key_pem: Option<&str>) -> SocketAddr {
    start_agent_with(creds, trusted_key_pem, &AgentOptions::default()).await
}

/// [`start_agent`] with a policy file and an audit file, as the command line gives them.
pub async fn start_agent_with(
    creds: &Creds,
    trusted_key_pem: Option<&str>,
    options: &AgentOptions,
) -> SocketAddr {
    let mut config = AgentConfig::new(
        "127.0.0.1:0".parse().expect("addr"),
        EngineAddr::Unix("/var/run/docker.sock".into()),
        creds.dir.path().join("agent-data"),
    );
    config.ca = Some(CaFiles::in_dir(&creds.dir.path().join("ca")));
    config.secret = Some(Secret::read(&creds.secret_path()).expect("secret"));
    if let Some(pem) = trusted_key_pem {
        let path = creds.dir.path().join("console-key.pem");
        std::fs::write(&path, pem).expect("key file");
        config.trusted_keys = vec![bosun_agent::auth::TrustedKey::read(&path).expect("key")];
    }
    if let Some(path) = &options.policy_file {
        // Read now, as the command line does, so that a bad file fails the test here.
        bosun_agent::access::Policy::read(path).expect("the policy file parses");
        config.policy_file = Some(path.clone());
    }
    config.audit.file = options.audit_file.clone();
    let agent = bosun_agent::server::Agent::bind(config)
        .await
        .expect("the agent starts");
    let addr = agent.local_addr().expect("addr");
    tokio::spawn(agent.run(tokio_util::sync::CancellationToken::new()));
    addr
}

/// A console with an admin from a password file and an endpoint for `agent`.
pub struct ConsoleUnderTest {
    pub addr: SocketAddr,
    pub data: TempDir,
}

pub fn console_args(data: &Path, creds: &Creds, agent: SocketAddr) -> Args {
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
        endpoint_ca: Some(creds.ca_path()),
        endpoint_secret_file: Some(creds.secret_path()),
        log_level: "info".into(),
    }
}

pub async fn start_console(args: &Args) -> SocketAddr {
    let app = bosun_ui::cli::prepare(args).expect("the console prepares");
    let (chain, key) = bosun_ui::server::certificate(None, &args.data_dir).expect("a certificate");
    let console = Console::bind(args.listen, chain, key, Arc::new(app))
        .await
        .expect("the console binds");
    let addr = console.local_addr().expect("addr");
    tokio::spawn(console.run());
    addr
}

/// An agent and a console in front of it.
pub async fn stack() -> (Creds, SocketAddr, ConsoleUnderTest) {
    stack_with(&AgentOptions::default()).await
}

/// [`stack`] with an agent started with `options`.
pub async fn stack_with(options: &AgentOptions) -> (Creds, SocketAddr, ConsoleUnderTest) {
    let creds = Creds::new();
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
        bosun_agent::tls::install_crypto_provider();
        let mut tls = rustls::ClientConfig::builder()
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(bosun_agent::probe::AnyServer))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        Self {
            addr,
            cookie: None,
            csrf: None,
            tls: Arc::new(tls),
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
        let tcp = tokio::net::TcpStream::connect(self.addr)
            .await
            .expect("connect");
        let tls = tokio_rustls::TlsConnector::from(Arc::clone(&self.tls))
            .connect(
                rustls_pki_types::ServerName::try_from("localhost").expect("name"),
                tcp,
            )
            .await
            .expect("TLS");
        let (mut sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(tls))
            .await
            .expect("handshake");
        tokio::spawn(conn);
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        if let Some(cookie) = &self.cookie {
            req = req.header(header::COOKIE, cookie);
        }
        if let (true, Some(token)) = (csrf, &self.csrf) {
            req = req.header("x-csrf-token", token);
        }
        let body = match body {
            Some(v) => {
                req = req.header(header::CONTENT_TYPE, "application/json");
                Bytes::from(v.to_string())
            }
            None => Bytes::new(),
        };
        tokio::time::timeout(
            Duration::from_secs(30),
            sender.send_request(req.body(Full::new(body)).expect("request")),
        )
        .await
        .expect("an answer within 30 s")
        .expect("the request")
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
        let body = tokio::time::timeout(Duration::from_secs(30), resp.into_body().collect())
            .await
            .expect("a body within 30 s")
            .expect("body")
            .to_bytes();
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

    pub async fn logged_in(addr: SocketAddr, username: &str, password: &str) -> Self {
        let mut client = Self::new(addr);
        client.login(username, password).await;
        client
    }
}

/// Polls `f` until it gives a value or 20 s pass.
pub async fn eventually<T, F, Fut>(what: &str, mut f: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Result<T, String>>,
{
    let start = std::time::Instant::now();
    loop {
        match f().await {
            Ok(v) => return v,
            Err(state) if start.elapsed() > Duration::from_secs(20) => {
                panic!("{what}: not within 20 s; last: {state}")
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(200)).await,
        }
    }
}
