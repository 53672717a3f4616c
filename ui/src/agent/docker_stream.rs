//! The engine's multiplexed stdout/stderr stream (logs, exec output): 8-byte frame headers
//! before each chunk, which the console takes off; and a log read as lines, each with the
//! stream it came from and the engine's timestamp.

/// The most of a container's log or an exec's output read into one answer.
pub(crate) const MAX_OUTPUT: usize = 32 << 20;

pub(crate) use bosun_serve::docker_stream::demux;

/// Which of the container's outputs a line came from.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) enum Source {
    // The values index per-stream state (partial lines, cursor positions).
    Stdout = 0,
    Stderr = 1,
}

impl Source {
    pub(crate) fn as_str(self) -> &'static str {
        match self {
            Source::Stdout => "stdout",
            Source::Stderr => "stderr",
        }
    }
}

/// The longest line kept as one, for output that has no newlines.
pub(crate) const MAX_LINE: usize = 64 * 1024;

/// One line of a log asked for with `timestamps=1`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) struct LogLine {
    pub source: Source,
    /// The engine's RFC 3339 timestamp as sent; empty when the line had none.
    pub stamp: String,
    /// The timestamp in nanoseconds since the epoch; 0 when the line had none.
    pub nanos: i128,
    pub text: String,
}

/// The nanoseconds since the epoch of an RFC 3339 timestamp.
pub(crate) fn parse_stamp(stamp: &str) -> Option<i128> {
    let at =
        time::OffsetDateTime::parse(stamp, &time::format_description::well_known::Rfc3339).ok()?;
    Some(at.unix_timestamp_nanos())
}

/// `nanos` as the engine's `since`/`until` take it: seconds, a dot, nine digits.
pub(crate) fn engine_time(nanos: i128) -> String {
    let secs = nanos.div_euclid(1_000_000_000);
    let frac = nanos.rem_euclid(1_000_000_000);
    format!("{secs}.{frac:09}")
}

/// A log as it arrives, cut into lines: frames taken off (unless a TTY's), and a line kept
/// per stream until its newline comes.
pub(crate) struct LogReader {
    tty: bool,
    pending: Vec<u8>,
    partial: [Vec<u8>; 2],
}

impl LogReader {
    pub(crate) fn new(tty: bool) -> Self {
        Self {
            tty,
            pending: Vec::new(),
            partial: [Vec::new(), Vec::new()],
        }
    }

    /// The lines that `data` completes.
    pub(crate) fn push(&mut self, data: &[u8]) -> Vec<LogLine> {
        let mut lines = Vec::new();
        if self.tty {
            self.cut(Source::Stdout, data, &mut lines);
            return lines;
        }
        self.pending.extend_from_slice(data);
        let mut at = 0;
        while self.pending.len() - at >= 8 {
            let head = &self.pending[at..at + 8];
            if head[0] > 2 || head[1..4] != [0, 0, 0] {
                // Not framed after all: a TTY's log, whose inspect was not read.
                self.tty = true;
                let rest = self.pending.split_off(at);
                self.pending.clear();
                self.cut(Source::Stdout, &rest, &mut lines);
                return lines;
            }
            let size = u32::from_be_bytes([head[4], head[5], head[6], head[7]]) as usize;
            if self.pending.len() - at < 8 + size {
                break;
            }
            let source = if head[0] == 2 {
                Source::Stderr
            } else {
                Source::Stdout
            };
            let chunk = self.pending[at + 8..at + 8 + size].to_vec();
            self.cut(source, &chunk, &mut lines);
            at += 8 + size;
        }
        self.pending.drain(..at);
        lines
    }

    /// The lines left without a final newline, at the log's end.
    pub(crate) fn finish(&mut self) -> Vec<LogLine> {
        let mut lines = Vec::new();
        for source in [Source::Stdout, Source::Stderr] {
            let slot = &mut self.partial[source as usize];
            if !slot.is_empty() {
                let raw = std::mem::take(slot);
                lines.push(line_of(source, &raw));
            }
        }
        lines
    }

    fn cut(&mut self, source: Source, data: &[u8], lines: &mut Vec<LogLine>) {
        let slot = &mut self.partial[source as usize];
        for &b in data {
            if b != b'\n' {
                slot.push(b);
            }
            if b == b'\n' || slot.len() >= MAX_LINE {
                let raw = std::mem::take(slot);
                lines.push(line_of(source, &raw));
            }
        }
    }
}

/// A raw line, its leading timestamp split off when it has one.
fn line_of(source: Source, raw: &[u8]) -> LogLine {
    let text = String::from_utf8_lossy(raw);
    let text = text.strip_suffix('\r').unwrap_or(&text);
    if let Some((stamp, rest)) = text.split_once(' ') {
        if let Some(nanos) = parse_stamp(stamp) {
            return LogLine {
                source,
                stamp: stamp.to_owned(),
                nanos,
                text: rest.to_owned(),
            };
        }
    }
    match parse_stamp(text) {
        // An empty line still carries its timestamp.
        Some(nanos) => LogLine {
            source,
            stamp: text.to_owned(),
            nanos,
            text: String::new(),
        },
        None => LogLine {
            source,
            stamp: String::new(),
            nanos: 0,
            text: text.to_owned(),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_log_is_cut_into_stamped_lines_per_stream() {
        let frame = |kind: u8, text: &[u8]| {
            let mut f = vec![kind, 0, 0, 0];
            f.extend_from_slice(&(text.len() as u32).to_be_bytes());
            f.extend_from_slice(text);
            f
        };
        let mut reader = LogReader::new(false);
        let mut raw = frame(1, b"2026-01-02T03:04:05.000000001Z hello\n");
        raw.extend(frame(2, b"2026-01-02T03:04:05.5Z oops\n\n"));
        let (first, second) = raw.split_at(20);
        assert!(reader.push(first).is_empty());
        let lines = reader.push(second);
        assert_eq!(lines.len(), 3, "{lines:?}");
        assert_eq!(lines[0].source, Source::Stdout);
        assert_eq!(lines[0].text, "hello");
        assert_eq!(lines[0].stamp, "2026-01-02T03:04:05.000000001Z");
        assert_eq!(lines[1].source, Source::Stderr);
        assert_eq!(lines[1].text, "oops");
        assert_eq!(lines[1].nanos - lines[0].nanos, 499_999_999);
        assert_eq!(lines[2].text, "", "an empty line is kept");
        assert_eq!(
            engine_time(lines[0].nanos),
            format!("{}.000000001", lines[0].nanos / 1_000_000_000)
        );
        let mut guessed = LogReader::new(false);
        let lines = guessed.push(b"2026-01-02T03:04:05Z from a tty\n");
        assert_eq!(lines[0].text, "from a tty", "{lines:?}");
        let mut tty = LogReader::new(true);
        assert_eq!(tty.push(b"no stamp\npart").len(), 1);
        assert_eq!(tty.finish()[0].text, "part");
    }
}
