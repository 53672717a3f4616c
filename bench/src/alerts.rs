//! The console's alert evaluation: the evaluator (`bosun_ui::alerts::evaluate`) fed in
//! this process, one thread, with what a 10-node cluster of 1,000 containers sends it in
//! one usage interval: every node's sample (host, two filesystems, 100 containers),
//! container events, the members' answers and the evaluator's one-second ticks; with the
//! default rules and some scoped ones, and a tenth of the containers firing.

use std::time::{Duration, Instant};

use anyhow::{bail, Result};
use bosun_ui::alerts::defaults::default_rules;
use bosun_ui::alerts::evaluate::{Evaluator, Observation, Reading};
use bosun_ui::alerts::from_usage;
use bosun_ui::alerts::rule::{Kind, Rule, Scope};
use bosun_ui::alerts::watch_members::members_batch;
use bosun_ui::store::Endpoint;
use bosun_ui::usage::sample::{
    ClusterAnswer, Container, Cpu, Filesystem, Host, Memory, NodeAnswer, Sample,
};
use serde_json::json;

const USAGE: &str = "\
usage: bosun-bench alerts [--rounds N] [--markdown]

Feeds the console's alert evaluator, in this process, what a cluster of 10 nodes and 1,000
containers sends it per usage interval (10 s): one sample per node, 50 container events,
3 members answers and 10 ticks; with the 10 default rules and 10 rules scoped to a node or
a label. Measures the time of one such round on one thread doing nothing else (median and
95th percentile of N rounds, default 300; the evaluation is pure computation, so this is
its CPU time) and its share of one core at the 10 s interval (target under 5 %); and, as a
cross-check, the process's CPU time per round from /proc, which also covers making the
synthetic samples.";

const NODES: usize = 10;
const PER_NODE: usize = 100;
const INTERVAL: i64 = 10;
const EVENTS_PER_ROUND: usize = 50;

pub async fn main(args: Vec<String>) -> Result<()> {
    let mut markdown = false;
    let mut rounds = 300usize;
    let mut it = args.into_iter();
    while let Some(arg) = it.next() {
        match arg.as_str() {
            "--markdown" => markdown = true,
            "--rounds" => {
                rounds = match it.next().and_then(|n| n.parse().ok()) {
                    Some(n) if n > 0 => n,
                    _ => bail!("--rounds takes a positive number\n{USAGE}"),
                }
            }
            "-h" | "--help" => {
                println!("{USAGE}");
                return Ok(());
            }
            other => bail!("unknown argument {other:?}\n{USAGE}"),
        }
    }
    tokio::task::spawn_blocking(move || run(rounds, markdown)).await?
}

fn rules() -> Vec<Rule> {
    let mut rules: Vec<Rule> = default_rules();
    for n in 0..NODES {
        rules.push(Rule {
            name: format!("disk of node-{n} over 80 %"),
            kind: Kind::HostDisk,
            threshold: Some(80.0),
            scope: Scope {
                node: Some(format!("node-{n}")),
                ..Scope::default()
            },
            ..default_rules()[0].clone()
        });
    }
    if let Some(r) = rules.last_mut() {
        r.kind = Kind::ContainerExited;
        r.threshold = None;
        r.scope = Scope {
            labels: Some("tier=front".into()),
            ..Scope::default()
        };
    }
    rules
        .into_iter()
        .enumerate()
        .map(|(i, r)| Rule {
            id: i as i64 + 1,
            ..r
        })
        .collect()
}

/// Every node's sample at `t`: a tenth of the containers near their memory limit.
fn answer(t: i64) -> ClusterAnswer {
    let nodes = (0..NODES)
        .map(|n| NodeAnswer {
            node: format!("node-{n}"),
            interval_secs: Some(INTERVAL as u64),
            samples: vec![Sample {
                time: t,
                host: Host {
                    cpu: Cpu {
                        cores: Some(8),
                        percent: Some(30.0 + n as f64),
                    },
                    load: Some([Some(1.5), Some(1.2), Some(1.0)]),
                    memory: Memory {
                        total: Some(32 << 30),
                        used: Some(12 << 30),
                        ..Memory::default()
                    },
                    filesystems: ["/", "/var/lib/docker"]
                        .iter()
                        .map(|m| Filesystem {
                            mount: (*m).to_owned(),
                            device: "/dev/vda1".into(),
                            fstype: "ext4".into(),
                            total: Some(100 << 30),
                            used: Some(40 << 30),
                        })
                        .collect(),
                    ..Host::default()
                },
                containers: (0..PER_NODE)
                    .map(|c| Container {
                        id: format!("{n:02}{c:062}"),
                        name: format!("app-{n}-{c}"),
                        image: "app:1".into(),
                        project: Some("shop".into()),
                        cpu_percent: Some(5.0),
                        memory_used: Some(if c % 10 == 0 { 98 } else { 40 } << 20),
                        memory_limit: Some(100 << 20),
                        ..Container::default()
                    })
                    .collect(),
            }],
        })
        .collect();
    ClusterAnswer {
        nodes,
        missing: Vec::new(),
    }
}

/// The round's container events: containers dying (exit 1) and starting again.
fn events(round: usize, t: i64) -> Vec<Observation> {
    (0..EVENTS_PER_ROUND)
        .map(|i| {
            let n = (round + i) % NODES;
            let c = (round * 7 + i) % PER_NODE;
            let dies = (round + i) % 2 == 0;
            Observation {
                kind: Kind::ContainerExited,
                endpoint: 1,
                node: Some(format!("node-{n}")),
                labels: None,
                key: format!("node-{n}/ctr:app-{n}-{c}"),
                subject: format!("app-{n}-{c}"),
                reading: Reading::Holds(dies),
                summary: format!("app-{n}-{c} exited with code 1"),
                details: vec!["a log line".into(); 20],
                at: t,
            }
        })
        .collect()
}

fn run(rounds: usize, markdown: bool) -> Result<()> {
    let endpoint = Endpoint {
        id: 1,
        name: "bench".into(),
        url: "https://127.0.0.1:1".into(),
        ca_pem: String::new(),
        auth: "key".into(),
        secret: None,
        profiles: Default::default(),
    };
    let members = json!({"Members": (0..NODES).map(|n| json!({
        "NodeName": format!("node-{n}"), "State": "alive", "EngineReachable": true,
    })).collect::<Vec<_>>()});
    let mut eval = Evaluator::new(rules(), Vec::new(), Vec::new(), 0, &mut Vec::new());
    let start = 1_800_000_000i64;
    let mut times: Vec<Duration> = Vec::with_capacity(rounds);
    let mut transitions = 0usize;
    let mut cpu_from = None;
    let mut wall_from = None;
    // A first pass fills the open alerts, as a console running for a while has them.
    for round in 0..rounds + 30 {
        let t = start + round as i64 * INTERVAL;
        if round == 30 {
            cpu_from = crate::procs::cpu_millis("self");
            wall_from = Some(Instant::now());
        }
        let sample = answer(t);
        let started = Instant::now();
        let mut changes = Vec::new();
        for (observations, sweep) in from_usage::batches(1, &sample, |k| eval.watches(k)) {
            eval.observe_all(observations, Some(sweep), &mut changes);
        }
        eval.observe_all(events(round, t), None, &mut changes);
        for s in 0..3 {
            let (o, sweep) = members_batch(&endpoint, &members, t + s * 3);
            eval.observe_all(o, sweep, &mut changes);
        }
        for s in 0..INTERVAL {
            eval.tick(t + s, &mut changes);
        }
        let took = started.elapsed();
        if round >= 30 {
            times.push(took);
            transitions += changes.len();
        }
    }
    // The whole process's CPU over the measured rounds (making the synthetic samples
    // included), against the sum of the rounds' own times: on a quiet machine the two agree.
    let cpu_total = match (cpu_from, crate::procs::cpu_millis("self")) {
        (Some(a), Some(b)) => Some(b.saturating_sub(a)),
        _ => None,
    };
    let wall_total = wall_from.map(|w| w.elapsed());
    times.sort();
    let median = times[times.len() / 2];
    let p95 = times[times.len() * 95 / 100];
    let share = median.as_secs_f64() / INTERVAL as f64 * 100.0;
    let open = eval.open_alerts().count();
    let rows = [
        ("rules".to_owned(), format!("{}", rules().len())),
        ("open alerts while measuring".to_owned(), format!("{open}")),
        (
            "transitions per round (stored and notified by the worker, not timed here)".to_owned(),
            format!("{:.1}", transitions as f64 / rounds as f64),
        ),
        (
            "process CPU per round, everything (making the synthetic samples too)".to_owned(),
            cpu_total.map_or("n/m".into(), |c| {
                format!("{:.2} ms", c as f64 / rounds as f64)
            }),
        ),
        (
            "wall time per round, everything".to_owned(),
            wall_total.map_or("n/m".into(), |w| {
                format!("{:.2} ms", w.as_secs_f64() * 1e3 / rounds as f64)
            }),
        ),
        (
            "evaluation per round (one thread, nothing else), median".to_owned(),
            format!("{:.2} ms", median.as_secs_f64() * 1e3),
        ),
        (
            "evaluation per round, 95th percentile".to_owned(),
            format!("{:.2} ms", p95.as_secs_f64() * 1e3),
        ),
        (
            format!("share of one core at the {INTERVAL} s usage interval (target under 5 %)"),
            format!("{share:.3} %"),
        ),
    ];
    println!(
        "Alert evaluation, {NODES} nodes and {} containers, {rounds} rounds\n",
        NODES * PER_NODE
    );
    for (what, value) in &rows {
        println!("{what:<80} {value}");
    }
    if markdown {
        println!("\n| measure | value |\n|---|---|");
        for (what, value) in &rows {
            println!("| {what} | {value} |");
        }
    }
    if share >= 5.0 {
        bail!("alert evaluation takes {share:.2} % of a core, over the 5 % target");
    }
    Ok(())
}
