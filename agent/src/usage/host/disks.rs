//! Disk reads and writes from `/proc/diskstats`, whole block devices only (those in
//! `/sys/block`, without loop and RAM disks).

use std::path::Path;
use std::time::Duration;

use procfs::{DiskStats, FromRead};

use crate::usage::sample::{rate, Disk};

/// The kernel counts sectors of 512 bytes here, whatever the device's own.
const SECTOR: u64 = 512;

pub struct Counters {
    device: String,
    read_bytes: u64,
    write_bytes: u64,
    reads: u64,
    writes: u64,
}

pub fn read(diskstats: &Path, sys_block: &Path) -> procfs::ProcResult<Vec<Counters>> {
    let stats = DiskStats::from_file(diskstats)?;
    Ok(stats
        .0
        .into_iter()
        .filter(|d| !d.name.starts_with("loop") && !d.name.starts_with("ram"))
        .filter(|d| sys_block.join(&d.name).exists())
        .map(|d| Counters {
            read_bytes: d.sectors_read * SECTOR,
            write_bytes: d.sectors_written * SECTOR,
            reads: d.reads,
            writes: d.writes,
            device: d.name,
        })
        .collect())
}

pub fn usage(before: Option<(Duration, &[Counters])>, now: &[Counters]) -> Vec<Disk> {
    now.iter()
        .map(|c| {
            let mut disk = Disk {
                device: c.device.clone(),
                read_bytes: c.read_bytes,
                write_bytes: c.write_bytes,
                reads: c.reads,
                writes: c.writes,
                ..Disk::default()
            };
            if let Some((elapsed, counters)) = before {
                if let Some(b) = counters.iter().find(|b| b.device == c.device) {
                    let secs = elapsed.as_secs_f64();
                    disk.read_bytes_per_sec = rate(b.read_bytes, c.read_bytes, secs);
                    disk.write_bytes_per_sec = rate(b.write_bytes, c.write_bytes, secs);
                    disk.read_iops = rate(b.reads, c.reads, secs);
                    disk.write_iops = rate(b.writes, c.writes, secs);
                }
            }
            disk
        })
        .collect()
}
