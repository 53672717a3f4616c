//! Usage with history: the console pulls every cluster's usage samples from its agent,
//! keeps them in SQLite at three resolutions, and answers the charts from there.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `sample.rs` | the agent's samples, as `GET /agent/v1/metrics` sends them |
//! | `series.rs` | what a series is (a host, a filesystem, a container) and its figures |
//! | `store.rs` | the tables, storing samples, minute and hour buckets, retention, queries |
//! | `range.rs` | which tier and which steps a chart's range reads |
//! | `now.rs` | the newest figures: a cluster's summary, the busiest containers |
//! | `pull.rs` | the puller: one request per cluster and interval |
//! | `prometheus.rs` | the charts' history from Prometheus instead, with `--prometheus-url` |

pub mod now;
pub mod prometheus;
pub mod pull;
pub mod range;
pub mod sample;
pub mod series;
pub mod store;

use std::sync::Arc;
use std::time::Duration;

use crate::store::Db;
pub use series::Retention;
pub use store::UsageStore;

/// How usage is pulled and kept; from the command line.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct UsageConfig {
    /// How often each cluster is asked.
    pub interval: Duration,
    pub retention: Retention,
}

impl Default for UsageConfig {
    fn default() -> Self {
        Self {
            interval: Duration::from_secs(10),
            retention: Retention::default(),
        }
    }
}

/// The history and how it is kept, shared by the puller and the API.
#[derive(Clone)]
pub struct Usage {
    pub db: Db<UsageStore>,
    pub config: UsageConfig,
    /// Where the charts' history is read from when set, instead of `db`. The puller
    /// still fills `db`: the figures now, the top lists and the summary read it, and it
    /// names a node's and a container's series (a container by a prefix of its ID).
    pub prometheus: Option<Arc<prometheus::Prometheus>>,
}

impl Usage {
    pub fn new(store: UsageStore, config: UsageConfig) -> Self {
        Self {
            db: Db::new(store),
            config,
            prometheus: None,
        }
    }

    /// The same, with the charts' history read from `prometheus`.
    pub fn with_prometheus(mut self, prometheus: prometheus::Prometheus) -> Self {
        self.prometheus = Some(Arc::new(prometheus));
        self
    }

    /// The oldest newest-sample time at which a node still counts as reporting now: a
    /// few pulls, or a minute, whichever is longer.
    pub fn fresh_after(&self, now: i64) -> i64 {
        let pulls = 3 * self.config.interval.as_secs() as i64;
        now - pulls.max(60)
    }
}
