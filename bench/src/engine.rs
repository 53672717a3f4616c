//! Prepares the engine for a run: the test image, the idle containers that fill /containers/json and the container whose log is streamed.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use anyhow::{anyhow, bail, Context, Result};
use bytes::Bytes;
use hyper::{Method, StatusCode};
use serde_json::{json, Value};
use tokio::task::JoinSet;

use crate::client::{snippet, Dial};

pub const IMAGE: &str = "bosun-test:latest";
pub const LABEL: &str = "bosun.bench";
const SLEEPER_LABEL: &str = "1";
const LOGS_LABEL: &str = "logs";
/// Records how much the log container wrote, so a container from another size is not reused.
const LOGS_BYTES_LABEL: &str = "bosun.bench.bytes";
/// Writing 500 MB through the json-file driver takes tens of seconds; this bounds a broken writer.
const LOGS_WRITE_TIMEOUT: Duration = Duration::from_secs(900);
const SETUP_PARALLELISM: usize = 4;

/// A 100-byte line plus newline: close to a typical application log line.
const LOG_LINE: &str =
    "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef0123";

#[derive(Clone)]
pub struct Engine {
    dial: Dial,
}

pub struct Versions {
    pub engine: String,
    pub api: String,
}

impl Engine {
    pub fn new(dial: Dial) -> Self {
        Self { dial }
    }

    /// One connection per call: setup is not measured, and this keeps calls independent.
    async fn call(
        &self,
        method: Method,
        path: &str,
        body: Option<Value>,
    ) -> Result<(StatusCode, Bytes)> {
        let mut conn = self.dial.connect().await?;
        let body = body.map(|v| Bytes::from(v.to_string()));
        conn.call(method, path, body).await
    }

    async fn json(&self, method: Method, path: &str, body: Option<Value>) -> Result<Value> {
        let (status, bytes) = self.call(method.clone(), path, body).await?;
        if !status.is_success() {
            bail!("{method} {path}: {status}: {}", snippet(&bytes));
        }
        if bytes.is_empty() {
            return Ok(Value::Null);
        }
        serde_json::from_slice(&bytes)
            .with_context(|| format!("{method} {path}: response is not JSON"))
    }

    pub async fn versions(&self) -> Result<Versions> {
        let v = self.json(Method::GET, "/version", None).await?;
        Ok(Versions {
            engine: str_field(&v, "Version")?.to_owned(),
            api: str_field(&v, "ApiVersion")?.to_owned(),
        })
    }

    /// Builds the image with the project's script when it is missing; there is no registry to pull from.
    pub async fn ensure_image(&self) -> Result<()> {
        let (status, body) = self
            .call(Method::GET, &format!("/images/{IMAGE}/json"), None)
            .await?;
        match status {
            StatusCode::OK => return Ok(()),
            StatusCode::NOT_FOUND => {}
            other => bail!("inspecting {IMAGE}: {other}: {}", snippet(&body)),
        }
        let script = [
            "scripts/build-test-image.sh",
            concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../scripts/build-test-image.sh"
            ),
        ]
        .into_iter()
        .map(PathBuf::from)
        .find(|p| p.is_file())
        .ok_or_else(|| {
            anyhow!("{IMAGE} is missing and scripts/build-test-image.sh was not found")
        })?;
        eprintln!("building {IMAGE} with {}", script.display());
        let status = tokio::process::Command::new(&script)
            .status()
            .await
            .with_context(|| format!("running {}", script.display()))?;
        if !status.success() {
            bail!("{} failed: {status}", script.display());
        }
        Ok(())
    }

    async fn labelled(&self, value: &str) -> Result<Vec<Value>> {
        let filters = json!({ "label": [format!("{LABEL}={value}")] }).to_string();
        let path = format!(
            "/containers/json?all=1&filters={}",
            percent_encode(&filters)
        );
        match self.json(Method::GET, &path, None).await? {
            Value::Array(list) => Ok(list),
            other => bail!("GET /containers/json: expected an array, got {other}"),
        }
    }

    /// Makes `count` containers named bosun-bench-NN run `sleep 1d`, reusing those from an earlier run.
    pub async fn ensure_sleepers(&self, count: usize) -> Result<()> {
        let mut existing: HashMap<String, (String, String)> = HashMap::new();
        for c in self.labelled(SLEEPER_LABEL).await? {
            let id = str_field(&c, "Id")?.to_owned();
            let state = str_field(&c, "State")?.to_owned();
            if let Some(Value::Array(names)) = c.get("Names") {
                for name in names.iter().filter_map(Value::as_str) {
                    existing.insert(
                        name.trim_start_matches('/').to_owned(),
                        (id.clone(), state.clone()),
                    );
                }
            }
        }

        let mut jobs = JoinSet::new();
        let mut created = 0;
        for i in 0..count {
            let name = format!("bosun-bench-{i:02}");
            let job = match existing.get(&name) {
                Some((_, state)) if state == "running" => continue,
                Some((id, _)) => Job::Start(id.clone()),
                None => {
                    created += 1;
                    Job::Create(name)
                }
            };
            if jobs.len() >= SETUP_PARALLELISM {
                join_one(&mut jobs).await?;
            }
            let engine = self.clone();
            jobs.spawn(async move { engine.run_job(job).await });
        }
        while !jobs.is_empty() {
            join_one(&mut jobs).await?;
        }
        if created > 0 {
            eprintln!("created {created} idle containers");
        }
        Ok(())
    }

    async fn run_job(&self, job: Job) -> Result<()> {
        let id = match job {
            Job::Start(id) => id,
            Job::Create(name) => {
                let body = json!({
                    "Image": IMAGE,
                    "Cmd": ["sleep", "1d"],
                    "Labels": { LABEL: SLEEPER_LABEL },
                });
                let created = self
                    .json(Method::POST, &format!("/containers/create?name={name}"), Some(body))
                    .await
                    .with_context(|| format!("creating {name} (a container of that name without the {LABEL} label is in the way?)"))?;
                str_field(&created, "Id")?.to_owned()
            }
        };
        self.start(&id).await
    }

    async fn start(&self, id: &str) -> Result<()> {
        let path = format!("/containers/{id}/start");
        let (status, body) = self.call(Method::POST, &path, None).await?;
        // 304: already running.
        if !(status.is_success() || status == StatusCode::NOT_MODIFIED) {
            bail!("POST {path}: {status}: {}", snippet(&body));
        }
        Ok(())
    }

    /// Returns the id of a finished container that wrote exactly `bytes` to stdout, creating it when needed.
    pub async fn ensure_logs(&self, bytes: u64) -> Result<String> {
        let wanted = bytes.to_string();
        for c in self.labelled(LOGS_LABEL).await? {
            let id = str_field(&c, "Id")?.to_owned();
            let same_size = c
                .get("Labels")
                .and_then(|l| l.get(LOGS_BYTES_LABEL))
                .and_then(Value::as_str)
                == Some(wanted.as_str());
            let state = str_field(&c, "State")?;
            if same_size && state == "running" {
                eprintln!(
                    "waiting for the log container {} to finish writing",
                    short(&id)
                );
                self.wait_ok(&id).await?;
                return Ok(id);
            }
            if same_size && state == "exited" && self.exit_code(&id).await? == 0 {
                return Ok(id);
            }
            self.remove(&id).await?;
        }

        let script = format!("yes {LOG_LINE} | head -c {bytes}");
        let body = json!({
            "Image": IMAGE,
            "Cmd": ["sh", "-c", script],
            "Labels": { LABEL: LOGS_LABEL, LOGS_BYTES_LABEL: wanted },
            // The daemon's default log options may rotate at a few MB and drop most of the stream;
            // json-file has no "unlimited" size, so the cap is set far above what is written.
            "HostConfig": {
                "LogConfig": { "Type": "json-file", "Config": { "max-size": "4g", "max-file": "1" } }
            },
        });
        let created = self
            .json(
                Method::POST,
                "/containers/create?name=bosun-bench-logs",
                Some(body),
            )
            .await
            .context("creating bosun-bench-logs")?;
        let id = str_field(&created, "Id")?.to_owned();
        self.start(&id).await?;
        eprintln!(
            "writing {} MB of log lines in {} (once; kept with --keep)",
            bytes / 1_000_000,
            short(&id)
        );
        self.wait_ok(&id).await?;
        Ok(id)
    }

    async fn wait_ok(&self, id: &str) -> Result<()> {
        let path = format!("/containers/{id}/wait");
        // The engine answers /wait only when the container exits, so the generic request timeout is too short.
        let mut conn = self.dial.connect().await?;
        let fut = async {
            let response = conn.send(Method::POST, &path, None).await?;
            let status = response.status();
            let body = http_body_util::BodyExt::collect(response.into_body())
                .await?
                .to_bytes();
            anyhow::Ok((status, body))
        };
        let (status, body) = tokio::time::timeout(LOGS_WRITE_TIMEOUT, fut)
            .await
            .with_context(|| {
                format!("{} did not exit within {LOGS_WRITE_TIMEOUT:?}", short(id))
            })??;
        if !status.is_success() {
            bail!("POST {path}: {status}: {}", snippet(&body));
        }
        let v: Value = serde_json::from_slice(&body).context("wait response is not JSON")?;
        let code = v.get("StatusCode").and_then(Value::as_i64).unwrap_or(-1);
        if code != 0 {
            bail!("log container {} exited with {code}", short(id));
        }
        Ok(())
    }

    async fn exit_code(&self, id: &str) -> Result<i64> {
        let v = self
            .json(Method::GET, &format!("/containers/{id}/json"), None)
            .await?;
        v.pointer("/State/ExitCode")
            .and_then(Value::as_i64)
            .ok_or_else(|| anyhow!("inspect {}: no State.ExitCode", short(id)))
    }

    async fn remove(&self, id: &str) -> Result<()> {
        let path = format!("/containers/{id}?force=1");
        let (status, body) = self.call(Method::DELETE, &path, None).await?;
        if !(status.is_success() || status == StatusCode::NOT_FOUND) {
            bail!("DELETE {path}: {status}: {}", snippet(&body));
        }
        Ok(())
    }

    /// Removes every container this tool created.
    pub async fn remove_all(&self) -> Result<usize> {
        self.remove_labelled(&[SLEEPER_LABEL, LOGS_LABEL]).await
    }

    /// Removes the idle containers only, keeping the log container an earlier `--keep` left.
    pub async fn remove_sleepers(&self) -> Result<usize> {
        self.remove_labelled(&[SLEEPER_LABEL]).await
    }

    async fn remove_labelled(&self, values: &[&str]) -> Result<usize> {
        let mut ids = Vec::new();
        for value in values {
            for c in self.labelled(value).await? {
                ids.push(str_field(&c, "Id")?.to_owned());
            }
        }
        let removed = ids.len();
        let mut jobs = JoinSet::new();
        for id in ids {
            if jobs.len() >= SETUP_PARALLELISM {
                join_one(&mut jobs).await?;
            }
            let engine = self.clone();
            jobs.spawn(async move { engine.remove(&id).await });
        }
        while !jobs.is_empty() {
            join_one(&mut jobs).await?;
        }
        Ok(removed)
    }
}

enum Job {
    Create(String),
    Start(String),
}

async fn join_one(jobs: &mut JoinSet<Result<()>>) -> Result<()> {
    match jobs.join_next().await {
        Some(joined) => joined.context("setup task failed")?,
        None => Ok(()),
    }
}

fn str_field<'a>(v: &'a Value, key: &str) -> Result<&'a str> {
    v.get(key)
        .and_then(Value::as_str)
        .ok_or_else(|| anyhow!("engine response has no string field {key}"))
}

pub fn short(id: &str) -> &str {
    id.get(..12).unwrap_or(id)
}

fn percent_encode(s: &str) -> String {
    let mut out = String::with_capacity(s.len() * 3);
    for b in s.bytes() {
        if b.is_ascii_alphanumeric() || b"-_.~".contains(&b) {
            out.push(char::from(b));
        } else {
            out.push_str(&format!("%{b:02X}"));
        }
    }
    out
}
