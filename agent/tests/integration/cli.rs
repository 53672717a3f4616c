//! The stock docker CLI through the agent, once with a client certificate and once with a
//! bearer token: everything a user types daily works as against the engine itself.

use std::io::{BufRead, BufReader};
use std::process::Stdio;
use std::time::Duration;

use crate::harness::*;

/// Runs `check` with a fresh agent and a docker CLI for each credential type.
fn for_both(check: impl Fn(&Docker, Cred)) {
    ensure_image();
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    for cred in BOTH {
        let docker = Docker::new(&agent, &pki, cred);
        check(&docker, cred);
    }
}

#[test]
fn version_info_and_ps() {
    let direct = engine(&["version", "--format", "{{.Server.Version}}"]);
    let engine_version = String::from_utf8_lossy(&direct.stdout).trim().to_owned();
    assert!(
        !engine_version.is_empty(),
        "the engine must answer directly"
    );
    for_both(|docker, cred| {
        let version = docker.ok(&["version", "--format", "{{.Server.Version}}"]);
        assert_eq!(version.trim(), engine_version, "{cred:?}");
        let info = docker.ok(&["info", "--format", "{{.Name}} {{.ServerVersion}}"]);
        assert!(info.contains(&engine_version), "{cred:?}: {info}");
        let name = Name::new("ps");
        docker.ok(&["create", "--name", name.as_str(), IMAGE, "true"]);
        let ps = docker.ok(&["ps", "-a", "--format", "{{.Names}}"]);
        assert!(ps.lines().any(|l| l == name.as_str()), "{cred:?}: {ps}");
    });
}

#[test]
fn run_rm_prints_the_output() {
    for_both(|docker, cred| {
        let name = Name::new("run");
        let out = docker.ok(&[
            "run",
            "--rm",
            "--name",
            name.as_str(),
            IMAGE,
            "echo",
            "hello from run",
        ]);
        assert_eq!(out.trim(), "hello from run", "{cred:?}");
        assert!(!engine_has_container(name.as_str()), "--rm removed it");
    });
}

#[test]
fn exec_with_and_without_stdin_and_logs() {
    for_both(|docker, cred| {
        let name = Name::new("exec");
        docker.ok(&[
            "run",
            "-d",
            "--name",
            name.as_str(),
            IMAGE,
            "sh",
            "-c",
            "echo started; sleep 300",
        ]);
        // No stdin: the CLI half-closes at once and the output must still arrive.
        let out = docker.ok(&["exec", name.as_str(), "echo", "exec output"]);
        assert_eq!(out.trim(), "exec output", "{cred:?}");
        let mut child = docker
            .command(&["exec", "-i", name.as_str(), "sh", "-c", "cat; echo done"])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn docker exec -i");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin
                .write_all(b"piped line 1\npiped line 2\n")
                .expect("write stdin");
        }
        let out = child.wait_with_output().expect("exec -i");
        assert!(out.status.success(), "{cred:?}: exec -i failed");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "piped line 1\npiped line 2\ndone\n",
            "{cred:?}"
        );
        let logs = docker.ok(&["logs", name.as_str()]);
        assert_eq!(logs.trim(), "started", "{cred:?}");
        docker.ok(&["rm", "-f", name.as_str()]);
        assert!(!engine_has_container(name.as_str()));
    });
}

#[test]
fn logs_follow_streams_and_ends_when_the_container_exits() {
    for_both(|docker, cred| {
        let name = Name::new("follow");
        docker.ok(&[
            "run",
            "-d",
            "--name",
            name.as_str(),
            IMAGE,
            "sh",
            "-c",
            "echo first; sleep 3; echo second; sleep 1",
        ]);
        let mut child = docker
            .command(&["logs", "-f", name.as_str()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn docker logs -f");
        let mut lines = BufReader::new(child.stdout.take().expect("stdout")).lines();
        let first = lines.next().expect("a first line").expect("utf-8");
        assert_eq!(first, "first", "{cred:?}");
        // The first line arrives while the container still runs: streamed, not buffered.
        let running = engine(&["inspect", "-f", "{{.State.Running}}", name.as_str()]);
        assert_eq!(
            String::from_utf8_lossy(&running.stdout).trim(),
            "true",
            "{cred:?}"
        );
        let rest: Vec<String> = lines.map_while(Result::ok).collect();
        assert_eq!(rest, vec!["second".to_owned()], "{cred:?}");
        let status = child.wait().expect("logs -f ends");
        assert!(status.success(), "{cred:?}: logs -f exited with {status}");
    });
}

#[test]
fn cp_in_and_out() {
    for_both(|docker, cred| {
        let name = Name::new("cp");
        docker.ok(&["run", "-d", "--name", name.as_str(), IMAGE, "sleep", "300"]);
        let dir = tempfile::tempdir().expect("tempdir");
        let src = dir.path().join("in.txt");
        let content = format!("copied in with {cred:?}\n");
        std::fs::write(&src, &content).expect("write");
        let target = format!("{}:/tmp/in.txt", name.as_str());
        docker.ok(&["cp", src.to_str().expect("utf-8"), &target]);
        let inside = docker.ok(&["exec", name.as_str(), "cat", "/tmp/in.txt"]);
        assert_eq!(inside, content, "{cred:?}");
        let back = dir.path().join("out.txt");
        docker.ok(&["cp", &target, back.to_str().expect("utf-8")]);
        assert_eq!(
            std::fs::read_to_string(&back).expect("read"),
            content,
            "{cred:?}"
        );
    });
}

#[test]
fn classic_build_and_buildx_when_installed() {
    let buildx = engine(&["buildx", "version"]).status.success();
    for_both(|docker, cred| {
        let dir = tempfile::tempdir().expect("tempdir");
        let marker = format!("built-{}-{cred:?}", std::process::id());
        std::fs::write(
            dir.path().join("Dockerfile"),
            format!("FROM {IMAGE}\nCOPY marker /marker\nRUN cat /marker\n"),
        )
        .expect("Dockerfile");
        std::fs::write(dir.path().join("marker"), &marker).expect("marker");
        let tag = format!(
            "bosun-it-build-{}-{}",
            std::process::id(),
            format!("{cred:?}").to_lowercase()
        );
        let ctx = dir.path().to_str().expect("utf-8");
        let out = docker
            .command(&["build", "-t", &tag, ctx])
            .env("DOCKER_BUILDKIT", "0")
            .output()
            .expect("docker build");
        assert!(
            out.status.success(),
            "{cred:?}: classic build failed: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        let run = docker.ok(&["run", "--rm", &tag, "cat", "/marker"]);
        assert_eq!(run, marker, "{cred:?}");
        if buildx {
            let out = docker
                .command(&["buildx", "build", "--load", "-t", &format!("{tag}-bk"), ctx])
                .output()
                .expect("docker buildx build");
            assert!(
                out.status.success(),
                "{cred:?}: buildx build failed: {}",
                String::from_utf8_lossy(&out.stderr)
            );
            let _ = engine(&["rmi", "-f", &format!("{tag}-bk")]);
        }
        let _ = engine(&["rmi", "-f", &tag]);
    });
    if !buildx {
        eprintln!("docker buildx is not installed here: the BuildKit session relay is covered by protocol::buildkit_session_upgrades_to_h2c");
    }
}

#[test]
fn events_stream_shows_a_container_starting() {
    for_both(|docker, cred| {
        let name = Name::new("events");
        let mut events = docker
            .command(&[
                "events",
                "--filter",
                &format!("container={}", name.as_str()),
                "--filter",
                "event=start",
                "--format",
                "{{.Action}} {{.Actor.Attributes.name}}",
            ])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn docker events");
        let stdout = events.stdout.take().expect("stdout");
        let (tx, rx) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        // Give the events request time to reach the engine before the container starts.
        std::thread::sleep(Duration::from_millis(500));
        docker.ok(&["run", "-d", "--name", name.as_str(), IMAGE, "true"]);
        let line = rx.recv_timeout(Duration::from_secs(30));
        let _ = events.kill();
        let _ = events.wait();
        assert_eq!(
            line.expect("an event while the stream is open"),
            format!("start {}", name.as_str()),
            "{cred:?}"
        );
    });
}

#[test]
fn stats_wait_kill_and_rm() {
    for_both(|docker, cred| {
        let name = Name::new("stats");
        docker.ok(&["run", "-d", "--name", name.as_str(), IMAGE, "sleep", "300"]);
        let stats = docker.ok(&[
            "stats",
            "--no-stream",
            "--format",
            "{{.Name}} {{.PIDs}}",
            name.as_str(),
        ]);
        assert!(stats.starts_with(name.as_str()), "{cred:?}: {stats}");

        let wait = docker
            .command(&["wait", name.as_str()])
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn docker wait");
        std::thread::sleep(Duration::from_millis(300));
        docker.ok(&["kill", name.as_str()]);
        let out = wait.wait_with_output().expect("docker wait");
        assert!(out.status.success(), "{cred:?}");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout).trim(),
            "137",
            "{cred:?}"
        );

        docker.ok(&["rm", "-f", name.as_str()]);
        assert!(!engine_has_container(name.as_str()), "{cred:?}");
    });
}

#[test]
fn run_attached_with_stdin_and_exit_code() {
    for_both(|docker, cred| {
        let name = Name::new("attach");
        let mut child = docker
            .command(&[
                "run",
                "-i",
                "--rm",
                "--name",
                name.as_str(),
                IMAGE,
                "sh",
                "-c",
                "cat; exit 3",
            ])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .expect("spawn docker run -i");
        {
            use std::io::Write;
            let mut stdin = child.stdin.take().expect("stdin");
            stdin.write_all(b"through attach\n").expect("write");
        }
        let out = child.wait_with_output().expect("docker run -i");
        assert_eq!(
            String::from_utf8_lossy(&out.stdout),
            "through attach\n",
            "{cred:?}"
        );
        assert_eq!(
            out.status.code(),
            Some(3),
            "{cred:?}: the exit code is the container's"
        );
    });
}
