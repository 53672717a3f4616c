//! Alerts: rules with a severity, a scope and a duration; a state machine per alert
//! (pending, firing, resolved) with every transition stored; notices to the channels.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `rule.rs` | a rule: kind, severity, scope, `for`, threshold; which subjects a scope takes |
//! | `silence.rs` | silences (mute, snooze) and which alerts they cover |
//! | `defaults.rs` | the rules made once on an empty table |
//! | `machine.rs` | one alert's state machine, pure |
//! | `evaluate.rs` | the evaluator: rules, silences and open alerts in memory; observations in, transitions out |
//! | `from_usage.rs` | observations from the usage samples (host and container figures) |
//! | `from_checks.rs` | observations from the checks' puller (checks that are not ok) |
//! | `watch_members.rs` | node down: each endpoint's members, asked every few seconds |
//! | `watch_events.rs` | container exits, restart loops, health, OOM: each endpoint's events, live |
//! | `run.rs` | the worker: sources in, transitions stored and notified |
//! | `store.rs` | rules, alerts and their transitions, silences, event cursors (`store/history.rs`) |

pub mod defaults;
pub mod evaluate;
pub mod from_checks;
pub mod from_usage;
pub mod machine;
pub mod rule;
pub mod run;
pub mod silence;
pub mod store;
pub mod watch_events;
pub mod watch_members;

/// Observations that belong together, and what they leave out that no longer holds.
pub type Batch = (Vec<evaluate::Observation>, Option<evaluate::Sweep>);
