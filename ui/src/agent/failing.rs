//! What the console's pullers (usage, updates, checks) remember of failed pulls, so that
//! a failure is logged once while it lasts, and its end once.

use std::collections::HashSet;
use std::fmt::Display;

use crate::store::Endpoint;

/// The endpoints whose last pull failed, for one puller.
pub struct Failing {
    /// The puller's name, leading its log lines: `usage`, `updates`, `checks`.
    puller: &'static str,
    ids: HashSet<i64>,
}

impl Failing {
    pub fn new(puller: &'static str) -> Self {
        Self {
            puller,
            ids: HashSet::new(),
        }
    }

    /// Logs what changed with `endpoint`'s latest pull: a failure when the one before
    /// succeeded, a recovery when it had failed. Gives back the success.
    pub fn note<'r, T, E: Display>(
        &mut self,
        endpoint: &Endpoint,
        result: &'r Result<T, E>,
    ) -> Option<&'r T> {
        match result {
            Ok(done) => {
                if self.ids.remove(&endpoint.id) {
                    tracing::info!(endpoint = %endpoint.name, "{}: pulling again", self.puller);
                }
                Some(done)
            }
            Err(e) => {
                if self.ids.insert(endpoint.id) {
                    tracing::warn!(endpoint = %endpoint.name, error = %e, "{}: cannot pull", self.puller);
                }
                None
            }
        }
    }

    /// Forgets the endpoints that are gone.
    pub fn retain(&mut self, endpoints: &[Endpoint]) {
        self.ids.retain(|id| endpoints.iter().any(|e| e.id == *id));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn endpoint(id: i64) -> Endpoint {
        Endpoint {
            id,
            name: format!("e{id}"),
            url: "https://localhost:9001".into(),
            ca_pem: String::new(),
            auth: "key".into(),
            secret: None,
            profiles: Default::default(),
        }
    }

    #[test]
    fn a_failure_is_remembered_until_a_pull_succeeds_or_the_endpoint_goes() {
        let mut failing = Failing::new("test");
        let (one, two) = (endpoint(1), endpoint(2));
        let bad: Result<u8, &str> = Err("refused");
        assert_eq!(failing.note(&one, &bad), None);
        assert_eq!(failing.note(&one, &bad), None);
        assert!(failing.ids.contains(&1));
        assert_eq!(failing.note(&one, &Ok::<u8, &str>(3)), Some(&3));
        assert!(failing.ids.is_empty(), "a success ends the failure");
        failing.note(&two, &bad);
        failing.retain(std::slice::from_ref(&one));
        assert!(failing.ids.is_empty(), "a removed endpoint is forgotten");
    }
}
