//! What the watch's parts hand each other: the update puller's findings, the signals the
//! alerts' evaluator takes, and the notices the notification channels deliver, with the
//! queues that carry them. Below them all, so that none of them reaches up into another.
//!
//! | file | what it holds |
//! | --- | --- |
//! | `finding.rs` | one container or service with a newer image |
//! | `check_finding.rs` | one check on one node that is not ok |
//! | `signal.rs` | what the rest of the console tells the alerts, and their queue |
//! | `notice.rs` | an alert that fires or resolves, as the channels receive it, and their queue |

pub mod check_finding;
pub mod finding;
pub mod notice;
pub mod signal;

pub use check_finding::CheckFinding;
pub use finding::UpdateFinding;
pub use notice::{Notice, NoticeState, Notifier, Outgoing, Severity};
pub use signal::{Alerts, Signal};
