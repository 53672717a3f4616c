//! Image updates: what the agents found for each cluster's containers and services, and
//! updating them (pull, recreate, roll back) through the agent.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `report.rs` | the agents' update report (`/agent/v1/updates?scope=cluster`) and the findings in it |
//! | `store.rs` | the tables of update reports and registry credentials |
//! | `credentials.rs` | registry credentials opened, for the agents and for an engine's pull |
//! | `config.rs` | `--update-pull-interval` |
//! | `pull.rs` | the puller: each endpoint's report once per interval, then the alerts and notifications told |
//! | `node.rs` | one node's Docker API through the agent (`X-Agent-Target`) |
//! | `recreate/` | updating a container: its create body cloned from its inspect, the steps, the rollback |
//! | `service.rs` | updating a Swarm service and following its rollout |

pub mod config;
pub mod credentials;
pub mod node;
pub mod pull;
pub mod recreate;
pub mod report;
pub mod service;
pub mod store;

pub use config::{UpdateArgs, UpdateSettings};
pub use report::ClusterReport;
