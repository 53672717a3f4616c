//! The accepted policy on disk: the raw signed policy in `<data_dir>/checks/policy.jws`
//! (0600), written whole or not at all, read back at start to be verified again.

use std::io::Write as _;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::{Path, PathBuf};

/// Why the kept policy could not be read or written.
#[derive(Debug, thiserror::Error)]
#[error("{path}: {source}")]
pub struct KeepError {
    pub path: String,
    pub source: std::io::Error,
}

/// Where the policy is kept.
pub fn path(data_dir: &Path) -> PathBuf {
    data_dir.join("checks").join("policy.jws")
}

/// Keeps `jws` as the policy, replacing the one kept before in one step.
pub fn store(data_dir: &Path, jws: &str) -> Result<(), KeepError> {
    let path = path(data_dir);
    let err = |p: &Path| {
        let p = p.display().to_string();
        move |source: std::io::Error| KeepError { path: p, source }
    };
    let dir = path.parent().unwrap_or(data_dir);
    std::fs::DirBuilder::new()
        .recursive(true)
        .mode(0o700)
        .create(dir)
        .map_err(err(dir))?;
    // Agents in one process (tests) may share a data directory: each write its own file.
    static WRITES: std::sync::atomic::AtomicU64 = std::sync::atomic::AtomicU64::new(0);
    let n = WRITES.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
    let temp = dir.join(format!(".policy.jws.{}.{n}", std::process::id()));
    let written = std::fs::OpenOptions::new()
        .write(true)
        .create(true)
        .truncate(true)
        .mode(0o600)
        .open(&temp)
        .and_then(|mut f| {
            f.write_all(jws.as_bytes())?;
            f.sync_all()
        });
    if let Err(e) = written {
        let _ = std::fs::remove_file(&temp);
        return Err(err(&temp)(e));
    }
    std::fs::rename(&temp, &path).map_err(err(&path))
}

/// The kept policy, if there is one.
pub fn load(data_dir: &Path) -> Result<Option<String>, KeepError> {
    let path = path(data_dir);
    match std::fs::read_to_string(&path) {
        Ok(text) => Ok(Some(text)),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(source) => Err(KeepError {
            path: path.display().to_string(),
            source,
        }),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn a_kept_policy_reads_back_and_only_its_owner_may_read_it() {
        let dir = tempfile::tempdir().expect("tempdir");
        assert_eq!(load(dir.path()).expect("nothing kept"), None);
        store(dir.path(), "a.b.c").expect("store");
        store(dir.path(), "d.e.f").expect("replace");
        assert_eq!(load(dir.path()).expect("load").as_deref(), Some("d.e.f"));
        let mode = std::fs::metadata(path(dir.path()))
            .expect("meta")
            .permissions()
            .mode();
        assert_eq!(mode & 0o777, 0o600);
        let names: Vec<_> = std::fs::read_dir(dir.path().join("checks"))
            .expect("dir")
            .map(|e| e.expect("entry").file_name())
            .collect();
        assert_eq!(names, ["policy.jws"], "no temporary file left");
    }
}
