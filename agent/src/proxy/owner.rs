//! Which node holds a container or an exec instance: the owners index first, else every
//! node in reach is asked at once and the one that knows the reference is remembered.

use crate::access::{scope, Kind};
use crate::cluster::Node;
use crate::error::ProxyError;
use crate::place::Object;

use super::execute::Executor;

impl Executor<'_> {
    /// The node among `among` (this one first) that holds `object`.
    pub(super) async fn find_owner(
        &self,
        among: &[Node],
        object: &Object,
    ) -> Result<Node, ProxyError> {
        let local = || among[0].clone();
        if among.len() == 1 {
            return Ok(local());
        }
        let (reference, known, kind) = match object {
            Object::Container(r) => (r, self.owners.container_node(r), "containers"),
            Object::Exec(r) => (r, self.owners.exec_node(r), "exec"),
        };
        if let Some(name) = known {
            if let Some(node) = among.iter().find(|n| n.meta.node_name == name) {
                return Ok(node.clone());
            }
        }
        let path = format!("/{kind}/{reference}/json");
        let found = self.nodes(among).look_up(&path).await;
        // Peers answer within the client's scope; the local engine's answer is judged here.
        let profile = self.policy.current().profile(&self.identity.profile);
        let scoped = profile.as_ref().filter(|p| p.is_scoped());
        let holders: Vec<(&Node, String)> = found
            .iter()
            .filter_map(|(i, body)| {
                let inspect = serde_json::from_slice::<serde_json::Value>(body).ok()?;
                let node = among.get(*i)?;
                if let (Some(p), true, Object::Container(_)) = (scoped, node.local, object) {
                    if !p.in_scope(scope::labels_in(Kind::Container, &inspect)) {
                        return None;
                    }
                }
                let id = inspect["Id"]
                    .as_str()
                    .or(inspect["ID"].as_str())
                    .map(str::to_owned)
                    .unwrap_or_default();
                Some((node, id))
            })
            .collect();
        match holders.as_slice() {
            // Unknown within the scope: as good as missing, and no engine is asked again.
            [] if scoped.is_some() => Err(ProxyError::NotFound(match object {
                Object::Container(_) => scope::not_found(Kind::Container, reference),
                Object::Exec(_) => scope::not_found(Kind::Exec, reference),
            })),
            // Unknown everywhere: the local engine gives the authentic "No such ..." answer.
            [] => Ok(local()),
            [(node, id)] => {
                match object {
                    Object::Container(_) => {
                        self.owners.remember_container(id, &node.meta.node_name)
                    }
                    Object::Exec(_) => self.owners.remember_exec(id, &node.meta.node_name),
                }
                Ok((*node).clone())
            }
            many => {
                let names: Vec<&str> = many
                    .iter()
                    .map(|(n, _)| n.meta.node_name.as_str())
                    .collect();
                Err(ProxyError::Conflict(format!(
                    "{reference:?} names a {} on several nodes ({}); choose one with the X-Agent-Target header",
                    if kind == "exec" { "exec instance" } else { "container" },
                    names.join(", ")
                )))
            }
        }
    }
}
