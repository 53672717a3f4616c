//! CPU time from `/proc/stat`: shares of all cores and of each, between two samples.

use std::path::Path;

use procfs::{CpuTime, FromReadSI, KernelStats};

use crate::usage::sample::Cpu;

/// Ticks so far, for all cores and for each.
pub struct Times {
    total: Ticks,
    per_core: Vec<Ticks>,
}

#[derive(Clone, Copy)]
struct Ticks {
    user: u64,
    system: u64,
    idle: u64,
    iowait: u64,
    steal: u64,
    /// Everything, the above included.
    all: u64,
}

impl From<&CpuTime> for Ticks {
    fn from(t: &CpuTime) -> Self {
        let iowait = t.iowait.unwrap_or(0);
        let steal = t.steal.unwrap_or(0);
        let irq = t.irq.unwrap_or(0) + t.softirq.unwrap_or(0);
        // Guest time is already counted in user time.
        Ticks {
            user: t.user + t.nice,
            system: t.system + irq,
            idle: t.idle,
            iowait,
            steal,
            all: t.user + t.nice + t.system + irq + t.idle + iowait + steal,
        }
    }
}

pub fn read(path: &Path) -> procfs::ProcResult<Times> {
    let stats = KernelStats::from_file(path, procfs::current_system_info())?;
    Ok(Times {
        total: (&stats.total).into(),
        per_core: stats.cpu_time.iter().map(Ticks::from).collect(),
    })
}

/// Usage between `before` and `now`; only the core count without `before`.
pub fn usage(before: Option<&Times>, now: &Times) -> Cpu {
    let mut cpu = Cpu {
        cores: now.per_core.len(),
        ..Cpu::default()
    };
    let Some(before) = before else {
        return cpu;
    };
    if let Some(d) = delta(&before.total, &now.total) {
        let share = |ticks: u64| ticks as f64 * 100.0 / d.all as f64;
        cpu.percent = Some(share(d.all - d.idle - d.iowait));
        cpu.user = Some(share(d.user));
        cpu.system = Some(share(d.system));
        cpu.iowait = Some(share(d.iowait));
        cpu.steal = Some(share(d.steal));
    }
    if before.per_core.len() == now.per_core.len() {
        cpu.per_core = before
            .per_core
            .iter()
            .zip(&now.per_core)
            .map(|(b, n)| {
                delta(b, n)
                    .map(|d| (d.all - d.idle - d.iowait) as f64 * 100.0 / d.all as f64)
                    .unwrap_or(0.0)
            })
            .collect();
    }
    cpu
}

/// The ticks between two readings; `None` when none passed or a counter went back.
fn delta(before: &Ticks, now: &Ticks) -> Option<Ticks> {
    let d = Ticks {
        user: now.user.checked_sub(before.user)?,
        system: now.system.checked_sub(before.system)?,
        idle: now.idle.checked_sub(before.idle)?,
        // iowait may go down: the kernel says so.
        iowait: now.iowait.saturating_sub(before.iowait),
        steal: now.steal.checked_sub(before.steal)?,
        all: now.all.checked_sub(before.all)?,
    };
    (d.all > 0 && d.idle + d.iowait <= d.all).then_some(d)
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromBufReadSI;

    fn times(text: &str) -> Times {
        let stats = KernelStats::from_buf_read(
            text.as_bytes(),
            &procfs::ExplicitSystemInfo {
                boot_time_secs: 0,
                ticks_per_second: 100,
                page_size: 4096,
                is_little_endian: true,
            },
        )
        .unwrap();
        Times {
            total: (&stats.total).into(),
            per_core: stats.cpu_time.iter().map(Ticks::from).collect(),
        }
    }

    const BEFORE: &str = "cpu  100 0 50 800 10 0 0 0 0 0\ncpu0 50 0 25 400 5 0 0 0 0 0\ncpu1 50 0 25 400 5 0 0 0 0 0\nctxt 1\nbtime 1\nprocesses 1\n";
    // Core 0 busy all 100 ticks in user time; core 1 idle.
    const AFTER: &str = "cpu  200 0 50 900 10 0 0 0 0 0\ncpu0 150 0 25 400 5 0 0 0 0 0\ncpu1 50 0 25 500 5 0 0 0 0 0\nctxt 1\nbtime 1\nprocesses 1\n";

    #[test]
    fn one_core_of_two_busy_is_half_and_each_core_is_told_apart() {
        let cpu = usage(Some(&times(BEFORE)), &times(AFTER));
        assert_eq!(cpu.cores, 2);
        assert_eq!(cpu.percent, Some(50.0));
        assert_eq!(cpu.user, Some(50.0));
        assert_eq!(cpu.system, Some(0.0));
        assert_eq!(cpu.per_core, vec![100.0, 0.0]);
    }

    #[test]
    fn the_first_sample_has_no_shares() {
        let cpu = usage(None, &times(BEFORE));
        assert_eq!(cpu.cores, 2);
        assert_eq!(cpu.percent, None);
        assert!(cpu.per_core.is_empty());
    }
}
