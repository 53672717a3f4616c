//! Where a followed log was left, so that a dropped follow resumes without repeating or
//! losing a line.
//!
//! The engine stamps each line when it reads it. Each stream's lines are in time order in
//! its log, but stdout and stderr are not in order with each other: the engine reads the
//! two pipes apart, so a stderr line may come after a stdout line stamped later. A single
//! "last timestamp" would lose such a line on resume; the cursor keeps a position per
//! stream instead: the instant of the stream's last line sent and how many of its lines
//! at exactly that instant were sent (the engine's `since` includes its own instant, so a
//! resumed log repeats them). A stream that has been quiet is placed [`QUIET_LAG`] before
//! the newest line, so that resuming never replays more than that of the busy stream.

use crate::agent::docker_stream::LogLine;

/// How far behind the newest line a quiet stream's position is kept: more than the
/// engine's disorder between its two streams (milliseconds) ever is.
const QUIET_LAG: i128 = 2_000_000_000;

/// One stream's position: its last line's instant and the lines sent at that instant.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct Position {
    nanos: i128,
    sent: usize,
}

/// The positions of stdout and stderr, and how many repeated lines of each a resumed log
/// still has to drop.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct Cursor {
    streams: [Position; 2],
    repeats: [usize; 2],
    newest: i128,
}

impl Cursor {
    /// An event's `id`: `LINE_STAMP OUT_NANOS OUT_SENT ERR_NANOS ERR_SENT`. The line's own
    /// RFC 3339 timestamp comes first, for the page to show.
    pub(super) fn parse(text: &str) -> Option<Self> {
        let words: Vec<&str> = text.split_whitespace().collect();
        let [_stamp, out_nanos, out_sent, err_nanos, err_sent] = words.as_slice() else {
            return None;
        };
        let position = |nanos: &str, sent: &str| {
            Some(Position {
                nanos: nanos.parse().ok()?,
                sent: sent.parse().ok()?,
            })
        };
        let streams = [
            position(out_nanos, out_sent)?,
            position(err_nanos, err_sent)?,
        ];
        Some(Self {
            repeats: [streams[0].sent, streams[1].sent],
            newest: streams[0].nanos.max(streams[1].nanos),
            streams,
        })
    }

    /// The `id` of the event of `line`, sent at this cursor.
    pub(super) fn id(&self, line: &LogLine) -> String {
        let [out, err] = self.streams;
        // The pieces after a line cut at its length limit have no stamp of their own: a
        // placeholder keeps the id five words, so that it still resumes.
        let stamp = if line.stamp.is_empty() {
            "-"
        } else {
            &line.stamp
        };
        format!(
            "{stamp} {} {} {} {}",
            out.nanos, out.sent, err.nanos, err.sent
        )
    }

    /// Where the engine's log is to be read from to resume: the earlier position.
    pub(super) fn since(&self) -> i128 {
        self.streams[0].nanos.min(self.streams[1].nanos)
    }

    /// Moves `cursor` past `line`; false when the line was sent before and is dropped.
    pub(super) fn advance(cursor: &mut Option<Self>, line: &LogLine) -> bool {
        if line.stamp.is_empty() {
            return true;
        }
        let s = line.source as usize;
        let Some(c) = cursor else {
            let mut streams = [Position {
                nanos: line.nanos - QUIET_LAG,
                sent: 0,
            }; 2];
            streams[s] = Position {
                nanos: line.nanos,
                sent: 1,
            };
            *cursor = Some(Self {
                streams,
                repeats: [0, 0],
                newest: line.nanos,
            });
            return true;
        };
        let at = &mut c.streams[s];
        if line.nanos < at.nanos {
            return false;
        }
        if line.nanos == at.nanos {
            if c.repeats[s] > 0 {
                c.repeats[s] -= 1;
                return false;
            }
            at.sent += 1;
        } else {
            *at = Position {
                nanos: line.nanos,
                sent: 1,
            };
            c.repeats[s] = 0;
        }
        c.newest = c.newest.max(line.nanos);
        let other = 1 - s;
        let floor = c.newest - QUIET_LAG;
        if c.streams[other].nanos < floor {
            c.streams[other] = Position {
                nanos: floor,
                sent: 0,
            };
            c.repeats[other] = 0;
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::docker_stream::{parse_stamp, Source};

    fn line(source: Source, stamp: &str, text: &str) -> LogLine {
        LogLine {
            source,
            stamp: stamp.to_owned(),
            nanos: parse_stamp(stamp).expect("a time"),
            text: text.to_owned(),
        }
    }

    const T1: &str = "2026-01-02T03:04:05.1Z";
    const T2: &str = "2026-01-02T03:04:05.2Z";
    const T3: &str = "2026-01-02T03:04:05.3Z";

    #[test]
    fn a_resumed_log_drops_the_lines_it_sent_and_keeps_a_late_stream() {
        use Source::{Stderr, Stdout};
        let mut first = None;
        // stderr's line stamped T2 comes after stdout's stamped T3.
        for l in [line(Stdout, T1, "a"), line(Stdout, T3, "b")] {
            assert!(Cursor::advance(&mut first, &l));
        }
        let b = line(Stdout, T3, "b");
        let id = first.as_ref().expect("a cursor").id(&b);
        assert!(id.starts_with(&format!("{T3} ")), "{id}");

        // The engine answers `since` (the earlier position) with every line from there.
        let mut again = Cursor::parse(&id);
        assert_eq!(
            again.as_ref().map(Cursor::since),
            Some(parse_stamp(T3).expect("time") - QUIET_LAG)
        );
        let replay = [
            (line(Stdout, T1, "a"), false),
            (line(Stdout, T3, "b"), false),
            (line(Stderr, T2, "late"), true),
            (line(Stdout, T3, "c at the same instant"), true),
        ];
        for (l, new) in replay {
            assert_eq!(Cursor::advance(&mut again, &l), new, "{l:?}");
        }
        assert_eq!(Cursor::parse("not a cursor"), None);
    }

    #[test]
    fn the_rest_of_a_cut_line_has_an_id_that_resumes() {
        let mut cursor = None;
        let head = line(Source::Stdout, T1, "the first 64 KiB");
        assert!(Cursor::advance(&mut cursor, &head));
        let rest = LogLine {
            stamp: String::new(),
            nanos: 0,
            ..head
        };
        assert!(Cursor::advance(&mut cursor, &rest));
        let id = cursor.as_ref().expect("a cursor").id(&rest);
        let resumed = Cursor::parse(&id).expect("the id parses");
        assert_eq!(resumed.since(), parse_stamp(T1).expect("time") - QUIET_LAG);
    }
}
