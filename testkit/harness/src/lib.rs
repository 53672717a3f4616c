//! What the agent's integration tests (`agent/tests/integration/`) and the console's tests
//! (`ui/tests/`) share: a cluster's credentials ([`Pki`]), a real agent started in the test
//! process ([`start_agent`]), HTTPS clients ([`https`]), this machine's Docker engine and
//! the test image ([`engine`]), engines in containers for Swarms ([`node`]), a registry on
//! loopback ([`registry`]), and waiting ([`eventually`], [`wait_for`]).
//!
//! What only one suite needs stays in that suite: the agent's binary, its commands and its
//! processes in `agent/tests/integration/harness.rs`, the console and its browser-like
//! client in `ui/tests/common/mod.rs`.

pub mod agent;
pub mod engine;
pub mod https;
pub mod node;
pub mod pki;
pub mod registry;
pub mod wait;

use std::path::{Path, PathBuf};
use std::process::Output;

pub use agent::{start_agent, start_agent_with, AgentOptions};
pub use engine::{
    engine, engine_command, engine_has_container, engine_name, engine_ok, ensure_image, Name, IMAGE,
};
pub use node::{Images, Node};
pub use pki::Pki;
pub use registry::LoopbackRegistry;
pub use wait::{blocking, eventually, wait_for};

/// The workspace's root, where `scripts/` and `stack/` are: that of the package whose test
/// is running (cargo and nextest say which in `CARGO_MANIFEST_DIR` when they run a test),
/// so that two checkouts building into one target directory, which then share this
/// crate's build, each find their own; else this crate's own workspace.
pub fn repo_root() -> PathBuf {
    std::env::var_os("CARGO_MANIFEST_DIR")
        .and_then(|dir| workspace_of(Path::new(&dir)))
        .or_else(|| workspace_of(Path::new(env!("CARGO_MANIFEST_DIR"))))
        .expect("the workspace's root holds Cargo.lock")
}

/// The nearest of `dir` and its ancestors that holds the workspace's `Cargo.lock`.
fn workspace_of(dir: &Path) -> Option<PathBuf> {
    dir.ancestors()
        .find(|d| d.join("Cargo.lock").is_file())
        .map(Path::to_path_buf)
}

/// Asserts that a finished command succeeded, naming it `what` with its output otherwise;
/// returns its stdout.
pub fn ok(out: Output, what: &str) -> String {
    assert!(
        out.status.success(),
        "{what} failed ({}): {}{}",
        out.status,
        String::from_utf8_lossy(&out.stdout),
        String::from_utf8_lossy(&out.stderr)
    );
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A TCP port that was free on `ip` a moment ago.
pub fn free_port(ip: &str) -> u16 {
    std::net::TcpListener::bind((ip, 0))
        .and_then(|l| l.local_addr())
        .expect("a free port")
        .port()
}

#[cfg(test)]
mod tests {
    #[test]
    fn the_repo_root_holds_the_scripts_and_the_stack() {
        let root = super::repo_root();
        for path in [
            "scripts/build-test-image.sh",
            "scripts/build-image.sh",
            "stack/portainer-agent.yml",
        ] {
            assert!(root.join(path).is_file(), "{}", root.join(path).display());
        }
    }

    #[test]
    fn a_packages_workspace_is_its_nearest_ancestor_with_the_lock_file() {
        let outer = tempfile::tempdir().unwrap();
        let checkout = outer.path().join("checkout");
        let package = checkout.join("ui");
        std::fs::create_dir_all(package.join("tests")).unwrap();
        std::fs::write(outer.path().join("Cargo.lock"), "").unwrap();
        assert_eq!(
            super::workspace_of(&package.join("tests")).as_deref(),
            Some(outer.path())
        );
        std::fs::write(checkout.join("Cargo.lock"), "").unwrap();
        assert_eq!(
            super::workspace_of(&package.join("tests")).as_deref(),
            Some(checkout.as_path())
        );
    }
}
