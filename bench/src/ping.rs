//! `bosun-bench ping`: `GET /_ping` at 64 kept-alive connections through HAProxy with TLS
//! and through one or more agent binaries, in alternating rounds, so that the machine's
//! drift from one minute to the next falls on every column alike. It is the main table's
//! row that moves most from run to run, measured on its own, and the way to hold two
//! builds of the agent side by side. A last column, the bare relay ([`crate::bare`]), is
//! the agent's serving stack without its steps: the agent's ratio to it is what those
//! steps cost.

use std::path::PathBuf;
use std::time::Duration;

use anyhow::{bail, Context, Result};

use crate::client::{Conn, Dial};
use crate::measure::{self, turn};
use crate::procs::{
    cpu_millis, find_process, memory, start_agent, start_haproxy, HaproxyTls, Scratch,
};
use crate::report::Unit;

const USAGE: &str = "\
usage: bosun-bench ping [--agent-bin PATH]... [--haproxy-bin PATH] [--rounds N] [--window SECS] [--markdown]

GET /_ping at 64 kept-alive connections through HAProxy terminating TLS 1.3 with client
certificates, through each agent binary given (default target/release/bosun-agent), and
through the bare relay (the agent's listener, lanes, TLS and hyper relaying to the engine
with none of the agent's steps, run as `bosun-bench bare-relay`), in N rounds (default 8)
of SECS seconds (default 3) each, the order turning every round.
First times 2000 requests on one connection per column (interleaved, before any load).
Prints their p50 and p99, requests per second (median, lowest, highest round), the CPU the
engine, the proxy and this client spent per 1000 requests, and the proxies' resident memory idle and 11 s
after the load, with each column's ratio to HAProxy's; and each column's requests per second
and proxy CPU per 1000 against HAProxy's in the same round, the median over the rounds.";

const CONCURRENCY: usize = 64;
const PATH: &str = "/_ping";
/// Sequential requests timed per column, after untimed ones, within a bound.
const LATENCY_WARMUP: usize = 50;
const LATENCY_COUNT: usize = 2000;
const LATENCY_BUDGET: Duration = Duration::from_secs(60);
/// How long after the load the memory is read again.
const AFTER: Duration = Duration::from_secs(11);

/// One column: what it is called, how it is reached, whose CPU is its proxy's.
struct Column {
    name: String,
    dial: Dial,
    pid: u32,
    conns: Vec<Conn>,
    rates: Vec<f64>,
    /// The proxy's CPU milliseconds per 1000 requests in each round (NaN when unread).
    round_cpu: Vec<f64>,
    completed: u64,
    /// CPU milliseconds of the engine, the proxy and this client.
    cpu: [u64; 3],
    /// p50 and p99 of sequential requests on one connection, before the rounds.
    latency: [Duration; 2],
    /// Resident memory in bytes: idle before the rounds, and 11 s after their connections
    /// closed (idle engine connections close after 5 s and the agent trims after that).
    rss: [u64; 2],
}

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut agent_bins = Vec::new();
    let mut haproxy_bin = "haproxy".to_owned();
    let mut rounds = 8usize;
    let mut window = Duration::from_secs(3);
    let mut markdown = false;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--agent-bin" => agent_bins.push(PathBuf::from(it.next().context("--agent-bin PATH")?)),
            "--haproxy-bin" => haproxy_bin = it.next().context("--haproxy-bin PATH")?,
            "--rounds" => {
                rounds = it
                    .next()
                    .context("--rounds N")?
                    .parse()
                    .context("--rounds N")?;
            }
            "--window" => {
                let secs: u64 = it
                    .next()
                    .context("--window SECS")?
                    .parse()
                    .context("--window SECS")?;
                window = Duration::from_secs(secs);
            }
            "--markdown" => markdown = true,
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other}\n{USAGE}"),
        }
    }
    if rounds == 0 || rounds > 100 || window.is_zero() || window > Duration::from_secs(60) {
        bail!("--rounds is 1 to 100 and --window 1 to 60 seconds\n{USAGE}");
    }
    if agent_bins.is_empty() {
        agent_bins.push(PathBuf::from("target/release/bosun-agent"));
    }
    bosun_serve::tls::install_crypto_provider();
    let scratch = Scratch::new()?;
    let socket = std::path::Path::new(crate::ENGINE_SOCKET);
    let mut services = Vec::new();
    let mut columns = Vec::new();
    for (n, bin) in agent_bins.iter().enumerate() {
        let dir = scratch.path().join(format!("agent-{n}"));
        std::fs::create_dir_all(&dir)?;
        let agent = start_agent(bin, &dir).await?;
        columns.push(Column::new(
            format!("agent {}", bin.display()),
            agent.dial.clone(),
            agent.service.pid()?,
        ));
        services.push(agent.service);
    }
    // HAProxy's certificate comes from the first agent's CA, so that the client presents
    // that CA's certificate to both.
    let tls = HaproxyTls::issue(&scratch.path().join("agent-0"))?;
    let haproxy = start_haproxy(&haproxy_bin, scratch.path(), socket, Some(&tls)).await?;
    columns.insert(
        0,
        Column::new(
            "haproxy-tls".to_owned(),
            haproxy.dial.clone(),
            haproxy.service.pid()?,
        ),
    );
    let (bare, dial) = crate::bare::start(&scratch.path().join("agent-0"), socket).await?;
    columns.push(Column::new("bare relay".to_owned(), dial, bare.pid()?));
    services.push(bare);
    let engine = find_process("dockerd");
    crate::wait_quiet().await;
    for column in &mut columns {
        column.rss[0] = memory(column.pid)?.rss;
    }
    // Sequential requests first, as a lone client meets a proxy that has served nothing yet.
    eprintln!("latency: {LATENCY_COUNT} requests on one connection per column, interleaved");
    let dials: Vec<Dial> = columns.iter().map(|c| c.dial.clone()).collect();
    let latencies =
        measure::latency_interleaved(&dials, PATH, LATENCY_WARMUP, LATENCY_COUNT, LATENCY_BUDGET)
            .await?;
    for (column, latency) in columns.iter_mut().zip(latencies) {
        column.latency = [latency.p50, latency.p99];
    }
    for column in &mut columns {
        column.conns = measure::open(&column.dial, PATH, CONCURRENCY).await?;
    }
    crate::wait_quiet().await;
    for round in 0..rounds {
        for i in turn(round, columns.len()) {
            let column = &mut columns[i];
            eprintln!("round {}/{rounds}: {}", round + 1, column.name);
            let parties = [engine, Some(column.pid), Some(std::process::id())];
            let before = parties.map(|p| p.and_then(|pid| cpu_millis(&pid.to_string())));
            let rate = measure::rate_on(&mut column.conns, &column.dial, PATH, window).await?;
            let after = parties.map(|p| p.and_then(|pid| cpu_millis(&pid.to_string())));
            if rate.errors > 0 {
                eprintln!("  {} failed requests", rate.errors);
            }
            // Each party's CPU in this round, where it could be read.
            let used: [Option<u64>; 3] =
                std::array::from_fn(|party| Some(after[party]?.saturating_sub(before[party]?)));
            column.rates.push(rate.per_second);
            column.round_cpu.push(match used[1] {
                Some(ms) if rate.completed > 0 => ms as f64 / (rate.completed as f64 / 1e3),
                _ => f64::NAN,
            });
            column.completed += rate.completed;
            for (total, used) in column.cpu.iter_mut().zip(used) {
                *total += used.unwrap_or(0);
            }
        }
    }
    for column in &mut columns {
        column.conns.clear();
    }
    tokio::time::sleep(AFTER).await;
    for column in &mut columns {
        column.rss[1] = memory(column.pid)?.rss;
    }
    haproxy.service.stop().await?;
    for service in services {
        service.stop().await?;
    }
    let table = table(&columns, rounds, window);
    println!("{}", table.text());
    if markdown {
        println!("{}", table.markdown());
    }
    Ok(())
}

impl Column {
    fn new(name: String, dial: Dial, pid: u32) -> Self {
        Self {
            name,
            dial,
            pid,
            conns: Vec::new(),
            rates: Vec::new(),
            round_cpu: Vec::new(),
            completed: 0,
            cpu: [0; 3],
            latency: [Duration::ZERO; 2],
            rss: [0; 2],
        }
    }

    /// The rounds' rates, lowest first.
    fn sorted(&self) -> Vec<f64> {
        let mut rates = self.rates.clone();
        rates.sort_by(f64::total_cmp);
        rates
    }

    fn per_thousand(&self, party: usize) -> f64 {
        self.cpu[party] as f64 / (self.completed as f64 / 1e3)
    }
}

/// Rows of values, one per column, each with its ratio to the first column.
struct Table {
    heading: String,
    names: Vec<String>,
    rows: Vec<(&'static str, Vec<f64>, Unit)>,
}

/// Each column's value in a round over the first column's in the same round, the median
/// over the rounds: the columns of one round run within seconds of each other, so the
/// machine's drift between rounds, which moves the medians of whole columns, cancels.
fn paired(columns: &[&[f64]]) -> Vec<f64> {
    let first = columns[0];
    columns
        .iter()
        .map(|column| {
            let mut ratios: Vec<f64> = column
                .iter()
                .zip(first)
                .map(|(v, f)| v / f)
                .filter(|r| r.is_finite())
                .collect();
            ratios.sort_by(f64::total_cmp);
            ratios.get(ratios.len() / 2).copied().unwrap_or(f64::NAN)
        })
        .collect()
}

fn table(columns: &[Column], rounds: usize, window: Duration) -> Table {
    let pick = |f: &dyn Fn(&Column) -> f64| columns.iter().map(f).collect::<Vec<_>>();
    let rates: Vec<&[f64]> = columns.iter().map(|c| c.rates.as_slice()).collect();
    let cpu: Vec<&[f64]> = columns.iter().map(|c| c.round_cpu.as_slice()).collect();
    Table {
        heading: format!(
            "GET {PATH}, {CONCURRENCY} kept-alive connections, {rounds} rounds of {} s, order turning each round",
            window.as_secs()
        ),
        names: columns.iter().map(|c| c.name.clone()).collect(),
        rows: vec![
            ("p50, one connection (ms)", pick(&|c| c.latency[0].as_secs_f64() * 1e3), Unit::Millis),
            ("p99, one connection (ms)", pick(&|c| c.latency[1].as_secs_f64() * 1e3), Unit::Millis),
            ("req/s, median round", pick(&|c| c.sorted()[c.rates.len() / 2]), Unit::PerSecond),
            ("req/s, lowest round", pick(&|c| c.sorted()[0]), Unit::PerSecond),
            ("req/s, highest round", pick(&|c| c.sorted()[c.rates.len() - 1]), Unit::PerSecond),
            ("proxy CPU per 1k (ms)", pick(&|c| c.per_thousand(1)), Unit::CpuMillisPerThousand),
            ("engine CPU per 1k (ms)", pick(&|c| c.per_thousand(0)), Unit::CpuMillisPerThousand),
            ("client CPU per 1k (ms)", pick(&|c| c.per_thousand(2)), Unit::CpuMillisPerThousand),
            ("RSS idle (MB)", pick(&|c| c.rss[0] as f64 / 1e6), Unit::Megabytes),
            ("RSS 11 s after (MB)", pick(&|c| c.rss[1] as f64 / 1e6), Unit::Megabytes),
            ("req/s, rounds paired", paired(&rates), Unit::Ratio),
            ("proxy CPU/1k, paired", paired(&cpu), Unit::Ratio),
        ],
    }
}

impl Table {
    fn cells(&self, values: &[f64], unit: Unit) -> Vec<String> {
        let first = values[0];
        values
            .iter()
            .enumerate()
            .map(|(i, v)| {
                let v_text = unit.format(*v);
                if i == 0 || first <= 0.0 || matches!(unit, Unit::Ratio) {
                    v_text
                } else {
                    format!("{v_text} ({:.2}x)", v / first)
                }
            })
            .collect()
    }

    fn text(&self) -> String {
        let mut out = format!("{}\n\n", self.heading);
        for (n, name) in self.names.iter().enumerate() {
            out.push_str(&format!("  [{n}] {name}\n"));
        }
        out.push('\n');
        out.push_str(&format!("{:<26}", ""));
        for n in 0..self.names.len() {
            out.push_str(&format!("{:>20}", format!("[{n}]")));
        }
        out.push('\n');
        for (label, values, unit) in &self.rows {
            out.push_str(&format!("{label:<26}"));
            for cell in self.cells(values, *unit) {
                out.push_str(&format!("{cell:>20}"));
            }
            out.push('\n');
        }
        out.push_str("\nIn brackets: the column's ratio to the first (HAProxy with TLS). Paired: the median over the rounds of the column's value against the first's in the same round.\n");
        out
    }

    fn markdown(&self) -> String {
        let mut out = format!("{}\n\n|", self.heading);
        for name in &self.names {
            out.push_str(&format!(" | {name}"));
        }
        out.push_str(" |\n|---|");
        for _ in &self.names {
            out.push_str("---:|");
        }
        out.push('\n');
        for (label, values, unit) in &self.rows {
            out.push_str(&format!("| {label}"));
            for cell in self.cells(values, *unit) {
                out.push_str(&format!(" | {cell}"));
            }
            out.push_str(" |\n");
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_column_is_paired_with_the_first_round_by_round() {
        // The machine's pace halves after two rounds; each round's ratio is 0.9 or 1.1,
        // and the median of the rounds' ratios is 0.9.
        let first = [100.0, 100.0, 50.0, 50.0];
        let second = [90.0, 110.0, 45.0, 45.0];
        let ratios = paired(&[&first, &second]);
        assert_eq!(ratios[0], 1.0);
        assert!((ratios[1] - 0.9).abs() < 1e-9, "{ratios:?}");
        // A round whose CPU was not read is left out, not counted as zero.
        let with_gap = [f64::NAN, 110.0, 55.0, 110.0];
        let ratios = paired(&[&first, &with_gap]);
        assert!((ratios[1] - 1.1).abs() < 1e-9, "{ratios:?}");
        // Nothing to pair: no ratio rather than a made-up one.
        assert!(paired(&[&[], &[]])[1].is_nan());
    }
}
