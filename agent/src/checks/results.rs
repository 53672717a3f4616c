//! The results ring: the last `capacity` results of this node's checks, numbered in order,
//! read after a cursor. A reader's cursor acknowledges what it has; a result dropped from
//! the full ring before any reader acknowledged it is counted as lost, once.

use std::collections::VecDeque;

use bosun_serve::checks::CheckResult;

/// The bounds of `--check-results`.
pub const MIN_CAPACITY: usize = 10;
pub const MAX_CAPACITY: usize = 1_000_000;
pub const DEFAULT_CAPACITY: usize = 1000;
/// How many results one read answers at most, and by default.
pub const MAX_LIMIT: usize = 5000;
pub const DEFAULT_LIMIT: usize = 1000;

/// What one read answers.
#[derive(Debug, Clone, PartialEq)]
pub struct Read {
    /// The oldest result still held; 0: none.
    pub first_seq: u64,
    /// The number the next result will get.
    pub next_seq: u64,
    pub lost: u64,
    pub capacity: usize,
    /// Results after the cursor, oldest first.
    pub results: Vec<CheckResult>,
}

#[derive(Debug)]
pub struct Ring {
    held: VecDeque<CheckResult>,
    capacity: usize,
    next_seq: u64,
    /// The highest sequence number a reader has acknowledged.
    acknowledged: u64,
    lost: u64,
}

impl Ring {
    pub fn new(capacity: usize) -> Self {
        let capacity = capacity.clamp(1, MAX_CAPACITY);
        Self {
            held: VecDeque::with_capacity(capacity.min(4096)),
            capacity,
            next_seq: 1,
            acknowledged: 0,
            lost: 0,
        }
    }

    /// Keeps `result` under the next sequence number, which it answers; the oldest result
    /// makes room when the ring is full.
    pub fn push(&mut self, mut result: CheckResult) -> CheckResult {
        result.seq = self.next_seq;
        self.next_seq += 1;
        if self.held.len() >= self.capacity {
            if let Some(dropped) = self.held.pop_front() {
                if dropped.seq > self.acknowledged {
                    self.lost += 1;
                }
            }
        }
        self.held.push_back(result.clone());
        result
    }

    /// Results with a sequence number above `cursor`, oldest first, at most `limit`; the
    /// cursor acknowledges every result up to it.
    pub fn read(&mut self, cursor: u64, limit: usize) -> Read {
        let newest = self.next_seq - 1;
        self.acknowledged = self.acknowledged.max(cursor.min(newest));
        let first_seq = self.held.front().map_or(0, |r| r.seq);
        // Sequence numbers are contiguous in the ring: the first one after the cursor is
        // found by arithmetic, not by a scan.
        let skip = usize::try_from(cursor.saturating_add(1).saturating_sub(first_seq.max(1)))
            .unwrap_or(usize::MAX)
            .min(self.held.len());
        let results = self.held.iter().skip(skip).take(limit).cloned().collect();
        Read {
            first_seq,
            next_seq: self.next_seq,
            lost: self.lost,
            capacity: self.capacity,
            results,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bosun_serve::checks::Status;

    fn result(check: &str) -> CheckResult {
        CheckResult {
            seq: 0,
            check: check.into(),
            name: check.into(),
            at_ms: 1,
            status: Status::Ok,
            state: Status::Ok,
            output: String::new(),
            duration_ms: 0,
        }
    }

    fn seqs(read: &Read) -> Vec<u64> {
        read.results.iter().map(|r| r.seq).collect()
    }

    #[test]
    fn an_empty_ring_answers_nothing_from_any_cursor() {
        let mut ring = Ring::new(10);
        let read = ring.read(0, 100);
        assert_eq!((read.first_seq, read.next_seq, read.lost), (0, 1, 0));
        assert!(read.results.is_empty());
        // A cursor from another epoch, far ahead, acknowledges nothing that is to come.
        let read = ring.read(500, 100);
        assert!(read.results.is_empty());
        ring.push(result("a"));
        assert_eq!(seqs(&ring.read(0, 100)), [1]);
    }

    #[test]
    fn reads_after_the_cursor_oldest_first_within_the_limit() {
        let mut ring = Ring::new(10);
        for _ in 0..5 {
            ring.push(result("a"));
        }
        assert_eq!(seqs(&ring.read(0, 100)), [1, 2, 3, 4, 5]);
        assert_eq!(seqs(&ring.read(2, 100)), [3, 4, 5]);
        assert_eq!(seqs(&ring.read(2, 2)), [3, 4]);
        assert_eq!(seqs(&ring.read(5, 100)), Vec::<u64>::new());
        assert_eq!(seqs(&ring.read(9, 100)), Vec::<u64>::new());
    }

    #[test]
    fn unread_results_pushed_out_are_lost_once_and_read_ones_are_not() {
        let mut ring = Ring::new(10);
        for _ in 0..15 {
            ring.push(result("a"));
        }
        let read = ring.read(0, 100);
        assert_eq!((read.first_seq, read.next_seq, read.lost), (6, 16, 5));
        assert_eq!(seqs(&read), (6..=15).collect::<Vec<_>>());
        // Reading again counts nothing again.
        assert_eq!(ring.read(0, 100).lost, 5);
        // The reader has everything up to 15: the next ten pushes drop only what it had.
        ring.read(15, 100);
        for _ in 0..10 {
            ring.push(result("a"));
        }
        let read = ring.read(15, 100);
        assert_eq!((read.first_seq, read.lost), (16, 5));
        // One more drops 16, which no reader acknowledged.
        ring.push(result("a"));
        assert_eq!(ring.read(15, 100).lost, 6);
    }

    #[test]
    fn a_cursor_before_the_oldest_held_reads_from_the_oldest() {
        let mut ring = Ring::new(10);
        for _ in 0..30 {
            ring.push(result("a"));
        }
        let read = ring.read(3, 4);
        assert_eq!(seqs(&read), [21, 22, 23, 24]);
    }
}
