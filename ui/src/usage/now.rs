//! The newest figures, as the Home and Nodes pages and the top list show them: each node's
//! usage beside its capacity, a cluster's CPU, memory and disk in use with the node that
//! is worst off, and the containers using the most CPU and memory.

use serde_json::{json, Value};

use super::series::Kind;
use super::store::{ContainerNow, NodeNow};

fn figure(kind: Kind, figures: &[Option<f64>], name: &str) -> Option<f64> {
    kind.position(name)
        .and_then(|i| figures.get(i).copied().flatten())
}

fn percent(used: f64, total: f64) -> Option<f64> {
    (total > 0.0).then(|| (used / total * 10_000.0).round() / 100.0)
}

/// A node's newest figures as the API shows them.
pub fn node_json(n: &NodeNow) -> Value {
    let f = |name| figure(Kind::Host, &n.figures, name);
    let filesystems: Vec<Value> = n
        .filesystems
        .iter()
        .map(|(fs, v)| {
            let used = figure(Kind::Filesystem, v, "used");
            let total = figure(Kind::Filesystem, v, "total");
            json!({
                "mount": fs.key,
                "device": fs.name,
                "fstype": fs.info["fstype"],
                "used": used,
                "total": total,
                "percent": used.zip(total).and_then(|(u, t)| percent(u, t)),
            })
        })
        .collect();
    json!({
        "node": n.host.node,
        "time": n.host.last_time,
        "cores": n.host.info["cores"],
        "cpu": f("cpu"),
        "load": [f("load1"), f("load5"), f("load15")],
        "memory": {
            "used": f("mem_used"),
            "total": f("mem_total"),
            "percent": f("mem_used").zip(f("mem_total")).and_then(|(u, t)| percent(u, t)),
            "swap_used": f("swap_used"),
            "swap_total": f("swap_total"),
        },
        "network": {"rx": f("net_rx"), "tx": f("net_tx")},
        "disk_io": {"read": f("disk_read"), "write": f("disk_write")},
        "filesystems": filesystems,
    })
}

/// A cluster's CPU, memory and disk in use now, each with the node worst off; `None` when
/// no node has reported lately.
pub fn summary(nodes: &[NodeNow]) -> Option<Value> {
    if nodes.is_empty() {
        return None;
    }
    let host = |n: &NodeNow, name| figure(Kind::Host, &n.figures, name);
    let worst = |scores: Vec<(f64, Value)>| {
        scores
            .into_iter()
            .max_by(|a, b| a.0.total_cmp(&b.0))
            .map(|(_, v)| v)
    };

    // Every core counts alike: a busy 64-core node outweighs an idle 2-core one.
    let (mut busy, mut cores) = (0.0, 0.0);
    let mut cpu_scores = Vec::new();
    for n in nodes {
        if let Some(cpu) = host(n, "cpu") {
            let weight = n.host.info["cores"]
                .as_f64()
                .filter(|c| *c > 0.0)
                .unwrap_or(1.0);
            busy += cpu * weight;
            cores += weight;
            cpu_scores.push((cpu, json!({"node": n.host.node, "percent": cpu})));
        }
    }

    let (mut used, mut total) = (0.0, 0.0);
    let mut mem_scores = Vec::new();
    for n in nodes {
        if let (Some(u), Some(t)) = (host(n, "mem_used"), host(n, "mem_total")) {
            used += u;
            total += t;
            if let Some(p) = percent(u, t) {
                mem_scores.push((p, json!({"node": n.host.node, "percent": p})));
            }
        }
    }

    let (mut disk_used, mut disk_total) = (0.0, 0.0);
    let mut disk_scores = Vec::new();
    for n in nodes {
        for (fs, v) in &n.filesystems {
            let (Some(u), Some(t)) = (
                figure(Kind::Filesystem, v, "used"),
                figure(Kind::Filesystem, v, "total"),
            ) else {
                continue;
            };
            disk_used += u;
            disk_total += t;
            if let Some(p) = percent(u, t) {
                disk_scores.push((
                    p,
                    json!({"node": n.host.node, "mount": fs.key, "percent": p}),
                ));
            }
        }
    }

    Some(json!({
        "time": nodes.iter().map(|n| n.host.last_time).max(),
        "nodes": nodes.len(),
        "cpu": {
            "percent": (cores > 0.0).then(|| (busy / cores * 100.0).round() / 100.0),
            "cores": cores,
            "worst": worst(cpu_scores),
        },
        "memory": {
            "used": used,
            "total": total,
            "percent": percent(used, total),
            "worst": worst(mem_scores),
        },
        "disk": {
            "used": disk_used,
            "total": disk_total,
            "percent": percent(disk_used, disk_total),
            "worst": worst(disk_scores),
        },
    }))
}

/// A container's newest figures as the API shows them.
pub fn container_json(c: &ContainerNow) -> Value {
    let f = |name| figure(Kind::Container, &c.figures, name);
    json!({
        "id": c.series.key,
        "name": c.series.name,
        "node": c.series.node,
        "image": c.series.info["image"],
        "project": c.series.info["project"],
        "service": c.series.info["service"],
        "time": c.series.last_time,
        "cpu": f("cpu"),
        "memory": {"used": f("mem_used"), "limit": f("mem_limit")},
        "network": {"rx": f("net_rx"), "tx": f("net_tx")},
        "block_io": {"read": f("blk_read"), "write": f("blk_write")},
    })
}

/// The `limit` containers using the most of figure `by` (`cpu` or `mem_used`), most first.
pub fn top(containers: &[ContainerNow], by: &str, limit: usize) -> Vec<Value> {
    let mut ranked: Vec<(f64, &ContainerNow)> = containers
        .iter()
        .filter_map(|c| figure(Kind::Container, &c.figures, by).map(|v| (v, c)))
        .collect();
    ranked.sort_by(|a, b| {
        b.0.total_cmp(&a.0)
            .then_with(|| a.1.series.name.cmp(&b.1.series.name))
    });
    ranked
        .into_iter()
        .take(limit)
        .map(|(_, c)| container_json(c))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::store::SeriesInfo;

    fn info(node: &str, key: &str, cores: u64, last_time: i64) -> SeriesInfo {
        SeriesInfo {
            id: 1,
            node: node.into(),
            key: key.into(),
            name: key.into(),
            info: json!({"cores": cores}),
            last_time,
        }
    }

    fn node(name: &str, cores: u64, cpu: f64, mem: (f64, f64), fs: &[(&str, f64, f64)]) -> NodeNow {
        let mut figures = vec![None; Kind::Host.figures().len()];
        figures[Kind::Host.position("cpu").expect("cpu")] = Some(cpu);
        figures[Kind::Host.position("mem_used").expect("used")] = Some(mem.0);
        figures[Kind::Host.position("mem_total").expect("total")] = Some(mem.1);
        NodeNow {
            host: info(name, "", cores, 100),
            figures,
            filesystems: fs
                .iter()
                .map(|(m, u, t)| (info(name, m, 0, 100), vec![Some(*u), Some(*t)]))
                .collect(),
        }
    }

    #[test]
    fn a_cluster_sums_its_nodes_and_names_the_worst() {
        let nodes = [
            node("a", 6, 10.0, (2.0, 8.0), &[("/", 50.0, 100.0)]),
            node(
                "b",
                2,
                90.0,
                (7.0, 8.0),
                &[("/", 10.0, 100.0), ("/data", 90.0, 100.0)],
            ),
        ];
        let s = summary(&nodes).expect("a summary");
        assert_eq!(s["nodes"], 2);
        // (10 × 6 + 90 × 2) / 8 cores.
        assert_eq!(s["cpu"]["percent"], 30.0);
        assert_eq!(s["cpu"]["worst"], json!({"node": "b", "percent": 90.0}));
        assert_eq!(s["memory"]["percent"], 56.25);
        assert_eq!(s["memory"]["worst"]["node"], "b");
        assert_eq!(s["disk"]["used"], 150.0);
        assert_eq!(s["disk"]["percent"], 50.0);
        assert_eq!(
            s["disk"]["worst"],
            json!({"node": "b", "mount": "/data", "percent": 90.0})
        );
        assert_eq!(summary(&[]), None);
    }

    #[test]
    fn the_top_list_ranks_by_the_figure_asked_for() {
        let ct = |name: &str, cpu: Option<f64>, mem: f64| {
            let mut figures = vec![None; Kind::Container.figures().len()];
            figures[0] = cpu;
            figures[1] = Some(mem);
            ContainerNow {
                series: info("n", name, 0, 100),
                figures,
            }
        };
        let all = [
            ct("a", Some(5.0), 300.0),
            ct("b", Some(150.0), 100.0),
            ct("c", None, 200.0),
        ];
        let names = |v: Vec<Value>| v.iter().map(|c| c["name"].to_string()).collect::<Vec<_>>();
        assert_eq!(names(top(&all, "cpu", 5)), ["\"b\"", "\"a\""]);
        assert_eq!(names(top(&all, "mem_used", 2)), ["\"a\"", "\"c\""]);
    }
}
