//! The last hour of samples, kept in memory so that a console that connects late, or
//! comes back after a restart, still draws the recent past.

use std::collections::VecDeque;
use std::sync::Arc;
use std::time::Duration;

use super::sample::Sample;

/// How far back the ring reaches.
pub const SPAN: Duration = Duration::from_secs(3600);

pub struct Ring {
    samples: VecDeque<Arc<Sample>>,
    capacity: usize,
}

impl Ring {
    /// A ring for one sample every `interval`.
    pub fn new(interval: Duration) -> Self {
        let capacity = (SPAN.as_secs_f64() / interval.as_secs_f64().max(1.0)).ceil() as usize;
        Self {
            samples: VecDeque::with_capacity(capacity),
            capacity: capacity.max(1),
        }
    }

    pub fn push(&mut self, sample: Arc<Sample>) {
        if self.samples.len() == self.capacity {
            self.samples.pop_front();
        }
        self.samples.push_back(sample);
    }

    pub fn latest(&self) -> Option<Arc<Sample>> {
        self.samples.back().cloned()
    }

    /// Samples taken after `time` (Unix seconds), oldest first.
    pub fn since(&self, time: u64) -> Vec<Arc<Sample>> {
        let start = self.samples.partition_point(|s| s.time <= time);
        self.samples.range(start..).cloned().collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn at(time: u64) -> Arc<Sample> {
        Arc::new(Sample {
            time,
            ..Sample::default()
        })
    }

    #[test]
    fn keeps_an_hour_and_answers_what_came_after() {
        let mut ring = Ring::new(Duration::from_secs(600));
        for t in 1..=8 {
            ring.push(at(t * 600));
        }
        // Six samples of ten minutes make the hour; the two oldest are gone.
        let all: Vec<u64> = ring.since(0).iter().map(|s| s.time).collect();
        assert_eq!(all, [1800, 2400, 3000, 3600, 4200, 4800]);
        let recent: Vec<u64> = ring.since(3600).iter().map(|s| s.time).collect();
        assert_eq!(recent, [4200, 4800]);
        assert_eq!(ring.latest().map(|s| s.time), Some(4800));
        assert!(ring.since(4800).is_empty());
    }
}
