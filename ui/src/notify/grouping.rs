//! A burst being gathered for one channel: when it is due, given when its first and last
//! notices came.

use tokio::time::Instant;

use super::channel::Grouping;
use crate::watch::notice::Notice;

/// The notices gathered for one channel, not sent yet.
#[derive(Debug)]
pub struct Burst {
    first: Instant,
    last: Instant,
    grouping: Grouping,
    pub notices: Vec<Notice>,
}

impl Burst {
    pub fn start(notice: Notice, at: Instant, grouping: Grouping) -> Self {
        Self {
            first: at,
            last: at,
            grouping,
            notices: vec![notice],
        }
    }

    pub fn add(&mut self, notice: Notice, at: Instant) {
        self.last = at;
        self.notices.push(notice);
    }

    /// When it goes out: after a quiet spell, and never later than the longest wait after
    /// its first notice.
    pub fn due(&self) -> Instant {
        (self.last + self.grouping.quiet()).min(self.first + self.grouping.longest())
    }
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use super::*;
    use crate::watch::notice::{NoticeState, Severity};

    fn notice(n: i64) -> Notice {
        Notice {
            alert_id: n,
            rule_id: 1,
            rule: "exited".into(),
            severity: Severity::Warning,
            state: NoticeState::Firing,
            endpoint: "local".into(),
            node: None,
            subject: format!("c{n}"),
            summary: "exited".into(),
            details: vec![],
            at: 0,
        }
    }

    #[test]
    fn a_burst_waits_for_quiet_but_not_past_its_longest_wait() {
        let grouping = Grouping {
            quiet_ms: 2_000,
            longest_ms: 4_000,
        };
        let t0 = Instant::now();
        let ms = Duration::from_millis;
        let mut burst = Burst::start(notice(1), t0, grouping);
        assert_eq!(burst.due(), t0 + ms(2_000), "alone: after the quiet spell");
        burst.add(notice(2), t0 + ms(1_000));
        assert_eq!(
            burst.due(),
            t0 + ms(3_000),
            "each notice restarts the quiet spell"
        );
        burst.add(notice(3), t0 + ms(2_900));
        assert_eq!(burst.due(), t0 + ms(4_000), "but not past the longest wait");
        assert_eq!(burst.notices.len(), 3);
    }
}
