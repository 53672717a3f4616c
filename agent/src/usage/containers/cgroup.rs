//! Container usage from the kernel's own files under the host root: the container's
//! cgroup (v1 or v2, under the cgroupfs or the systemd driver's layout) and its main
//! process's `/proc/PID/net/dev`. Nothing is asked of the engine.

use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::Instant;

use super::{net_rates, Figures};

/// v1 says "no limit" with a number near `i64::MAX` rounded to pages.
const V1_UNLIMITED: u64 = 1 << 62;

pub struct CgroupStats {
    root: PathBuf,
    /// What a container without a memory limit is limited by: the host's memory.
    host_memory: u64,
    previous: HashMap<String, (Instant, u64, Figures)>,
}

impl CgroupStats {
    pub fn new(host_root: &Path, host_memory: u64) -> Self {
        Self {
            root: host_root.to_owned(),
            host_memory,
            previous: HashMap::new(),
        }
    }

    /// Blocking file reads, a few per container; moved off the async workers.
    pub async fn read(&mut self, running: &[(String, u32)]) -> HashMap<String, Figures> {
        let root = self.root.clone();
        let host_memory = self.host_memory;
        let running = running.to_vec();
        let readings = tokio::task::spawn_blocking(move || {
            let layout = Layout::detect(&root.join("sys/fs/cgroup"));
            running
                .into_iter()
                .filter_map(|(id, pid)| {
                    let (usage, cpu_ns) = layout.read(&root, &id, pid, host_memory)?;
                    Some((id, usage, cpu_ns))
                })
                .collect::<Vec<_>>()
        })
        .await
        .unwrap_or_default();
        let now = Instant::now();
        let mut out = HashMap::new();
        let mut previous = HashMap::new();
        for (id, mut usage, cpu_ns) in readings {
            if let Some((at, ns, _)) = self.previous.get(&id) {
                let wall = (now - *at).as_nanos() as f64;
                if cpu_ns >= *ns && wall > 0.0 {
                    usage.cpu_percent = Some((cpu_ns - ns) as f64 / wall * 100.0);
                }
            }
            let before = self.previous.get(&id).map(|(at, _, u)| (*at, u));
            net_rates(&mut usage, before, now);
            previous.insert(id.clone(), (now, cpu_ns, usage.clone()));
            out.insert(id, usage);
        }
        self.previous = previous;
        out
    }
}

/// Which cgroup hierarchy the host runs.
enum Layout {
    V1(PathBuf),
    V2(PathBuf),
}

impl Layout {
    fn detect(cgroup: &Path) -> Self {
        if cgroup.join("cgroup.controllers").exists() {
            Layout::V2(cgroup.to_owned())
        } else {
            Layout::V1(cgroup.to_owned())
        }
    }

    /// The container's usage and its CPU time so far, in nanoseconds.
    fn read(&self, root: &Path, id: &str, pid: u32, host_memory: u64) -> Option<(Figures, u64)> {
        let mut usage = Figures::default();
        let cpu_ns = match self {
            Layout::V1(base) => {
                let dir = |controller: &str| container_dir(&base.join(controller), id);
                let cpu_ns = read_u64(&dir("cpuacct")?.join("cpuacct.usage"))?;
                if let Some(mem) = dir("memory") {
                    let stat = read_keyed(&mem.join("memory.stat"));
                    let inactive = stat.get("total_inactive_file").copied().unwrap_or(0);
                    usage.memory_used = read_u64(&mem.join("memory.usage_in_bytes"))
                        .map(|u| u.saturating_sub(inactive));
                    usage.memory_limit = read_u64(&mem.join("memory.limit_in_bytes")).map(|l| {
                        if l >= V1_UNLIMITED {
                            host_memory
                        } else {
                            l.min(host_memory)
                        }
                    });
                }
                if let Some(blkio) = dir("blkio") {
                    let (r, w) = v1_io(&blkio.join("blkio.throttle.io_service_bytes_recursive"))
                        .or_else(|| v1_io(&blkio.join("blkio.throttle.io_service_bytes")))
                        .unwrap_or((0, 0));
                    usage.block_read_bytes = Some(r);
                    usage.block_write_bytes = Some(w);
                }
                usage.pids = dir("pids").and_then(|d| read_u64(&d.join("pids.current")));
                cpu_ns
            }
            Layout::V2(base) => {
                let dir = container_dir(base, id)?;
                let cpu = read_keyed(&dir.join("cpu.stat"));
                let cpu_ns = cpu.get("usage_usec")? * 1000;
                let stat = read_keyed(&dir.join("memory.stat"));
                let inactive = stat.get("inactive_file").copied().unwrap_or(0);
                usage.memory_used =
                    read_u64(&dir.join("memory.current")).map(|u| u.saturating_sub(inactive));
                usage.memory_limit = Some(
                    read_u64(&dir.join("memory.max")).map_or(host_memory, |l| l.min(host_memory)),
                );
                let (r, w) = v2_io(&dir.join("io.stat"));
                usage.block_read_bytes = Some(r);
                usage.block_write_bytes = Some(w);
                usage.pids = read_u64(&dir.join("pids.current"));
                cpu_ns
            }
        };
        if pid > 0 {
            if let Some((rx, tx)) = net_dev(&root.join(format!("proc/{pid}/net/dev"))) {
                usage.net_rx_bytes = Some(rx);
                usage.net_tx_bytes = Some(tx);
            }
        }
        Some((usage, cpu_ns))
    }
}

/// The container's directory in one hierarchy: the cgroupfs driver's `docker/ID` or the
/// systemd driver's `system.slice/docker-ID.scope`.
fn container_dir(hierarchy: &Path, id: &str) -> Option<PathBuf> {
    [
        hierarchy.join("docker").join(id),
        hierarchy
            .join("system.slice")
            .join(format!("docker-{id}.scope")),
    ]
    .into_iter()
    .find(|d| d.is_dir())
}

fn read_u64(path: &Path) -> Option<u64> {
    std::fs::read_to_string(path).ok()?.trim().parse().ok()
}

/// `key value` lines, as `memory.stat` and `cpu.stat` have them.
fn read_keyed(path: &Path) -> HashMap<String, u64> {
    std::fs::read_to_string(path)
        .map(|text| parse_keyed(&text))
        .unwrap_or_default()
}

fn parse_keyed(text: &str) -> HashMap<String, u64> {
    text.lines()
        .filter_map(|l| {
            let (k, v) = l.split_once(' ')?;
            Some((k.to_owned(), v.trim().parse().ok()?))
        })
        .collect()
}

/// v1 `blkio.throttle.io_service_bytes`: `8:0 Read 4096` lines, per device.
fn v1_io(path: &Path) -> Option<(u64, u64)> {
    let text = std::fs::read_to_string(path).ok()?;
    Some(parse_v1_io(&text))
}

fn parse_v1_io(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for l in text.lines() {
        let mut f = l.split_whitespace();
        let (Some(_dev), Some(op), Some(v)) = (f.next(), f.next(), f.next()) else {
            continue;
        };
        let v: u64 = v.parse().unwrap_or(0);
        match op {
            "Read" => r += v,
            "Write" => w += v,
            _ => {}
        }
    }
    (r, w)
}

/// v2 `io.stat`: `8:0 rbytes=4096 wbytes=8192 rios=1 ...` lines, per device.
fn v2_io(path: &Path) -> (u64, u64) {
    std::fs::read_to_string(path)
        .map(|t| parse_v2_io(&t))
        .unwrap_or((0, 0))
}

fn parse_v2_io(text: &str) -> (u64, u64) {
    let (mut r, mut w) = (0, 0);
    for field in text.split_whitespace() {
        if let Some(v) = field.strip_prefix("rbytes=") {
            r += v.parse::<u64>().unwrap_or(0);
        } else if let Some(v) = field.strip_prefix("wbytes=") {
            w += v.parse::<u64>().unwrap_or(0);
        }
    }
    (r, w)
}

/// Bytes received and sent on every interface but the loopback, in the container's
/// network namespace as its main process sees it.
fn net_dev(path: &Path) -> Option<(u64, u64)> {
    use procfs::FromRead;
    let status = procfs::net::InterfaceDeviceStatus::from_file(path).ok()?;
    Some(
        status
            .0
            .values()
            .filter(|d| d.name != "lo")
            .fold((0, 0), |(r, t), d| (r + d.recv_bytes, t + d.sent_bytes)),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn write(dir: &Path, file: &str, text: &str) {
        std::fs::create_dir_all(dir).unwrap();
        std::fs::write(dir.join(file), text).unwrap();
    }

    #[test]
    fn v2_under_the_systemd_layout() {
        let root = tempfile::tempdir().unwrap();
        let cg = root.path().join("sys/fs/cgroup");
        write(&cg, "cgroup.controllers", "cpu io memory pids\n");
        let dir = cg.join("system.slice/docker-abc.scope");
        write(
            &dir,
            "cpu.stat",
            "usage_usec 2500\nuser_usec 2000\nsystem_usec 500\n",
        );
        write(&dir, "memory.current", "3000\n");
        write(&dir, "memory.stat", "anon 1000\ninactive_file 1000\n");
        write(&dir, "memory.max", "max\n");
        write(
            &dir,
            "io.stat",
            "8:0 rbytes=4096 wbytes=8192 rios=1 wios=2\n8:16 rbytes=1 wbytes=1 rios=1 wios=1\n",
        );
        write(&dir, "pids.current", "7\n");
        let (u, ns) = Layout::detect(&cg)
            .read(root.path(), "abc", 0, 10_000)
            .unwrap();
        assert_eq!(ns, 2_500_000);
        assert_eq!(u.memory_used, Some(2000));
        assert_eq!(u.memory_limit, Some(10_000));
        assert_eq!(
            (u.block_read_bytes, u.block_write_bytes),
            (Some(4097), Some(8193))
        );
        assert_eq!(u.pids, Some(7));
        assert_eq!(u.net_rx_bytes, None);
    }

    #[test]
    fn v1_under_the_cgroupfs_layout_with_the_main_process_network() {
        let root = tempfile::tempdir().unwrap();
        let cg = root.path().join("sys/fs/cgroup");
        write(
            &cg.join("cpuacct/docker/abc"),
            "cpuacct.usage",
            "123456789\n",
        );
        let mem = cg.join("memory/docker/abc");
        write(&mem, "memory.usage_in_bytes", "5000\n");
        write(&mem, "memory.stat", "cache 100\ntotal_inactive_file 1500\n");
        write(&mem, "memory.limit_in_bytes", "9223372036854771712\n");
        write(
            &cg.join("blkio/docker/abc"),
            "blkio.throttle.io_service_bytes_recursive",
            "8:0 Read 100\n8:0 Write 200\n8:0 Sync 300\n8:0 Total 300\nTotal 300\n",
        );
        write(&cg.join("pids/docker/abc"), "pids.current", "2\n");
        write(
            &root.path().join("proc/42/net"),
            "dev",
            "Inter-|   Receive                                                |  Transmit\n face |bytes    packets errs drop fifo frame compressed multicast|bytes    packets errs drop fifo colls carrier compressed\n    lo:     100       1    0    0    0     0          0         0      100       1    0    0    0     0       0          0\n  eth0:    1000      10    0    0    0     0          0         0     2000      20    0    0    0     0       0          0\n",
        );
        let (u, ns) = Layout::detect(&cg)
            .read(root.path(), "abc", 42, 8000)
            .unwrap();
        assert_eq!(ns, 123_456_789);
        assert_eq!(u.memory_used, Some(3500));
        assert_eq!(u.memory_limit, Some(8000));
        assert_eq!(
            (u.block_read_bytes, u.block_write_bytes),
            (Some(100), Some(200))
        );
        assert_eq!(u.pids, Some(2));
        assert_eq!((u.net_rx_bytes, u.net_tx_bytes), (Some(1000), Some(2000)));
    }

    #[test]
    fn a_container_without_a_cgroup_is_left_out() {
        let root = tempfile::tempdir().unwrap();
        let cg = root.path().join("sys/fs/cgroup");
        std::fs::create_dir_all(&cg).unwrap();
        assert!(Layout::detect(&cg)
            .read(root.path(), "gone", 0, 1)
            .is_none());
    }

    #[test]
    fn keyed_and_io_lines_parse() {
        assert_eq!(parse_keyed("a 1\nb x\nc 3\n").len(), 2);
        assert_eq!(
            parse_v1_io("8:0 Read 5\n8:16 Read 6\n8:0 Write 1\n"),
            (11, 1)
        );
        assert_eq!(parse_v2_io("8:0 rbytes=1 wbytes=2\n"), (1, 2));
    }
}
