//! The console binary run as its own process, so that its memory is its own to measure.

use std::net::SocketAddr;
use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use bosun_testkit::{free_port, Pki};

use super::{ADMIN_PASSWORD, SETTLE};

/// The resident memory of process `pid`, in kB.
pub fn rss_kb(pid: u32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).expect("the status");
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS")
}

/// `bosun-ui` on a free loopback port, with the test admin's password; killed when dropped.
pub struct ConsoleProcess {
    child: Child,
    pub addr: SocketAddr,
}

impl ConsoleProcess {
    /// With `args` besides the listen address, data directory and admin password, once it
    /// accepts connections.
    pub async fn start(data: &Path, args: &[String]) -> Self {
        let password = data.join("admin-password");
        std::fs::write(&password, format!("{ADMIN_PASSWORD}\n")).expect("password file");
        let addr: SocketAddr = format!("127.0.0.1:{}", free_port("127.0.0.1"))
            .parse()
            .expect("addr");
        let child = Command::new(env!("CARGO_BIN_EXE_bosun-ui"))
            .arg("--listen")
            .arg(addr.to_string())
            .arg("--data-dir")
            .arg(data)
            .arg("--admin-password-file")
            .arg(&password)
            .arg("--log-level")
            .arg("warn")
            .args(args)
            .stdout(Stdio::null())
            .stderr(Stdio::inherit())
            .spawn()
            .expect("start bosun-ui");
        let started = Instant::now();
        while tokio::net::TcpStream::connect(addr).await.is_err() {
            assert!(
                started.elapsed() < SETTLE,
                "bosun-ui did not listen within {SETTLE:?}"
            );
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        Self { child, addr }
    }

    /// With an endpoint for `agent`, as the console's tests' in-process consoles have.
    pub async fn with_endpoint(data: &Path, creds: &Pki, agent: SocketAddr) -> Self {
        let args = [
            "--endpoint-url".to_owned(),
            format!("https://localhost:{}", agent.port()),
            "--endpoint-ca".to_owned(),
            creds.ca_cert().display().to_string(),
            "--endpoint-secret-file".to_owned(),
            creds.secret.display().to_string(),
        ];
        Self::start(data, &args).await
    }

    pub fn pid(&self) -> u32 {
        self.child.id()
    }
}

impl Drop for ConsoleProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
