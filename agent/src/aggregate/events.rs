//! Decorates one node's live `/events` stream, event by event, for the merged cluster stream.
//!
//! The engine writes one JSON object per event followed by `"\n"`, but the transport cuts
//! chunks anywhere, so events are reassembled before they are decorated. Every piece of
//! output is whole lines: the merged stream interleaves the pieces of many nodes, and a piece
//! ending mid-line would glue another node's event onto it.
//!
//! A valid event is decorated by splicing `"Agent":{"NodeName":...}` before its closing brace
//! rather than by re-encoding it: the event's bytes stay the engine's own, and the only work
//! per event is one validating pass that allocates nothing.

use bytes::Bytes;
use serde::de::IgnoredAny;

use crate::node_name::NodeName;

/// The most an unfinished line may hold. An engine's events are a few KiB; anything this long
/// is not an event, and holding it without bound would let one node exhaust our memory.
pub const MAX_PENDING: usize = 1 << 20;

/// Reassembles and decorates the event stream of one node; one per node stream.
#[derive(Debug)]
pub struct EventDecorator {
    /// The node's name, escaped once for the stream's lifetime.
    node: NodeName,
    /// The start of a line whose newline has not arrived yet.
    pending: Vec<u8>,
}

impl EventDecorator {
    pub fn new(node: &str) -> Self {
        EventDecorator {
            node: NodeName::new(node),
            pending: Vec::new(),
        }
    }

    /// Feed a chunk as it arrives; returns the complete, decorated events it finished, each a
    /// JSON object followed by "\n", ready to send to the client (possibly empty). Incomplete
    /// trailing data is kept for the next chunk. Lines that are not JSON objects are passed
    /// through unchanged (with their "\n"); blank lines dropped.
    ///
    /// If more than [`MAX_PENDING`] bytes accumulate without a newline they are passed through
    /// as they are, followed by a "\n" so the merged stream stays line-aligned, and the
    /// buffer starts again empty.
    pub fn push(&mut self, chunk: &[u8]) -> Bytes {
        let mut out = Vec::new();
        let mut rest = chunk;
        while let Some(end) = rest.iter().position(|&b| b == b'\n') {
            let (line, tail) = (&rest[..end], &rest[end + 1..]);
            if self.pending.is_empty() {
                // The common case: the whole line is in this chunk, so it is never copied.
                self.emit(line, &mut out);
            } else {
                self.pending.extend_from_slice(line);
                self.emit(&self.pending, &mut out);
                self.pending.clear();
            }
            rest = tail;
        }
        self.pending.extend_from_slice(rest);
        if self.pending.len() > MAX_PENDING {
            out.extend_from_slice(&self.pending);
            out.push(b'\n');
            // Give the memory back too: the stream may stay open for days.
            self.pending = Vec::new();
        }
        Bytes::from(out)
    }

    /// At end of stream: whatever complete object remains (a last event without a trailing
    /// newline), decorated. Anything else that remains is passed through with a "\n", as a
    /// line that is not an event would have been.
    pub fn finish(&mut self) -> Bytes {
        let rest = std::mem::take(&mut self.pending);
        let mut out = Vec::new();
        self.emit(&rest, &mut out);
        Bytes::from(out)
    }

    /// Writes one line (without its newline) to `out`: decorated if it is a JSON object,
    /// as it is otherwise, nothing if it is blank.
    fn emit(&self, line: &[u8], out: &mut Vec<u8>) {
        let event = line.trim_ascii();
        if event.is_empty() {
            return;
        }
        match object_body(event) {
            Some(_) => {
                self.node.splice(event, out);
                out.push(b'\n');
            }
            None => {
                out.extend_from_slice(line);
                out.push(b'\n');
            }
        }
    }
}

/// The bytes between the braces of `text` if it is exactly one JSON object, else `None`.
///
/// A text that starts with `{` and parses as a single JSON value is an object and ends with
/// `}`; `IgnoredAny` checks that without building anything.
fn object_body(text: &[u8]) -> Option<&[u8]> {
    if text.first() != Some(&b'{') || serde_json::from_slice::<IgnoredAny>(text).is_err() {
        return None;
    }
    text.get(1..text.len() - 1)
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::{json, Value};

    const EVENT_1: &str = r#"{"status":"start","id":"abc","Type":"container","Action":"start","Actor":{"ID":"abc","Attributes":{"name":"web"}},"scope":"local","time":1700000000,"timeNano":1700000000000000000}"#;
    const EVENT_2: &str = r#"{"Type":"network","Action":"connect","Actor":{"ID":"n1","Attributes":{"container":"abc","name":"bridge","type":"bridge"}},"scope":"local","time":1700000001,"timeNano":1700000001000000000}"#;
    const EVENT_3: &str = r#"{"Type":"image","Action":"pull","Actor":{"ID":"busybox:latest","Attributes":{"name":"busybox"}},"scope":"local","time":1700000002,"timeNano":1700000002000000000}"#;

    /// Splits the decorator's output into lines, checking it is made of whole lines.
    fn lines(out: &[u8]) -> Vec<String> {
        let text = std::str::from_utf8(out).expect("UTF-8");
        assert!(
            text.is_empty() || text.ends_with('\n'),
            "output ends mid-line: {text:?}"
        );
        text.lines().map(str::to_owned).collect()
    }

    fn decorated(event: &str, node: &str) -> Value {
        let mut value: Value = serde_json::from_str(event).expect("test event");
        value["Agent"] = json!({"NodeName": node});
        value
    }

    fn parse(line: &str) -> Value {
        serde_json::from_str(line).expect("decorated line is JSON")
    }

    #[test]
    fn one_event_is_decorated_and_keeps_its_bytes() {
        let mut events = EventDecorator::new("node-1");
        let out = events.push(format!("{EVENT_1}\n").as_bytes());
        let expected = format!(
            "{},\"Agent\":{{\"NodeName\":\"node-1\"}}}}\n",
            &EVENT_1[..EVENT_1.len() - 1]
        );
        assert_eq!(out, expected.as_bytes());
        assert_eq!(parse(lines(&out)[0].as_str()), decorated(EVENT_1, "node-1"));
        assert!(events.finish().is_empty());
    }

    #[test]
    fn several_events_in_one_chunk() {
        let mut events = EventDecorator::new("a");
        let out = events.push(format!("{EVENT_1}\n{EVENT_2}\n{EVENT_3}\n").as_bytes());
        let got: Vec<Value> = lines(&out).iter().map(|l| parse(l)).collect();
        assert_eq!(
            got,
            [
                decorated(EVENT_1, "a"),
                decorated(EVENT_2, "a"),
                decorated(EVENT_3, "a")
            ]
        );
    }

    #[test]
    fn events_split_at_every_byte_position() {
        let stream = format!("{EVENT_1}\n{EVENT_2}\n");
        let expected = [decorated(EVENT_1, "n"), decorated(EVENT_2, "n")];
        for cut in 0..=stream.len() {
            let mut events = EventDecorator::new("n");
            let mut out = events.push(&stream.as_bytes()[..cut]).to_vec();
            out.extend_from_slice(&events.push(&stream.as_bytes()[cut..]));
            out.extend_from_slice(&events.finish());
            let got: Vec<Value> = lines(&out).iter().map(|l| parse(l)).collect();
            assert_eq!(got, expected, "cut at {cut}");
        }
    }

    #[test]
    fn events_fed_one_byte_at_a_time() {
        let stream = format!("{EVENT_1}\n{EVENT_2}\n{EVENT_3}");
        let mut events = EventDecorator::new("n");
        let mut out = Vec::new();
        for byte in stream.as_bytes() {
            let piece = events.push(std::slice::from_ref(byte));
            // Whatever comes out is always whole lines.
            lines(&piece);
            out.extend_from_slice(&piece);
        }
        out.extend_from_slice(&events.finish());
        let got: Vec<Value> = lines(&out).iter().map(|l| parse(l)).collect();
        assert_eq!(
            got,
            [
                decorated(EVENT_1, "n"),
                decorated(EVENT_2, "n"),
                decorated(EVENT_3, "n")
            ]
        );
    }

    #[test]
    fn incomplete_data_waits_for_the_next_chunk() {
        let mut events = EventDecorator::new("n");
        assert!(events.push(&EVENT_1.as_bytes()[..10]).is_empty());
        assert!(events.push(&EVENT_1.as_bytes()[10..]).is_empty());
        let out = events.push(b"\n");
        assert_eq!(parse(lines(&out)[0].as_str()), decorated(EVENT_1, "n"));
    }

    #[test]
    fn finish_decorates_a_trailing_event() {
        let mut events = EventDecorator::new("n");
        let out = events.push(format!("{EVENT_1}\n{EVENT_2}").as_bytes());
        assert_eq!(lines(&out).len(), 1);
        let last = events.finish();
        assert_eq!(parse(lines(&last)[0].as_str()), decorated(EVENT_2, "n"));
        // Nothing is left afterwards.
        assert!(events.finish().is_empty());
    }

    #[test]
    fn finish_passes_an_unfinished_remainder_through_as_a_line() {
        let mut events = EventDecorator::new("n");
        assert!(events.push(b"{\"Type\":\"conta").is_empty());
        assert_eq!(events.finish(), &b"{\"Type\":\"conta\n"[..]);

        let mut events = EventDecorator::new("n");
        assert!(events.push(b"  \r").is_empty());
        assert!(events.finish().is_empty());
    }

    #[test]
    fn non_objects_pass_through_and_blank_lines_are_dropped() {
        let mut events = EventDecorator::new("n");
        let out = events.push(
            format!("not json\n\n   \n[1,2]\n\"text\"\n{{\"a\":1}} trailing\n{EVENT_1}\n")
                .as_bytes(),
        );
        let got = lines(&out);
        assert_eq!(
            &got[..4],
            ["not json", "[1,2]", "\"text\"", "{\"a\":1} trailing"]
        );
        assert_eq!(parse(&got[4]), decorated(EVENT_1, "n"));
        assert_eq!(got.len(), 5);
    }

    #[test]
    fn empty_objects_and_surrounding_whitespace() {
        let mut events = EventDecorator::new("n");
        let out = events.push(b"{}\n  { \"a\" : 1 }  \r\n{ }\n");
        let got: Vec<Value> = lines(&out).iter().map(|l| parse(l)).collect();
        assert_eq!(
            got,
            [
                json!({"Agent": {"NodeName": "n"}}),
                json!({"a": 1, "Agent": {"NodeName": "n"}}),
                json!({"Agent": {"NodeName": "n"}}),
            ]
        );
    }

    #[test]
    fn node_names_are_escaped() {
        let mut events = EventDecorator::new("od\"d\\nöde");
        let out = events.push(b"{\"a\":1}\n");
        assert_eq!(
            parse(lines(&out)[0].as_str()),
            json!({"a": 1, "Agent": {"NodeName": "od\"d\\nöde"}})
        );
    }

    #[test]
    fn an_overlong_line_is_passed_through_and_the_buffer_reset() {
        let mut events = EventDecorator::new("n");
        let blob = vec![b'x'; MAX_PENDING];
        assert!(events.push(&blob).is_empty(), "exactly the limit is kept");
        let out = events.push(b"yy");
        assert_eq!(out.len(), MAX_PENDING + 3);
        assert!(out.ends_with(b"xyy\n"));
        assert_eq!(events.pending.capacity(), 0);

        // The stream goes on normally afterwards.
        let out = events.push(format!("zz\n{EVENT_1}\n").as_bytes());
        let got = lines(&out);
        assert_eq!(got[0], "zz");
        assert_eq!(parse(&got[1]), decorated(EVENT_1, "n"));
    }

    #[test]
    fn a_long_line_that_ends_in_the_same_chunk_is_still_a_line() {
        let mut events = EventDecorator::new("n");
        let mut chunk = vec![b'x'; MAX_PENDING + 10];
        chunk.push(b'\n');
        let out = events.push(&chunk);
        assert_eq!(out, chunk);
    }
}
