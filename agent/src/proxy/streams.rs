//! Long-lived requests (event and log streams, stats, attach, exec, builds, pulls) each
//! hold a connection to an engine for as long as they last. So that one client cannot
//! take every connection, each holds a place for its lifetime: at most so many per
//! client subject, and at most so many in all, fewer than the connections to one
//! upstream, so that short requests and the health endpoint always find one.

use std::collections::HashMap;
use std::sync::{Arc, Mutex};

use crate::upstream::MAX_CONNECTIONS;

/// Long-lived requests one subject may hold at once.
pub const PER_SUBJECT: usize = 64;
/// Long-lived requests the agent holds at once: a connection to each upstream is always
/// left for short requests.
pub const TOTAL: usize = MAX_CONNECTIONS - 64;

/// The places held now.
pub struct Streams {
    held: Mutex<(usize, HashMap<String, usize>)>,
}

/// A place; given back when the last clone is dropped (the body sent, the relay ended).
pub struct Place {
    streams: Arc<Streams>,
    subject: String,
}

impl Drop for Place {
    fn drop(&mut self) {
        let mut held = self.streams.lock();
        held.0 = held.0.saturating_sub(1);
        if let Some(n) = held.1.get_mut(&self.subject) {
            *n -= 1;
            if *n == 0 {
                held.1.remove(&self.subject);
            }
        }
    }
}

impl Default for Streams {
    fn default() -> Self {
        Self {
            held: Mutex::new((0, HashMap::new())),
        }
    }
}

impl Streams {
    fn lock(&self) -> std::sync::MutexGuard<'_, (usize, HashMap<String, usize>)> {
        self.held.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// A place for a long-lived request of `subject`, or why there is none.
    pub fn admit(self: &Arc<Self>, subject: &str) -> Result<Arc<Place>, String> {
        let mut held = self.lock();
        let mine = held.1.get(subject).copied().unwrap_or(0);
        if mine >= PER_SUBJECT {
            return Err(format!(
                "{subject} already has {mine} streams open through this agent (the most one client may hold); close some first"
            ));
        }
        if held.0 >= TOTAL {
            return Err(format!(
                "this agent already serves {} streams (the most it holds at once); try again shortly",
                held.0
            ));
        }
        held.0 += 1;
        *held.1.entry(subject.to_owned()).or_insert(0) += 1;
        Ok(Arc::new(Place {
            streams: Arc::clone(self),
            subject: subject.to_owned(),
        }))
    }

    pub fn open(&self) -> usize {
        self.lock().0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn places_per_subject_and_back() {
        let streams = Arc::new(Streams::default());
        let mut mine: Vec<_> = (0..PER_SUBJECT)
            .map(|_| streams.admit("alice").expect("a place"))
            .collect();
        let refused = streams.admit("alice").err().unwrap_or_default();
        assert!(refused.contains("alice already has 64"), "{refused}");
        assert!(streams.admit("bob").is_ok(), "others are not held back");
        let one = mine.pop().expect("one");
        let clone = Arc::clone(&one);
        drop(one);
        assert!(
            streams.admit("alice").is_err(),
            "a clone still holds the place"
        );
        drop(clone);
        assert!(streams.admit("alice").is_ok());
        assert_eq!(streams.open(), mine.len(), "places not held are given back");
    }
}
