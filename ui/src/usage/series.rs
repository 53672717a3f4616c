//! What a series is: one host, one of its filesystems, or one container, each a row of
//! figures per sample. The figures of each kind are listed once here, with how they are
//! stored (integers at a fixed scale, which SQLite packs into one to four bytes) and how a
//! bucket of samples folds them (average and peak, or only the largest for capacities);
//! the store makes its tables and queries from these lists.

use super::sample::{Container, Filesystem, Host};

/// Per cent and load averages are kept in hundredths.
const CENTI: f64 = 100.0;
/// Memory and filesystem sizes are kept in KiB: a terabyte still fits in four bytes.
const KIB: f64 = 1.0 / 1024.0;
/// Rates are kept in whole bytes per second.
const ONE: f64 = 1.0;

/// How a bucket of samples folds a figure.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Fold {
    /// The mean and the peak: what was used.
    AvgMax,
    /// Only the largest: a capacity, which changes seldom.
    Max,
}

/// One figure of a series.
#[derive(Debug, Clone, Copy)]
pub struct Figure {
    pub name: &'static str,
    /// Stored value = figure × scale, rounded.
    pub scale: f64,
    pub fold: Fold,
}

const fn used(name: &'static str, scale: f64) -> Figure {
    Figure {
        name,
        scale,
        fold: Fold::AvgMax,
    }
}

const fn capacity(name: &'static str, scale: f64) -> Figure {
    Figure {
        name,
        scale,
        fold: Fold::Max,
    }
}

/// The kinds of series.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Kind {
    /// Per (endpoint, node).
    Host,
    /// Per (endpoint, node, mount point).
    Filesystem,
    /// Per (endpoint, node, container ID).
    Container,
}

const HOST_FIGURES: &[Figure] = &[
    used("cpu", CENTI),
    used("load1", CENTI),
    used("load5", CENTI),
    used("load15", CENTI),
    used("mem_used", KIB),
    capacity("mem_total", KIB),
    used("swap_used", KIB),
    capacity("swap_total", KIB),
    used("net_rx", ONE),
    used("net_tx", ONE),
    used("disk_read", ONE),
    used("disk_write", ONE),
];

const FILESYSTEM_FIGURES: &[Figure] = &[used("used", KIB), capacity("total", KIB)];

const CONTAINER_FIGURES: &[Figure] = &[
    used("cpu", CENTI),
    used("mem_used", KIB),
    capacity("mem_limit", KIB),
    used("net_rx", ONE),
    used("net_tx", ONE),
    used("blk_read", ONE),
    used("blk_write", ONE),
];

impl Kind {
    pub const ALL: [Kind; 3] = [Kind::Host, Kind::Filesystem, Kind::Container];

    /// The number the `series` table stores.
    pub fn code(self) -> i64 {
        match self {
            Kind::Host => 0,
            Kind::Filesystem => 1,
            Kind::Container => 2,
        }
    }

    /// The prefix of the kind's tables: `host_raw`, `fs_minute`, `ct_hour`.
    pub fn table(self) -> &'static str {
        match self {
            Kind::Host => "host",
            Kind::Filesystem => "fs",
            Kind::Container => "ct",
        }
    }

    pub fn figures(self) -> &'static [Figure] {
        match self {
            Kind::Host => HOST_FIGURES,
            Kind::Filesystem => FILESYSTEM_FIGURES,
            Kind::Container => CONTAINER_FIGURES,
        }
    }

    /// Where figure `name` is in [`Self::figures`].
    pub fn position(self, name: &str) -> Option<usize> {
        self.figures().iter().position(|f| f.name == name)
    }
}

/// The three resolutions history is kept at.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Tier {
    /// Every sample, as the agent took it.
    Raw,
    /// One row per series and minute: averages and peaks of that minute's samples.
    Minute,
    /// One row per series and hour.
    Hour,
}

impl Tier {
    pub const ALL: [Tier; 3] = [Tier::Raw, Tier::Minute, Tier::Hour];

    pub fn suffix(self) -> &'static str {
        match self {
            Tier::Raw => "raw",
            Tier::Minute => "minute",
            Tier::Hour => "hour",
        }
    }

    /// Seconds per row; a raw row is one sample, whatever the agents' interval.
    pub fn bucket(self) -> i64 {
        match self {
            Tier::Raw => 1,
            Tier::Minute => 60,
            Tier::Hour => 3600,
        }
    }
}

/// One sample of one series, as stored: each figure of the kind, in order, scaled.
pub type Values = Vec<Option<i64>>;

/// A figure as stored: scaled and rounded; `None` for what is missing, negative or not a
/// number.
fn scaled(value: Option<f64>, scale: f64) -> Option<i64> {
    let v = value? * scale;
    (v.is_finite() && v >= 0.0 && v < i64::MAX as f64).then(|| v.round() as i64)
}

fn scaled_u(value: Option<u64>, scale: f64) -> Option<i64> {
    scaled(value.map(|v| v as f64), scale)
}

fn pack(kind: Kind, figures: &[Option<f64>]) -> Values {
    kind.figures()
        .iter()
        .zip(figures)
        .map(|(f, v)| scaled(*v, f.scale))
        .collect()
}

/// Interfaces that carry traffic another one counts too (bridges, tunnels, containers'
/// ends) or none that leaves the host: left out of the host's network sum, so that a
/// container's download is not counted on its veth, on docker0 and on eth0.
pub(crate) const VIRTUAL_INTERFACES: &[&str] = &[
    "lo", "veth", "docker", "br-", "virbr", "vxlan", "flannel", "cni", "cali", "tunl", "weave",
    "kube-", "tap", "tun", "vnet",
];

/// Block devices whose traffic another device counts too (device mapper, software RAID)
/// or that are no disk (optical drives, compressed RAM).
pub(crate) const VIRTUAL_DISKS: &[&str] = &["dm-", "md", "sr", "zram", "loop", "ram", "nbd"];

fn counted(name: &str, virtual_prefixes: &[&str]) -> bool {
    !virtual_prefixes.iter().any(|p| name.starts_with(p))
}

/// The sum of the figures that are there; `None` when none is.
fn sum(values: impl Iterator<Item = Option<f64>>) -> Option<f64> {
    values
        .flatten()
        .fold(None, |acc, v| Some(acc.unwrap_or(0.0) + v))
}

/// A host's figures, in [`Kind::Host`]'s order.
pub fn host_values(h: &Host) -> Values {
    let load = |i: usize| h.load.and_then(|l| l[i]);
    let nics = || {
        h.network
            .iter()
            .filter(|n| counted(&n.interface, VIRTUAL_INTERFACES))
    };
    let disks = || h.disks.iter().filter(|d| counted(&d.device, VIRTUAL_DISKS));
    let bytes = |v: Option<u64>| v.map(|v| v as f64);
    pack(
        Kind::Host,
        &[
            h.cpu.percent,
            load(0),
            load(1),
            load(2),
            bytes(h.memory.used),
            bytes(h.memory.total),
            bytes(h.memory.swap_used),
            bytes(h.memory.swap_total),
            sum(nics().map(|n| n.rx_bytes_per_sec)),
            sum(nics().map(|n| n.tx_bytes_per_sec)),
            sum(disks().map(|d| d.read_bytes_per_sec)),
            sum(disks().map(|d| d.write_bytes_per_sec)),
        ],
    )
}

/// A filesystem's figures, in [`Kind::Filesystem`]'s order.
pub fn filesystem_values(f: &Filesystem) -> Values {
    vec![scaled_u(f.used, KIB), scaled_u(f.total, KIB)]
}

/// A container's figures, in [`Kind::Container`]'s order; `block` is its read and write
/// rates, worked out from its counters by the caller.
pub fn container_values(c: &Container, block: (Option<f64>, Option<f64>)) -> Values {
    let bytes = |v: Option<u64>| v.map(|v| v as f64);
    pack(
        Kind::Container,
        &[
            c.cpu_percent,
            bytes(c.memory_used),
            bytes(c.memory_limit),
            c.net_rx_bytes_per_sec,
            c.net_tx_bytes_per_sec,
            block.0,
            block.1,
        ],
    )
}

/// A stored figure in its own unit again: per cent, load, bytes or bytes per second.
pub fn unscale(kind: Kind, index: usize, stored: f64) -> f64 {
    let figure = kind.figures()[index];
    figure.round(stored / figure.scale)
}

impl Figure {
    /// A value in the figure's own unit, as precise as the charts show it: hundredths stay
    /// hundredths; sizes and rates are whole bytes.
    pub fn round(&self, value: f64) -> f64 {
        if self.scale == CENTI {
            (value * 100.0).round() / 100.0
        } else {
            value.round()
        }
    }
}

/// How long each tier is kept, in seconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Retention {
    pub raw: i64,
    pub minute: i64,
    pub hour: i64,
}

impl Default for Retention {
    fn default() -> Self {
        Self {
            raw: 86_400,
            minute: 14 * 86_400,
            hour: 365 * 86_400,
        }
    }
}

impl Retention {
    pub fn of(&self, tier: Tier) -> i64 {
        match tier {
            Tier::Raw => self.raw,
            Tier::Minute => self.minute,
            Tier::Hour => self.hour,
        }
    }

    /// The longest any tier is kept.
    pub fn longest(&self) -> i64 {
        self.raw.max(self.minute).max(self.hour)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::usage::sample::{Cpu, Disk, Interface, Memory};

    #[test]
    fn figures_are_scaled_and_only_real_devices_are_summed() {
        let host = Host {
            cpu: Cpu {
                cores: Some(2),
                percent: Some(37.456),
            },
            load: Some([Some(0.52), None, Some(1.0)]),
            memory: Memory {
                total: Some(8 << 30),
                used: Some(3 << 30),
                swap_total: None,
                swap_used: None,
            },
            filesystems: vec![],
            disks: vec![
                Disk {
                    device: "vda".into(),
                    read_bytes_per_sec: Some(100.4),
                    write_bytes_per_sec: None,
                },
                Disk {
                    device: "dm-0".into(),
                    read_bytes_per_sec: Some(100.0),
                    write_bytes_per_sec: Some(7.0),
                },
            ],
            network: vec![
                Interface {
                    interface: "eth0".into(),
                    rx_bytes_per_sec: Some(1000.0),
                    tx_bytes_per_sec: Some(10.0),
                },
                Interface {
                    interface: "ens4".into(),
                    rx_bytes_per_sec: Some(24.0),
                    tx_bytes_per_sec: None,
                },
                Interface {
                    interface: "docker0".into(),
                    rx_bytes_per_sec: Some(999.0),
                    tx_bytes_per_sec: Some(999.0),
                },
            ],
        };
        let v = host_values(&host);
        assert_eq!(v.len(), HOST_FIGURES.len());
        assert_eq!(v[0], Some(3746), "cpu in hundredths of a per cent");
        assert_eq!(&v[1..4], &[Some(52), None, Some(100)]);
        assert_eq!(v[4], Some(3 << 20), "memory in KiB");
        assert_eq!(v[5], Some(8 << 20));
        assert_eq!((v[6], v[7]), (None, None));
        assert_eq!(
            (v[8], v[9]),
            (Some(1024), Some(10)),
            "eth0 + ens4, no docker0"
        );
        assert_eq!((v[10], v[11]), (Some(100), None), "vda only, no dm-0");
        assert_eq!(unscale(Kind::Host, 0, 3746.0), 37.46);
        assert_eq!(
            unscale(Kind::Host, 4, (3 << 20) as f64),
            (3u64 << 30) as f64
        );
    }

    #[test]
    fn nonsense_is_not_stored() {
        assert_eq!(scaled(Some(f64::NAN), 1.0), None);
        assert_eq!(scaled(Some(-1.0), 1.0), None);
        assert_eq!(scaled(Some(f64::INFINITY), 1.0), None);
        assert_eq!(scaled(Some(2.5), 1.0), Some(3));
    }
}
