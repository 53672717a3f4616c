//! A container registry on loopback: Debian's `docker-registry`, open or behind htpasswd
//! basic auth, its access log kept so that tests and benchmarks can count what was asked.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use crate::{eventually, free_port};

/// How long the registry has to start listening.
const START: Duration = Duration::from_secs(20);

/// A registry on a free loopback port, with its storage in a temporary directory; stopped
/// when dropped. Loopback registries need no TLS: dockerd allows 127.0.0.0/8 insecurely.
pub struct LoopbackRegistry {
    child: Child,
    pub port: u16,
    access_log: PathBuf,
    dir: tempfile::TempDir,
}

/// One line of the registry's access log: the method and the path with its query.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Asked {
    pub method: String,
    pub path: String,
}

impl LoopbackRegistry {
    /// A registry anyone may pull from and push to.
    pub async fn start() -> Self {
        Self::start_with(None).await
    }

    /// A registry that asks for `user` and `password` (bcrypt htpasswd, made with Debian's
    /// apache2-utils).
    pub async fn with_basic_auth(user: &str, password: &str) -> Self {
        Self::start_with(Some((user, password))).await
    }

    async fn start_with(basic: Option<(&str, &str)>) -> Self {
        let found = Command::new("docker-registry").arg("--version").output();
        assert!(
            found.is_ok_and(|o| o.status.success()),
            "docker-registry is not installed: scripts/test.sh installs Debian's docker-registry"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let port = free_port("127.0.0.1");
        let mut auth = String::new();
        if let Some((user, password)) = basic {
            let out = Command::new("htpasswd")
                .args(["-Bbn", user, password])
                .output();
            let out = match out {
                Ok(o) if o.status.success() => o.stdout,
                _ => panic!(
                    "htpasswd is not installed: scripts/test.sh installs Debian's apache2-utils"
                ),
            };
            let file = dir.path().join("htpasswd");
            std::fs::write(&file, out).expect("htpasswd file");
            auth = format!(
                "auth:\n  htpasswd:\n    realm: bosun-it\n    path: {}\n",
                file.display()
            );
        }
        let config = dir.path().join("config.yml");
        std::fs::write(
            &config,
            format!(
                "version: 0.1\nlog:\n  level: warn\nstorage:\n  filesystem:\n    rootdirectory: {}\n\
                 http:\n  addr: 127.0.0.1:{port}\n{auth}",
                dir.path().join("data").display()
            ),
        )
        .expect("registry config");
        let access_log = dir.path().join("access.log");
        let log = std::fs::File::create(&access_log).expect("access log");
        let child = Command::new("docker-registry")
            .arg("serve")
            .arg(&config)
            .stdout(Stdio::from(log))
            .stderr(Stdio::null())
            .spawn()
            .expect("start docker-registry");
        let registry = Self {
            child,
            port,
            access_log,
            dir,
        };
        eventually("the registry listens", START, || async {
            tokio::net::TcpStream::connect(("127.0.0.1", port))
                .await
                .map(|_| ())
                .map_err(|e| e.to_string())
        })
        .await;
        registry
    }

    /// `127.0.0.1:PORT`.
    pub fn host(&self) -> String {
        format!("127.0.0.1:{}", self.port)
    }

    /// A directory that lives as long as the registry, for the test's files.
    pub fn scratch(&self) -> PathBuf {
        self.dir.path().to_owned()
    }

    /// Every request the registry answered so far, in order.
    pub fn asked(&self) -> Vec<Asked> {
        let log = std::fs::read_to_string(&self.access_log).unwrap_or_default();
        log.lines()
            .filter_map(|line| {
                // Combined log format: `… "METHOD /path HTTP/1.1" status …`.
                let request = line.split('"').nth(1)?;
                let mut parts = request.split(' ');
                Some(Asked {
                    method: parts.next()?.to_owned(),
                    path: parts.next()?.to_owned(),
                })
            })
            .collect()
    }
}

impl Drop for LoopbackRegistry {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}
