//! Which node holds a container or an exec instance: an index fed by merged container
//! lists and by look-ups, and a parallel look-up on every node when the index does not
//! know.
//!
//! IDs never move between nodes, so they are remembered; names can be reused anywhere, so
//! a name is always looked up afresh.

use std::collections::HashMap;
use std::sync::Mutex;

/// Remembered object IDs and the node of each.
#[derive(Debug, Default)]
pub struct Index {
    containers: Mutex<HashMap<String, String>>,
    execs: Mutex<HashMap<String, String>>,
}

/// Bounds the memory of a long-lived agent; a full index is simply cleared.
const MAX_ENTRIES: usize = 100_000;

/// An ID reference: Docker accepts any unambiguous hex prefix.
fn is_id_like(reference: &str) -> bool {
    reference.len() >= 4
        && reference.len() <= 64
        && reference.bytes().all(|b| b.is_ascii_hexdigit())
}

impl Index {
    pub fn remember_container(&self, id: &str, node: &str) {
        remember(&self.containers, id, node);
    }

    pub fn remember_exec(&self, id: &str, node: &str) {
        remember(&self.execs, id, node);
    }

    pub fn forget_container(&self, id: &str) {
        lock(&self.containers).retain(|known, _| !known.starts_with(id));
    }

    /// The node of a container given by full ID or unambiguous ID prefix.
    pub fn container_node(&self, reference: &str) -> Option<String> {
        find(&self.containers, reference)
    }

    pub fn exec_node(&self, reference: &str) -> Option<String> {
        find(&self.execs, reference)
    }
}

fn lock(
    map: &Mutex<HashMap<String, String>>,
) -> std::sync::MutexGuard<'_, HashMap<String, String>> {
    map.lock().unwrap_or_else(|p| p.into_inner())
}

fn remember(map: &Mutex<HashMap<String, String>>, id: &str, node: &str) {
    if id.is_empty() {
        return;
    }
    let mut map = lock(map);
    if map.len() >= MAX_ENTRIES {
        map.clear();
    }
    map.insert(id.to_owned(), node.to_owned());
}

fn find(map: &Mutex<HashMap<String, String>>, reference: &str) -> Option<String> {
    if !is_id_like(reference) {
        return None;
    }
    let map = lock(map);
    if let Some(node) = map.get(reference) {
        return Some(node.clone());
    }
    let mut matches = map.iter().filter(|(id, _)| id.starts_with(reference));
    let (_, node) = matches.next()?;
    // Two IDs with this prefix: not for the index to choose.
    matches.next().is_none().then(|| node.clone())
}

#[cfg(test)]
mod tests {
    use super::*;

    const ID1: &str = "4f3c2b1a00000000000000000000000000000000000000000000000000000001";
    const ID2: &str = "4f3c2b1b00000000000000000000000000000000000000000000000000000002";

    #[test]
    fn ids_and_unique_prefixes_are_found_names_are_not() {
        let index = Index::default();
        index.remember_container(ID1, "a");
        assert_eq!(index.container_node(ID1).as_deref(), Some("a"));
        assert_eq!(index.container_node("4f3c2b").as_deref(), Some("a"));
        index.remember_container(ID2, "b");
        assert_eq!(index.container_node("4f3c2b"), None, "ambiguous prefix");
        assert_eq!(index.container_node("4f3c2b1b").as_deref(), Some("b"));
        assert_eq!(index.container_node("web"), None);
        index.forget_container(ID1);
        assert_eq!(index.container_node(ID1), None);
    }
}
