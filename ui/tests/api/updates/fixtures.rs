//! What the update tests make on the real engine and remove after: images built from the
//! test image and pushed to a loopback registry, user networks with a subnet of their own,
//! a volume, and every container whose name starts with the test's.

use std::path::Path;
use std::process::Command;

use crate::common::*;

/// Builds `reference` from the test image with `dockerfile_tail` after its `FROM`; the
/// image's ID. The reference is in a label, so that no other test builds the same image
/// (the same ID) and removes it with its own.
pub fn build(reference: &str, dockerfile_tail: &str) -> String {
    ensure_image();
    let dir = tempfile::tempdir().expect("tempdir");
    std::fs::write(
        dir.path().join("Dockerfile"),
        format!("FROM {IMAGE}\nLABEL bosun-it.reference={reference:?}\n{dockerfile_tail}\n"),
    )
    .expect("Dockerfile");
    let out = blocking(|| {
        Command::new("timeout")
            .arg("120")
            .arg("docker")
            .args(["build", "-q", "-t", reference])
            .arg(dir.path())
            .env("DOCKER_BUILDKIT", "0")
            .env_remove("DOCKER_HOST")
            .env_remove("DOCKER_CONTEXT")
            .output()
            .expect("docker build")
    });
    ok(out, &format!("docker build -t {reference}"))
        .trim()
        .to_owned()
}

/// Builds `reference`, pushes it, and takes the tag off this engine, so that an update
/// has to pull it; the image's ID.
pub fn publish(reference: &str, dockerfile_tail: &str, made: &mut Made) -> String {
    let id = build(reference, dockerfile_tail);
    made.images.push(id.clone());
    engine_ok(&["push", "-q", reference]);
    engine_ok(&["rmi", reference]);
    id
}

/// Everything a test made, removed when dropped (containers first).
#[derive(Default)]
pub struct Made {
    /// Containers whose names start with one of these.
    pub container_prefixes: Vec<String>,
    pub networks: Vec<String>,
    pub volumes: Vec<String>,
    pub images: Vec<String>,
    pub tags: Vec<String>,
}

impl Drop for Made {
    fn drop(&mut self) {
        for prefix in &self.container_prefixes {
            let out = engine(&["ps", "-aq", "--filter", &format!("name=^/{prefix}")]);
            for id in String::from_utf8_lossy(&out.stdout).split_whitespace() {
                let _ = engine(&["rm", "-f", id]);
            }
        }
        for network in &self.networks {
            let _ = engine(&["network", "rm", network]);
        }
        for volume in &self.volumes {
            let _ = engine(&["volume", "rm", "-f", volume]);
        }
        for tag in &self.tags {
            let _ = engine(&["rmi", "-f", tag]);
        }
        for image in &self.images {
            let _ = engine(&["rmi", "-f", image]);
        }
    }
}

/// A user network with a /24 of its own (one no other network holds): its name and the
/// subnet's first three octets.
pub fn network(name: &str, made: &mut Made) -> (String, String) {
    let seed = std::process::id() as usize;
    for attempt in 0..40 {
        let third = (seed + attempt * 7 + name.len() * 13) % 250 + 1;
        let prefix = format!("10.231.{third}");
        let out = engine(&[
            "network",
            "create",
            "--subnet",
            &format!("{prefix}.0/24"),
            name,
        ]);
        if out.status.success() {
            made.networks.push(name.to_owned());
            return (name.to_owned(), prefix);
        }
    }
    panic!("no free 10.231.x.0/24 subnet for network {name}");
}

/// The container's inspect, as the engine has it.
pub fn inspect(name: &str) -> serde_json::Value {
    let text = engine_ok(&["inspect", name]);
    let list: serde_json::Value = serde_json::from_str(&text).expect("inspect JSON");
    list[0].clone()
}

/// The names of the containers whose name starts with `prefix`.
pub fn containers_named(prefix: &str) -> Vec<String> {
    let text = engine_ok(&[
        "ps",
        "-a",
        "--format",
        "{{.Names}}",
        "--filter",
        &format!("name=^/{prefix}"),
    ]);
    text.lines().map(str::to_owned).collect()
}

/// A directory to bind-mount, kept for the test.
pub fn bind_dir(dir: &Path) -> String {
    let path = dir.join("bind");
    std::fs::create_dir_all(&path).expect("bind dir");
    std::fs::write(path.join("hello"), "hi").expect("bind file");
    path.display().to_string()
}
