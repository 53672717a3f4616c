//! The console's benchmark: its containers page and API in front of one agent of a cluster
//! of 10 simulated nodes with 100 containers each, against that agent's own list, and the
//! console's memory.

use std::net::{Ipv4Addr, SocketAddr};
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bytes::Bytes;
use http_body_util::{BodyExt, Full};
use hyper::{header, Method, Request, StatusCode};
use hyper_util::rt::TokioIo;
use tokio::process::Command;
use tokio_util::sync::CancellationToken;

use crate::cluster::{
    fakes, free_port, start_in_process, until_all_see, Creds, CONTAINERS_PER_NODE, NODE_LATENCY,
};
use crate::measure::latency;
use crate::procs::memory;

const NODES: usize = 10;
const PASSWORD: &str = "bench-password";

const USAGE: &str = "\
usage: bosun-bench console [--ui-bin PATH] [--quick] [--markdown]

Measures the console (bosun-ui, its own process) in front of one agent of 10 simulated
nodes with 100 containers each, every node answering after 20 ms: the server time of the
containers API and of the page, against the agent's own GET /containers/json, and the
console's memory.";

/// A logged-in browser's requests: one kept-alive connection with the session cookie.
struct Session {
    sender: hyper::client::conn::http1::SendRequest<Full<Bytes>>,
    cookie: String,
}

impl Session {
    async fn open(
        addr: SocketAddr,
    ) -> Result<hyper::client::conn::http1::SendRequest<Full<Bytes>>> {
        let provider = Arc::new(rustls::crypto::aws_lc_rs::default_provider());
        let mut tls = rustls::ClientConfig::builder_with_provider(provider)
            .with_safe_default_protocol_versions()?
            .dangerous()
            .with_custom_certificate_verifier(Arc::new(bosun_agent::probe::AnyServer))
            .with_no_client_auth();
        tls.alpn_protocols = vec![b"http/1.1".to_vec()];
        let tcp = tokio::net::TcpStream::connect(addr).await?;
        tcp.set_nodelay(true)?;
        let stream = tokio_rustls::TlsConnector::from(Arc::new(tls))
            .connect(rustls_pki_types::ServerName::try_from("localhost")?, tcp)
            .await?;
        let (sender, conn) = hyper::client::conn::http1::handshake(TokioIo::new(stream)).await?;
        tokio::spawn(conn);
        Ok(sender)
    }

    async fn call(
        &mut self,
        method: Method,
        path: &str,
        body: Option<&str>,
    ) -> Result<(StatusCode, hyper::HeaderMap, Bytes)> {
        let mut req = Request::builder()
            .method(method)
            .uri(path)
            .header(header::HOST, "localhost");
        if !self.cookie.is_empty() {
            req = req.header(header::COOKIE, &self.cookie);
        }
        if body.is_some() {
            req = req.header(header::CONTENT_TYPE, "application/json");
        }
        let req = req.body(Full::new(Bytes::from(body.unwrap_or_default().to_owned())))?;
        self.sender.ready().await?;
        let resp = tokio::time::timeout(Duration::from_secs(30), self.sender.send_request(req))
            .await
            .context("no answer within 30 s")??;
        let status = resp.status();
        let headers = resp.headers().clone();
        let bytes = resp.into_body().collect().await?.to_bytes();
        Ok((status, headers, bytes))
    }

    async fn login(addr: SocketAddr) -> Result<Self> {
        let mut session = Self {
            sender: Self::open(addr).await?,
            cookie: String::new(),
        };
        let body = format!(r#"{{"username":"admin","password":"{PASSWORD}"}}"#);
        let (status, headers, bytes) = session
            .call(Method::POST, "/api/login", Some(&body))
            .await?;
        ensure!(
            status == StatusCode::OK,
            "login: {status}: {}",
            String::from_utf8_lossy(&bytes)
        );
        let cookie = headers
            .get(header::SET_COOKIE)
            .context("no session cookie")?
            .to_str()?;
        session.cookie = cookie.split(';').next().unwrap_or_default().to_owned();
        Ok(session)
    }

    /// Sequential server times of GET `path`, after a few untimed ones; p50 and p99.
    async fn latency(&mut self, path: &str, count: usize) -> Result<(Duration, Duration, usize)> {
        let mut bytes = 0;
        for _ in 0..3 {
            let (status, _, body) = self.call(Method::GET, path, None).await?;
            ensure!(status == StatusCode::OK, "GET {path}: {status}");
            bytes = body.len();
        }
        let mut samples = Vec::with_capacity(count);
        for _ in 0..count {
            let start = Instant::now();
            let (status, _, _) = self.call(Method::GET, path, None).await?;
            samples.push(start.elapsed());
            ensure!(status == StatusCode::OK, "GET {path}: {status}");
        }
        samples.sort_unstable();
        let at = |q: f64| samples[((q * count as f64).ceil() as usize).clamp(1, count) - 1];
        Ok((at(0.5), at(0.99), bytes))
    }
}

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut bin = PathBuf::from("target/release/bosun-ui");
    let (mut quick, mut markdown) = (false, false);
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        match arg.as_str() {
            "--ui-bin" => bin = PathBuf::from(args.next().context("--ui-bin needs a path")?),
            "--quick" => quick = true,
            "--markdown" => markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(
        bin.exists(),
        "{} is missing: cargo build --release -p bosun-ui",
        bin.display()
    );
    bosun_agent::tls::install_crypto_provider();
    let scratch = crate::procs::Scratch::new()?;
    run(&bin, scratch.path(), if quick { 10 } else { 50 }, markdown).await
}

async fn run(bin: &Path, scratch: &Path, samples: usize, markdown: bool) -> Result<()> {
    let creds = Creds::new(scratch)?;
    let stop = CancellationToken::new();
    let engines = fakes("node", 0, NODES).await?;
    let first = start_in_process(&creds, &engines[0], None, &stop).await?;
    let mut dials = vec![creds.dial(first.api)?];
    for engine in engines.iter().skip(1) {
        let agent = start_in_process(&creds, engine, Some(first.gossip), &stop).await?;
        dials.push(creds.dial(agent.api)?);
    }
    until_all_see(&dials, NODES).await?;

    // The console, its own process, with an endpoint for the first agent.
    let data = scratch.join("console");
    std::fs::create_dir_all(&data)?;
    let password = data.join("admin-password");
    std::fs::write(&password, PASSWORD)?;
    let port = free_port()?;
    let addr = SocketAddr::from((Ipv4Addr::LOCALHOST, port));
    let mut child = Command::new(bin)
        .arg("--listen")
        .arg(addr.to_string())
        .arg("--data-dir")
        .arg(&data)
        .arg("--admin-password-file")
        .arg(&password)
        .arg("--endpoint-url")
        .arg(format!("https://localhost:{}", first.api.port()))
        .arg("--endpoint-ca")
        .arg(creds.dir.join("ca/ca.pem"))
        .arg("--endpoint-secret-file")
        .arg(creds.dir.join("secret"))
        .arg("--log-level")
        .arg("warn")
        .stdout(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("starting {}", bin.display()))?;
    let pid = child.id().context("the console's pid")?;
    let deadline = Instant::now() + Duration::from_secs(20);
    let mut session = loop {
        match Session::login(addr).await {
            Ok(s) => break s,
            Err(e) if Instant::now() > deadline => {
                return Err(e.context("the console did not start"))
            }
            Err(_) => tokio::time::sleep(Duration::from_millis(100)).await,
        }
    };
    let idle = memory(pid)?;

    let list = "/api/endpoints/1/containers";
    let (_, _, body) = session.call(Method::GET, list, None).await?;
    let items: serde_json::Value = serde_json::from_slice(&body)?;
    let count = items["items"].as_array().map(Vec::len).unwrap_or(0);
    ensure!(
        count == NODES * CONTAINERS_PER_NODE,
        "the console lists {count} containers, not {}",
        NODES * CONTAINERS_PER_NODE
    );
    let agent = latency(
        &dials[0],
        "/containers/json?all=1",
        3,
        samples,
        Duration::from_secs(120),
    )
    .await?;
    let api = session.latency(list, samples).await?;
    let page = session.latency("/", samples).await?;
    let script = session
        .latency("/assets/js/pages/container.js", samples)
        .await?;
    let endpoints = session.latency("/api/endpoints", samples).await?;
    let after = memory(pid)?;
    let _ = child.kill().await;
    stop.cancel();

    let ms = |d: Duration| d.as_secs_f64() * 1000.0;
    let ratio = api.0.as_secs_f64() / agent.p50.as_secs_f64().max(1e-9);
    let mb = |b: u64| b as f64 / 1e6;
    let verdict = |d: Duration| {
        if d <= Duration::from_millis(200) {
            "met"
        } else {
            "NOT MET"
        }
    };
    let rows = [
        (
            "the agent's GET /containers/json?all=1 (baseline)",
            agent.p50,
            agent.p99,
            String::new(),
            "",
        ),
        (
            "console GET /api/endpoints/1/containers",
            api.0,
            api.1,
            format!("{:.0} kB, {ratio:.2}x the agent", api.2 as f64 / 1e3),
            verdict(api.0),
        ),
        (
            "console GET /api/endpoints (status of 1 cluster)",
            endpoints.0,
            endpoints.1,
            String::new(),
            verdict(endpoints.0),
        ),
        (
            "console GET / (the page)",
            page.0,
            page.1,
            format!("{} B", page.2),
            verdict(page.0),
        ),
        (
            "console GET /assets/js/pages/container.js",
            script.0,
            script.1,
            format!("{:.0} kB", script.2 as f64 / 1e3),
            verdict(script.0),
        ),
    ];
    println!(
        "{} containers on {NODES} simulated nodes (each answering after {} ms), {samples} sequential requests each:",
        NODES * CONTAINERS_PER_NODE,
        NODE_LATENCY.as_millis()
    );
    for (what, p50, p99, note, result) in &rows {
        println!(
            "  {what:<52} p50 {:>7.1} ms  p99 {:>7.1} ms  {note:<24} {result}",
            ms(*p50),
            ms(*p99)
        );
    }
    println!(
        "  console RSS: {:.1} MB idle, {:.1} MB after the run (peak {:.1} MB)",
        mb(idle.rss),
        mb(after.rss),
        mb(after.hwm)
    );
    if markdown {
        println!(
            "\n| request | p50 (ms) | p99 (ms) | note | target 200 ms |\n|---|---:|---:|---|---|"
        );
        for (what, p50, p99, note, result) in &rows {
            println!(
                "| {what} | {:.1} | {:.1} | {note} | {result} |",
                ms(*p50),
                ms(*p99)
            );
        }
        println!(
            "\n| console memory | MB |\n|---|---:|\n| RSS idle | {:.1} |\n| RSS after the run | {:.1} |\n| peak RSS | {:.1} |",
            mb(idle.rss),
            mb(after.rss),
            mb(after.hwm)
        );
    }
    Ok(())
}
