//! Lanes: threads that each run a single-threaded runtime and serve the connections handed
//! to them. A connection's requests, the upstream connections they go out on (when the
//! pool hands each lane its own) and their answers are then woken on one thread: no
//! request or answer crosses to another thread, and no thread is woken to run it, as with
//! HAProxy's threads. What is not a connection (gossip, timers, background work) stays on
//! the process's own runtime.

use std::cell::Cell;
use std::future::Future;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use tokio::sync::mpsc;

type Job = Pin<Box<dyn Future<Output = ()> + Send>>;

thread_local! {
    static LANE: Cell<usize> = const { Cell::new(0) };
}

/// The lane this thread runs, numbered from 1; 0 on any other thread.
pub fn current() -> usize {
    LANE.with(Cell::get)
}

/// Running lanes. Dropping them ends their threads, and with them whatever still runs there.
pub struct Lanes {
    lanes: Vec<Lane>,
    /// Where the search for the least busy lane starts, so that ties take turns.
    next: AtomicUsize,
}

struct Lane {
    jobs: mpsc::UnboundedSender<Job>,
    /// Jobs handed to this lane and not yet ended.
    load: Arc<AtomicUsize>,
}

/// One less job on a lane once the job ends, or is dropped unfinished.
struct Running(Arc<AtomicUsize>);

impl Drop for Running {
    fn drop(&mut self) {
        self.0.fetch_sub(1, Ordering::Relaxed);
    }
}

impl Lanes {
    /// Starts `count` lanes (at least one), their threads named `{name}-{n}`.
    pub fn start(count: usize, name: &str) -> std::io::Result<Self> {
        let mut lanes = Vec::with_capacity(count.max(1));
        for n in 1..=count.max(1) {
            let runtime = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            let (jobs, mut queue) = mpsc::unbounded_channel::<Job>();
            std::thread::Builder::new()
                .name(format!("{name}-{n}"))
                .spawn(move || {
                    LANE.with(|lane| lane.set(n));
                    runtime.block_on(async move {
                        while let Some(job) = queue.recv().await {
                            tokio::spawn(job);
                        }
                    });
                })?;
            lanes.push(Lane {
                jobs,
                load: Arc::new(AtomicUsize::new(0)),
            });
        }
        Ok(Self {
            lanes,
            next: AtomicUsize::new(0),
        })
    }

    /// How many lanes there are.
    pub fn len(&self) -> usize {
        self.lanes.len()
    }

    /// Jobs handed out and not yet ended, on all lanes.
    pub fn running(&self) -> usize {
        self.lanes
            .iter()
            .map(|lane| lane.load.load(Ordering::Relaxed))
            .sum()
    }

    /// Never: a started set has at least one lane.
    pub fn is_empty(&self) -> bool {
        self.lanes.is_empty()
    }

    /// Runs `job` on the lane with the fewest jobs running. A job that needs the runtime's
    /// reactor for a socket it was handed must register the socket there (`from_std`).
    pub fn spawn(&self, job: impl Future<Output = ()> + Send + 'static) {
        let start = self.next.fetch_add(1, Ordering::Relaxed);
        let count = self.lanes.len();
        let lane = (0..count)
            .map(|i| &self.lanes[(start + i) % count])
            .min_by_key(|lane| lane.load.load(Ordering::Relaxed))
            .expect("at least one lane");
        lane.load.fetch_add(1, Ordering::Relaxed);
        let running = Running(Arc::clone(&lane.load));
        let job: Job = Box::pin(async move {
            let _running = running;
            job.await;
        });
        // A lane's thread ends only when its sender is dropped, with the set: never here.
        let _ = lane.jobs.send(job);
    }
}

/// The number of lanes for this machine: one per processor the process may use.
pub fn per_core() -> usize {
    std::thread::available_parallelism().map_or(1, |n| n.get())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn jobs_run_on_their_lanes_spread_by_load() {
        let lanes = Lanes::start(2, "test-lane").unwrap();
        let (done, seen) = std::sync::mpsc::channel();
        let (release, _) = tokio::sync::broadcast::channel::<()>(1);
        for _ in 0..4 {
            let done = done.clone();
            let mut wait = release.subscribe();
            lanes.spawn(async move {
                done.send((current(), std::thread::current().name().map(str::to_owned)))
                    .unwrap();
                let _ = wait.recv().await;
            });
        }
        let mut on = Vec::new();
        for _ in 0..4 {
            on.push(seen.recv().unwrap());
        }
        on.sort();
        assert_eq!(
            on.iter().map(|(lane, _)| *lane).collect::<Vec<_>>(),
            vec![1, 1, 2, 2],
            "two jobs held open on each lane"
        );
        assert_eq!(on[0].1.as_deref(), Some("test-lane-1"));
        assert_eq!(on[3].1.as_deref(), Some("test-lane-2"));
        assert_eq!(current(), 0, "the test's own thread is no lane");
        release.send(()).unwrap();
        let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
        while lanes
            .lanes
            .iter()
            .any(|l| l.load.load(Ordering::Relaxed) > 0)
        {
            assert!(
                std::time::Instant::now() < deadline,
                "jobs ended and were counted"
            );
            std::thread::sleep(std::time::Duration::from_millis(10));
        }
        let (done, seen) = std::sync::mpsc::channel();
        lanes.spawn(async move {
            tokio::time::sleep(std::time::Duration::from_millis(1)).await;
            done.send(current()).unwrap();
        });
        assert!(
            seen.recv_timeout(std::time::Duration::from_secs(5))
                .unwrap()
                >= 1,
            "a lane's runtime has timers"
        );
    }
}
