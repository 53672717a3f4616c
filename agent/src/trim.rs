//! Memory that a burst of connections freed goes back to the system once the burst is
//! over, and so does memory a single long stream left free. glibc keeps freed memory in
//! its arenas, and hands back only what lies at the top of each; `malloc_trim` returns the
//! free pages in the middle too.

use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::admission::Admission;

/// How often the agent looks whether a burst is over.
const EVERY: Duration = Duration::from_secs(5);
/// How many connections must have gone since the last look for it to count as the end of
/// a burst.
const BURST: usize = 16;
/// Free memory glibc may keep between looks while the same connections stay open; more is
/// handed back at the next look.
const KEPT_FREE: usize = 8 << 20;
/// Free memory glibc may keep once a connection has ended since the last look (a log
/// stream that finished leaves a few MiB free in the arenas of the lane that served it).
const KEPT_FREE_AFTER_AN_END: usize = 1 << 20;
/// Looks that trim after a burst ends: idle upstream connections close 5 s after their last
/// use, so the second one finds their buffers freed too.
const TRIMS_PER_BURST: u32 = 2;

/// Trims after every burst until `stop`.
pub fn spawn(admission: Arc<Admission>, stop: CancellationToken) {
    tokio::spawn(async move {
        let mut tick = tokio::time::interval(EVERY);
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut bursts = Bursts::default();
        loop {
            tokio::select! {
                _ = stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let (peak, open) = admission.take_peak();
            if bursts.look(peak, open) || free_in_arenas() > kept_free(peak, open) {
                release_free_memory();
            }
        }
    });
}

/// Whether a look should trim: the end of a burst, and the look after.
#[derive(Debug, Default)]
struct Bursts {
    due: u32,
}

impl Bursts {
    /// `peak`: the most connections open since the last look; `open`: now.
    fn look(&mut self, peak: usize, open: usize) -> bool {
        if peak >= open + BURST {
            self.due = TRIMS_PER_BURST;
        }
        let trim = self.due > 0;
        self.due = self.due.saturating_sub(1);
        trim
    }
}

/// What glibc may keep free: less once a connection ended since the last look, since what
/// it used is free now, and whole pages of it can go back.
fn kept_free(peak: usize, open: usize) -> usize {
    if peak > open {
        KEPT_FREE_AFTER_AN_END
    } else {
        KEPT_FREE
    }
}

#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn release_free_memory() {
    // SAFETY: malloc_trim takes no pointers and has no preconditions; it walks glibc's
    // own arenas under their locks.
    unsafe {
        libc::malloc_trim(0);
    }
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn release_free_memory() {}

/// Bytes glibc holds free in its arenas (a stream's buffers, once it ended).
#[cfg(all(target_os = "linux", target_env = "gnu"))]
#[allow(unsafe_code)]
fn free_in_arenas() -> usize {
    // SAFETY: mallinfo2 takes no arguments and returns counters by value, read under the
    // arenas' locks.
    let info = unsafe { libc::mallinfo2() };
    info.fordblks
}

#[cfg(not(all(target_os = "linux", target_env = "gnu")))]
fn free_in_arenas() -> usize {
    0
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn trims_twice_after_a_burst_and_never_under_steady_load() {
        let mut bursts = Bursts::default();
        assert!(!bursts.look(3, 2), "a few connections coming and going");
        assert!(!bursts.look(64, 64), "steady load");
        assert!(!bursts.look(64, 60), "a few gone");
        assert!(bursts.look(64, 2), "the burst is over");
        assert!(bursts.look(2, 2), "and once more, for what closes later");
        assert!(!bursts.look(2, 2));
        assert!(!bursts.look(2, 1));
    }

    #[test]
    fn less_is_kept_free_once_a_connection_ended() {
        assert_eq!(
            kept_free(1, 0),
            KEPT_FREE_AFTER_AN_END,
            "a log stream finished"
        );
        assert_eq!(kept_free(5, 4), KEPT_FREE_AFTER_AN_END);
        assert_eq!(kept_free(1, 1), KEPT_FREE, "a stream still open");
        assert_eq!(kept_free(64, 64), KEPT_FREE, "steady load");
        assert_eq!(kept_free(0, 0), KEPT_FREE, "idle");
    }

    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn freed_memory_shows_as_free_in_the_arenas_until_trimmed() {
        // Many blocks below the mmap threshold, freed except for one at the end that holds
        // the heap's top in place: the rest stays in the arenas as free memory.
        let mut blocks: Vec<Vec<u8>> = (0..256).map(|_| vec![1u8; 64 << 10]).collect();
        let last = blocks.pop();
        drop(blocks);
        let free = free_in_arenas();
        assert!(free >= 8 << 20, "{free} bytes free after freeing 16 MiB");
        release_free_memory();
        drop(last);
    }
}
