//! Update checks at scale: 200 containers on the real engine over 20 images in a registry on
//! loopback (Debian's `docker-registry`), checked by the agent's own checker; the time of a
//! check and the requests the registry saw, read from its access log, against the target of
//! one manifest request per distinct image and tag per check.

use std::process::Command;
use std::sync::Arc;
use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use bosun_agent::updates::{Updates, UpdatesConfig};
use bosun_agent::upstream::{EngineAddr, UpstreamPool};
use bosun_testkit::registry::Asked;
use bosun_testkit::LoopbackRegistry;
use tokio_util::sync::CancellationToken;

const USAGE: &str = "\
usage: bosun-bench updates [--containers N] [--images N] [--rounds N] [--markdown]

Pushes N images (default 20: the test image as bosun-it-bench-upd/appI:1.0.0 and :1.0.1) to a
docker-registry on a free loopback port, runs the containers (default 200, `sleep`, named
bosun-it-bench-upd-I) spread over them on the real engine, and times the agent's update check
of the node (default 3 rounds), counting the registry's requests by kind. Every other container
on the engine is checked too (their registries are not this one). Removes what it made.";

const PREFIX: &str = "bosun-it-bench-upd";
const ENGINE_SOCKET: &str = "/var/run/docker.sock";
const TEST_IMAGE: &str = "bosun-test:latest";
/// `docker run`s at once while setting up.
const PARALLEL: usize = 8;

struct Options {
    containers: usize,
    images: usize,
    rounds: usize,
    markdown: bool,
}

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut options = Options {
        containers: 200,
        images: 20,
        rounds: 3,
        markdown: false,
    };
    let mut args = args.into_iter();
    while let Some(arg) = args.next() {
        let mut number = |what: &str| -> Result<usize> {
            args.next()
                .with_context(|| format!("{what} needs a number"))?
                .parse()
                .with_context(|| format!("{what} needs a number"))
        };
        match arg.as_str() {
            "--containers" => options.containers = number("--containers")?,
            "--images" => options.images = number("--images")?,
            "--rounds" => options.rounds = number("--rounds")?,
            "--markdown" => options.markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    ensure!(
        options.images >= 1 && options.containers >= options.images,
        "at least one image and a container per image"
    );
    bosun_agent::tls::install_crypto_provider();
    let registry = LoopbackRegistry::start().await;
    let made = Made::default();
    let result = run(&options, &registry, &made).await;
    tokio::task::spawn_blocking(move || drop(made)).await?;
    result
}

/// What the benchmark made on the engine, removed when dropped.
#[derive(Default)]
struct Made {
    containers: std::sync::Mutex<Vec<String>>,
    tags: std::sync::Mutex<Vec<String>>,
}

impl Drop for Made {
    fn drop(&mut self) {
        let containers =
            std::mem::take(&mut *self.containers.lock().unwrap_or_else(|p| p.into_inner()));
        for chunk in containers.chunks(50) {
            let mut args = vec!["rm", "-f"];
            args.extend(chunk.iter().map(String::as_str));
            let _ = docker(&args);
        }
        let tags = std::mem::take(&mut *self.tags.lock().unwrap_or_else(|p| p.into_inner()));
        if !tags.is_empty() {
            let mut args = vec!["rmi", "-f"];
            args.extend(tags.iter().map(String::as_str));
            let _ = docker(&args);
        }
    }
}

fn docker(args: &[&str]) -> Result<String> {
    let out = Command::new("docker")
        .args(args)
        .env_remove("DOCKER_HOST")
        .output()
        .context("running docker")?;
    ensure!(
        out.status.success(),
        "docker {}: {}",
        args.join(" "),
        String::from_utf8_lossy(&out.stderr).trim()
    );
    Ok(String::from_utf8_lossy(&out.stdout).trim().to_owned())
}

async fn run(options: &Options, registry: &LoopbackRegistry, made: &Made) -> Result<()> {
    let host = registry.host();
    let setup = Instant::now();
    let repo = |i: usize| format!("{host}/{PREFIX}/app{i}");
    for i in 0..options.images {
        for tag in ["1.0.0", "1.0.1"] {
            let name = format!("{}:{tag}", repo(i));
            made.tags
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(name.clone());
            let name2 = name.clone();
            tokio::task::spawn_blocking(move || {
                docker(&["tag", TEST_IMAGE, &name2])?;
                docker(&["push", "-q", &name2])
            })
            .await??;
        }
    }
    let pushed = setup.elapsed();
    let started = Instant::now();
    let pid = std::process::id();
    let names: Vec<(String, String)> = (0..options.containers)
        .map(|n| {
            (
                format!("{PREFIX}-{pid}-{n}"),
                format!("{}:1.0.0", repo(n % options.images)),
            )
        })
        .collect();
    for chunk in names.chunks(PARALLEL) {
        let mut tasks = Vec::new();
        for (name, image) in chunk {
            let (name, image) = (name.clone(), image.clone());
            made.containers
                .lock()
                .unwrap_or_else(|p| p.into_inner())
                .push(name.clone());
            tasks.push(tokio::task::spawn_blocking(move || {
                docker(&[
                    "run",
                    "-d",
                    "--name",
                    &name,
                    "--network",
                    "none",
                    &image,
                    "sleep",
                    "3600",
                ])
            }));
        }
        for t in tasks {
            t.await??;
        }
    }
    let ran = started.elapsed();
    eprintln!(
        "pushed {} images in {:.1} s, ran {} containers in {:.1} s",
        options.images,
        pushed.as_secs_f64(),
        options.containers,
        ran.as_secs_f64()
    );

    let stop = CancellationToken::new();
    let updates: Arc<Updates> = Updates::start(
        UpdatesConfig {
            interval: Duration::ZERO,
            docker_config: None,
        },
        UpstreamPool::new(EngineAddr::Unix(ENGINE_SOCKET.into())),
        "bench".to_owned(),
        stop.clone(),
    );
    let mut rows = Vec::new();
    for round in 1..=options.rounds {
        let before = registry.asked().len();
        let t = Instant::now();
        let answer = updates.check().await;
        let took = t.elapsed();
        let asked: Vec<Asked> = registry.asked()[before..].to_vec();
        let ours: Vec<_> = answer
            .items
            .iter()
            .filter(|i| i.name.starts_with(PREFIX))
            .collect();
        let with_patch = ours
            .iter()
            .filter(|i| i.update == Some(bosun_agent::updates::version::Kind::Patch))
            .count();
        let errors = ours.iter().filter(|i| i.error.is_some()).count();
        let count = |method: &str, part: &str| {
            asked
                .iter()
                .filter(|a| a.method == method && a.path.contains(part))
                .count()
        };
        rows.push(Row {
            round,
            millis: took.as_secs_f64() * 1e3,
            all_items: answer.items.len(),
            ours: ours.len(),
            with_patch,
            errors,
            head: count("HEAD", "/manifests/"),
            get: count("GET", "/manifests/"),
            tags: count("GET", "/tags/list"),
            pings: asked.iter().filter(|a| a.path == "/v2/").count(),
            total: asked.len(),
        });
    }
    stop.cancel();
    let target = options.images;
    println!(
        "Update check of {} containers over {} images (target: {target} manifest requests per check, one per distinct image and tag)\n",
        options.containers, options.images
    );
    let header = [
        "round",
        "check ms",
        "items (all / ours)",
        "ours: patch / errors",
        "HEAD manifest",
        "GET manifest",
        "tag lists",
        "GET /v2/",
        "all requests",
    ];
    println!("{}", header.join(" | "));
    for r in &rows {
        println!("{}", r.cells().join(" | "));
    }
    if options.markdown {
        println!("\n| {} |", header.join(" | "));
        println!("|{}", "---|".repeat(header.len()));
        for r in &rows {
            println!("| {} |", r.cells().join(" | "));
        }
    }
    for r in &rows {
        ensure!(
            r.ours == options.containers,
            "round {}: {} of our {} containers checked",
            r.round,
            r.ours,
            options.containers
        );
        ensure!(
            r.head + r.get == target,
            "round {}: {} manifest requests, not {target}",
            r.round,
            r.head + r.get
        );
    }
    Ok(())
}

struct Row {
    round: usize,
    millis: f64,
    all_items: usize,
    ours: usize,
    with_patch: usize,
    errors: usize,
    head: usize,
    get: usize,
    tags: usize,
    pings: usize,
    total: usize,
}

impl Row {
    fn cells(&self) -> Vec<String> {
        vec![
            self.round.to_string(),
            format!("{:.0}", self.millis),
            format!("{} / {}", self.all_items, self.ours),
            format!("{} / {}", self.with_patch, self.errors),
            self.head.to_string(),
            self.get.to_string(),
            self.tags.to_string(),
            self.pings.to_string(),
            self.total.to_string(),
        ]
    }
}
