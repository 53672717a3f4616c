//! Who did what, on this node: one line per request that changes something or opens a
//! stream into a container, refusals included (reads too with `--audit-reads`). Each line
//! goes to the log (target `audit`) and, with `--audit-file`, to a JSON-lines file rotated
//! by size.

use std::io::Write;
use std::net::SocketAddr;
use std::path::{Path, PathBuf};
use std::sync::Arc;

use serde::Serialize;
use tokio::sync::mpsc;

use crate::access::Operation;
use crate::auth::Identity;

/// Lines waiting for the file; a writer slower than this holds requests back rather than
/// losing lines.
const QUEUE: usize = 4096;

/// Where audit lines go, and which requests get one.
#[derive(Debug, Clone, Default)]
pub struct AuditConfig {
    pub file: Option<PathBuf>,
    /// Rotate when the file would grow past this many bytes.
    pub max_bytes: u64,
    /// Rotated files kept: `FILE.1` (newest) to `FILE.N`.
    pub keep: usize,
    /// Audit reads too.
    pub reads: bool,
}

/// The audit trail of one agent.
#[derive(Clone)]
pub struct Audit {
    reads: bool,
    file: Option<mpsc::Sender<String>>,
}

/// What is known of a request as it passes through, written once it is answered.
#[derive(Debug, Serialize)]
pub struct Record {
    pub time: String,
    pub subject: Option<Arc<str>>,
    pub profile: Option<Arc<str>>,
    /// Written as `address:port`; formatted only for a record that is written.
    pub client: SocketAddr,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub forwarded_by: Option<String>,
    #[serde(serialize_with = "method_text")]
    pub method: http::Method,
    /// The request's target as the client sent it (shared with the request, not copied);
    /// written as its path.
    #[serde(rename = "path", serialize_with = "uri_path")]
    pub uri: http::Uri,
    /// The object acted on (`container 3f2a…`, `new service`).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub object: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub node: Option<String>,
    pub status: u16,
    #[serde(skip)]
    reads: bool,
}

impl Record {
    pub fn new(client: SocketAddr, method: &http::Method, uri: &http::Uri) -> Self {
        Self {
            time: String::new(),
            subject: None,
            profile: None,
            client,
            forwarded_by: None,
            method: method.clone(),
            uri: uri.clone(),
            object: None,
            node: None,
            status: 0,
            reads: false,
        }
    }

    /// The request's path, without its query.
    pub fn path(&self) -> &str {
        self.uri.path()
    }

    pub fn identity(&mut self, identity: &Identity) {
        self.subject = Some(identity.subject.clone());
        self.profile = Some(identity.profile.clone());
        self.forwarded_by = identity.forwarded_by().map(str::to_owned);
    }

    pub fn operation(&mut self, op: &Operation) {
        self.reads = op.reads;
        self.object = match (&op.object, op.creates) {
            (Some(object), _) => Some(format!("{} {}", object.kind.as_str(), object.id)),
            (None, Some(kind)) => Some(format!("new {}", kind.as_str())),
            (None, None) => None,
        };
    }
}

fn uri_path<S: serde::Serializer>(uri: &http::Uri, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(uri.path())
}

fn method_text<S: serde::Serializer>(method: &http::Method, s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(method.as_str())
}

#[derive(Debug, thiserror::Error)]
#[error("--audit-file {path}: {source}")]
pub struct AuditError {
    path: String,
    source: std::io::Error,
}

impl Audit {
    /// Opens the file (when one is configured) and starts its writer.
    pub fn start(config: &AuditConfig) -> Result<Self, AuditError> {
        let file = match &config.file {
            None => None,
            Some(path) => {
                let writer =
                    Rotating::open(path, config.max_bytes, config.keep).map_err(|source| {
                        AuditError {
                            path: path.display().to_string(),
                            source,
                        }
                    })?;
                let (tx, rx) = mpsc::channel(QUEUE);
                std::thread::Builder::new()
                    .name("audit-file".into())
                    .spawn(move || writer.run(rx))
                    .map_err(|source| AuditError {
                        path: path.display().to_string(),
                        source,
                    })?;
                Some(tx)
            }
        };
        Ok(Self {
            reads: config.reads,
            file,
        })
    }

    pub fn disabled() -> Self {
        Self {
            reads: false,
            file: None,
        }
    }

    /// Whether a request gets a line: anything not on the read allowlist from a client
    /// that authenticated or tried to, and refused reads.
    pub fn wants(&self, record: &Record, status: u16) -> bool {
        let refused_read = status == 403;
        if record.reads && !self.reads && !refused_read {
            return false;
        }
        !(record.subject.is_none() && record.reads)
    }

    /// Writes the record if the request is one that is audited ([`Audit::wants`]).
    pub async fn write(&self, mut record: Record, status: u16) {
        if !self.wants(&record, status) {
            return;
        }
        record.status = status;
        record.time = time::OffsetDateTime::now_utc()
            .format(&time::format_description::well_known::Rfc3339)
            .unwrap_or_default();
        tracing::info!(
            target: "audit",
            subject = record.subject.as_deref().unwrap_or("-"),
            profile = record.profile.as_deref().unwrap_or("-"),
            client = %record.client,
            forwarded_by = record.forwarded_by.as_deref().unwrap_or("-"),
            method = %record.method,
            path = record.path(),
            object = record.object.as_deref().unwrap_or("-"),
            node = record.node.as_deref().unwrap_or("-"),
            status,
            "audit"
        );
        if let Some(tx) = &self.file {
            if let Ok(line) = serde_json::to_string(&record) {
                let _ = tx.send(line).await;
            }
        }
    }
}

/// An append-only file that moves aside when full: `FILE` → `FILE.1` → … → `FILE.keep`.
struct Rotating {
    path: PathBuf,
    file: std::fs::File,
    size: u64,
    max_bytes: u64,
    keep: usize,
}

impl Rotating {
    fn open(path: &Path, max_bytes: u64, keep: usize) -> std::io::Result<Self> {
        if let Some(dir) = path.parent().filter(|d| !d.as_os_str().is_empty()) {
            std::fs::create_dir_all(dir)?;
        }
        let file = append(path)?;
        let size = file.metadata()?.len();
        Ok(Self {
            path: path.to_path_buf(),
            file,
            size,
            max_bytes: max_bytes.max(1024),
            keep: keep.max(1),
        })
    }

    fn run(mut self, mut rx: mpsc::Receiver<String>) {
        while let Some(line) = rx.blocking_recv() {
            if let Err(e) = self.write(&line) {
                tracing::error!(path = %self.path.display(), error = %e, "cannot write the audit file");
            }
        }
    }

    fn write(&mut self, line: &str) -> std::io::Result<()> {
        let len = line.len() as u64 + 1;
        if self.size > 0 && self.size + len > self.max_bytes {
            self.rotate()?;
        }
        self.file.write_all(line.as_bytes())?;
        self.file.write_all(b"\n")?;
        self.size += len;
        Ok(())
    }

    fn rotate(&mut self) -> std::io::Result<()> {
        let numbered = |n: usize| {
            let mut p = self.path.clone().into_os_string();
            p.push(format!(".{n}"));
            PathBuf::from(p)
        };
        let _ = std::fs::remove_file(numbered(self.keep));
        for n in (1..self.keep).rev() {
            let from = numbered(n);
            if from.exists() {
                std::fs::rename(&from, numbered(n + 1))?;
            }
        }
        std::fs::rename(&self.path, numbered(1))?;
        self.file = append(&self.path)?;
        self.size = 0;
        Ok(())
    }
}

fn append(path: &Path) -> std::io::Result<std::fs::File> {
    use std::os::unix::fs::OpenOptionsExt;
    std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .mode(0o600)
        .open(path)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_file_rotates_by_size_and_keeps_so_many() {
        let dir = tempfile::tempdir().expect("tempdir");
        let path = dir.path().join("audit.log");
        let mut w = Rotating::open(&path, 1024, 2).expect("open");
        let line = "x".repeat(300);
        for _ in 0..12 {
            w.write(&line).expect("write");
        }
        let size = |p: &Path| std::fs::metadata(p).map(|m| m.len()).unwrap_or(0);
        assert!(size(&path) <= 1024);
        assert!(size(&dir.path().join("audit.log.1")) > 0);
        assert!(size(&dir.path().join("audit.log.2")) > 0);
        assert!(!dir.path().join("audit.log.3").exists());
    }
}
