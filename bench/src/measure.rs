//! The measurements: sequential latency, requests per second under concurrency, and log streaming throughput.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use http_body_util::BodyExt;
use hyper::{Method, StatusCode};
use tokio::task::JoinSet;

use crate::client::{snippet, Conn, Dial};

pub struct Latency {
    pub p50: Duration,
    pub p99: Duration,
    pub samples: usize,
}

/// Times `count` requests one after another on one kept-alive connection, after `warmup` untimed ones.
/// Stops early at `budget` so a slow target cannot stretch the run without bound.
pub async fn latency(
    dial: &Dial,
    path: &str,
    warmup: usize,
    count: usize,
    budget: Duration,
) -> Result<Latency> {
    let mut conn = dial.connect().await?;
    for _ in 0..warmup {
        conn.get_ok(path).await?;
    }
    let mut samples = Vec::with_capacity(count);
    let deadline = Instant::now() + budget;
    while samples.len() < count && Instant::now() < deadline {
        let start = Instant::now();
        conn.get_ok(path).await?;
        samples.push(start.elapsed());
    }
    ensure!(
        !samples.is_empty(),
        "no sample for {path} within {budget:?}"
    );
    samples.sort_unstable();
    Ok(Latency {
        p50: percentile(&samples, 0.50),
        p99: percentile(&samples, 0.99),
        samples: samples.len(),
    })
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], q: f64) -> Duration {
    let rank = (q * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

pub struct Rate {
    pub per_second: f64,
    pub completed: u64,
    pub errors: u64,
}

/// A safety cap per connection; far above what any target reaches in the measured window.
const MAX_REQUESTS_PER_CONN: u64 = 1_000_000;
/// A connection that keeps failing gives up instead of spinning on reconnects.
const MAX_ERRORS_PER_CONN: u64 = 20;

/// Requests per second with `conns` kept-alive connections each sending back to back for `window`.
/// Connections are opened (and TLS handshakes done) before the clock starts.
pub async fn rate(dial: &Dial, path: &str, conns: usize, window: Duration) -> Result<Rate> {
    let mut ready = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut conn = dial.connect().await?;
        conn.get_ok(path).await?;
        ready.push(conn);
    }

    let start = Instant::now();
    let deadline = start + window;
    let mut tasks = JoinSet::new();
    for conn in ready {
        let dial = dial.clone();
        let path = path.to_owned();
        tasks.spawn(async move { hammer(conn, &dial, &path, deadline).await });
    }
    let mut completed = 0;
    let mut errors = 0;
    let mut last_error = None;
    while let Some(joined) = tasks.join_next().await {
        let (ok, failed, error) = joined.context("load task failed")?;
        completed += ok;
        errors += failed;
        last_error = error.or(last_error);
    }
    if completed == 0 {
        match last_error {
            Some(e) => bail!("no request to {path} succeeded: {e:#}"),
            None => bail!("no request to {path} completed within {window:?}"),
        }
    }
    Ok(Rate {
        per_second: completed as f64 / window.as_secs_f64(),
        completed,
        errors,
    })
}

async fn hammer(
    mut conn: Conn,
    dial: &Dial,
    path: &str,
    deadline: Instant,
) -> (u64, u64, Option<anyhow::Error>) {
    let mut ok = 0;
    let mut errors = 0;
    let mut last_error = None;
    let mut sent = 0;
    while sent < MAX_REQUESTS_PER_CONN && Instant::now() < deadline {
        sent += 1;
        match conn.get_ok(path).await {
            // Only responses inside the window count; the window, not the stragglers, is the denominator.
            Ok(_) if Instant::now() <= deadline => ok += 1,
            Ok(_) => {}
            Err(e) => {
                errors += 1;
                last_error = Some(e);
                if errors >= MAX_ERRORS_PER_CONN {
                    break;
                }
                match dial.connect().await {
                    Ok(fresh) => conn = fresh,
                    Err(e) => {
                        last_error = Some(e);
                        break;
                    }
                }
            }
        }
    }
    (ok, errors, last_error)
}

pub struct LogRead {
    pub payload: u64,
    pub wire: u64,
    pub elapsed: Duration,
}

impl LogRead {
    /// Log bytes delivered per second, in MB (10^6 bytes).
    pub fn mb_per_second(&self) -> f64 {
        self.payload as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

/// Reads a container's whole log, as `docker logs` does, counting the bytes and discarding them.
pub async fn logs(dial: &Dial, id: &str, budget: Duration) -> Result<LogRead> {
    let path = format!("/containers/{id}/logs?stdout=1&stderr=1");
    let mut conn = dial.connect().await?;
    let start = Instant::now();
    let read = async {
        let response = conn.send(Method::GET, &path, None).await?;
        let status = response.status();
        let mut body = response.into_body();
        if status != StatusCode::OK {
            let bytes = body.collect().await?.to_bytes();
            bail!("GET {path}: {status}: {}", snippet(&bytes));
        }
        let mut frames = StdStream::default();
        let mut wire = 0u64;
        while let Some(frame) = body.frame().await {
            if let Ok(data) = frame?.into_data() {
                wire += data.len() as u64;
                frames.feed(&data);
            }
        }
        anyhow::Ok((frames.payload, wire))
    };
    let (payload, wire) = tokio::time::timeout(budget, read)
        .await
        .with_context(|| format!("reading the log took longer than {budget:?}"))??;
    Ok(LogRead {
        payload,
        wire,
        elapsed: start.elapsed(),
    })
}

/// Counts payload bytes of the engine's multiplexed stdout/stderr stream: 8-byte headers
/// (stream, 3 zero bytes, big-endian length) each followed by that many bytes.
#[derive(Default)]
struct StdStream {
    header: [u8; 8],
    header_len: usize,
    remaining: u64,
    payload: u64,
}

impl StdStream {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= take as u64;
                self.payload += take as u64;
                data = &data[take..];
                continue;
            }
            let take = data.len().min(8 - self.header_len);
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 8 {
                let [_, _, _, _, a, b, c, d] = self.header;
                self.remaining = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.header_len = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn std_stream_counts_payload_across_chunk_boundaries() {
        let mut stream = Vec::new();
        for payload in [&b"hello\n"[..], b"", b"a longer line of text\n"] {
            stream.extend_from_slice(&[1, 0, 0, 0]);
            stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            stream.extend_from_slice(payload);
        }
        for split in 1..stream.len() {
            let mut counter = StdStream::default();
            for chunk in stream.chunks(split) {
                counter.feed(chunk);
            }
            assert_eq!(counter.payload, 28, "chunk size {split}");
        }
    }

    #[test]
    fn percentile_is_nearest_rank() {
        let samples: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 0.99), Duration::from_millis(1));
    }
}
