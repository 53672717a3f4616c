//! The host's usage, read from its `/proc` and `/sys` under `--host-root`, one file per
//! measure. Counters are kept from one sample to the next to turn them into rates.

mod cpu;
mod disks;
mod filesystems;
mod memory;
mod network;
mod temperatures;

use std::path::{Path, PathBuf};
use std::time::Instant;

use procfs::FromRead;

use super::sample::Host;

pub use filesystems::MountFilter;

/// Reads one host's usage; keeps what the next sample needs for its rates.
pub struct HostReader {
    root: PathBuf,
    mounts: MountFilter,
    all_interfaces: bool,
    cpu: Option<cpu::Times>,
    disks: Option<(Instant, Vec<disks::Counters>)>,
    network: Option<(Instant, Vec<network::Counters>)>,
    /// Measures that failed, so that each is logged once rather than every interval.
    failed: std::collections::HashSet<&'static str>,
}

impl HostReader {
    /// `root` is where the host's `/` is seen: `/` on the host itself, the bind mount's
    /// target in a container.
    pub fn new(root: &Path, mounts: MountFilter, all_interfaces: bool) -> Self {
        Self {
            root: root.to_owned(),
            mounts,
            all_interfaces,
            cpu: None,
            disks: None,
            network: None,
            failed: Default::default(),
        }
    }

    /// A path of the host's, as seen from here.
    fn host_path(&self, path: &str) -> PathBuf {
        self.root.join(path.trim_start_matches('/'))
    }

    /// Blocking: reads files. Run it off the async workers.
    pub fn read(&mut self) -> Host {
        let now = Instant::now();
        let mut host = Host::default();
        match cpu::read(&self.host_path("/proc/stat")) {
            Ok(times) => {
                host.cpu = cpu::usage(self.cpu.as_ref(), &times);
                self.cpu = Some(times);
            }
            Err(e) => self.failed("cpu", &e),
        }
        match procfs::LoadAverage::from_file(self.host_path("/proc/loadavg")) {
            Ok(l) => host.load = Some([l.one as f64, l.five as f64, l.fifteen as f64]),
            Err(e) => self.failed("load", &e),
        }
        match memory::read(&self.host_path("/proc/meminfo")) {
            Ok(m) => host.memory = m,
            Err(e) => self.failed("memory", &e),
        }
        match procfs::Uptime::from_file(self.host_path("/proc/uptime")) {
            Ok(u) => host.uptime_secs = Some(u.uptime as u64),
            Err(e) => self.failed("uptime", &e),
        }
        match filesystems::read(&self.root, &self.mounts) {
            Ok(f) => host.filesystems = f,
            Err(e) => self.failed("filesystems", &e),
        }
        match disks::read(
            &self.host_path("/proc/diskstats"),
            &self.host_path("/sys/block"),
        ) {
            Ok(counters) => {
                let before = self.disks.as_ref().map(|(at, c)| (now - *at, c.as_slice()));
                host.disks = disks::usage(before, &counters);
                self.disks = Some((now, counters));
            }
            Err(e) => self.failed("disks", &e),
        }
        match network::read(&self.host_path("/proc/net/dev"), self.all_interfaces) {
            Ok(counters) => {
                let before = self
                    .network
                    .as_ref()
                    .map(|(at, c)| (now - *at, c.as_slice()));
                host.network = network::usage(before, &counters);
                self.network = Some((now, counters));
            }
            Err(e) => self.failed("network", &e),
        }
        host.temperatures = temperatures::read(&self.host_path("/sys/class/hwmon"));
        host
    }

    fn failed(&mut self, measure: &'static str, error: &dyn std::fmt::Display) {
        if self.failed.insert(measure) {
            tracing::warn!(measure, root = %self.root.display(), error = %error, "cannot read the host's usage; left out of samples");
        }
    }
}
