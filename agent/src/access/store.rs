//! The policy in force, swapped whole when its file changes: requests read the current
//! one, a watcher re-reads the file, and a file that does not parse leaves the last good
//! policy in place (and says so in the log).

use std::path::{Path, PathBuf};
use std::sync::{Arc, RwLock};
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use super::policy::{Policy, PolicyError};

/// How often the file is looked at.
pub const RELOAD_INTERVAL: Duration = Duration::from_secs(2);

/// The current policy, shared by every request.
pub struct PolicyStore {
    current: RwLock<Arc<Policy>>,
    path: Option<PathBuf>,
}

impl PolicyStore {
    /// Loads `path` now (an error here stops the start), or the built-in policy.
    pub fn load(path: Option<&Path>) -> Result<Self, PolicyError> {
        let policy = match path {
            Some(p) => Policy::read(p)?,
            None => Policy::default(),
        };
        Ok(Self {
            current: RwLock::new(Arc::new(policy)),
            path: path.map(Path::to_path_buf),
        })
    }

    pub fn fixed(policy: Policy) -> Self {
        Self {
            current: RwLock::new(Arc::new(policy)),
            path: None,
        }
    }

    pub fn current(&self) -> Arc<Policy> {
        Arc::clone(&self.current.read().unwrap_or_else(|p| p.into_inner()))
    }

    /// Re-reads the file whenever its content changes, until `stop`.
    pub fn watch(self: &Arc<Self>, stop: CancellationToken) {
        let Some(path) = self.path.clone() else {
            return;
        };
        let store = Arc::clone(self);
        tokio::spawn(async move {
            let mut last = tokio::fs::read(&path).await.ok();
            loop {
                tokio::select! {
                    _ = stop.cancelled() => return,
                    _ = tokio::time::sleep(RELOAD_INTERVAL) => {}
                }
                let now = match tokio::fs::read(&path).await {
                    Ok(bytes) => bytes,
                    Err(e) => {
                        if last.is_some() {
                            tracing::warn!(path = %path.display(), error = %e, "policy file unreadable; keeping the policy in force");
                        }
                        last = None;
                        continue;
                    }
                };
                if last.as_deref() == Some(now.as_slice()) {
                    continue;
                }
                last = Some(now.clone());
                let parsed = std::str::from_utf8(&now)
                    .map_err(|e| e.to_string())
                    .and_then(|text| {
                        Policy::parse(text, &path.display().to_string()).map_err(|e| e.to_string())
                    });
                match parsed {
                    Ok(policy) => {
                        tracing::info!(path = %path.display(), profiles = %policy.profile_names().join(","), "policy reloaded");
                        *store.current.write().unwrap_or_else(|p| p.into_inner()) =
                            Arc::new(policy);
                    }
                    Err(e) => {
                        tracing::error!(error = %e, "policy file not reloaded; keeping the policy in force")
                    }
                }
            }
        });
    }
}
