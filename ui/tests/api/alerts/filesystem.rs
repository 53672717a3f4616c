//! A real filesystem filled past a disk rule's threshold: a 32 MB ext4 image mounted
//! through a loop device, filled with one file to over 90 %, fires the rule after its
//! duration, and emptied, resolves it.

use std::io::Write;
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

use http::StatusCode;
use serde_json::{json, Value};

use super::*;

/// A small ext4 filesystem of the test's own, mounted through a loop device; unmounted
/// (and its loop device let go) when dropped.
struct LoopFilesystem {
    mount: PathBuf,
    _dir: tempfile::TempDir,
}

fn run(program: &str, args: &[&str]) -> Result<(), String> {
    let out = Command::new(program)
        .args(args)
        .output()
        .map_err(|e| format!("{program}: {e}"))?;
    if out.status.success() {
        Ok(())
    } else {
        Err(format!(
            "{program} {}: {}",
            args.join(" "),
            String::from_utf8_lossy(&out.stderr).trim()
        ))
    }
}

impl LoopFilesystem {
    fn mount() -> Self {
        let dir = tempfile::tempdir().expect("tempdir");
        let image = dir.path().join("fs.img");
        let mount = dir.path().join("mnt");
        std::fs::create_dir(&mount).expect("the mount point");
        let image_text = image.display().to_string();
        let mount_text = mount.display().to_string();
        run("truncate", &["-s", "32M", &image_text])
            .and_then(|()| run("mkfs.ext4", &["-q", "-F", "-m", "0", &image_text]))
            .and_then(|()| run("mount", &["-o", "loop", &image_text, &mount_text]))
            .unwrap_or_else(|e| {
                panic!(
                    "this test mounts a filesystem of its own through a loop device, which \
                     needs root, /dev/loop-control and e2fsprogs: {e}"
                )
            });
        Self { mount, _dir: dir }
    }

    fn path(&self) -> &Path {
        &self.mount
    }

    /// Fills it to over 90 %: one file as large as what is free, less half a megabyte.
    fn fill(&self) {
        let df = Command::new("df")
            .args(["-B1", "--output=avail"])
            .arg(&self.mount)
            .output()
            .expect("df");
        let text = String::from_utf8_lossy(&df.stdout).into_owned();
        let free: u64 = text
            .lines()
            .nth(1)
            .and_then(|l| l.trim().parse().ok())
            .unwrap_or_else(|| panic!("df's free bytes: {text:?}"));
        let size = free.saturating_sub(512 << 10);
        let file = std::fs::File::create(self.mount.join("fill")).expect("the fill file");
        // Written, not sparse, so that the blocks are counted as used.
        let chunk = vec![7u8; 1 << 20];
        let mut left = size;
        let mut writer = std::io::BufWriter::new(file);
        while left > 0 {
            let n = left.min(chunk.len() as u64) as usize;
            writer.write_all(&chunk[..n]).expect("filling");
            left -= n as u64;
        }
        writer
            .into_inner()
            .expect("flush")
            .sync_all()
            .expect("sync");
    }

    fn empty(&self) {
        std::fs::remove_file(self.mount.join("fill")).expect("the fill file goes");
        let _ = run("sync", &[]);
    }
}

impl Drop for LoopFilesystem {
    fn drop(&mut self) {
        let _ = run("umount", &["-d", &self.mount.display().to_string()]);
    }
}

/// The one alert of the rule named `rule` about `subject` once it is in `state`.
async fn until_rule_alert(client: &Client, rule: &str, subject: &str, state: &str) -> Value {
    eventually(
        &format!("{rule} {subject} {state}"),
        ALERT_WITHIN,
        || async {
            let all: Vec<Value> = alerts_about(client, "host_disk", subject)
                .await
                .into_iter()
                .filter(|a| a["rule"] == rule)
                .collect();
            match all.as_slice() {
                [one] if one["state"] == state => Ok(one.clone()),
                _ => Err(format!("{all:?}")),
            }
        },
    )
    .await
}

#[tokio::test(flavor = "multi_thread")]
async fn a_filesystem_filled_past_the_threshold_fires_after_the_duration() {
    let filesystem = LoopFilesystem::mount();
    let pki = Pki::new();
    let agent = sampling_agent(
        &pki,
        "127.0.0.1:0".parse().expect("addr"),
        Duration::from_secs(1),
    )
    .await;
    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &pki, agent.addr);
    args.usage.usage_interval = Duration::from_secs(1);
    let console = watched_console(&args).await;
    let admin = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;
    let node = engine_name();
    let rule = "loop filesystem full";
    let made = admin
        .post(
            "/api/alert-rules",
            &json!({"name": rule, "kind": "host_disk", "severity": "critical",
                    "threshold": 90.0, "for": 3, "scope": {"node": node}}),
        )
        .await;
    assert_eq!(made.status, StatusCode::CREATED, "{}", made.text());
    let subject = format!("{node}:{}", filesystem.path().display());

    // Nearly empty, nothing fires; filled, it fires after its duration.
    tokio::time::sleep(Duration::from_secs(3)).await;
    let before: Vec<Value> = alerts_about(&admin, "host_disk", &subject).await;
    assert!(
        before.iter().all(|a| a["rule"] != rule),
        "an empty filesystem fires nothing: {before:?}"
    );
    filesystem.fill();
    let firing = until_rule_alert(&admin, rule, &subject, "firing").await;
    assert_eq!(firing["severity"], "critical");
    assert_eq!(
        transitions(&admin, &firing).await,
        vec![pair("inactive", "pending"), pair("pending", "firing")]
    );
    let at = |key: &str| {
        time::OffsetDateTime::parse(
            firing[key].as_str().unwrap_or_default(),
            &time::format_description::well_known::Rfc3339,
        )
        .unwrap_or_else(|e| panic!("{key}: {e}: {firing}"))
    };
    assert!(
        (at("fired_at") - at("since")).whole_seconds() >= 3,
        "{firing}"
    );

    filesystem.empty();
    until_rule_alert(&admin, rule, &subject, "resolved").await;
    console.stop().await;
    agent.stop().await;
}
