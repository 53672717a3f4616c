//! Removing and pruning images, volumes and networks: each lives on one node, so removing
//! one goes to the node the list named, and pruning goes to one node or to every node of
//! the cluster in turn, each node's outcome answered and audited on its own. The routes
//! are the same for the three kinds: `DELETE {e}/KIND/{ref}?node=` and
//! `POST {e}/KIND/prune`.

use axum::extract::{Path, Query, State};
use axum::http::Method;
use axum::routing::{delete, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::cluster::{Cluster, ACTION_TIMEOUT, STATUS_TIMEOUT};
use super::{flag, ApiError, ApiResult, App, Authed, JsonBody, Shared, CLUSTER};
use crate::agent::Call;
use crate::auth::Role;

/// A kind of object that lives on one node.
#[derive(Clone, Copy)]
pub(super) struct Kind {
    /// The engine's path segment, and the console's: `images`, `volumes`, `networks`.
    plural: &'static str,
    /// Whether a removal takes the engine's `force`.
    forced: bool,
}

pub(super) const IMAGES: Kind = Kind {
    plural: "images",
    forced: true,
};
pub(super) const VOLUMES: Kind = Kind {
    plural: "volumes",
    forced: true,
};
pub(super) const NETWORKS: Kind = Kind {
    plural: "networks",
    forced: false,
};

impl Kind {
    /// The audit action of this kind's `verb`: `image.remove`, `volume.prune`, ...
    fn action(self, verb: &str) -> String {
        format!("{}.{verb}", self.plural.trim_end_matches('s'))
    }
}

/// The removal and prune routes of `kind`.
pub(super) fn routes(kind: Kind) -> Router<Shared> {
    let plural = kind.plural;
    Router::new()
        .route(
            &format!("{CLUSTER}/{plural}/prune"),
            post(
                move |app: State<Shared>,
                      who: Authed,
                      id: Path<i64>,
                      scope: JsonBody<PruneScope>| {
                    prune_route(kind, app, who, id, scope)
                },
            ),
        )
        .route(
            // Image references hold slashes; volume and network names do not, and are
            // checked by `object_ref` all the same.
            &format!("{CLUSTER}/{plural}/{{*reference}}"),
            delete(
                move |app: State<Shared>,
                      who: Authed,
                      path: Path<(i64, String)>,
                      q: Query<OnNode>| { remove_route(kind, app, who, path, q) },
            ),
        )
}

async fn remove_route(
    kind: Kind,
    State(app): State<Shared>,
    who: Authed,
    Path((id, reference)): Path<(i64, String)>,
    Query(q): Query<OnNode>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let reference = object_ref(&reference)?;
    let force = if kind.forced {
        format!("?force={}", flag(q.force.as_deref()))
    } else {
        String::new()
    };
    let removal = Removal {
        what: &kind.action("remove"),
        path: format!("/{}/{reference}{force}", kind.plural),
        node: &q.node,
        target: reference,
    };
    Ok(Json(remove(&app, &who, id, removal).await?))
}

async fn prune_route(
    kind: Kind,
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    scope: JsonBody<PruneScope>,
) -> ApiResult<Json<Value>> {
    who.require(Role::Operator)?;
    let JsonBody(scope) = scope;
    Ok(Json(prune(&app, &who, id, kind, &scope).await?))
}

/// Which node an object is on: `?node=`.
#[derive(Deserialize, Default)]
pub(super) struct OnNode {
    #[serde(default)]
    pub node: String,
    #[serde(default)]
    pub force: Option<String>,
}

/// A prune's scope: one node (empty: every node) and an optional label filter
/// (`key` or `key=value`), so that only what carries it is pruned.
#[derive(Deserialize, Default)]
#[serde(default, deny_unknown_fields)]
pub(super) struct PruneScope {
    pub node: String,
    pub label: String,
    /// Images: every unused image, not only dangling ones. Volumes: named volumes too,
    /// whose data is then lost.
    pub all: bool,
}

/// An image reference, volume name or network name or ID, checked before it goes into a
/// path: registry hosts, ports, tags and digests allowed, no `..` and no query.
pub(super) fn object_ref(reference: &str) -> ApiResult<&str> {
    let ok = !reference.is_empty()
        && reference.len() <= 256
        && reference.starts_with(|c: char| c.is_ascii_alphanumeric())
        && !reference.contains("..")
        && reference
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-:/@".contains(c));
    if ok {
        Ok(reference)
    } else {
        Err(ApiError::bad(format!(
            "{reference:?} is not an image, volume or network name or ID"
        )))
    }
}

/// A node name from the page, checked: it goes into a header.
pub(super) fn node_name(node: &str) -> ApiResult<&str> {
    let node = node.trim();
    if node.len() <= 253
        && node
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || "_.-".contains(c))
    {
        Ok(node)
    } else {
        Err(ApiError::bad(format!("{node:?} is not a node name")))
    }
}

/// The names of the cluster's nodes, as its agent knows them.
pub(super) async fn node_names(cluster: &Cluster<'_>) -> ApiResult<Vec<String>> {
    let (_, members) = cluster
        .json(Call::get("/agent/v1/members"), STATUS_TIMEOUT)
        .await?;
    Ok(members["Members"]
        .as_array()
        .map(|list| {
            list.iter()
                .filter_map(|m| m["NodeName"].as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default())
}

/// One removal: `DELETE path` on `node`, audited as `what` on `target`.
pub(super) struct Removal<'a> {
    pub what: &'a str,
    pub path: String,
    pub node: &'a str,
    pub target: &'a str,
}

async fn remove(app: &App, who: &Authed, id: i64, removal: Removal<'_>) -> ApiResult<Value> {
    let act = Action::start(who, Role::Operator, removal.what)?;
    let node = node_name(removal.node)?;
    // Without a node the agent would act on its own, which in a cluster is a guess: the
    // same name can be another object, or nothing, on another node.
    if node.is_empty() {
        return Err(ApiError::bad(
            "say which node it is on: ?node=NAME, the list's Agent.NodeName",
        ));
    }
    let cluster = Cluster::open(app, id, who).await?;
    let call = Call::new(Method::DELETE, removal.path).on(node);
    let (_, answer) = act
        .at(&cluster.endpoint.name, node)
        .on(removal.target)
        .run(app, cluster.call(call, ACTION_TIMEOUT))
        .await?;
    // Removing an image answers with what it untagged and deleted; the rest answer nothing.
    Ok(serde_json::from_slice(&answer).unwrap_or_else(|_| json!({})))
}

/// Prunes `kind` on the scope's node or every node:
/// `{"results": [{"node", "deleted": [...], "space_reclaimed"} | {"node", "error"}]}`.
async fn prune(
    app: &App,
    who: &Authed,
    id: i64,
    kind: Kind,
    scope: &PruneScope,
) -> ApiResult<Value> {
    let what = kind.action("prune");
    let kind = kind.plural;
    let named = if kind == "volumes" && scope.all {
        ", named ones too"
    } else {
        ""
    };
    let cluster = Cluster::open(app, id, who).await?;
    let node = node_name(&scope.node)?;
    let nodes = if node.is_empty() {
        node_names(&cluster).await?
    } else {
        vec![node.to_owned()]
    };
    // Engines from API 1.42 on prune only anonymous volumes unless the filter says `all`,
    // which older ones refuse; asked as 1.41, every engine prunes the unused named ones
    // too. So named volumes go only when asked for; engines before 1.42 prune them
    // either way, as their own `docker volume prune` does.
    let version = if kind == "volumes" && scope.all {
        "/v1.41"
    } else {
        ""
    };
    let path = format!(
        "{version}/{kind}/prune?filters={}",
        prune_filters(kind, scope)?
    );
    let mut results = Vec::new();
    for node in &nodes {
        let act = Action::start(who, Role::Operator, &what)?;
        let target = if scope.label.is_empty() {
            format!("unused {kind}{named}")
        } else {
            format!("unused {kind} labelled {}{named}", scope.label)
        };
        let done = act
            .at(&cluster.endpoint.name, node)
            .on(target)
            .run(
                app,
                cluster.json(
                    Call::new(Method::POST, path.clone()).on(node),
                    ACTION_TIMEOUT,
                ),
            )
            .await;
        results.push(match done {
            Ok((_, v)) => json!({
                "node": node,
                "deleted": deleted_of(kind, &v),
                "space_reclaimed": v["SpaceReclaimed"].as_u64().unwrap_or(0),
            }),
            Err(e) => json!({"node": node, "error": e.message}),
        });
    }
    Ok(json!({ "results": results }))
}

/// What a prune removed, as names or IDs.
fn deleted_of(kind: &str, answer: &Value) -> Value {
    let list = match kind {
        "images" => answer["ImagesDeleted"]
            .as_array()
            .map(|a| {
                a.iter()
                    .filter_map(|d| d["Deleted"].as_str().or(d["Untagged"].as_str()))
                    .map(str::to_owned)
                    .collect::<Vec<_>>()
            })
            .unwrap_or_default(),
        "volumes" => strings(&answer["VolumesDeleted"]),
        _ => strings(&answer["NetworksDeleted"]),
    };
    json!(list)
}

fn strings(v: &Value) -> Vec<String> {
    v.as_array()
        .map(|a| {
            a.iter()
                .filter_map(|s| s.as_str().map(str::to_owned))
                .collect()
        })
        .unwrap_or_default()
}

/// The engine's `filters` for a prune, percent-encoded.
fn prune_filters(kind: &str, scope: &PruneScope) -> ApiResult<String> {
    let mut filters = serde_json::Map::new();
    let label = scope.label.trim();
    if !label.is_empty() {
        if label.chars().any(|c| c.is_control()) || label.starts_with('=') {
            return Err(ApiError::bad(format!("{label:?} is not a label filter")));
        }
        filters.insert("label".into(), json!([label]));
    }
    if kind == "images" {
        filters.insert("dangling".into(), json!([(!scope.all).to_string()]));
    }
    let text = Value::Object(filters).to_string();
    Ok(
        percent_encoding::utf8_percent_encode(&text, percent_encoding::NON_ALPHANUMERIC)
            .to_string(),
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn object_references_allow_registries_tags_and_digests_only() {
        for ok in [
            "127.0.0.1:5000/team/app:1.2",
            "sha256:abc",
            "app@sha256:abc",
            "my_vol-1",
        ] {
            assert!(object_ref(ok).is_ok(), "{ok}");
        }
        for bad in ["", "../x", "a?b", "/abs", "a b", "a/../b"] {
            assert!(object_ref(bad).is_err(), "{bad}");
        }
        assert!(node_name("node-1").is_ok());
        assert!(node_name("a\nb").is_err());
    }
}
