//! Label scope: lists narrowed by a label filter the engine applies, and objects outside
//! the scope answered as if they did not exist.

use std::collections::HashMap;

use serde_json::{Map, Value};

use super::create::strings;
use super::profile::Profile;
use super::routes::Kind;

/// The query with the profile's labels added to its `filters` (a list, a prune or the
/// event stream), in the map form every API version reads. Filters on one key are all
/// required, so a client's own label filters only narrow further.
pub fn narrow_query(profile: &Profile, query: Option<&str>) -> Result<String, String> {
    let mut pairs: Vec<(String, String)> = Vec::new();
    let mut filters = Map::new();
    for (k, v) in form_urlencoded::parse(query.unwrap_or("").as_bytes()) {
        if k == "filters" {
            filters = read_filters(&v)?;
        } else {
            pairs.push((k.into_owned(), v.into_owned()));
        }
    }
    let labels = filters
        .entry("label")
        .or_insert_with(|| Value::Object(Map::new()));
    if let Some(labels) = labels.as_object_mut() {
        for (k, v) in &profile.labels {
            labels.insert(format!("{k}={v}"), Value::Bool(true));
        }
    }
    let mut out = form_urlencoded::Serializer::new(String::new());
    for (k, v) in &pairs {
        out.append_pair(k, v);
    }
    out.append_pair("filters", &Value::Object(filters).to_string());
    Ok(out.finish())
}

/// `filters` as `{"key": {"value": true}}`, from that form or `{"key": ["value"]}`.
fn read_filters(text: &str) -> Result<Map<String, Value>, String> {
    if text.trim().is_empty() {
        return Ok(Map::new());
    }
    let parsed: Value = serde_json::from_str(text).map_err(|e| format!("invalid filters: {e}"))?;
    let Value::Object(map) = parsed else {
        return Err("invalid filters: not a JSON object".into());
    };
    let mut out = Map::new();
    for (key, values) in map {
        let mut set = Map::new();
        match values {
            Value::Array(items) => {
                for item in items {
                    let Value::String(s) = item else {
                        return Err(format!("invalid filters: {key} holds a non-string"));
                    };
                    set.insert(s, Value::Bool(true));
                }
            }
            Value::Object(items) => set = items,
            _ => {
                return Err(format!(
                    "invalid filters: {key} is neither a list nor a map"
                ))
            }
        }
        out.insert(key, Value::Object(set));
    }
    Ok(out)
}

/// Networks every engine has, which carry no labels and belong to no scope.
const BUILT_IN_NETWORKS: [&str; 4] = ["default", "bridge", "host", "none"];

/// The objects a specification names besides the one it creates: for a container, the
/// containers whose volumes or namespaces it joins or links to, the networks it attaches
/// to and the named volumes it mounts; for a service, its networks; for a network
/// attachment, its container.
pub fn references(kind: Kind, spec: &Value) -> Vec<(Kind, String)> {
    let mut found = Vec::new();
    match kind {
        Kind::Container => container_references(spec, &mut found),
        Kind::Service => {
            for target in service_networks(spec) {
                found.push((Kind::Network, target.to_owned()));
            }
        }
        Kind::Attachment => {
            if let Some(c) = spec["Container"].as_str() {
                found.push((Kind::Container, c.to_owned()));
            }
        }
        _ => {}
    }
    found.retain(|(_, name)| !name.is_empty());
    found.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    found.dedup();
    found
}

fn service_networks(spec: &Value) -> impl Iterator<Item = &str> {
    spec["TaskTemplate"]["Networks"]
        .as_array()
        .into_iter()
        .chain(spec["Networks"].as_array())
        .flatten()
        .filter_map(|n| n["Target"].as_str())
}

/// The container a `VolumesFrom` or `Links` entry names: `NAME[:MODE]`, `NAME:ALIAS`, or
/// the old `/NAME:/CONTAINER/ALIAS`.
fn named_container(entry: &str) -> &str {
    entry
        .split(':')
        .next()
        .unwrap_or("")
        .trim_start_matches('/')
}

fn container_references(spec: &Value, found: &mut Vec<(Kind, String)>) {
    let host = &spec["HostConfig"];
    for entry in strings(&host["VolumesFrom"]).chain(strings(&host["Links"])) {
        found.push((Kind::Container, named_container(entry).to_owned()));
    }
    for key in ["NetworkMode", "PidMode", "IpcMode"] {
        if let Some(mode) = host[key].as_str() {
            if let Some(other) = mode.strip_prefix("container:") {
                found.push((Kind::Container, other.to_owned()));
            } else if key == "NetworkMode" && !BUILT_IN_NETWORKS.contains(&mode) {
                found.push((Kind::Network, mode.to_owned()));
            }
        }
    }
    if let Some(endpoints) = spec["NetworkingConfig"]["EndpointsConfig"].as_object() {
        for name in endpoints.keys() {
            if !BUILT_IN_NETWORKS.contains(&name.as_str()) {
                found.push((Kind::Network, name.clone()));
            }
        }
    }
    for bind in strings(&host["Binds"]) {
        let source = bind.split(':').next().unwrap_or("");
        if !source.starts_with('/') {
            found.push((Kind::Volume, source.to_owned()));
        }
    }
    for mount in host["Mounts"].as_array().into_iter().flatten() {
        if mount["Type"].as_str() == Some("volume") {
            if let Some(source) = mount["Source"].as_str() {
                found.push((Kind::Volume, source.to_owned()));
            }
        }
    }
}

/// Full ids for the names a check resolved, by kind and name.
pub type Pins = HashMap<(Kind, String), String>;

/// Replaces the containers and networks a specification names by the full ids the checks
/// resolved them to, so that the engine cannot resolve a name or an id prefix to another
/// object a moment later. Volumes are named exactly and stay as they are.
pub fn pin_references(kind: Kind, spec: &mut Value, pins: &Pins) {
    let pin = |kind: Kind, name: &str| pins.get(&(kind, name.to_owned())).cloned();
    match kind {
        Kind::Container => {
            let host = &mut spec["HostConfig"];
            if let Some(list) = host["VolumesFrom"].as_array_mut() {
                for entry in list.iter_mut() {
                    let Some(text) = entry.as_str() else { continue };
                    let name = named_container(text);
                    if let Some(id) = pin(Kind::Container, name) {
                        let rest = text.split_once(':').map(|(_, m)| format!(":{m}"));
                        *entry = Value::String(format!("{id}{}", rest.unwrap_or_default()));
                    }
                }
            }
            if let Some(list) = host["Links"].as_array_mut() {
                for entry in list.iter_mut() {
                    let Some(text) = entry.as_str() else { continue };
                    let name = named_container(text);
                    if let Some(id) = pin(Kind::Container, name) {
                        // The alias stays what it was: the name, unless one was given.
                        let alias = text.split_once(':').map_or(name, |(_, a)| a);
                        *entry = Value::String(format!("{id}:{alias}"));
                    }
                }
            }
            for key in ["NetworkMode", "PidMode", "IpcMode"] {
                let Some(mode) = host[key].as_str().map(str::to_owned) else {
                    continue;
                };
                let pinned = match mode.strip_prefix("container:") {
                    Some(other) => pin(Kind::Container, other).map(|id| format!("container:{id}")),
                    None if key == "NetworkMode" => pin(Kind::Network, &mode),
                    None => None,
                };
                if let Some(p) = pinned {
                    host[key] = Value::String(p);
                }
            }
            if let Some(endpoints) = spec["NetworkingConfig"]["EndpointsConfig"].as_object_mut() {
                let names: Vec<String> = endpoints.keys().cloned().collect();
                for name in names {
                    if let Some(id) = pin(Kind::Network, &name) {
                        if let Some(v) = endpoints.remove(&name) {
                            endpoints.insert(id, v);
                        }
                    }
                }
            }
        }
        Kind::Service => {
            pin_targets(&mut spec["TaskTemplate"]["Networks"], &pin);
            pin_targets(&mut spec["Networks"], &pin);
        }
        Kind::Attachment => {
            let container = spec["Container"].as_str().map(str::to_owned);
            if let Some(id) = container.and_then(|c| pin(Kind::Container, &c)) {
                spec["Container"] = Value::String(id);
            }
        }
        _ => {}
    }
}

fn pin_targets(list: &mut Value, pin: &impl Fn(Kind, &str) -> Option<String>) {
    for network in list.as_array_mut().into_iter().flatten() {
        let target = network["Target"].as_str().map(str::to_owned);
        if let Some(id) = target.and_then(|t| pin(Kind::Network, &t)) {
            network["Target"] = Value::String(id);
        }
    }
}

/// Where an object's labels are in its inspect answer.
pub fn labels_in(kind: Kind, inspect: &Value) -> &Value {
    match kind {
        Kind::Container => &inspect["Config"]["Labels"],
        Kind::Network | Kind::Volume => &inspect["Labels"],
        Kind::Service | Kind::Secret | Kind::Config => &inspect["Spec"]["Labels"],
        // An exec or a task is judged by its container or service, which the caller
        // looks up; an attachment by its container.
        Kind::Exec | Kind::Task | Kind::Attachment => &Value::Null,
    }
}

/// An object's full id in its inspect answer (a volume's name is its id).
pub fn id_in(kind: Kind, inspect: &Value) -> Option<&str> {
    let key = match kind {
        Kind::Container | Kind::Network => "Id",
        Kind::Volume => "Name",
        _ => "ID",
    };
    inspect[key].as_str().filter(|id| !id.is_empty())
}

/// What an id may hold unescaped in a path segment.
pub const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b'@');

/// The collection of a kind in the API's paths.
fn collection(kind: Kind) -> &'static str {
    match kind {
        Kind::Container => "containers",
        Kind::Exec => "exec",
        Kind::Network | Kind::Attachment => "networks",
        Kind::Volume => "volumes",
        Kind::Service => "services",
        Kind::Task => "tasks",
        Kind::Secret => "secrets",
        Kind::Config => "configs",
    }
}

/// The engine's path to inspect an object.
pub fn inspect_path(kind: Kind, id: &str) -> String {
    let id = percent_encoding::utf8_percent_encode(id, SEGMENT);
    match kind {
        Kind::Container | Kind::Exec => format!("/{}/{id}/json", collection(kind)),
        _ => format!("/{}/{id}", collection(kind)),
    }
}

/// Docker's own words for an object that does not exist, with its status.
pub fn not_found(kind: Kind, id: &str) -> String {
    match kind {
        Kind::Container => format!("No such container: {id}"),
        Kind::Exec => format!("No such exec instance: {id}"),
        Kind::Network | Kind::Attachment => format!("network {id} not found"),
        Kind::Volume => format!("get {id}: no such volume"),
        Kind::Service => format!("service {id} not found"),
        Kind::Task => format!("task {id} not found"),
        Kind::Secret => format!("secret {id} not found"),
        Kind::Config => format!("config {id} not found"),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn payments() -> Profile {
        let mut p = Profile::read();
        p.labels.insert("team".into(), "payments".into());
        p
    }

    fn filters_of(query: &str) -> Value {
        let (_, v) = form_urlencoded::parse(query.as_bytes())
            .find(|(k, _)| k == "filters")
            .expect("filters");
        serde_json::from_str(&v).expect("json")
    }

    #[test]
    fn lists_get_the_scope_as_a_label_filter() {
        let q = narrow_query(&payments(), Some("all=1")).expect("ok");
        assert!(q.starts_with("all=1&"));
        assert_eq!(
            filters_of(&q),
            serde_json::json!({"label": {"team=payments": true}})
        );
        let q = narrow_query(
            &payments(),
            Some("filters=%7B%22label%22%3A%5B%22a%3Db%22%5D%2C%22status%22%3A%5B%22running%22%5D%7D"),
        )
        .expect("ok");
        assert_eq!(
            filters_of(&q),
            serde_json::json!({"label": {"a=b": true, "team=payments": true}, "status": {"running": true}})
        );
        assert!(narrow_query(&payments(), Some("filters=nope")).is_err());
    }

    #[test]
    fn a_container_names_containers_volumes_and_networks() {
        let spec = serde_json::json!({
            "HostConfig": {
                "VolumesFrom": ["data:ro"],
                "Links": ["/db:/web/db", "cache"],
                "NetworkMode": "backend",
                "PidMode": "container:app",
                "Binds": ["vol:/v", "/srv/x:/x"],
                "Mounts": [{"Type": "volume", "Source": "logs"}, {"Type": "bind", "Source": "/etc"}],
            },
            "NetworkingConfig": {"EndpointsConfig": {"backend": {}, "bridge": {}}},
        });
        let found: Vec<String> = references(Kind::Container, &spec)
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                "container app",
                "container cache",
                "container data",
                "container db",
                "network backend",
                "volume logs",
                "volume vol"
            ]
        );
        let bridge = serde_json::json!({"HostConfig": {"NetworkMode": "bridge"}});
        assert!(references(Kind::Container, &bridge).is_empty());
    }

    #[test]
    fn references_are_pinned_to_ids() {
        let mut spec = serde_json::json!({
            "HostConfig": {
                "VolumesFrom": ["data:ro"],
                "Links": ["db", "cache:c"],
                "NetworkMode": "backend",
                "PidMode": "container:app",
            },
            "NetworkingConfig": {"EndpointsConfig": {"backend": {"Aliases": ["x"]}}},
        });
        let mut pins = Pins::new();
        for (kind, name, id) in [
            (Kind::Container, "data", "d1"),
            (Kind::Container, "db", "d2"),
            (Kind::Container, "cache", "d3"),
            (Kind::Container, "app", "d4"),
            (Kind::Network, "backend", "n1"),
        ] {
            pins.insert((kind, name.to_owned()), id.to_owned());
        }
        pin_references(Kind::Container, &mut spec, &pins);
        assert_eq!(
            spec,
            serde_json::json!({
                "HostConfig": {
                    "VolumesFrom": ["d1:ro"],
                    "Links": ["d2:db", "d3:c"],
                    "NetworkMode": "n1",
                    "PidMode": "container:d4",
                },
                "NetworkingConfig": {"EndpointsConfig": {"n1": {"Aliases": ["x"]}}},
            })
        );
        let mut attach = serde_json::json!({"Container": "db"});
        pin_references(Kind::Attachment, &mut attach, &pins);
        assert_eq!(attach["Container"], "d2");
    }

    #[test]
    fn inspect_paths_and_labels() {
        assert_eq!(inspect_path(Kind::Container, "web"), "/containers/web/json");
        assert_eq!(inspect_path(Kind::Volume, "v 1"), "/volumes/v%201");
        let service = serde_json::json!({"Spec": {"Labels": {"team": "payments"}}});
        assert!(payments().in_scope(labels_in(Kind::Service, &service)));
    }
}
