//! Notifications: channels configured once on the console (webhook, Slack, Discord, ntfy,
//! Gotify, email, MQTT) and the deliveries to them.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `settings.rs` | each kind's settings, which of them are secret, masked and changed |
//! | `channel.rs` | a configured channel: its filter (rules, severity, states) and grouping |
//! | `store.rs` | channels (their secrets sealed) and the delivery log |
//! | `message.rs` | a burst of notices as one message: title and lines |
//! | `grouping.rs` | when a burst being gathered is due |
//! | `retry.rs` | the retries' backoff |
//! | `deliver.rs` | one delivery: attempts, each logged, retried with backoff |
//! | `worker.rs` | the queue's consumer: bursts per channel, update states to MQTT |
//! | `channels/` | one file per kind: how a message is sent |

pub mod channel;
pub mod channels;
pub mod deliver;
pub mod grouping;
pub mod message;
pub mod retry;
pub mod settings;
pub mod store;
pub mod worker;
