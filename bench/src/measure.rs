//! Request measurements: sequential latency (one target, or several with their requests
//! interleaved) and requests per second under concurrency.

use std::time::{Duration, Instant};

use anyhow::{bail, ensure, Context, Result};
use tokio::task::JoinSet;

use crate::client::{Conn, Dial};

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

/// Times `count` requests per target, one target after another in turns, each on its own
/// kept-alive connection, after `warmup` untimed ones each: whatever slows the machine for a
/// moment slows every target alike. The order rotates every turn, so no target always goes
/// first. Stops early at `budget`; the results are in the order of `dials`.
pub async fn latency_interleaved(
    dials: &[Dial],
    path: &str,
    warmup: usize,
    count: usize,
    budget: Duration,
) -> Result<Vec<Latency>> {
    let mut conns = Vec::with_capacity(dials.len());
    for dial in dials {
        let mut conn = dial.connect().await?;
        for _ in 0..warmup {
            conn.get_ok(path).await?;
        }
        conns.push(conn);
    }
    let mut samples = vec![Vec::with_capacity(count); dials.len()];
    let deadline = Instant::now() + budget;
    let mut round = 0;
    while round < count && Instant::now() < deadline {
        for i in turn(round, conns.len()) {
            let start = Instant::now();
            conns[i].get_ok(path).await?;
            samples[i].push(start.elapsed());
        }
        round += 1;
    }
    ensure!(round > 0, "no sample for {path} within {budget:?}");
    Ok(samples
        .into_iter()
        .map(|mut s| {
            s.sort_unstable();
            Latency {
                p50: percentile(&s, 0.50),
                p99: percentile(&s, 0.99),
                samples: s.len(),
            }
        })
        .collect())
}

/// The order of `n` targets in turn `round`: 0, 1, …, n-1 rotated by `round`.
pub fn turn(round: usize, n: usize) -> impl Iterator<Item = usize> {
    (0..n).map(move |k| (round + k) % n)
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
    let mut pool = open(dial, path, conns).await?;
    rate_on(&mut pool, dial, path, window).await
}

/// `conns` kept-alive connections, each having answered one request to `path`.
pub async fn open(dial: &Dial, path: &str, conns: usize) -> Result<Vec<Conn>> {
    let mut ready = Vec::with_capacity(conns);
    for _ in 0..conns {
        let mut conn = dial.connect().await?;
        conn.get_ok(path).await?;
        ready.push(conn);
    }
    Ok(ready)
}

/// [`rate`] on connections from [`open`], handed back into `pool` for the next window, so
/// that windows can alternate between targets without handshakes in between.
pub async fn rate_on(
    pool: &mut Vec<Conn>,
    dial: &Dial,
    path: &str,
    window: Duration,
) -> Result<Rate> {
    let deadline = Instant::now() + window;
    let mut tasks = JoinSet::new();
    for conn in pool.drain(..) {
        let dial = dial.clone();
        let path = path.to_owned();
        tasks.spawn(async move { hammer(conn, &dial, &path, deadline).await });
    }
    let mut completed = 0;
    let mut errors = 0;
    let mut last_error = None;
    while let Some(joined) = tasks.join_next().await {
        let (conn, ok, failed, error) = joined.context("load task failed")?;
        pool.push(conn);
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
) -> (Conn, u64, u64, Option<anyhow::Error>) {
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
    (conn, ok, errors, last_error)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn percentile_is_nearest_rank() {
        let samples: Vec<_> = (1..=100).map(Duration::from_millis).collect();
        assert_eq!(percentile(&samples, 0.50), Duration::from_millis(50));
        assert_eq!(percentile(&samples, 0.99), Duration::from_millis(99));
        assert_eq!(percentile(&samples[..1], 0.99), Duration::from_millis(1));
    }

    #[test]
    fn turns_rotate_so_that_each_target_goes_first_as_often() {
        let order = |round| turn(round, 2).collect::<Vec<_>>();
        assert_eq!(order(0), [0, 1]);
        assert_eq!(order(1), [1, 0]);
        assert_eq!(order(2), [0, 1]);
        assert_eq!(turn(4, 3).collect::<Vec<_>>(), [1, 2, 0]);
        assert_eq!(turn(0, 0).count(), 0);
    }
}
