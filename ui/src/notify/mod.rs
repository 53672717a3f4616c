//! Notifications: channels configured once on the console (webhook, Slack, Discord, ntfy,
//! Gotify, email, MQTT) and the deliveries to them.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `notice.rs` | what is sent: an alert that fires or resolves, and the handle that queues it |
//! | `store.rs` | channels (their secrets sealed) and the delivery log |

pub mod notice;
pub mod store;

pub use notice::{Notice, NoticeState, Notifier, Outgoing, Severity};
