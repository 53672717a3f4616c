//! The child processes under test (HAProxy, plain and with TLS, and the agent), their scratch
//! directory, and their memory and CPU readings.

use std::ffi::OsString;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, Context, Result};
use bosun_agent::tls::pki::{self, Ca};
use rustls_pki_types::ServerName;
use tokio::process::{Child, Command};
use tokio::task::JoinHandle;

use crate::client::{tls_connector, tls_session, Dial};

const READY_TIMEOUT: Duration = Duration::from_secs(30);
const HELPER_TIMEOUT: Duration = Duration::from_secs(60);
const STOP_GRACE: Duration = Duration::from_secs(5);

/// A private temporary directory, removed on drop (also when the run fails).
pub struct Scratch(PathBuf);

impl Scratch {
    pub fn new() -> Result<Self> {
        let path = std::env::temp_dir().join(format!("bosun-bench-{}", std::process::id()));
        if path.exists() {
            std::fs::remove_dir_all(&path)
                .with_context(|| format!("clearing {}", path.display()))?;
        }
        std::fs::create_dir_all(&path).with_context(|| format!("creating {}", path.display()))?;
        use std::os::unix::fs::PermissionsExt;
        // The directory holds the CA key and the client key.
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o700))?;
        Ok(Self(path))
    }

    pub fn path(&self) -> &Path {
        &self.0
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A loopback port that was free a moment ago; the child binds it right after.
fn free_port() -> Result<u16> {
    let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0)).context("finding a free port")?;
    Ok(listener.local_addr()?.port())
}

/// A started child; killed if dropped without [`Service::stop`], so an error or Ctrl-C leaves nothing behind.
pub struct Service {
    name: &'static str,
    child: Child,
    log: PathBuf,
}

impl Service {
    pub fn spawn(name: &'static str, command: &mut Command, log: PathBuf) -> Result<Self> {
        let out =
            std::fs::File::create(&log).with_context(|| format!("creating {}", log.display()))?;
        let err = out.try_clone()?;
        let child = command
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true)
            .spawn()
            .with_context(|| format!("starting {name}"))?;
        Ok(Self { name, child, log })
    }

    pub fn pid(&self) -> Result<u32> {
        self.child
            .id()
            .ok_or_else(|| anyhow!("{} has exited", self.name))
    }

    /// Polls `probe` until it succeeds, failing early with the child's output if the child exits.
    pub async fn wait_ready<F, Fut>(&mut self, mut probe: F) -> Result<()>
    where
        F: FnMut() -> Fut,
        Fut: std::future::Future<Output = Result<()>>,
    {
        let deadline = Instant::now() + READY_TIMEOUT;
        loop {
            if let Some(status) = self.child.try_wait()? {
                bail!(
                    "{} exited during startup ({status}):\n{}",
                    self.name,
                    self.log_tail()
                );
            }
            let attempt = probe().await;
            match attempt {
                Ok(()) => return Ok(()),
                Err(e) if Instant::now() > deadline => {
                    bail!(
                        "{} not ready after {READY_TIMEOUT:?}: {e:#}\n{}",
                        self.name,
                        self.log_tail()
                    )
                }
                Err(_) => tokio::time::sleep(Duration::from_millis(50)).await,
            }
        }
    }

    fn log_tail(&self) -> String {
        let text = std::fs::read_to_string(&self.log).unwrap_or_default();
        let lines: Vec<&str> = text.lines().collect();
        lines[lines.len().saturating_sub(20)..].join("\n")
    }

    /// SIGTERM, then SIGKILL after a grace period.
    pub async fn stop(mut self) -> Result<()> {
        if let Some(pid) = self.child.id() {
            let _ = Command::new("kill")
                .arg("-TERM")
                .arg(pid.to_string())
                .status()
                .await;
            if tokio::time::timeout(STOP_GRACE, self.child.wait())
                .await
                .is_ok()
            {
                return Ok(());
            }
        }
        self.child
            .kill()
            .await
            .with_context(|| format!("killing {}", self.name))
    }
}

pub struct Haproxy {
    pub service: Service,
    pub dial: Dial,
    pub version: String,
    /// Negotiated TLS version and cipher suite, when HAProxy terminates TLS.
    pub tls: Option<String>,
}

/// How HAProxy terminates TLS, as the agent does: TLS 1.3 only, a server certificate from
/// the cluster CA, and a client certificate from that CA required on every connection.
pub struct HaproxyTls {
    /// Server certificate and its key in one PEM file, as HAProxy's `crt` takes them.
    pub crt: PathBuf,
    /// The cluster CA's certificate, which client certificates are verified against.
    pub ca: PathBuf,
    /// The client bundle (`ca.pem`, `cert.pem`, `key.pem`) the benchmark connects with.
    pub client: PathBuf,
}

impl HaproxyTls {
    /// Issues HAProxy a server certificate from the CA in `scratch/ca`, made (with a client
    /// bundle in `scratch/client`) if the agent's set-up has not made it already.
    pub fn issue(scratch: &Path) -> Result<Self> {
        let ca_dir = scratch.join("ca");
        let client = scratch.join("client");
        let ca = if ca_dir.join("ca.pem").exists() {
            Ca::load_dir(&ca_dir)?
        } else {
            let ca = Ca::init_dir(&ca_dir)?;
            let cert = ca.issue_client("bosun-bench", "admin", Duration::from_secs(86_400))?;
            pki::write_client_bundle(&client, &ca, &cert)?;
            ca
        };
        let server = ca.issue_server(
            "haproxy",
            &["localhost".to_owned()],
            &[IpAddr::V4(Ipv4Addr::LOCALHOST)],
            1,
        )?;
        let crt = scratch.join("haproxy-tls.pem");
        let mut pem = server.cert_pem;
        if !pem.ends_with('\n') {
            pem.push('\n');
        }
        pem.push_str(&server.key_pem);
        write_private(&crt, pem.as_bytes())?;
        Ok(Self {
            crt,
            ca: ca_dir.join("ca.pem"),
            client,
        })
    }
}

/// Writes a file only its owner can read (it holds a private key).
fn write_private(path: &Path, contents: &[u8]) -> Result<()> {
    use std::io::Write as _;
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .write(true)
        .create_new(true)
        .mode(0o600)
        .open(path)
        .and_then(|mut f| f.write_all(contents))
        .with_context(|| format!("writing {}", path.display()))
}

/// HAProxy in HTTP mode in front of the engine's socket, as docker-socket-proxy runs it,
/// without its path rules; with `tls`, terminating TLS in front of the same backend.
pub async fn start_haproxy(
    bin: &str,
    scratch: &Path,
    socket: &Path,
    tls: Option<&HaproxyTls>,
) -> Result<Haproxy> {
    let version = helper(Command::new(bin).arg("-v")).await.with_context(|| {
        format!("{bin} is not usable (scripts/bench.sh installs Debian's haproxy)")
    })?;
    let version = version
        .lines()
        .next()
        .and_then(|l| l.split_whitespace().nth(2))
        .unwrap_or("unknown")
        .to_owned();

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let (name, bind) = match tls {
        None => ("haproxy", addr.to_string()),
        Some(tls) => (
            "haproxy-tls",
            format!(
                "{addr} ssl crt {} ca-file {} verify required ssl-min-ver TLSv1.3 alpn http/1.1",
                tls.crt.display(),
                tls.ca.display()
            ),
        ),
    };
    let config = format!(
        "\
global
    maxconn 4096

defaults
    mode http
    timeout connect 5s
    # A 500 MB log stream must not be cut: client/server timeouts only fire on inactivity,
    # and the tunnel timeout covers upgraded or streamed exchanges.
    timeout client 10m
    timeout server 10m
    timeout tunnel 1h
    timeout http-keep-alive 1m

frontend docker
    bind {bind}
    default_backend engine

backend engine
    server engine {socket}
",
        socket = socket.display()
    );
    let config_path = scratch.join(format!("{name}.cfg"));
    std::fs::write(&config_path, config).with_context(|| format!("writing {name}.cfg"))?;

    let mut service = Service::spawn(
        name,
        Command::new(bin).arg("-f").arg(&config_path).arg("-db"),
        scratch.join(format!("{name}.log")),
    )?;
    let dial = match tls {
        None => Dial::Tcp(addr),
        Some(tls) => Dial::Tls {
            addr,
            connector: tls_connector(&tls.client)?,
            name: ServerName::try_from("localhost")?,
        },
    };
    service
        .wait_ready(|| async { dial.connect().await?.get_ok("/_ping").await.map(drop) })
        .await?;
    let session = match tls {
        None => None,
        Some(_) => Some(tls_session(&dial).await?),
    };
    Ok(Haproxy {
        service,
        dial,
        version,
        tls: session,
    })
}

pub struct Agent {
    pub service: Service,
    pub addr: SocketAddr,
    pub dial: Dial,
    /// Negotiated TLS version and cipher suite.
    pub tls: String,
}

/// Sets up a CA, a client certificate and a secret with the agent's own commands, then runs it
/// as a proxy alone: its image update checks, whose first runs at a random time in its first
/// 11 minutes, are off, so that none lands in a row that measures the proxy.
pub async fn start_agent(bin: &Path, scratch: &Path) -> Result<Agent> {
    start_agent_with(
        bin,
        scratch,
        &["--update-check-interval".into(), "0".into()],
    )
    .await
}

/// [`start_agent`] with more arguments for `bosun-agent run`. The CA is left in
/// `scratch/ca`, the client bundle in `scratch/client` and the secret in `scratch/secret`.
pub async fn start_agent_with(bin: &Path, scratch: &Path, extra: &[OsString]) -> Result<Agent> {
    let ca = scratch.join("ca");
    let client = scratch.join("client");
    let secret = scratch.join("secret");
    let data = scratch.join("data");
    std::fs::create_dir_all(&data)?;
    helper(Command::new(bin).args(["certs", "init", "--dir"]).arg(&ca)).await?;
    helper(
        Command::new(bin)
            .args(["certs", "client", "--dir"])
            .arg(&ca)
            .args(["--name", "bosun-bench", "--out"])
            .arg(&client),
    )
    .await?;
    helper(Command::new(bin).args(["secret", "--out"]).arg(&secret)).await?;

    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, free_port()?));
    let mut service = Service::spawn(
        "bosun-agent",
        Command::new(bin)
            .arg("run")
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--tls-dir")
            .arg(&ca)
            .arg("--secret-file")
            .arg(&secret)
            .arg("--data-dir")
            .arg(&data)
            .args(["--log-level", "warn"])
            .args(extra),
        scratch.join("agent.log"),
    )?;
    let dial = Dial::Tls {
        addr,
        connector: tls_connector(&client)?,
        name: ServerName::try_from("localhost")?,
    };
    service
        .wait_ready(|| async {
            dial.connect()
                .await?
                .get_ok("/agent/v1/health")
                .await
                .map(drop)
        })
        .await?;
    let tls = tls_session(&dial).await?;
    Ok(Agent {
        service,
        addr,
        dial,
        tls,
    })
}

/// Runs a short command to completion and returns its stdout.
pub async fn helper(command: &mut Command) -> Result<String> {
    let shown = format!("{:?}", command.as_std());
    let output = tokio::time::timeout(
        HELPER_TIMEOUT,
        command.stdin(Stdio::null()).kill_on_drop(true).output(),
    )
    .await
    .with_context(|| format!("{shown} timed out"))?
    .with_context(|| format!("running {shown}"))?;
    if !output.status.success() {
        bail!(
            "{shown} failed ({}): {}",
            output.status,
            String::from_utf8_lossy(&output.stderr).trim()
        );
    }
    Ok(String::from_utf8_lossy(&output.stdout).into_owned())
}

/// Resident and peak resident memory, in bytes.
#[derive(Clone, Copy)]
pub struct Memory {
    pub rss: u64,
    pub hwm: u64,
}

pub fn memory(pid: u32) -> Result<Memory> {
    let path = format!("/proc/{pid}/status");
    let status = std::fs::read_to_string(&path).with_context(|| format!("reading {path}"))?;
    let field = |name: &str| -> Result<u64> {
        let line = status
            .lines()
            .find_map(|l| l.strip_prefix(name))
            .ok_or_else(|| anyhow!("{path} has no {name}"))?;
        let kb: u64 = line
            .trim()
            .trim_end_matches("kB")
            .trim()
            .parse()
            .with_context(|| format!("parsing {name} in {path}"))?;
        Ok(kb * 1024)
    };
    Ok(Memory {
        rss: field("VmRSS:")?,
        hwm: field("VmHWM:")?,
    })
}

/// CPU time (user + system, all threads) a process has used, in milliseconds.
pub fn cpu_millis(pid: &str) -> Option<u64> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).ok()?;
    // The command name may hold spaces and parentheses; the fields after the last ')' are fixed.
    let fields: Vec<&str> = stat
        .get(stat.rfind(')')? + 1..)?
        .split_whitespace()
        .collect();
    let utime: u64 = fields.get(11)?.parse().ok()?;
    let stime: u64 = fields.get(12)?.parse().ok()?;
    // Clock ticks are USER_HZ, which Linux fixes at 100 for user space.
    Some((utime + stime) * 10)
}

/// The first process whose command name is `comm`.
pub fn find_process(comm: &str) -> Option<u32> {
    std::fs::read_dir("/proc")
        .ok()?
        .flatten()
        .find_map(|entry| {
            let pid: u32 = entry.file_name().to_str()?.parse().ok()?;
            let name = std::fs::read_to_string(entry.path().join("comm")).ok()?;
            (name.trim_end() == comm).then_some(pid)
        })
}

/// Samples the agent's RSS in the background and keeps the largest value seen.
pub struct RssSampler {
    peak: Arc<AtomicU64>,
    task: JoinHandle<()>,
}

impl RssSampler {
    pub fn start(pid: u32) -> Self {
        let peak = Arc::new(AtomicU64::new(0));
        let seen = peak.clone();
        let task = tokio::spawn(async move {
            let mut tick = tokio::time::interval(Duration::from_millis(20));
            loop {
                tick.tick().await;
                match memory(pid) {
                    Ok(m) => {
                        seen.fetch_max(m.rss, Ordering::Relaxed);
                    }
                    Err(_) => break,
                }
            }
        });
        Self { peak, task }
    }

    pub fn peak(&self) -> u64 {
        self.peak.load(Ordering::Relaxed)
    }
}

impl Drop for RssSampler {
    fn drop(&mut self) {
        self.task.abort();
    }
}
