//! Image updates: what the agents found for each cluster's containers and services, and
//! updating them (pull, recreate, roll back) through the agent.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `finding.rs` | one container or service with a newer image, as the alerts and the notifications see it |
//! | `store.rs` | the tables of update findings and registry credentials |

pub mod finding;
pub mod store;

pub use finding::UpdateFinding;
