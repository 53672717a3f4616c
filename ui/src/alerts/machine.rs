//! One alert's state machine, pure: given where an alert stands, whether its condition
//! holds now and the rule's `for`, the transition to make, if any. An alert fires once and
//! resolves once however often it is evaluated.

use serde::{Deserialize, Serialize};

/// Where an alert stands. `Inactive` is no open alert at all.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum State {
    Inactive,
    Pending,
    Firing,
    Resolved,
}

impl State {
    pub fn as_str(self) -> &'static str {
        match self {
            State::Inactive => "inactive",
            State::Pending => "pending",
            State::Firing => "firing",
            State::Resolved => "resolved",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        [
            State::Inactive,
            State::Pending,
            State::Firing,
            State::Resolved,
        ]
        .into_iter()
        .find(|s| s.as_str() == text)
    }
}

/// An open alert as the machine needs it: its state and since when its condition holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Standing {
    pub state: State,
    /// When the condition was first seen holding, in Unix seconds.
    pub since: i64,
}

/// The machine's answer: the state to move to, or none.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Step {
    Stay,
    To(State),
}

/// The transition for an alert standing at `standing` (`None`: no open alert) whose
/// condition `holds` at `at`, for a rule that waits `for_secs`. A pending alert whose
/// condition ends resolves without having fired (and is not notified).
pub fn step(standing: Option<Standing>, holds: bool, at: i64, for_secs: i64) -> Step {
    match (standing.map(|s| (s.state, s.since)), holds) {
        (None | Some((State::Inactive | State::Resolved, _)), false) => Step::Stay,
        (None | Some((State::Inactive | State::Resolved, _)), true) if for_secs <= 0 => {
            Step::To(State::Firing)
        }
        (None | Some((State::Inactive | State::Resolved, _)), true) => Step::To(State::Pending),
        (Some((State::Pending, since)), true) if at - since >= for_secs => Step::To(State::Firing),
        (Some((State::Pending, _)), true) => Step::Stay,
        (Some((State::Pending | State::Firing, _)), false) => Step::To(State::Resolved),
        (Some((State::Firing, _)), true) => Step::Stay,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use State::*;

    fn at(state: State, since: i64) -> Option<Standing> {
        Some(Standing { state, since })
    }

    #[test]
    fn the_table() {
        // (standing, holds, at, for, step)
        let table: Vec<(Option<Standing>, bool, i64, i64, Step)> = vec![
            (None, false, 100, 60, Step::Stay),
            (None, true, 100, 60, Step::To(Pending)),
            (None, true, 100, 0, Step::To(Firing)),
            (at(Inactive, 0), true, 100, 60, Step::To(Pending)),
            (at(Resolved, 0), false, 100, 60, Step::Stay),
            (at(Resolved, 0), true, 100, 0, Step::To(Firing)),
            (at(Pending, 100), true, 159, 60, Step::Stay),
            (at(Pending, 100), true, 160, 60, Step::To(Firing)),
            (at(Pending, 100), true, 500, 60, Step::To(Firing)),
            (at(Pending, 100), false, 120, 60, Step::To(Resolved)),
            (at(Firing, 100), true, 200, 60, Step::Stay),
            (at(Firing, 100), true, 100_000, 60, Step::Stay),
            (at(Firing, 100), false, 200, 60, Step::To(Resolved)),
            // A sample older than the pending start (a catch-up) does not fire early.
            (at(Pending, 100), true, 90, 60, Step::Stay),
        ];
        for (i, (standing, holds, now, for_secs, want)) in table.into_iter().enumerate() {
            assert_eq!(step(standing, holds, now, for_secs), want, "row {i}");
        }
    }

    #[test]
    fn fires_once_and_resolves_once_over_many_evaluations() {
        let mut standing: Option<Standing> = None;
        let mut transitions = Vec::new();
        // Holds from 10 to 100, for 30 s; evaluated every second.
        for t in 0..200 {
            let holds = (10..=100).contains(&t);
            if let Step::To(next) = step(standing, holds, t, 30) {
                transitions.push((t, next));
                standing = match next {
                    Resolved => None,
                    Pending => Some(Standing {
                        state: next,
                        since: t,
                    }),
                    _ => standing.map(|s| Standing { state: next, ..s }),
                };
            }
        }
        assert_eq!(
            transitions,
            vec![(10, Pending), (40, Firing), (101, Resolved)]
        );
    }
}
