//! This machine's Docker engine, through the docker CLI talking to it directly (the ground
//! truth a test compares the agent's answers with), the image every test container runs,
//! and containers named for one test and removed after it.

use std::process::{Command, Output};
use std::sync::atomic::{AtomicU32, Ordering};

use crate::{ok, repo_root, wait::blocking};

/// The image every test container runs; built from scratch by the project's script.
pub const IMAGE: &str = "bosun-test:latest";

/// Builds the test image unless it exists, once per process. Serialised across test
/// processes by a lock file, since nextest runs each test in its own process.
pub fn ensure_image() {
    static ONCE: std::sync::Once = std::sync::Once::new();
    ONCE.call_once(|| {
        let out = Command::new("flock")
            .arg("/tmp/bosun-test-image.lock")
            .arg(repo_root().join("scripts/build-test-image.sh"))
            .output()
            .expect("flock and scripts/build-test-image.sh must be runnable");
        ok(out, "building the test image (scripts/build-test-image.sh)");
    });
}

/// A docker CLI command talking to the engine directly, whatever the environment points it
/// at; for one that runs until stopped (`docker events`).
pub fn engine_command() -> Command {
    direct(Command::new("docker"))
}

/// The docker CLI talking to the engine directly, whatever the environment points it at.
pub fn engine(args: &[&str]) -> Output {
    let mut timed = Command::new("timeout");
    timed.arg("120").arg("docker");
    direct(timed).args(args).output().expect("run docker")
}

/// `cmd` without what would point the docker CLI elsewhere than this machine's engine.
fn direct(mut cmd: Command) -> Command {
    cmd.env_remove("DOCKER_HOST")
        .env_remove("DOCKER_TLS_VERIFY")
        .env_remove("DOCKER_CERT_PATH")
        .env_remove("DOCKER_CONTEXT");
    cmd
}

/// [`engine`], asserting success; its stdout, trimmed. Safe to call from a test on the
/// multi-threaded runtime: the runtime's other tasks keep going meanwhile.
pub fn engine_ok(args: &[&str]) -> String {
    let out = blocking(|| engine(args));
    ok(
        out,
        &format!("docker {} (direct to the engine)", args.join(" ")),
    )
    .trim()
    .to_owned()
}

/// The engine's node name.
pub fn engine_name() -> String {
    engine_ok(&["info", "--format", "{{.Name}}"])
}

/// Whether the engine has a container of that name.
pub fn engine_has_container(name: &str) -> bool {
    let out = engine(&["ps", "-a", "-q", "--filter", &format!("name=^/{name}$")]);
    !String::from_utf8_lossy(&out.stdout).trim().is_empty()
}

/// A unique container name, `bosun-it-TAG-PID-N`; the container is removed from the
/// engine when this is dropped.
pub struct Name(pub String);

impl Name {
    pub fn new(tag: &str) -> Self {
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        Self(format!("bosun-it-{tag}-{}-{n}", std::process::id()))
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    /// Runs a container of [`IMAGE`] by this name on the engine, detached, with `cmd`; its
    /// ID.
    pub fn run(&self, cmd: &[&str]) -> String {
        ensure_image();
        let mut args = vec!["run", "-d", "--name", &self.0, IMAGE];
        args.extend_from_slice(cmd);
        engine_ok(&args)
    }

    /// The container's state on the engine: `running`, `exited`, …
    pub fn state(&self) -> String {
        engine_ok(&["inspect", "--format", "{{.State.Status}}", &self.0])
    }
}

impl Drop for Name {
    fn drop(&mut self) {
        let _ = engine(&["rm", "-f", &self.0]);
    }
}
