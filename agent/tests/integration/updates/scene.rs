//! What the update-check tests share: the registry scene (images pushed to a loopback
//! registry, containers on the real engine running them), a service made on a fake manager,
//! and reading items out of the agent's answers.

use bosun_fake_engine::FakeEngine;
use bosun_testkit::LoopbackRegistry;
use serde_json::Value;

use crate::harness::*;

/// Local image tags made by a test, removed when dropped.
pub struct Tags(pub Vec<String>);

impl Tags {
    pub fn add(&mut self, tag: &str) -> String {
        self.0.push(tag.to_owned());
        tag.to_owned()
    }
}

impl Drop for Tags {
    fn drop(&mut self) {
        for tag in &self.0 {
            let _ = engine(&["rmi", "-f", tag]);
        }
    }
}

/// An image of its own: the test image with one more file, committed under `tag`.
pub fn new_image(tag: &str) {
    let maker = Name::new("upd-make");
    engine_ok(&[
        "run",
        "--name",
        maker.as_str(),
        IMAGE,
        "sh",
        "-c",
        "echo new > /tmp/new",
    ]);
    engine_ok(&["commit", maker.as_str(), tag]);
}

/// The repository digest of a local image as pushed to `registry`.
pub fn pushed_digest(tag: &str, registry: &str) -> String {
    let digests = engine_ok(&["image", "inspect", "--format", "{{json .RepoDigests}}", tag]);
    let list: Vec<String> = serde_json::from_str(&digests).expect("RepoDigests");
    list.iter()
        .find(|d| d.starts_with(&format!("{registry}/")))
        .and_then(|d| d.split('@').nth(1))
        .unwrap_or_else(|| panic!("{tag} has no digest from {registry}: {list:?}"))
        .to_owned()
}

/// A registry with `app:1.0.0` (the test image) run by containers, then a new image pushed
/// as `1.0.1`, `1.1.0`, `2.0.0` and over `1.0.0`.
pub struct Scene {
    pub registry: LoopbackRegistry,
    pub old_digest: String,
    pub new_digest: String,
    /// Runs `1.0.0`, no labels.
    pub plain: (Name, String),
    /// Runs `1.0.0` too: the same tag is asked once.
    pub twin: (Name, String),
    /// Runs `1.0.1`, excludes `2.x` and links to the release.
    pub excluding: (Name, String),
    /// Runs `1.0.1`, Bosun's include (`1.0.x`) beating What's Up Docker's.
    pub including: (Name, String),
    /// `wud.watch=false`.
    pub skipped: (Name, String),
    pub _tags: Tags,
}

fn scene_in(registry: LoopbackRegistry) -> Scene {
    ensure_image();
    let host = registry.host();
    let mut tags = Tags(Vec::new());
    let app = |tag: &str| format!("{host}/bosun-it-upd/app:{tag}");
    let v100 = tags.add(&app("1.0.0"));
    engine_ok(&["tag", IMAGE, &v100]);
    engine_ok(&["push", &v100]);
    let old_digest = pushed_digest(&v100, &host);

    let run = |tag: &str, labels: &[&str], v: &str| {
        let name = Name::new(tag);
        let mut args = vec!["run", "-d", "--name", name.as_str()];
        for l in labels {
            args.extend(["--label", l]);
        }
        args.extend([v, "sleep", "3600"]);
        let id = engine_ok(&args);
        (name, id)
    };
    let plain = run("upd-plain", &[], &v100);
    let twin = run("upd-twin", &[], &v100);
    let skipped = run("upd-skipped", &["wud.watch=false"], &v100);

    // The new image under 1.0.1, 1.1.0 and 2.0.0, and over 1.0.0 through the registry's
    // other name, so that the local 1.0.0 stays what the containers run.
    let v101 = tags.add(&app("1.0.1"));
    new_image(&v101);
    engine_ok(&["push", &v101]);
    let new_digest = pushed_digest(&v101, &host);
    for other in [
        app("1.1.0"),
        app("2.0.0"),
        format!("localhost:{}/bosun-it-upd/app:1.0.0", registry.port),
    ] {
        let other = tags.add(&other);
        engine_ok(&["tag", &v101, &other]);
        engine_ok(&["push", &other]);
    }
    let excluding = run(
        "upd-excluding",
        &[
            r"wud.tag.exclude=^2\.",
            "wud.link.template=https://example.org/app/releases/${major}.${minor}.${patch}",
        ],
        &v101,
    );
    let including = run(
        "upd-including",
        &[r"wud.tag.include=^2\.", r"bosun.tag.include=^1\.0\.\d+$"],
        &v101,
    );
    Scene {
        registry,
        old_digest,
        new_digest,
        plain,
        twin,
        excluding,
        including,
        skipped,
        _tags: tags,
    }
}

pub async fn scene() -> Scene {
    let registry = LoopbackRegistry::start().await;
    blocking(|| scene_in(registry))
}

/// The item of container `id` in a node's answer.
pub fn item(node: &Value, id: &str) -> Value {
    node["items"]
        .as_array()
        .and_then(|items| items.iter().find(|i| i["id"] == id))
        .cloned()
        .unwrap_or_else(|| panic!("no item for {id} in {node}"))
}

pub fn newer(item: &Value) -> Vec<(String, String)> {
    item["newer_tags"]
        .as_array()
        .expect("newer_tags")
        .iter()
        .map(|t| {
            (
                t["tag"].as_str().unwrap_or_default().to_owned(),
                t["kind"].as_str().unwrap_or_default().to_owned(),
            )
        })
        .collect()
}

/// `POST /services/create` on a fake engine, straight to it; the new service's ID.
pub async fn create_service(fake: &FakeEngine, spec: &Value) -> String {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let body = spec.to_string();
    let mut stream = tokio::net::TcpStream::connect(fake.addr())
        .await
        .expect("the fake engine");
    let head = format!(
        "POST /v1.41/services/create HTTP/1.1\r\nHost: docker\r\nContent-Type: application/json\r\nContent-Length: {}\r\nConnection: close\r\n\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).await.expect("write");
    stream.write_all(body.as_bytes()).await.expect("write");
    let mut answer = String::new();
    stream.read_to_string(&mut answer).await.expect("read");
    let json = answer.split("\r\n\r\n").nth(1).unwrap_or_default();
    let json = json.trim_start_matches(|c: char| c.is_ascii_hexdigit() || c.is_whitespace());
    let end = json.rfind('}').map_or(0, |i| i + 1);
    let created: Value = serde_json::from_str(&json[..end])
        .unwrap_or_else(|e| panic!("service create answered {answer:?}: {e}"));
    created["ID"].as_str().expect("an ID").to_owned()
}
