//! Docker's multiplexed stream (logs and exec output without a TTY): each chunk has an
//! 8-byte header, its stream (0 stdin, 1 stdout, 2 stderr), three zero bytes and a
//! big-endian length. The agent reads a check script's output with it, the console logs
//! and exec output.

/// Docker's multiplexed stream to its payload; the rest that is not a whole frame yet is
/// returned second. Text that is not multiplexed (a TTY) is kept as is.
pub fn demux(raw: &[u8]) -> (Vec<u8>, &[u8]) {
    let mut out = Vec::with_capacity(raw.len());
    let mut rest = raw;
    while rest.len() >= 8 {
        let multiplexed = matches!(rest[0], 0..=2) && rest[1..4] == [0, 0, 0];
        if !multiplexed {
            out.extend_from_slice(rest);
            return (out, &[]);
        }
        let size = u32::from_be_bytes([rest[4], rest[5], rest[6], rest[7]]) as usize;
        if rest.len() < 8 + size {
            break;
        }
        out.extend_from_slice(&rest[8..8 + size]);
        rest = &rest[8 + size..];
    }
    (out, rest)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn demux_joins_frames_and_keeps_a_partial_one() {
        let mut raw = vec![1, 0, 0, 0, 0, 0, 0, 3];
        raw.extend_from_slice(b"ab\n");
        raw.extend_from_slice(&[2, 0, 0, 0, 0, 0, 0, 4]);
        raw.extend_from_slice(b"err\n");
        raw.extend_from_slice(&[1, 0, 0, 0, 0, 0, 0, 9, b'x']);
        let (out, rest) = demux(&raw);
        assert_eq!(out, b"ab\nerr\n");
        assert_eq!(rest.len(), 9);
        let (tty, rest) = demux(b"plain text from a tty\n");
        assert_eq!(tty, b"plain text from a tty\n");
        assert!(rest.is_empty());
    }
}
