//! Observations from the usage samples the console pulls: host CPU, memory, filesystems
//! and load, containers' CPU and memory against their limit. Each sample is one batch,
//! judged at the sample's own time, so that a catch-up after a stop is judged as it was.

use std::collections::BTreeMap;
use std::sync::Arc;

use super::evaluate::{Observation, Reading, Sweep};
use super::rule::Kind;
use crate::usage::sample::{ClusterAnswer, Sample};

/// Kinds swept per node after each sample: a filesystem or container no longer in the
/// samples resolves.
const SWEPT: &[Kind] = &[
    Kind::HostCpu,
    Kind::HostMemory,
    Kind::HostDisk,
    Kind::HostLoad,
    Kind::ContainerCpu,
    Kind::ContainerMemory,
];

/// One batch per node and sample, oldest first.
pub fn batches(
    endpoint: i64,
    answer: &ClusterAnswer,
    watches: impl Fn(Kind) -> bool,
) -> Vec<(Vec<Observation>, Sweep)> {
    let mut out: Vec<(i64, Vec<Observation>, Sweep)> = Vec::new();
    for node in &answer.nodes {
        for sample in &node.samples {
            let observations = sample_observations(endpoint, &node.node, sample, &watches);
            let sweep = Sweep {
                kinds: SWEPT,
                endpoint,
                node: Some(node.node.clone()),
                at: sample.time,
            };
            out.push((sample.time, observations, sweep));
        }
    }
    out.sort_by_key(|(t, _, _)| *t);
    out.into_iter().map(|(_, o, s)| (o, s)).collect()
}

fn percent(used: Option<u64>, total: Option<u64>) -> Option<f64> {
    match (used, total) {
        (Some(u), Some(t)) if t > 0 => Some(u as f64 * 100.0 / t as f64),
        _ => None,
    }
}

/// What one node's sample says, for the kinds some rule watches.
pub fn sample_observations(
    endpoint: i64,
    node: &str,
    sample: &Sample,
    watches: &impl Fn(Kind) -> bool,
) -> Vec<Observation> {
    let mut out = Vec::new();
    let mut push = |kind: Kind, key: String, subject: String, value: f64, summary: String| {
        out.push(Observation {
            kind,
            endpoint,
            node: Some(node.to_owned()),
            labels: None,
            key,
            subject,
            reading: Reading::Value(value),
            summary,
            details: Vec::new(),
            at: sample.time,
        });
    };
    let host = &sample.host;
    if watches(Kind::HostCpu) {
        if let Some(cpu) = host.cpu.percent {
            let summary = format!("{node}: CPU {cpu:.1} %");
            push(
                Kind::HostCpu,
                format!("{node}/cpu"),
                node.to_owned(),
                cpu,
                summary,
            );
        }
    }
    if watches(Kind::HostMemory) {
        if let Some(p) = percent(host.memory.used, host.memory.total) {
            let summary = format!("{node}: memory {p:.1} % used");
            push(
                Kind::HostMemory,
                format!("{node}/memory"),
                node.to_owned(),
                p,
                summary,
            );
        }
    }
    if watches(Kind::HostLoad) {
        if let (Some([Some(load), _, _]), Some(cores)) = (host.load, host.cpu.cores) {
            let per_core = load / cores.max(1) as f64;
            let summary = format!("{node}: load {load:.2} on {cores} cores");
            push(
                Kind::HostLoad,
                format!("{node}/load"),
                node.to_owned(),
                per_core,
                summary,
            );
        }
    }
    if watches(Kind::HostDisk) {
        for fs in &host.filesystems {
            if let Some(p) = percent(fs.used, fs.total) {
                let subject = format!("{node}:{}", fs.mount);
                let summary = format!("{subject}: {p:.1} % used");
                push(
                    Kind::HostDisk,
                    format!("{node}/fs:{}", fs.mount),
                    subject,
                    p,
                    summary,
                );
            }
        }
    }
    let (cpu, memory) = (watches(Kind::ContainerCpu), watches(Kind::ContainerMemory));
    if cpu || memory {
        for c in &sample.containers {
            let labels = container_labels(c.project.as_deref(), c.service.as_deref());
            let mut seen = |kind: Kind, value: f64, summary: String| {
                out_push_container(
                    &mut out, endpoint, node, c, kind, value, summary, sample, &labels,
                );
            };
            if cpu {
                if let Some(p) = c.cpu_percent {
                    seen(Kind::ContainerCpu, p, format!("{}: CPU {p:.1} %", c.name));
                }
            }
            if memory {
                if let Some(p) = percent(c.memory_used, c.memory_limit) {
                    seen(
                        Kind::ContainerMemory,
                        p,
                        format!("{}: memory {p:.1} % of its limit", c.name),
                    );
                }
            }
        }
    }
    out
}

/// The labels a sample's container is known by: its Compose project and Swarm service.
fn container_labels(
    project: Option<&str>,
    service: Option<&str>,
) -> Option<Arc<BTreeMap<String, String>>> {
    let mut labels = BTreeMap::new();
    if let Some(p) = project {
        labels.insert("com.docker.compose.project".to_owned(), p.to_owned());
    }
    if let Some(s) = service {
        labels.insert("com.docker.swarm.service.name".to_owned(), s.to_owned());
    }
    Some(Arc::new(labels))
}

#[allow(clippy::too_many_arguments)]
fn out_push_container(
    out: &mut Vec<Observation>,
    endpoint: i64,
    node: &str,
    c: &crate::usage::sample::Container,
    kind: Kind,
    value: f64,
    summary: String,
    sample: &Sample,
    labels: &Option<Arc<BTreeMap<String, String>>>,
) {
    out.push(Observation {
        kind,
        endpoint,
        node: Some(node.to_owned()),
        labels: labels.clone(),
        key: format!("{node}/ctr:{}", c.name),
        subject: c.name.clone(),
        reading: Reading::Value(value),
        summary,
        details: Vec::new(),
        at: sample.time,
    });
}
