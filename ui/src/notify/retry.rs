//! How often, and after how long, a failed delivery is tried again.

use std::time::Duration;

/// The waits before each retry: three retries, 2 s, 10 s and 30 s after the failure
/// before them; then the delivery is given up.
pub const BACKOFF: [Duration; 3] = [
    Duration::from_secs(2),
    Duration::from_secs(10),
    Duration::from_secs(30),
];

/// The wait before attempt `attempt` (1 is the first, sent at once): `None` for the
/// first, and once the retries are used up.
pub fn wait_before(attempt: u32) -> Option<Duration> {
    let retry = usize::try_from(attempt.checked_sub(2)?).ok()?;
    BACKOFF.get(retry).copied()
}

/// How many attempts a delivery gets at most.
pub const ATTEMPTS: u32 = BACKOFF.len() as u32 + 1;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retries_back_off_and_are_bounded() {
        assert_eq!(wait_before(1), None, "the first goes at once");
        assert_eq!(wait_before(2), Some(Duration::from_secs(2)));
        assert_eq!(wait_before(3), Some(Duration::from_secs(10)));
        assert_eq!(wait_before(4), Some(Duration::from_secs(30)));
        assert_eq!(wait_before(5), None, "three retries, then no more");
        assert_eq!(ATTEMPTS, 4);
        assert_eq!(wait_before(0), None);
    }
}
