//! What the notification channels deliver to, real and on loopback: an HTTP receiver
//! that records every request (webhook, Slack, Discord, ntfy and Gotify shapes alike),
//! Debian's `mosquitto` broker, and `aiosmtpd` from PyPI as an SMTP sink writing a
//! maildir.

use std::collections::VecDeque;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};

use axum::extract::{Request, State};
use axum::http::{HeaderMap, StatusCode};
use bytes::Bytes;
use tokio::net::TcpListener;
use tokio_util::sync::CancellationToken;

use super::*;

/// One request the receiver got.
#[derive(Debug, Clone)]
pub struct Received {
    pub method: String,
    pub path: String,
    pub query: String,
    pub headers: HeaderMap,
    pub body: Bytes,
}

impl Received {
    pub fn json(&self) -> serde_json::Value {
        serde_json::from_slice(&self.body).unwrap_or_else(|e| {
            panic!(
                "{} got a body that is not JSON ({e}): {}",
                self.path,
                String::from_utf8_lossy(&self.body)
            )
        })
    }

    pub fn header(&self, name: &str) -> String {
        self.headers
            .get(name)
            .map(|v| String::from_utf8_lossy(v.as_bytes()).into_owned())
            .unwrap_or_default()
    }
}

#[derive(Default)]
struct Book {
    received: Vec<Received>,
    /// Statuses to answer with, in order; 200 once they are used up.
    answers: VecDeque<u16>,
}

/// An HTTP server on 127.0.0.1 that records every request and answers 200, or the
/// statuses it is told to answer first; stopped when dropped.
pub struct HttpReceiver {
    pub addr: SocketAddr,
    book: Arc<Mutex<Book>>,
    stop: CancellationToken,
}

impl Drop for HttpReceiver {
    fn drop(&mut self) {
        self.stop.cancel();
    }
}

async fn record(State(book): State<Arc<Mutex<Book>>>, request: Request) -> StatusCode {
    let (parts, body) = request.into_parts();
    let body = axum::body::to_bytes(body, 1 << 20)
        .await
        .unwrap_or_default();
    let mut book = book.lock().expect("the receiver's book");
    book.received.push(Received {
        method: parts.method.to_string(),
        path: parts.uri.path().to_owned(),
        query: parts.uri.query().unwrap_or_default().to_owned(),
        headers: parts.headers,
        body,
    });
    let status = book.answers.pop_front().unwrap_or(200);
    StatusCode::from_u16(status).unwrap_or(StatusCode::OK)
}

impl HttpReceiver {
    pub async fn start() -> Self {
        let listener = TcpListener::bind("127.0.0.1:0")
            .await
            .expect("a loopback port");
        let addr = listener.local_addr().expect("addr");
        let book = Arc::new(Mutex::new(Book::default()));
        let router = axum::Router::new()
            .fallback(record)
            .with_state(Arc::clone(&book));
        let stop = CancellationToken::new();
        let stopped = stop.clone();
        tokio::spawn(async move {
            let _ = axum::serve(listener, router)
                .with_graceful_shutdown(stopped.cancelled_owned())
                .await;
        });
        Self { addr, book, stop }
    }

    /// `http://127.0.0.1:PORT` and `path`.
    pub fn url(&self, path: &str) -> String {
        format!("http://{}{path}", self.addr)
    }

    /// Answers the next requests with these statuses, then 200 again.
    pub fn answer_first(&self, statuses: &[u16]) {
        self.book
            .lock()
            .expect("book")
            .answers
            .extend(statuses.iter().copied());
    }

    /// Every request so far to `path`.
    pub fn received(&self, path: &str) -> Vec<Received> {
        self.book
            .lock()
            .expect("book")
            .received
            .iter()
            .filter(|r| r.path == path)
            .cloned()
            .collect()
    }

    /// Waits until `path` got `count` requests, and returns them.
    pub async fn until(&self, path: &str, count: usize) -> Vec<Received> {
        eventually(&format!("{count} request(s) to {path}"), SETTLE, || async {
            let got = self.received(path);
            if got.len() >= count {
                Ok(got)
            } else {
                Err(format!("{} so far", got.len()))
            }
        })
        .await
    }
}

/// A child process killed when dropped.
pub struct Daemon {
    child: Child,
    pub port: u16,
    /// Its files: config, maildir.
    pub dir: tempfile::TempDir,
}

impl Drop for Daemon {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Waits until something listens on `port`.
async fn until_listening(what: &str, port: u16) {
    eventually(&format!("{what} listens on {port}"), SETTLE, || async {
        tokio::net::TcpStream::connect(("127.0.0.1", port))
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    })
    .await;
}

/// Debian's `mosquitto` on a free loopback port, with a config of its own: anonymous
/// clients, no persistence.
pub async fn mosquitto() -> Daemon {
    let dir = tempfile::tempdir().expect("tempdir");
    let port = free_port("127.0.0.1");
    let config = dir.path().join("mosquitto.conf");
    std::fs::write(
        &config,
        format!("listener {port} 127.0.0.1\nallow_anonymous true\npersistence false\n"),
    )
    .expect("the broker's config");
    let binary = ["/usr/sbin/mosquitto", "mosquitto"]
        .into_iter()
        .find(|b| Path::new(b).exists())
        .unwrap_or("mosquitto");
    let child = Command::new(binary)
        .arg("-c")
        .arg(&config)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| {
            panic!(
                "cannot run mosquitto ({e}): the MQTT tests need Debian's mosquitto; \
                 scripts/test.sh installs it (apt-get install mosquitto)"
            )
        });
    let daemon = Daemon { child, port, dir };
    until_listening("mosquitto", port).await;
    daemon
}

/// Where aiosmtpd's Python is: the venv `scripts/test.sh` makes under the target
/// directory, or `$SMTP_SINK_PYTHON`.
fn smtp_python() -> PathBuf {
    if let Some(path) = std::env::var_os("SMTP_SINK_PYTHON") {
        return PathBuf::from(path);
    }
    let target = std::env::var_os("CARGO_TARGET_DIR")
        .map(PathBuf::from)
        .unwrap_or_else(|| repo_root().join("target"));
    target.join("smtp-venv/bin/python")
}

/// How the SMTP sink protects its connections.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SmtpTls {
    /// Plain SMTP.
    None,
    /// STARTTLS offered and required before mail is taken.
    Starttls,
    /// TLS from the first byte (SMTPS).
    Implicit,
}

/// aiosmtpd on a free loopback port, saving each message in a maildir.
pub async fn smtp_sink() -> Daemon {
    smtp_sink_with(SmtpTls::None).await.0
}

/// [`smtp_sink`] with TLS: a self-signed certificate for 127.0.0.1 and localhost, whose
/// PEM is returned to be trusted.
pub async fn smtp_sink_with(tls: SmtpTls) -> (Daemon, String) {
    let python = smtp_python();
    let has_aiosmtpd = Command::new(&python)
        .args(["-c", "import aiosmtpd"])
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    assert!(
        has_aiosmtpd,
        "{} cannot import aiosmtpd: the email test needs it from PyPI; scripts/test.sh \
         installs it (python3 -m venv target/smtp-venv && target/smtp-venv/bin/pip install \
         aiosmtpd), or set SMTP_SINK_PYTHON",
        python.display()
    );
    let dir = tempfile::tempdir().expect("tempdir");
    let maildir = dir.path().join("mail");
    let port = free_port("127.0.0.1");
    bosun_serve::kept_cert::self_signed(
        dir.path(),
        "smtp",
        &["localhost".to_owned()],
        &[std::net::IpAddr::from([127, 0, 0, 1])],
    )
    .expect("a certificate for the SMTP sink");
    let (cert, key) = (
        dir.path().join("smtp-cert.pem"),
        dir.path().join("smtp-key.pem"),
    );
    let cert_pem = std::fs::read_to_string(&cert).expect("the certificate");
    let mut command = Command::new(&python);
    command
        .args(["-m", "aiosmtpd", "-n", "-l"])
        .arg(format!("127.0.0.1:{port}"));
    match tls {
        SmtpTls::None => {}
        SmtpTls::Starttls => {
            command
                .arg("--tlscert")
                .arg(&cert)
                .arg("--tlskey")
                .arg(&key);
        }
        SmtpTls::Implicit => {
            command
                .arg("--smtpscert")
                .arg(&cert)
                .arg("--smtpskey")
                .arg(&key);
        }
    }
    let child = command
        .args(["-c", "aiosmtpd.handlers.Mailbox"])
        .arg(&maildir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap_or_else(|e| panic!("cannot run {} -m aiosmtpd: {e}", python.display()));
    let daemon = Daemon { child, port, dir };
    until_listening("aiosmtpd", port).await;
    (daemon, cert_pem)
}

impl Daemon {
    /// The messages an SMTP sink saved so far, as text.
    pub fn mails(&self) -> Vec<String> {
        let new = self.dir.path().join("mail/new");
        let Ok(entries) = std::fs::read_dir(new) else {
            return Vec::new();
        };
        entries
            .filter_map(|e| e.ok())
            .filter_map(|e| std::fs::read_to_string(e.path()).ok())
            .collect()
    }
}
