//! Waiting for a state that comes by itself, with a bound so that one that never comes
//! fails the test instead of hanging it.

use std::future::Future;
use std::time::{Duration, Instant};

/// Polls `probe` every 200 ms until it gives a value, for at most `limit`; `probe` says what
/// it saw when it gives none, for the failure message.
pub async fn eventually<T, F, Fut>(what: &str, limit: Duration, mut probe: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Result<T, String>>,
{
    let started = Instant::now();
    loop {
        match probe().await {
            Ok(value) => return value,
            Err(seen) => assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}; last seen: {seen}"
            ),
        }
        tokio::time::sleep(Duration::from_millis(200)).await;
    }
}

/// [`eventually`] for a blocking `probe` (the docker CLI, say), polled every 500 ms.
pub fn wait_for<T>(what: &str, limit: Duration, mut probe: impl FnMut() -> Result<T, String>) -> T {
    let started = Instant::now();
    loop {
        match probe() {
            Ok(value) => return value,
            Err(seen) => assert!(
                started.elapsed() < limit,
                "{what}: not within {limit:?}; last seen: {seen}"
            ),
        }
        std::thread::sleep(Duration::from_millis(500));
    }
}

/// Runs blocking work (the docker CLI, a process starting or ending) from a test on the
/// multi-threaded runtime so that the runtime's other tasks (a fake engine, an open
/// stream) keep going meanwhile; outside a runtime it just runs `f`.
pub fn blocking<T>(f: impl FnOnce() -> T) -> T {
    tokio::task::block_in_place(f)
}
