//! A container registry on loopback for the tests that pull: Debian's `docker-registry`.

use std::process::{Child, Command, Stdio};

use bosun_testkit::{eventually, free_port};

use super::SETTLE;

/// A registry on a free loopback port, with its storage in a temporary directory; stopped
/// when dropped. Loopback registries need no TLS: dockerd allows 127.0.0.0/8 insecurely.
pub struct LoopbackRegistry {
    child: Child,
    pub port: u16,
    _dir: tempfile::TempDir,
}

impl LoopbackRegistry {
    pub async fn start() -> Self {
        let found = Command::new("docker-registry").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "docker-registry is not installed: scripts/test.sh installs Debian's docker-registry"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port("127.0.0.1");
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Self {
            child,
            port,
            _dir: dir,
        };
        eventually("the registry listens", SETTLE, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        registry
    }
}

impl Drop for LoopbackRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
