//! One message made of a burst of notices: its title, its lines, and its worst severity,
//! as every channel kind words it.

use crate::watch::notice::{Notice, NoticeState, Severity};

/// Lines listed in one message at most; the rest are counted.
const MOST_LINES: usize = 50;
/// Subjects named in a title at most.
const MOST_NAMED: usize = 5;

/// What a channel sends for a burst.
#[derive(Debug, Clone)]
pub struct Message {
    pub notices: Vec<Notice>,
    /// A test from the channel's page, not an alert.
    pub test: bool,
}

impl Message {
    pub fn new(notices: Vec<Notice>) -> Self {
        Self {
            notices,
            test: false,
        }
    }

    /// What the test button sends.
    pub fn test(channel: &str, at: i64) -> Self {
        Self {
            notices: vec![Notice {
                alert_id: 0,
                rule_id: 0,
                rule: "test".into(),
                severity: Severity::Info,
                state: NoticeState::Firing,
                endpoint: String::new(),
                node: None,
                subject: channel.to_owned(),
                summary: format!("a test notice from the Bosun console to \"{channel}\""),
                details: vec![],
                at,
            }],
            test: true,
        }
    }

    /// The worst severity among the firing notices; info when all resolved.
    pub fn severity(&self) -> Severity {
        self.notices
            .iter()
            .filter(|n| n.state == NoticeState::Firing)
            .map(|n| n.severity)
            .max()
            .unwrap_or(Severity::Info)
    }

    /// Whether every notice says an alert ended.
    pub fn all_resolved(&self) -> bool {
        self.notices
            .iter()
            .all(|n| n.state == NoticeState::Resolved)
    }

    /// One line: a single notice's rule and subject, or how many notices of which rule,
    /// with the first subjects named ("30 × exited firing: a, b, c, d, e, …").
    pub fn title(&self) -> String {
        if self.test {
            return "Bosun: test notice".to_owned();
        }
        match self.notices.as_slice() {
            [] => "Bosun: no notices".to_owned(),
            [one] => format!(
                "[{}] {}: {}",
                state_word(one.state).to_uppercase(),
                one.rule,
                one.subject
            ),
            many => {
                let first = &many[0];
                let same = many
                    .iter()
                    .all(|n| n.rule_id == first.rule_id && n.state == first.state);
                let mut names: Vec<&str> = many
                    .iter()
                    .take(MOST_NAMED)
                    .map(|n| n.subject.as_str())
                    .collect();
                if many.len() > MOST_NAMED {
                    names.push("…");
                }
                let names = names.join(", ");
                if same {
                    format!(
                        "{} × {} {}: {names}",
                        many.len(),
                        first.rule,
                        state_word(first.state)
                    )
                } else {
                    let firing = many
                        .iter()
                        .filter(|n| n.state == NoticeState::Firing)
                        .count();
                    format!(
                        "{} notices ({firing} firing, {} resolved): {names}",
                        many.len(),
                        many.len() - firing
                    )
                }
            }
        }
    }

    /// One line per notice, then each notice's details indented when there is only one.
    pub fn lines(&self) -> Vec<String> {
        let mut lines: Vec<String> = self
            .notices
            .iter()
            .take(MOST_LINES)
            .map(|n| {
                let place = match (&n.node, n.endpoint.is_empty()) {
                    (Some(node), false) => format!(" on {}/{node}", n.endpoint),
                    (None, false) => format!(" on {}", n.endpoint),
                    (_, true) => String::new(),
                };
                format!(
                    "{} {} [{}] {}{place}: {}",
                    bullet(n.state),
                    n.rule,
                    n.severity.as_str(),
                    n.subject,
                    n.summary
                )
            })
            .collect();
        if self.notices.len() > MOST_LINES {
            lines.push(format!("… and {} more", self.notices.len() - MOST_LINES));
        }
        if let [one] = self.notices.as_slice() {
            lines.extend(one.details.iter().map(|d| format!("    {d}")));
        }
        lines
    }

    /// The lines as one text.
    pub fn text(&self) -> String {
        self.lines().join("\n")
    }

    /// The alerts' IDs, for the delivery log.
    pub fn alert_ids(&self) -> Vec<i64> {
        self.notices.iter().map(|n| n.alert_id).collect()
    }
}

fn state_word(state: NoticeState) -> &'static str {
    match state {
        NoticeState::Firing => "firing",
        NoticeState::Resolved => "resolved",
    }
}

fn bullet(state: NoticeState) -> &'static str {
    match state {
        NoticeState::Firing => "•",
        NoticeState::Resolved => "✓",
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    pub(crate) fn notice(n: i64, rule_id: i64, state: NoticeState) -> Notice {
        Notice {
            alert_id: n,
            rule_id,
            rule: format!("rule-{rule_id}"),
            severity: if n % 2 == 0 {
                Severity::Critical
            } else {
                Severity::Warning
            },
            state,
            endpoint: "local".into(),
            node: Some("n1".into()),
            subject: format!("c{n}"),
            summary: "exited with code 1".into(),
            details: vec!["last log line".into()],
            at: 1_764_740_000,
        }
    }

    #[test]
    fn one_notice_is_titled_by_its_rule_and_subject_with_its_details() {
        let message = Message::new(vec![notice(1, 3, NoticeState::Firing)]);
        assert_eq!(message.title(), "[FIRING] rule-3: c1");
        assert_eq!(
            message.lines(),
            vec![
                "• rule-3 [warning] c1 on local/n1: exited with code 1".to_owned(),
                "    last log line".to_owned()
            ]
        );
        assert_eq!(message.severity(), Severity::Warning);
    }

    #[test]
    fn a_burst_is_one_message_listing_every_notice() {
        let many: Vec<Notice> = (1..=30)
            .map(|n| notice(n, 3, NoticeState::Firing))
            .collect();
        let message = Message::new(many);
        assert_eq!(message.title(), "30 × rule-3 firing: c1, c2, c3, c4, c5, …");
        assert_eq!(message.lines().len(), 30, "no details for a burst");
        assert_eq!(message.severity(), Severity::Critical);

        let mixed = Message::new(vec![
            notice(1, 3, NoticeState::Firing),
            notice(2, 4, NoticeState::Resolved),
        ]);
        assert_eq!(mixed.title(), "2 notices (1 firing, 1 resolved): c1, c2");
        assert_eq!(
            mixed.severity(),
            Severity::Warning,
            "resolved ones do not count"
        );

        let huge = Message::new(
            (1..=60)
                .map(|n| notice(n, 3, NoticeState::Firing))
                .collect(),
        );
        let lines = huge.lines();
        assert_eq!(lines.len(), MOST_LINES + 1);
        assert_eq!(lines[MOST_LINES], "… and 10 more");
    }
}
