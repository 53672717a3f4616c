//! Memory and swap from `/proc/meminfo`.

use std::path::Path;

use procfs::{FromRead, Meminfo};

use crate::usage::sample::Memory;

pub fn read(path: &Path) -> procfs::ProcResult<Memory> {
    let m = Meminfo::from_file(path)?;
    // Kernels before 3.14 have no MemAvailable: free memory and what the page cache holds.
    let available = m
        .mem_available
        .unwrap_or(m.mem_free + m.cached + m.buffers + m.s_reclaimable.unwrap_or(0))
        .min(m.mem_total);
    Ok(Memory {
        total: m.mem_total,
        used: m.mem_total - available,
        available,
        cached: m.cached + m.buffers + m.s_reclaimable.unwrap_or(0),
        swap_total: m.swap_total,
        swap_used: m.swap_total.saturating_sub(m.swap_free),
    })
}
