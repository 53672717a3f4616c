//! The host's real filesystems: what its init process mounts, read through statvfs under
//! the host root. Pseudo and in-memory filesystems, overlays and the same device mounted
//! twice (Docker's bind mounts of `/var/lib/docker`) are left out.

use std::collections::HashSet;
use std::path::Path;

use procfs::process::{MountInfo, MountInfos};
use procfs::FromRead;

use crate::usage::sample::Filesystem;

/// Filesystems that hold no data of their own, or only memory.
const PSEUDO: &[&str] = &[
    "autofs",
    "binfmt_misc",
    "bpf",
    "cgroup",
    "cgroup2",
    "configfs",
    "debugfs",
    "devpts",
    "devtmpfs",
    "efivarfs",
    "fusectl",
    "fuse.lxcfs",
    "hugetlbfs",
    "mqueue",
    "nsfs",
    "overlay",
    "proc",
    "pstore",
    "ramfs",
    "rpc_pipefs",
    "securityfs",
    "selinuxfs",
    "shm",
    "squashfs",
    "sysfs",
    "tmpfs",
    "tracefs",
    "nfsd",
    "aufs",
];

/// Which mount points to report: all real ones, only some, or all but some.
#[derive(Debug, Clone, Default)]
pub struct MountFilter {
    /// When not empty, only these.
    pub include: Vec<String>,
    pub exclude: Vec<String>,
}

impl MountFilter {
    fn admits(&self, mount: &str) -> bool {
        (self.include.is_empty() || self.include.iter().any(|m| m == mount))
            && !self.exclude.iter().any(|m| m == mount)
    }
}

pub fn read(root: &Path, filter: &MountFilter) -> procfs::ProcResult<Vec<Filesystem>> {
    // The host's init sees the host's mounts; without a host root, this process's own.
    let proc = root.join("proc");
    let mounts = MountInfos::from_file(proc.join("1/mountinfo"))
        .or_else(|_| MountInfos::from_file(proc.join("self/mountinfo")))?;
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for m in select(&mounts, filter) {
        if !seen.insert(m.majmin.clone()) {
            continue;
        }
        let mount = m.mount_point.to_string_lossy().into_owned();
        let here = root.join(mount.trim_start_matches('/'));
        let Ok(st) = rustix::fs::statvfs(&here) else {
            continue;
        };
        let block = st.f_frsize;
        let total = st.f_blocks * block;
        out.push(Filesystem {
            device: m.mount_source.clone().unwrap_or_default(),
            fstype: m.fs_type.clone(),
            total,
            used: total.saturating_sub(st.f_bfree * block),
            inodes_total: st.f_files,
            inodes_used: st.f_files.saturating_sub(st.f_ffree),
            mount,
        });
    }
    Ok(out)
}

/// Real filesystems the filter admits, the shortest mount point of a device first so
/// that a device is named by where it is mounted, not where it is bound again.
fn select<'m>(mounts: &'m MountInfos, filter: &MountFilter) -> Vec<&'m MountInfo> {
    let mut real: Vec<&MountInfo> = mounts
        .iter()
        .filter(|m| !PSEUDO.contains(&m.fs_type.as_str()) && !m.fs_type.contains("overlay"))
        .filter(|m| m.root == "/")
        .filter(|m| filter.admits(&m.mount_point.to_string_lossy()))
        .collect();
    real.sort_by_key(|m| m.mount_point.as_os_str().len());
    real
}

#[cfg(test)]
mod tests {
    use super::*;
    use procfs::FromBufRead;

    const MOUNTINFO: &str = "\
22 1 253:1 / / rw,relatime shared:1 - ext4 /dev/vda1 rw
23 22 0:21 / /proc rw shared:2 - proc proc rw
24 22 0:22 / /run rw shared:3 - tmpfs tmpfs rw
25 22 253:2 / /data rw shared:4 - xfs /dev/vdb rw
26 22 253:1 /var/lib/docker /var/lib/docker rw shared:1 - ext4 /dev/vda1 rw
27 22 0:50 / /var/lib/docker/overlay2/abc/merged rw - overlay overlay rw
29 22 0:51 / /var/lib/docker/fuse-overlayfs/abc/merged rw - fuse.fuse-overlayfs fuse-overlayfs rw
28 25 253:2 / /data/again rw shared:4 - xfs /dev/vdb rw
";

    fn names(filter: &MountFilter) -> Vec<String> {
        let mounts = MountInfos::from_buf_read(MOUNTINFO.as_bytes()).unwrap();
        let mut seen = HashSet::new();
        select(&mounts, filter)
            .into_iter()
            .filter(|m| seen.insert(m.majmin.clone()))
            .map(|m| m.mount_point.to_string_lossy().into_owned())
            .collect()
    }

    #[test]
    fn real_filesystems_once_each_by_their_first_mount_point() {
        assert_eq!(names(&MountFilter::default()), ["/", "/data"]);
    }

    #[test]
    fn include_and_exclude_by_mount_point() {
        let only_data = MountFilter {
            include: vec!["/data".into()],
            exclude: vec![],
        };
        assert_eq!(names(&only_data), ["/data"]);
        let not_root = MountFilter {
            include: vec![],
            exclude: vec!["/".into()],
        };
        assert_eq!(names(&not_root), ["/data"]);
    }
}
