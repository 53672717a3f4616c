//! The host's and every container's usage as Prometheus series, from the latest sample:
//! nothing is read at scrape time, and a container gone is gone from the next scrape.
//! Counters stay counters (`_total`) so that `rate()` works across agent restarts.

use std::sync::Arc;

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::metrics::MetricType;
use prometheus_client::registry::Unit;

use crate::usage::sample::{ContainerUsage, Disk, Filesystem, Interface, Sample};
use crate::usage::Usage;

/// The latest sample's series, with only the containers in `scope` when it is not empty.
#[derive(Clone)]
pub struct UsageSeries {
    pub usage: Arc<Usage>,
    pub scope: std::collections::BTreeMap<String, String>,
}

impl std::fmt::Debug for UsageSeries {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("UsageSeries")
    }
}

type Labels<'a> = Vec<(&'static str, &'a str)>;

/// One family: its descriptor, then each of its series.
fn family<'a, V: Copy>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    kind: MetricType,
    series: impl IntoIterator<Item = (Labels<'a>, V)>,
    encode: impl Fn(V, prometheus_client::encoding::MetricEncoder) -> Result<(), std::fmt::Error>,
) -> Result<(), std::fmt::Error> {
    let mut series = series.into_iter().peekable();
    if series.peek().is_none() {
        return Ok(());
    }
    let mut metric = encoder.encode_descriptor(name, help, unit.as_ref(), kind)?;
    for (labels, value) in series {
        encode(value, metric.encode_family(&labels)?)?;
    }
    Ok(())
}

fn gauges<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl IntoIterator<Item = (Labels<'a>, f64)>,
) -> Result<(), std::fmt::Error> {
    family(
        encoder,
        name,
        help,
        unit,
        MetricType::Gauge,
        series,
        |v, e| ConstGauge::new(v).encode(e),
    )
}

fn counters<'a>(
    encoder: &mut DescriptorEncoder,
    name: &str,
    help: &str,
    unit: Option<Unit>,
    series: impl IntoIterator<Item = (Labels<'a>, u64)>,
) -> Result<(), std::fmt::Error> {
    family(
        encoder,
        name,
        help,
        unit,
        MetricType::Counter,
        series,
        |v, e| ConstCounter::new(v).encode(e),
    )
}

impl Collector for UsageSeries {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let Some(sample) = self.usage.latest() else {
            return Ok(());
        };
        let sample = Sample::scoped(&sample, &self.scope);
        host(&mut encoder, &sample)?;
        containers(&mut encoder, &sample.containers)
    }
}

/// How one family reads its value off an item.
enum Read<T> {
    Gauge(fn(&T) -> Option<f64>),
    Counter(fn(&T) -> Option<u64>),
}

/// One family of per-item series: the host's disks, its interfaces, the containers.
struct Series<T> {
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    read: Read<T>,
}

fn gauge<T>(
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    read: fn(&T) -> Option<f64>,
) -> Series<T> {
    Series {
        name,
        help,
        unit,
        read: Read::Gauge(read),
    }
}

fn counter<T>(
    name: &'static str,
    help: &'static str,
    unit: Option<Unit>,
    read: fn(&T) -> Option<u64>,
) -> Series<T> {
    Series {
        name,
        help,
        unit,
        read: Read::Counter(read),
    }
}

/// Every family of `table`, each with a series per item that has a value.
fn table<T>(
    e: &mut DescriptorEncoder,
    items: &[T],
    labels: for<'a> fn(&'a T) -> Labels<'a>,
    table: Vec<Series<T>>,
) -> Result<(), std::fmt::Error> {
    for s in table {
        match s.read {
            Read::Gauge(read) => gauges(
                e,
                s.name,
                s.help,
                s.unit,
                items.iter().filter_map(|i| read(i).map(|v| (labels(i), v))),
            )?,
            Read::Counter(read) => counters(
                e,
                s.name,
                s.help,
                s.unit,
                items.iter().filter_map(|i| read(i).map(|v| (labels(i), v))),
            )?,
        }
    }
    Ok(())
}

fn host(e: &mut DescriptorEncoder, s: &Sample) -> Result<(), std::fmt::Error> {
    let h = &s.host;
    gauges(
        e,
        "host_cpu_cores",
        "Logical CPUs",
        None,
        [(Vec::new(), h.cpu.cores as f64)],
    )?;
    let modes = [
        ("all", h.cpu.percent),
        ("user", h.cpu.user),
        ("system", h.cpu.system),
        ("iowait", h.cpu.iowait),
        ("steal", h.cpu.steal),
    ];
    gauges(
        e,
        "host_cpu_percent",
        "Share of all CPUs' time over the last interval (100: every CPU busy), by mode",
        None,
        modes
            .iter()
            .filter_map(|(mode, v)| v.map(|v| (vec![("mode", *mode)], v))),
    )?;
    let cores: Vec<String> = (0..h.cpu.per_core.len()).map(|i| i.to_string()).collect();
    gauges(
        e,
        "host_cpu_core_percent",
        "Share of one CPU's time over the last interval",
        None,
        h.cpu
            .per_core
            .iter()
            .zip(&cores)
            .map(|(v, c)| (vec![("cpu", c.as_str())], *v)),
    )?;
    if let Some(load) = h.load {
        gauges(
            e,
            "host_load",
            "Load average",
            None,
            [("1m", load[0]), ("5m", load[1]), ("15m", load[2])]
                .map(|(w, v)| (vec![("window", w)], v)),
        )?;
    }
    let m = &h.memory;
    let memory = [
        ("total", m.total),
        ("used", m.used),
        ("available", m.available),
        ("cached", m.cached),
        ("swap_total", m.swap_total),
        ("swap_used", m.swap_used),
    ];
    gauges(
        e,
        "host_memory",
        "Memory and swap, by kind (used: total less available)",
        Some(Unit::Bytes),
        memory.map(|(kind, v)| (vec![("kind", kind)], v as f64)),
    )?;
    table(
        e,
        &h.filesystems,
        fs_labels,
        vec![
            gauge(
                "host_filesystem_size",
                "Filesystem size",
                Some(Unit::Bytes),
                |f: &Filesystem| Some(f.total as f64),
            ),
            gauge(
                "host_filesystem_used",
                "Filesystem space used",
                Some(Unit::Bytes),
                |f: &Filesystem| Some(f.used as f64),
            ),
            gauge(
                "host_filesystem_inodes",
                "Filesystem inodes",
                None,
                |f: &Filesystem| Some(f.inodes_total as f64),
            ),
            gauge(
                "host_filesystem_inodes_used",
                "Filesystem inodes used",
                None,
                |f: &Filesystem| Some(f.inodes_used as f64),
            ),
        ],
    )?;
    table(
        e,
        &h.disks,
        dev,
        vec![
            counter(
                "host_disk_read",
                "Bytes read from a disk",
                Some(Unit::Bytes),
                |d: &Disk| Some(d.read_bytes),
            ),
            counter(
                "host_disk_written",
                "Bytes written to a disk",
                Some(Unit::Bytes),
                |d: &Disk| Some(d.write_bytes),
            ),
            counter("host_disk_reads", "Reads completed", None, |d: &Disk| {
                Some(d.reads)
            }),
            counter("host_disk_writes", "Writes completed", None, |d: &Disk| {
                Some(d.writes)
            }),
        ],
    )?;
    table(
        e,
        &h.network,
        nic,
        vec![
            counter(
                "host_network_received",
                "Bytes received",
                Some(Unit::Bytes),
                |i: &Interface| Some(i.rx_bytes),
            ),
            counter(
                "host_network_transmitted",
                "Bytes sent",
                Some(Unit::Bytes),
                |i: &Interface| Some(i.tx_bytes),
            ),
            counter(
                "host_network_received_packets",
                "Packets received",
                None,
                |i: &Interface| Some(i.rx_packets),
            ),
            counter(
                "host_network_transmitted_packets",
                "Packets sent",
                None,
                |i: &Interface| Some(i.tx_packets),
            ),
            counter(
                "host_network_receive_errors",
                "Receive errors",
                None,
                |i: &Interface| Some(i.rx_errors),
            ),
            counter(
                "host_network_transmit_errors",
                "Transmit errors",
                None,
                |i: &Interface| Some(i.tx_errors),
            ),
        ],
    )?;
    if let Some(up) = h.uptime_secs {
        gauges(
            e,
            "host_uptime",
            "Time since the host booted",
            Some(Unit::Seconds),
            [(Vec::new(), up as f64)],
        )?;
    }
    gauges(
        e,
        "host_temperature",
        "Hardware sensor temperature",
        Some(Unit::Celsius),
        h.temperatures
            .iter()
            .map(|t| (vec![("sensor", t.sensor.as_str())], t.celsius)),
    )?;
    Ok(())
}

fn fs_labels(f: &Filesystem) -> Labels<'_> {
    vec![
        ("mount", f.mount.as_str()),
        ("device", f.device.as_str()),
        ("fstype", f.fstype.as_str()),
    ]
}

fn dev(d: &Disk) -> Labels<'_> {
    vec![("device", d.device.as_str())]
}

fn nic(i: &Interface) -> Labels<'_> {
    vec![("interface", i.interface.as_str())]
}

/// A container's labels: its id, name and image, and its Compose project and Swarm
/// service and task where it has them.
fn labels(c: &ContainerUsage) -> Labels<'_> {
    let c = &*c.container;
    let mut l = vec![
        ("id", c.id.as_str()),
        ("name", c.name.as_str()),
        ("image", c.image.as_str()),
    ];
    for (k, v) in [
        ("project", &c.project),
        ("service", &c.service),
        ("task", &c.task),
    ] {
        if let Some(v) = v {
            l.push((k, v.as_str()));
        }
    }
    l
}

fn containers(e: &mut DescriptorEncoder, list: &[ContainerUsage]) -> Result<(), std::fmt::Error> {
    let bytes = Some(Unit::Bytes);
    table(
        e,
        list,
        labels,
        vec![
            gauge(
                "container_running",
                "1 when the container runs, 0 otherwise",
                None,
                |c: &ContainerUsage| {
                    Some(if c.container.state == "running" {
                        1.0
                    } else {
                        0.0
                    })
                },
            ),
            gauge(
                "container_healthy",
                "1 when the container's health check passes, 0 when it fails or is starting",
                None,
                |c: &ContainerUsage| {
                    c.container
                        .health
                        .as_deref()
                        .map(|h| if h == "healthy" { 1.0 } else { 0.0 })
                },
            ),
            gauge(
                "container_cpu_percent",
                "CPU over the last interval, as docker stats shows it (100: one CPU)",
                None,
                |c: &ContainerUsage| c.figures.cpu_percent,
            ),
            gauge(
                "container_memory_used",
                "Memory used without page cache, as docker stats shows it",
                bytes.clone(),
                |c: &ContainerUsage| c.figures.memory_used.map(|v| v as f64),
            ),
            gauge(
                "container_memory_limit",
                "Memory limit (the host's memory when none is set)",
                bytes.clone(),
                |c: &ContainerUsage| c.figures.memory_limit.map(|v| v as f64),
            ),
            gauge(
                "container_pids",
                "Processes and threads",
                None,
                |c: &ContainerUsage| c.figures.pids.map(|v| v as f64),
            ),
            counter(
                "container_network_received",
                "Bytes received",
                bytes.clone(),
                |c: &ContainerUsage| c.figures.net_rx_bytes,
            ),
            counter(
                "container_network_transmitted",
                "Bytes sent",
                bytes.clone(),
                |c: &ContainerUsage| c.figures.net_tx_bytes,
            ),
            counter(
                "container_block_read",
                "Bytes read from block devices",
                bytes.clone(),
                |c: &ContainerUsage| c.figures.block_read_bytes,
            ),
            counter(
                "container_block_written",
                "Bytes written to block devices",
                bytes,
                |c: &ContainerUsage| c.figures.block_write_bytes,
            ),
            counter(
                "container_restarts",
                "Restarts by the engine's restart policy",
                None,
                |c: &ContainerUsage| c.restarts,
            ),
        ],
    )?;
    Ok(())
}
