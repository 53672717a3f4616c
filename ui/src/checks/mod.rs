//! Checks on the console: the checks an operator writes for a cluster, which nodes run
//! each, the policy every node is sent (signed with the console's key), and the results
//! the agents report, kept with their history.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `def.rs` | a check as the console keeps it (`CheckDef`) and its input, checked |
//! | `target.rs` | which nodes a check is for: all, by name, by engine label, by role |
//! | `store.rs` | the tables: checks, versions, per-node cursors, states, history |
//! | `sign.rs` | one node's policy, signed with the console's Ed25519 key |
//! | `push.rs` | signing every node's policy and sending them through any agent |
//! | `pull.rs` | the puller: each endpoint's new results once per interval, then the alerts told |

pub mod def;
pub mod pull;
pub mod push;
pub mod sign;
pub mod store;
pub mod target;

use std::collections::HashMap;
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use bosun_serve::duration::parse as parse_duration;

pub use def::{CheckDef, CheckInput};
pub use target::{Member, Target};

/// How the checks' results are pulled.
#[derive(clap::Args, Debug, Clone, PartialEq, Eq)]
pub struct CheckArgs {
    /// How often each cluster's agent is asked for its nodes' new check results.
    #[arg(long, env = "BOSUN_UI_CHECKS_PULL_INTERVAL", default_value = "10s", value_parser = parse_duration)]
    pub checks_pull_interval: Duration,
}

impl Default for CheckArgs {
    fn default() -> Self {
        Self {
            checks_pull_interval: DEFAULT_PULL_INTERVAL,
        }
    }
}

/// `--checks-pull-interval` unless given.
pub const DEFAULT_PULL_INTERVAL: Duration = Duration::from_secs(10);

impl CheckArgs {
    /// The pull interval, checked.
    pub fn pull_interval(&self) -> Result<Duration, String> {
        if self.checks_pull_interval < Duration::from_secs(1) {
            return Err("--checks-pull-interval: at least 1s".into());
        }
        if self.checks_pull_interval > Duration::from_secs(3600) {
            return Err("--checks-pull-interval: at most 1h".into());
        }
        Ok(self.checks_pull_interval)
    }
}

/// What the checks' handlers and puller share: the pull interval, one push at a time per
/// endpoint (so that a node never gets an older version after a newer one), and when each
/// endpoint's lagging nodes were last sent their policy again.
pub struct Checks {
    pub pull_interval: Duration,
    pushing: Mutex<HashMap<i64, Arc<tokio::sync::Mutex<()>>>>,
    repushed: Mutex<HashMap<i64, Instant>>,
}

impl Default for Checks {
    fn default() -> Self {
        Self {
            pull_interval: DEFAULT_PULL_INTERVAL,
            pushing: Mutex::default(),
            repushed: Mutex::default(),
        }
    }
}

/// Lagging nodes are sent their policy again at most this often per endpoint.
pub const REPUSH_EVERY: Duration = Duration::from_secs(30);

impl Checks {
    /// Endpoint `endpoint`'s push lock.
    pub fn push_lock(&self, endpoint: i64) -> Arc<tokio::sync::Mutex<()>> {
        let mut locks = self.pushing.lock().unwrap_or_else(|p| p.into_inner());
        Arc::clone(locks.entry(endpoint).or_default())
    }

    /// Whether endpoint `endpoint`'s lagging nodes may be sent their policy now; if so,
    /// the time is taken.
    pub fn may_repush(&self, endpoint: i64) -> bool {
        let mut last = self.repushed.lock().unwrap_or_else(|p| p.into_inner());
        let now = Instant::now();
        match last.get(&endpoint) {
            Some(at) if now.duration_since(*at) < REPUSH_EVERY => false,
            _ => {
                last.insert(endpoint, now);
                true
            }
        }
    }
}

/// Milliseconds since the epoch.
pub fn now_ms() -> u64 {
    std::time::SystemTime::now()
        .duration_since(std::time::UNIX_EPOCH)
        .map(|d| d.as_millis() as u64)
        .unwrap_or(0)
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser as _;

    #[test]
    fn the_pull_interval_is_a_flag_of_a_second_to_an_hour() {
        let args = crate::cli::Args::try_parse_from(["bosun-ui", "--checks-pull-interval", "3s"])
            .expect("parses");
        assert_eq!(
            args.checks.pull_interval().expect("valid"),
            Duration::from_secs(3)
        );
        assert_eq!(
            CheckArgs::default().pull_interval().expect("valid"),
            Duration::from_secs(10)
        );
        let long = CheckArgs {
            checks_pull_interval: Duration::from_secs(7200),
        };
        assert!(long
            .pull_interval()
            .unwrap_err()
            .contains("--checks-pull-interval"));
    }

    #[test]
    fn lagging_nodes_are_sent_again_at_most_every_30_seconds() {
        let checks = Checks::default();
        assert!(checks.may_repush(1));
        assert!(!checks.may_repush(1));
        assert!(checks.may_repush(2), "per endpoint");
    }
}
