//! Usage against known load on the real engine: a container burning a core, one holding
//! 200 MB, a gigabyte written to a volume, the host seen from a container through
//! `--host-root`, both sources of container usage, and a real Prometheus scraping the
//! agent over TLS.

use std::path::Path;
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use serde_json::Value;

use crate::harness::*;
use bosun_testkit::https::*;

/// Samples every second, so that two samples take two seconds.
const FAST: &[&str] = &["--metrics-interval", "1s"];

fn agent(pki: &Pki, source: &str) -> Agent {
    let mut args = pki.run_args();
    args.extend(FAST.iter().map(|s| (*s).to_owned()));
    args.extend(["--metrics-containers".to_owned(), source.to_owned()]);
    Agent::start_with(&args)
}

/// `GET /agent/v1/metrics[?query]` with the client certificate.
async fn metrics(pki: &Pki, addr: std::net::SocketAddr, query: &str) -> Value {
    let mut sender = connect(pki, addr, true).await;
    let path = if query.is_empty() {
        "/agent/v1/metrics".to_owned()
    } else {
        format!("/agent/v1/metrics?{query}")
    };
    let (parts, body) = roundtrip(&mut sender, empty(request("GET", &path))).await;
    assert_eq!(parts.status, 200, "{}", String::from_utf8_lossy(&body));
    json_of(&body)
}

/// The latest sample's entry for container `id`, when the agent has one.
async fn container(pki: &Pki, agent: &Agent, id: &str) -> Option<Value> {
    let v = metrics(pki, agent.addr, "").await;
    v["samples"][0]["containers"]
        .as_array()?
        .iter()
        .find(|c| c["id"] == id)
        .cloned()
}

/// Samples of container `id` taken after `since`, oldest first.
async fn history(pki: &Pki, agent: &Agent, id: &str, since: u64) -> Vec<Value> {
    let v = metrics(pki, agent.addr, &format!("since={since}")).await;
    v["samples"]
        .as_array()
        .map(|samples| {
            samples
                .iter()
                .filter_map(|s| {
                    s["containers"]
                        .as_array()?
                        .iter()
                        .find(|c| c["id"] == id)
                        .cloned()
                })
                .collect()
        })
        .unwrap_or_default()
}

/// Polls `probe` until it has something, within `limit`.
async fn until<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    eventually(what, limit, || {
        let asked = probe();
        async move { asked.await.ok_or_else(|| "nothing yet".to_owned()) }
    })
    .await
}

fn now_secs() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .expect("clock")
        .as_secs()
}

/// A busy loop reaches a core within two samples of starting; a container that fills
/// 200 MB of shared memory shows 200 MB, as the engine's own stats do. Both sources.
async fn known_load(source: &str) {
    let pki = Pki::by_commands();
    let agent = blocking(|| agent(&pki, source));
    let busy = Name::new("usage-busy");
    let busy_id = blocking(|| busy.run(&["sh", "-c", "while :; do :; done"]));
    let filled = Name::new("usage-mem");
    let filled_id = blocking(|| {
        ensure_image();
        engine_ok(&[
            "run",
            "-d",
            "--name",
            filled.as_str(),
            "--shm-size",
            "300m",
            IMAGE,
            "sh",
            "-c",
            "dd if=/dev/zero of=/dev/shm/fill bs=1M count=200 2>/dev/null && exec sleep 3600",
        ])
    });
    let started = now_secs();

    // A core: at least 90 % in one of the first samples (two are needed for a rate), and
    // never more than a core and a bit of timing.
    let busy_seen = until(
        "the busy container at a core",
        Duration::from_secs(30),
        || async {
            let samples = history(&pki, &agent, &busy_id, started.saturating_sub(1)).await;
            let cpu: Vec<f64> = samples
                .iter()
                .filter_map(|c| c["cpu_percent"].as_f64())
                .collect();
            cpu.iter().any(|p| *p >= 90.0).then_some(cpu)
        },
    )
    .await;
    for p in &busy_seen {
        assert!(
            *p <= 110.0,
            "one busy loop is one core at most: {busy_seen:?}"
        );
    }

    // 200 MB (200 MiB written) within 10 %.
    let mib200 = 200.0 * 1024.0 * 1024.0;
    let used = until(
        "the filled container's memory",
        Duration::from_secs(30),
        || async {
            let c = container(&pki, &agent, &filled_id).await?;
            let used = c["memory_used"].as_f64()?;
            ((used - mib200).abs() / mib200 <= 0.10).then_some(used)
        },
    )
    .await;

    // The engine's own figure, reckoned the CLI's way, agrees within 5 %.
    let mut engine = connect_engine().await;
    let (_, body) = roundtrip(
        &mut engine,
        empty(request(
            "GET",
            &format!("/containers/{filled_id}/stats?stream=false"),
        )),
    )
    .await;
    let stats = json_of(&body);
    let inactive = stats["memory_stats"]["stats"]["total_inactive_file"]
        .as_f64()
        .or_else(|| stats["memory_stats"]["stats"]["inactive_file"].as_f64())
        .unwrap_or(0.0);
    let engines = stats["memory_stats"]["usage"].as_f64().expect("usage") - inactive;
    assert!(
        (used - engines).abs() / engines <= 0.05,
        "agent {used} against the engine's {engines}"
    );
    let c = container(&pki, &agent, &filled_id).await.expect("listed");
    assert_eq!(c["name"], filled.as_str());
    assert_eq!(c["state"], "running");
    assert!(c["pids"].as_u64().unwrap_or(0) >= 1, "{c}");
    assert!(c["memory_limit"].as_u64().unwrap_or(0) > 0, "{c}");
    assert!(c["net_rx_bytes"].is_u64(), "{c}");
}

#[tokio::test(flavor = "multi_thread")]
async fn known_load_from_cgroup_files() {
    known_load("cgroup").await;
}

#[tokio::test(flavor = "multi_thread")]
async fn known_load_from_the_engines_stats() {
    known_load("engine").await;
}

/// The host's figures are the host's: memory as `/proc/meminfo` says, every CPU, and
/// rates that appear from the second sample on.
#[tokio::test(flavor = "multi_thread")]
async fn the_host_figures_agree_with_proc() {
    let pki = Pki::by_commands();
    let agent = blocking(|| agent(&pki, "cgroup"));
    let sample = until("a sample with rates", Duration::from_secs(20), || async {
        let v = metrics(&pki, agent.addr, "").await;
        let s = v["samples"][0].clone();
        s["host"]["cpu"]["percent"].is_f64().then_some(s)
    })
    .await;
    let meminfo = std::fs::read_to_string("/proc/meminfo").expect("meminfo");
    let total_kib: u64 = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("MemTotal");
    let host = &sample["host"];
    assert_eq!(host["memory"]["total"].as_u64(), Some(total_kib * 1024));
    let used = host["memory"]["used"].as_u64().expect("used");
    assert!(used > 0 && used < total_kib * 1024);
    let cores = std::fs::read_to_string("/proc/stat")
        .expect("stat")
        .lines()
        .filter(|l| l.starts_with("cpu") && !l.starts_with("cpu "))
        .count();
    assert_eq!(host["cpu"]["cores"].as_u64(), Some(cores as u64));
    assert_eq!(
        host["cpu"]["per_core"].as_array().map(Vec::len),
        Some(cores)
    );
    let percent = host["cpu"]["percent"].as_f64().expect("percent");
    assert!((0.0..=100.0).contains(&percent), "{percent}");
    assert!(host["load"].as_array().is_some_and(|l| l.len() == 3));
    assert!(host["uptime_secs"].as_u64().unwrap_or(0) > 0);
    let root = statvfs_total(Path::new("/"));
    assert!(
        host["filesystems"]
            .as_array()
            .expect("filesystems")
            .iter()
            .any(|f| f["mount"] == "/" && f["total"].as_u64() == Some(root)),
        "the root filesystem, {root} bytes: {}",
        host["filesystems"]
    );
    for nic in host["network"].as_array().expect("network") {
        let name = nic["interface"].as_str().unwrap_or_default();
        assert!(
            name != "lo" && !name.starts_with("veth"),
            "{name} is left out by default"
        );
    }
}

fn statvfs_total(path: &Path) -> u64 {
    let out = Command::new("stat")
        .args(["-f", "-c", "%b %S"])
        .arg(path)
        .output()
        .expect("stat -f");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut f = text
        .split_whitespace()
        .map(|v| v.parse::<u64>().unwrap_or(0));
    f.next().unwrap_or(0) * f.next().unwrap_or(0)
}

/// The filesystem that holds the engine's volumes, from a sample.
fn volumes_fs_used(sample: &Value, mount: &str) -> Option<u64> {
    sample["host"]["filesystems"]
        .as_array()?
        .iter()
        .find(|f| f["mount"] == mount)?["used"]
        .as_u64()
}

/// A gigabyte written to a volume shows in the used space of the filesystem that holds it.
#[tokio::test(flavor = "multi_thread")]
async fn a_gigabyte_written_to_a_volume_shows_in_the_filesystem() {
    let pki = Pki::by_commands();
    let agent = blocking(|| agent(&pki, "cgroup"));
    let root = engine_ok(&["info", "--format", "{{.DockerRootDir}}"]);
    // The mount the volumes live on: the longest reported mount point above them.
    until("a first sample", Duration::from_secs(20), || async {
        metrics(&pki, agent.addr, "").await["samples"][0]
            .is_object()
            .then_some(())
    })
    .await;
    let v = metrics(&pki, agent.addr, "").await;
    let mount = v["samples"][0]["host"]["filesystems"]
        .as_array()
        .expect("filesystems")
        .iter()
        .filter_map(|f| f["mount"].as_str())
        .filter(|m| root.starts_with(m.trim_end_matches('/')) || *m == "/")
        .max_by_key(|m| m.len())
        .expect("a filesystem holds the engine's root")
        .to_owned();
    let before = volumes_fs_used(&v["samples"][0], &mount).expect("used");
    let volume = Name::new("usage-vol");
    let writer = Name::new("usage-writer");
    blocking(|| {
        ensure_image();
        engine_ok(&[
            "run",
            "--name",
            writer.as_str(),
            "-v",
            &format!("{}:/data", volume.as_str()),
            IMAGE,
            "sh",
            "-c",
            "dd if=/dev/zero of=/data/big bs=1M count=1024 2>/dev/null && sync",
        ])
    });
    let gib = 1024.0 * 1024.0 * 1024.0;
    let grown = until("a gigabyte more used", Duration::from_secs(30), || async {
        let v = metrics(&pki, agent.addr, "").await;
        let after = volumes_fs_used(&v["samples"][0], &mount)?;
        let grown = after as f64 - before as f64;
        (grown >= 0.8 * gib).then_some(grown)
    })
    .await;
    assert!(
        grown <= 1.5 * gib,
        "{grown} bytes more for a gigabyte written"
    );
    blocking(|| {
        let _ = engine(&["rm", "-f", writer.as_str()]);
        let _ = engine(&["volume", "rm", "-f", volume.as_str()]);
    });
}

/// The agent's image in a container: with the host's `/` mounted and `--host-root`, it
/// reports the host's root filesystem; without, it has none to report (its own root is an
/// overlay, left out).
#[tokio::test(flavor = "multi_thread")]
async fn in_a_container_the_host_root_shows_the_host() {
    let pki = Pki::by_commands();
    let image = "bosun-agent:latest";
    let have = engine(&["image", "inspect", image]);
    assert!(
        have.status.success(),
        "{image} is missing: scripts/test.sh builds it with scripts/build-image.sh"
    );
    let run = |name: &Name, port: u16, host_root: bool| {
        let pki_dir = pki.dir.path().display().to_string();
        let mut args = vec![
            "run".to_owned(),
            "-d".into(),
            "--name".into(),
            name.as_str().into(),
            "--network".into(),
            "host".into(),
            "--memory".into(),
            "128m".into(),
            "--tmpfs".into(),
            "/data".into(),
            "-v".into(),
            format!("{pki_dir}:{pki_dir}:ro"),
            "-v".into(),
            "/var/run/docker.sock:/var/run/docker.sock".into(),
        ];
        if host_root {
            args.extend(["-v".into(), "/:/host:ro".into()]);
        }
        args.extend([
            image.to_owned(),
            "run".into(),
            "--listen".into(),
            format!("127.0.0.1:{port}"),
        ]);
        args.extend(pki.run_args().into_iter().map(|a| {
            if a == pki.data_dir().display().to_string() {
                "/data".into()
            } else {
                a
            }
        }));
        args.extend(FAST.iter().map(|s| (*s).to_owned()));
        if host_root {
            args.extend(["--host-root".into(), "/host".into()]);
        }
        let args: Vec<&str> = args.iter().map(String::as_str).collect();
        engine_ok(&args)
    };
    let with = Name::new("usage-hostroot");
    let without = Name::new("usage-noroot");
    let (with_port, without_port) = (free_port("127.0.0.1"), free_port("127.0.0.1"));
    blocking(|| {
        run(&with, with_port, true);
        run(&without, without_port, false);
    });
    let sample = |port: u16| {
        let pki = &pki;
        async move {
            let addr = std::net::SocketAddr::from(([127, 0, 0, 1], port));
            until(
                "the agent in a container answers",
                Duration::from_secs(30),
                || async {
                    // Refused until the container listens: retried, not a failure.
                    let tls =
                        tokio::time::timeout(Duration::from_secs(2), tls_stream(pki, addr, true))
                            .await
                            .ok()?
                            .ok()?;
                    let mut sender = handshake(tls).await;
                    let (parts, body) =
                        roundtrip(&mut sender, empty(request("GET", "/agent/v1/metrics"))).await;
                    let v = json_of(&body);
                    (parts.status == 200 && v["samples"][0].is_object())
                        .then(|| v["samples"][0].clone())
                },
            )
            .await
        }
    };
    let (host_view, own_view) = (sample(with_port).await, sample(without_port).await);
    let root = statvfs_total(Path::new("/"));
    let mounts = |s: &Value| -> Vec<(String, u64)> {
        s["host"]["filesystems"]
            .as_array()
            .map(|fs| {
                fs.iter()
                    .map(|f| {
                        (
                            f["mount"].as_str().unwrap_or_default().to_owned(),
                            f["total"].as_u64().unwrap_or(0),
                        )
                    })
                    .collect()
            })
            .unwrap_or_default()
    };
    assert!(
        mounts(&host_view).contains(&("/".to_owned(), root)),
        "with --host-root: the host's / of {root} bytes in {:?}",
        mounts(&host_view)
    );
    assert!(
        !mounts(&own_view).iter().any(|(m, _)| m == "/"),
        "without it, the container's own overlay root is not a filesystem of the host: {:?}",
        mounts(&own_view)
    );
    let proc_uptime: f64 = std::fs::read_to_string("/proc/uptime")
        .expect("uptime")
        .split_whitespace()
        .next()
        .and_then(|v| v.parse().ok())
        .expect("uptime");
    let reported = host_view["host"]["uptime_secs"].as_f64().expect("uptime");
    assert!(
        (reported - proc_uptime).abs() < 120.0,
        "{reported} against {proc_uptime}"
    );
}

/// A real Prometheus scrapes the agent over TLS with a client certificate and finds the
/// host's and a container's series, each labelled with the node; the same scrape without
/// a certificate is refused.
#[tokio::test(flavor = "multi_thread")]
async fn prometheus_scrapes_the_agent_with_a_client_certificate() {
    let prometheus = which("prometheus").unwrap_or_else(|| {
        panic!("Debian's prometheus is not installed: scripts/test.sh installs it (apt-get install prometheus)")
    });
    let pki = Pki::by_commands();
    let agent = blocking(|| agent(&pki, "cgroup"));
    let sleeper = Name::new("usage-scraped");
    blocking(|| sleeper.run(&["sleep", "3600"]));
    let dir = tempfile::tempdir().expect("tempdir");
    let client = pki.client.display().to_string();
    let config = format!(
        "\
global:
  scrape_interval: 1s
  scrape_timeout: 1s
scrape_configs:
  - job_name: bosun
    scheme: https
    tls_config:
      ca_file: {client}/ca.pem
      cert_file: {client}/cert.pem
      key_file: {client}/key.pem
      server_name: localhost
    static_configs:
      - targets: ['{addr}']
  - job_name: bosun-cluster
    scheme: https
    params:
      scope: [cluster]
    tls_config:
      ca_file: {client}/ca.pem
      cert_file: {client}/cert.pem
      key_file: {client}/key.pem
      server_name: localhost
    static_configs:
      - targets: ['{addr}']
  - job_name: stranger
    scheme: https
    tls_config:
      ca_file: {client}/ca.pem
      server_name: localhost
    static_configs:
      - targets: ['{addr}']
",
        addr = agent.addr
    );
    let config_path = dir.path().join("prometheus.yml");
    std::fs::write(&config_path, config).expect("config");
    let port = free_port("127.0.0.1");
    let child = Command::new(prometheus)
        .arg(format!("--config.file={}", config_path.display()))
        .arg(format!(
            "--storage.tsdb.path={}",
            dir.path().join("data").display()
        ))
        .arg(format!("--web.listen-address=127.0.0.1:{port}"))
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .expect("start prometheus");
    let _child = Killed(child);
    let api = format!("http://127.0.0.1:{port}/api/v1");
    let node = engine_name();

    let query = |q: &str| {
        let url = format!("{api}/query?query={}", percent(q));
        async move { http_get_json(&url).await }
    };
    // The series a query returns, once it returns any.
    let found = |what: &'static str, q: String| {
        let query = &query;
        async move {
            until(what, Duration::from_secs(60), || {
                let q = q.clone();
                async move {
                    let v = query(&q).await?;
                    v["data"]["result"]
                        .as_array()
                        .filter(|r| !r.is_empty())
                        .cloned()
                }
            })
            .await
        }
    };
    let memory = found(
        "the host's memory in Prometheus",
        "bosun_host_memory_bytes{kind=\"total\",job=\"bosun\"}".to_owned(),
    )
    .await;
    assert_eq!(memory[0]["metric"]["node"], node.as_str(), "{memory:?}");
    let name = sleeper.as_str().to_owned();
    let series = found(
        "the container's memory in Prometheus",
        format!("bosun_container_memory_used_bytes{{name=\"{name}\"}}"),
    )
    .await;
    assert_eq!(series[0]["metric"]["node"], node.as_str());
    assert_eq!(series[0]["metric"]["image"], IMAGE);
    let cluster = found(
        "the cluster scrape's series",
        "bosun_host_cpu_cores{job=\"bosun-cluster\"}".to_owned(),
    )
    .await;
    assert_eq!(cluster[0]["metric"]["node"], node.as_str());
    let stranger = until(
        "the stranger's scrape refused",
        Duration::from_secs(60),
        || async {
            let v = http_get_json(&format!("{api}/targets")).await?;
            v["data"]["activeTargets"]
                .as_array()?
                .iter()
                .find(|t| t["labels"]["job"] == "stranger" && t["health"] == "down")
                .cloned()
        },
    )
    .await;
    let error = stranger["lastError"].as_str().unwrap_or_default();
    assert!(
        error.contains("401"),
        "the agent refuses a scrape without credentials: {error}"
    );
    let up = query("up{job=\"stranger\"}").await.expect("up");
    assert_eq!(up["data"]["result"][0]["value"][1], "0");
}

struct Killed(Child);

impl Drop for Killed {
    fn drop(&mut self) {
        let _ = self.0.kill();
        let _ = self.0.wait();
    }
}

fn which(program: &str) -> Option<std::path::PathBuf> {
    std::env::var_os("PATH")?
        .to_str()?
        .split(':')
        .map(|d| Path::new(d).join(program))
        .find(|p| p.is_file())
}

fn percent(q: &str) -> String {
    q.bytes()
        .map(|b| match b {
            b'A'..=b'Z' | b'a'..=b'z' | b'0'..=b'9' | b'_' | b'-' | b'.' => (b as char).to_string(),
            _ => format!("%{b:02X}"),
        })
        .collect()
}

/// A plain HTTP GET on loopback, read as JSON; `None` until it answers.
async fn http_get_json(url: &str) -> Option<Value> {
    let rest = url.strip_prefix("http://")?;
    let (hostport, path) = rest.split_once('/').map(|(h, p)| (h, format!("/{p}")))?;
    let stream = tokio::net::TcpStream::connect(hostport).await.ok()?;
    let mut sender = handshake(stream).await;
    let req = empty(request("GET", &path));
    let (parts, body) = tokio::time::timeout(Duration::from_secs(5), roundtrip(&mut sender, req))
        .await
        .ok()?;
    (parts.status == 200).then(|| json_of(&body))
}

/// A client whose profile has a label scope sees only its containers' usage, as JSON and
/// in `/metrics`; the host's figures stay.
#[tokio::test(flavor = "multi_thread")]
async fn a_label_scoped_profile_sees_only_its_containers_usage() {
    let pki = Pki::by_commands();
    let team = format!("usage-{}", std::process::id());
    let file = pki.dir.path().join("policy.toml");
    std::fs::write(
        &file,
        format!("[profiles.team]\nallow = {{ \"*\" = \"read\" }}\nlabels = {{ \"bosun-it-team\" = \"{team}\" }}\n"),
    )
    .expect("policy");
    let mut args = pki.run_args();
    args.extend(FAST.iter().map(|s| (*s).to_owned()));
    args.extend(["--policy".to_owned(), file.display().to_string()]);
    let agent = blocking(|| Agent::start_with(&args));
    let token = pki.profile_token("carol", "team");
    let ours = Name::new("usage-ours");
    let theirs = Name::new("usage-theirs");
    let label = format!("bosun-it-team={team}");
    let (ours_id, theirs_id) = blocking(|| {
        ensure_image();
        (
            engine_ok(&[
                "run",
                "-d",
                "--name",
                ours.as_str(),
                "--label",
                &label,
                IMAGE,
                "sleep",
                "600",
            ]),
            engine_ok(&[
                "run",
                "-d",
                "--name",
                theirs.as_str(),
                IMAGE,
                "sleep",
                "600",
            ]),
        )
    });
    let get = |path: &'static str| {
        let (pki, token, addr) = (&pki, token.clone(), agent.addr);
        async move {
            let mut sender = connect(pki, addr, false).await;
            let req =
                empty(request("GET", path).header("authorization", format!("Bearer {token}")));
            let (parts, body) = roundtrip(&mut sender, req).await;
            assert_eq!(parts.status, 200, "{}", String::from_utf8_lossy(&body));
            String::from_utf8_lossy(&body).into_owned()
        }
    };
    // Sampled after both started: the admin's view has both.
    until(
        "both containers sampled",
        Duration::from_secs(30),
        || async {
            let v = metrics(&pki, agent.addr, "").await;
            let ids: Vec<&str> = v["samples"][0]["containers"]
                .as_array()?
                .iter()
                .filter_map(|c| c["id"].as_str())
                .collect();
            (ids.contains(&ours_id.as_str()) && ids.contains(&theirs_id.as_str())).then_some(())
        },
    )
    .await;
    let scoped: Value = serde_json::from_str(&get("/agent/v1/metrics").await).expect("json");
    let ids: Vec<&str> = scoped["samples"][0]["containers"]
        .as_array()
        .expect("containers")
        .iter()
        .filter_map(|c| c["id"].as_str())
        .collect();
    assert_eq!(ids, [ours_id.as_str()], "only the container in scope");
    assert!(
        scoped["samples"][0]["host"]["memory"]["total"]
            .as_u64()
            .unwrap_or(0)
            > 0
    );
    let text = get("/metrics").await;
    assert!(
        text.contains(&format!("name=\"{}\"", ours.as_str())),
        "{text}"
    );
    assert!(
        !text.contains(theirs.as_str()),
        "no series of a container out of scope"
    );
}
