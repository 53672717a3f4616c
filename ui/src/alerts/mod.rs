//! Alerts: rules with a severity, a scope and a duration; a state machine per alert
//! (pending, firing, resolved) with every transition stored; notices to the channels.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `signal.rs` | what other parts of the console tell the alerts, and the handle that queues it |
//! | `store.rs` | rules, alerts and their transitions, silences |

pub mod signal;
pub mod store;

pub use signal::{Alerts, Signal};
