//! The registry scene the update-check tests share: images pushed to a loopback registry,
//! containers on the real engine running them, and what each is expected to show.

use bosun_testkit::LoopbackRegistry;

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
