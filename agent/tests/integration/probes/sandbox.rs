//! The `script` kind in real sandbox containers: Nagios exit codes with their output, a
//! timeout (killed, critical, nothing left behind), the memory limit, the read-only root,
//! the network off (and on), a read-only host mount, a missing image, a run cut short by
//! the agent's stop, and the leftovers a stopped agent left.

use serde_json::{json, Value};

use super::*;

fn script(id: &str, timeout: u64, fields: Value) -> Check {
    let mut probe = json!({"kind": "script", "image": IMAGE});
    probe
        .as_object_mut()
        .unwrap()
        .extend(fields.as_object().unwrap().clone());
    check(id, timeout, probe)
}

#[tokio::test(flavor = "multi_thread")]
async fn script_exit_codes_read_as_nagios() {
    ensure_image();
    let cx = context();
    let checks: Vec<Check> = (0..4)
        .map(|code| {
            script(
                &format!("exit-{code}"),
                30,
                json!({"script": format!("echo out-{code}; echo err-{code} >&2; exit {code}")}),
            )
        })
        .collect();
    let outcomes =
        futures_util::future::join_all(checks.iter().map(|c| run_once(c, &cx, 10))).await;
    let want = [
        Status::Ok,
        Status::Warning,
        Status::Critical,
        Status::Unknown,
    ];
    for (code, (outcome, status)) in outcomes.iter().zip(want).enumerate() {
        assert_status(outcome, status);
        assert!(
            outcome.output.contains(&format!("out-{code}"))
                && outcome.output.contains(&format!("err-{code}")),
            "stdout and stderr: {}",
            outcome.output
        );
    }

    // An argv runs without a shell.
    let argv = script("argv", 30, json!({"argv": ["echo", "$HOME", "as is"]}));
    let outcome = run_once(&argv, &cx, 10).await;
    assert_status(&outcome, Status::Ok);
    assert_eq!(outcome.output, "$HOME as is");
    assert!(
        labelled(&cx).is_empty(),
        "every sandbox removed: {:?}",
        labelled(&cx)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn script_past_its_timeout_is_killed() {
    ensure_image();
    let cx = context();
    let sleeper = script("sleeper", 2, json!({"script": "echo started; sleep 60"}));
    let outcome = run_once(&sleeper, &cx, 10).await;
    assert_status(&outcome, Status::Critical);
    assert_eq!(outcome.output, "timed out after 2s, container killed");
    assert!(
        labelled(&cx).is_empty(),
        "no container left with label bosun.check.agent={}: {:?}",
        cx.agent_id,
        labelled(&cx)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn the_agents_stop_cuts_a_script_short_and_its_run_removes_the_container() {
    ensure_image();
    let cx = context();
    let sleeper = script("sleeper", 50, json!({"script": "sleep 40"}));
    let run = tokio::spawn({
        let cx = cx.clone();
        async move { probe::run(&sleeper, 1, &cx).await }
    });
    eventually(
        "the script's container",
        std::time::Duration::from_secs(20),
        || async {
            match labelled(&cx) {
                names if names.is_empty() => Err("none yet".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;
    cx.stop.cancel();
    let outcome = tokio::time::timeout(std::time::Duration::from_secs(20), run)
        .await
        .expect("the run ends within 20 s of the stop, not after the script's 40 s")
        .expect("the run's task");
    assert_status(&outcome, Status::Unknown);
    assert_eq!(outcome.output, "cut short: the agent is stopping");
    assert!(
        labelled(&cx).is_empty(),
        "the run removed its container: {:?}",
        labelled(&cx)
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn script_past_its_memory_limit_is_killed() {
    ensure_image();
    let cx = context();
    // dd's buffer of 64 MiB, filled from /dev/zero, is really held: past 8 MB, the kernel
    // kills it.
    let hog = script(
        "hog",
        30,
        json!({"script": "echo allocating; dd if=/dev/zero of=/dev/null bs=64M count=1",
               "memory_mb": 8}),
    );
    let outcome = run_once(&hog, &cx, 10).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome
            .output
            .starts_with("killed: out of memory (limit 8 MB)"),
        "{}",
        outcome.output
    );
    assert!(outcome.output.contains("allocating"), "{}", outcome.output);

    // The same within a limit it fits in.
    let fits = script(
        "fits",
        30,
        json!({"script": "dd if=/dev/zero of=/dev/null bs=1M count=1 2>/dev/null && echo fits",
               "memory_mb": 64}),
    );
    let outcome = run_once(&fits, &cx, 10).await;
    assert_status(&outcome, Status::Ok);
    assert_eq!(outcome.output, "fits");
}

#[tokio::test(flavor = "multi_thread")]
async fn script_root_filesystem_is_read_only() {
    ensure_image();
    let cx = context();
    let writer = script(
        "writer",
        30,
        json!({"script": "echo tmp-ok > /tmp/t && cat /tmp/t; echo x > /x"}),
    );
    let outcome = run_once(&writer, &cx, 10).await;
    // busybox sh exits 1 when a redirection fails: a warning, as Nagios reads 1.
    assert_status(&outcome, Status::Warning);
    assert!(
        outcome.output.contains("tmp-ok"),
        "/tmp is writable: {}",
        outcome.output
    );
    assert!(
        outcome.output.contains("Read-only file system"),
        "{}",
        outcome.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn script_network_is_off_unless_asked() {
    ensure_image();
    let cx = context();
    let listener = std::net::TcpListener::bind("127.0.0.1:0").expect("bind");
    let port = listener.local_addr().expect("address").port();
    let off = script(
        "net-off",
        30,
        json!({"script": format!(
            "ls /sys/class/net; busybox nc -w 2 127.0.0.1 {port} </dev/null 2>/dev/null && echo reached || echo unreachable")}),
    );
    let outcome = run_once(&off, &cx, 10).await;
    assert_status(&outcome, Status::Ok);
    assert_eq!(
        outcome.output, "lo\nunreachable",
        "only loopback: {}",
        outcome.output
    );

    let on = script(
        "net-on",
        30,
        json!({"script": "ls /sys/class/net", "network": true}),
    );
    let outcome = run_once(&on, &cx, 10).await;
    assert_status(&outcome, Status::Ok);
    assert!(
        outcome.output.lines().any(|l| l != "lo"),
        "an interface besides lo: {}",
        outcome.output
    );
    drop(listener);
}

#[tokio::test(flavor = "multi_thread")]
async fn script_mount_is_readable_not_writable() {
    ensure_image();
    let cx = context();
    let dir = tempfile::tempdir().expect("a directory");
    let path = dir.path().to_str().expect("utf-8").to_owned();
    std::fs::write(dir.path().join("secret.txt"), "mounted-content\n").expect("write");
    let reader = script(
        "mount",
        30,
        json!({"script": format!(
            "cat {path}/secret.txt; echo y > {path}/new && echo wrote || echo cannot-write"),
               "mounts": [path]}),
    );
    let outcome = run_once(&reader, &cx, 10).await;
    assert_status(&outcome, Status::Ok);
    assert!(
        outcome.output.contains("mounted-content")
            && outcome.output.contains("Read-only file system")
            && outcome.output.contains("cannot-write")
            && !outcome.output.contains("wrote"),
        "{}",
        outcome.output
    );
    assert!(!dir.path().join("new").exists());

    // A path not mounted is not there.
    let unlisted = script(
        "unlisted",
        30,
        json!({"script": format!("cat {path}/secret.txt")}),
    );
    let outcome = run_once(&unlisted, &cx, 10).await;
    assert_status(&outcome, Status::Warning);
    assert!(
        outcome.output.contains("No such file"),
        "{}",
        outcome.output
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn script_image_not_on_the_node_is_unknown() {
    let cx = context();
    let missing = script(
        "missing",
        30,
        json!({"image": "bosun-it-no-such-image:never", "script": "true"}),
    );
    let outcome = run_once(&missing, &cx, 10).await;
    assert_status(&outcome, Status::Unknown);
    assert!(
        outcome.output.contains("is not on node test-node")
            && outcome.output.contains("never pull"),
        "{}",
        outcome.output
    );
    assert!(labelled(&cx).is_empty());
}

#[tokio::test(flavor = "multi_thread")]
async fn leftovers_of_this_agent_are_removed() {
    ensure_image();
    let cx = context();
    let other = context();
    let ours = Name::new("probe-leftover");
    let theirs = Name::new("probe-other-agent");
    for (name, agent) in [(&ours, &cx.agent_id), (&theirs, &other.agent_id)] {
        engine_ok(&[
            "run",
            "-d",
            "--name",
            name.as_str(),
            "--label",
            &format!("bosun.check.agent={agent}"),
            IMAGE,
            "sleep",
            "300",
        ]);
    }
    let removed = probe::remove_sandboxes(&cx)
        .await
        .expect("the engine lists");
    assert_eq!(removed, 1, "this agent's one container");
    assert!(labelled(&cx).is_empty(), "{:?}", labelled(&cx));
    assert!(!engine_has_container(ours.as_str()));
    assert_eq!(labelled(&other).len(), 1, "another agent's container stays");
}
