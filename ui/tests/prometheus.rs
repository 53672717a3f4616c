//! The charts' history from a real Prometheus (`--prometheus-url`): Debian's `prometheus`
//! scrapes a real agent's `/metrics` over TLS every second with the cluster's client
//! certificate, and the console answers a node's and a container's history from it; a
//! Prometheus that is down is a 502 that says so.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;

use http::StatusCode;
use serde_json::Value;
use tempfile::TempDir;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use common::*;

const PROMETHEUS: &str = "/usr/bin/prometheus";
/// How often Prometheus scrapes the agent, and the console is told it does.
const SCRAPE: Duration = Duration::from_secs(1);
/// The agent's sampling interval: its series change this often.
const SAMPLING: Duration = Duration::from_secs(2);
/// Prometheus's start, its first scrapes, and enough of them for a rate.
const FIRST_POINTS: Duration = Duration::from_secs(60);

/// A Prometheus process on a loopback port with its storage in a temporary directory,
/// killed when dropped.
struct Prometheus {
    port: u16,
    child: Option<Child>,
    dir: TempDir,
}

impl Prometheus {
    /// Starts one scraping the agent at `agent` with `pki`'s client certificate.
    fn start(pki: &Pki, agent: u16) -> Self {
        assert!(
            Path::new(PROMETHEUS).exists(),
            "{PROMETHEUS} is missing: scripts/test.sh installs Debian's prometheus package"
        );
        let dir = tempfile::tempdir().expect("tempdir");
        let file = |name: &str| pki.client.join(name).display().to_string();
        let config = format!(
            "global:\n  scrape_interval: {s}s\n  scrape_timeout: {s}s\n\
             scrape_configs:\n  - job_name: bosun\n    scheme: https\n    metrics_path: /metrics\n\
             \x20   static_configs:\n      - targets: ['127.0.0.1:{agent}']\n\
             \x20   tls_config:\n      ca_file: '{ca}'\n      cert_file: '{cert}'\n      key_file: '{key}'\n      server_name: localhost\n",
            s = SCRAPE.as_secs(),
            ca = file("ca.pem"),
            cert = file("cert.pem"),
            key = file("key.pem"),
        );
        let config_file = dir.path().join("prometheus.yml");
        std::fs::write(&config_file, config).expect("the config");
        let port = free_port("127.0.0.1");
        let log = std::fs::File::create(dir.path().join("log")).expect("the log file");
        let child = Command::new(PROMETHEUS)
            .arg(format!("--config.file={}", config_file.display()))
            .arg(format!(
                "--storage.tsdb.path={}",
                dir.path().join("data").display()
            ))
            .arg(format!("--web.listen-address=127.0.0.1:{port}"))
            .arg("--log.level=warn")
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap_or_else(|e| panic!("start {PROMETHEUS}: {e}"));
        Self {
            port,
            child: Some(child),
            dir,
        }
    }

    fn url(&self) -> String {
        format!("http://127.0.0.1:{}", self.port)
    }

    fn log(&self) -> PathBuf {
        self.dir.path().join("log")
    }

    /// What Prometheus says of its scrapes (their last error), for a failure's message.
    async fn targets(&self) -> String {
        let text = plain_get(self.port, "/api/v1/targets").await;
        let log = std::fs::read_to_string(self.log()).unwrap_or_default();
        format!("targets: {text}; log: {log}")
    }

    /// Kills it and waits until it is gone.
    fn stop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

impl Drop for Prometheus {
    fn drop(&mut self) {
        self.stop();
    }
}

/// The body of a plain HTTP GET on a loopback port, or what went wrong.
async fn plain_get(port: u16, path: &str) -> String {
    let fetch = async {
        let mut tcp = tokio::net::TcpStream::connect(("127.0.0.1", port)).await?;
        tcp.write_all(format!("GET {path} HTTP/1.0\r\nHost: 127.0.0.1\r\n\r\n").as_bytes())
            .await?;
        let mut text = String::new();
        tcp.read_to_string(&mut text).await?;
        Ok::<_, std::io::Error>(text)
    };
    match tokio::time::timeout(Duration::from_secs(5), fetch).await {
        Ok(Ok(text)) => text
            .split_once("\r\n\r\n")
            .map_or(text.clone(), |(_, b)| b.to_owned()),
        Ok(Err(e)) => format!("({e})"),
        Err(_) => "(no answer within 5 s)".into(),
    }
}

/// The figures of `points` (a `Points` answer) that have a value somewhere.
fn present(points: &Value, figures: &[&str]) -> Vec<String> {
    figures
        .iter()
        .filter(|f| {
            points[**f]["value"]
                .as_array()
                .is_some_and(|v| v.iter().any(Value::is_f64))
        })
        .map(|f| (*f).to_owned())
        .collect()
}

#[tokio::test(flavor = "multi_thread")]
async fn the_history_is_read_from_prometheus_and_a_prometheus_down_is_a_502() {
    let pki = Pki::new();
    let agent = sampling_agent(&pki, "127.0.0.1:0".parse().expect("addr"), SAMPLING).await;
    let mut prometheus = Prometheus::start(&pki, agent.addr.port());
    let ct = container("prometheus");
    let node = engine_name();

    let data = tempfile::tempdir().expect("tempdir");
    let mut args = console_args(data.path(), &pki, agent.addr);
    // The puller still runs: it names the containers the container chart asks for.
    args.usage.usage_interval = Duration::from_secs(1);
    args.usage.prometheus_url = Some(prometheus.url());
    args.usage.prometheus_scrape_interval = SCRAPE;
    let console = console_until_stopped(&args).await;
    let client = Client::logged_in(console.addr, ADMIN, ADMIN_PASSWORD).await;

    let path = format!("/api/endpoints/1/usage/nodes/{node}?range=1h");
    let history = eventually("CPU and memory from Prometheus", FIRST_POINTS, || async {
        let answer = client.get(&path).await;
        if answer.status != StatusCode::OK {
            return Err(format!(
                "{} {}; {}",
                answer.status,
                answer.text(),
                prometheus.targets().await
            ));
        }
        let history = answer.json();
        let found = present(&history["host"], &["cpu", "mem_used", "mem_total"]);
        if found.len() == 3 {
            Ok(history)
        } else {
            Err(format!(
                "only {found:?}: {history}; {}",
                prometheus.targets().await
            ))
        }
    })
    .await;
    assert_eq!(history["tier"], "prometheus");
    assert_eq!(
        history["bucket"], 10,
        "an hour scraped every second: 10 s steps"
    );
    let times = history["host"]["times"].as_array().expect("times");
    assert!((360..=362).contains(&times.len()), "{} times", times.len());
    assert!(times
        .iter()
        .all(|t| t.as_i64().is_some_and(|t| t % 10 == 0)));
    for figure in ["cpu", "mem_used", "net_rx", "disk_read", "load1"] {
        let line = &history["host"][figure];
        assert_eq!(line["value"].as_array().map(Vec::len), Some(times.len()));
        assert_eq!(line["peak"], Value::Null, "{figure}");
    }
    let cpu = history["host"]["cpu"]["value"].as_array().expect("CPU");
    assert!(
        cpu.iter()
            .filter_map(Value::as_f64)
            .all(|v| (0.0..=100.0).contains(&v)),
        "CPU is a share: {cpu:?}"
    );
    let used = history["host"]["mem_used"]["value"]
        .as_array()
        .and_then(|v| v.iter().rev().find_map(Value::as_f64))
        .expect("memory used");
    let total = history["host"]["mem_total"]["value"]
        .as_array()
        .and_then(|v| v.iter().rev().find_map(Value::as_f64))
        .expect("memory total");
    assert!(0.0 < used && used <= total, "memory {used} of {total}");
    assert!(
        history["filesystems"]
            .as_array()
            .is_some_and(|fs| fs
                .iter()
                .any(|f| !present(&f["points"], &["used", "total"]).is_empty())),
        "the host's filesystems: {}",
        history["filesystems"]
    );

    // A container's chart: the store names it, Prometheus has its points, rates too.
    let ct_id = client
        .get(&format!("/api/endpoints/1/containers/{}", ct.0))
        .await
        .json()["Id"]
        .as_str()
        .expect("the container's ID")
        .to_owned();
    let path_ct = format!(
        "/api/endpoints/1/usage/containers/{}?range=1h",
        &ct_id[..12]
    );
    let ct_history = eventually("the container's points", SETTLE, || async {
        let answer = client.get(&path_ct).await;
        if answer.status != StatusCode::OK {
            return Err(format!("{} {}", answer.status, answer.text()));
        }
        let h = answer.json();
        let found = present(&h["points"], &["cpu", "mem_used", "net_rx"]);
        if found.len() == 3 {
            Ok(h)
        } else {
            Err(format!("only {found:?}: {h}"))
        }
    })
    .await;
    assert_eq!(ct_history["id"], ct_id.as_str());
    assert_eq!(ct_history["node"], node.as_str());
    assert_eq!(ct_history["tier"], "prometheus");

    // Prometheus goes: the chart says so, and that it is no fault of the request.
    prometheus.stop();
    let down = client.get(&path).await;
    assert_eq!(down.status, StatusCode::BAD_GATEWAY, "{}", down.text());
    assert!(
        down.message().contains("Prometheus"),
        "the message names Prometheus: {}",
        down.message()
    );

    console.stop().await;
    agent.stop().await;
}
