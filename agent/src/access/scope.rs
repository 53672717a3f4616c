//! Label scope: lists narrowed by a label filter the engine applies, and objects outside
//! the scope answered as if they did not exist.

use serde_json::{Map, Value};

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

/// The containers, volumes and networks a container's specification names: those whose
/// namespaces or volumes it joins, the named volumes it mounts, the networks it attaches
/// to.
pub fn references(spec: &Value) -> Vec<(Kind, String)> {
    let host = &spec["HostConfig"];
    let strings = |v: &Value| -> Vec<String> {
        v.as_array()
            .into_iter()
            .flatten()
            .filter_map(Value::as_str)
            .map(str::to_owned)
            .collect()
    };
    let mut found = Vec::new();
    for from in strings(&host["VolumesFrom"]) {
        let name = from.split(':').next().unwrap_or("").to_owned();
        found.push((Kind::Container, name));
    }
    for key in ["NetworkMode", "PidMode", "IpcMode"] {
        if let Some(mode) = host[key].as_str() {
            if let Some(other) = mode.strip_prefix("container:") {
                found.push((Kind::Container, other.to_owned()));
            } else if key == "NetworkMode" && !mode.is_empty() && !BUILT_IN_NETWORKS.contains(&mode)
            {
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
        if !source.is_empty() && !source.starts_with('/') {
            found.push((Kind::Volume, source.to_owned()));
        }
    }
    for mount in host["Mounts"].as_array().into_iter().flatten() {
        if mount["Type"].as_str() == Some("volume") {
            if let Some(source) = mount["Source"].as_str().filter(|s| !s.is_empty()) {
                found.push((Kind::Volume, source.to_owned()));
            }
        }
    }
    found.retain(|(_, name)| !name.is_empty());
    found.sort_by(|a, b| (a.0.as_str(), &a.1).cmp(&(b.0.as_str(), &b.1)));
    found.dedup();
    found
}

/// Where an object's labels are in its inspect answer.
pub fn labels_in(kind: Kind, inspect: &Value) -> &Value {
    match kind {
        Kind::Container => &inspect["Config"]["Labels"],
        Kind::Network | Kind::Volume => &inspect["Labels"],
        Kind::Service | Kind::Secret | Kind::Config => &inspect["Spec"]["Labels"],
        // An exec or a task is judged by its container or service, which the caller
        // looks up.
        Kind::Exec | Kind::Task => &Value::Null,
    }
}

/// What an id may hold unescaped in a path segment.
const SEGMENT: &percent_encoding::AsciiSet = &percent_encoding::NON_ALPHANUMERIC
    .remove(b'-')
    .remove(b'_')
    .remove(b'.')
    .remove(b'~')
    .remove(b':')
    .remove(b'@');

/// The engine's path to inspect an object.
pub fn inspect_path(kind: Kind, id: &str) -> String {
    let collection = match kind {
        Kind::Container => "containers",
        Kind::Exec => "exec",
        Kind::Network => "networks",
        Kind::Volume => "volumes",
        Kind::Service => "services",
        Kind::Task => "tasks",
        Kind::Secret => "secrets",
        Kind::Config => "configs",
    };
    let id = percent_encoding::utf8_percent_encode(id, SEGMENT);
    match kind {
        Kind::Container | Kind::Exec => format!("/{collection}/{id}/json"),
        _ => format!("/{collection}/{id}"),
    }
}

/// Docker's own words for an object that does not exist, with its status.
pub fn not_found(kind: Kind, id: &str) -> String {
    match kind {
        Kind::Container => format!("No such container: {id}"),
        Kind::Exec => format!("No such exec instance: {id}"),
        Kind::Network => format!("network {id} not found"),
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
                "NetworkMode": "backend",
                "PidMode": "container:app",
                "Binds": ["cache:/cache", "/srv/x:/x"],
                "Mounts": [{"Type": "volume", "Source": "logs"}, {"Type": "bind", "Source": "/etc"}],
            },
            "NetworkingConfig": {"EndpointsConfig": {"backend": {}, "bridge": {}}},
        });
        let found: Vec<String> = references(&spec)
            .iter()
            .map(|(k, n)| format!("{} {n}", k.as_str()))
            .collect();
        assert_eq!(
            found,
            [
                "container app",
                "container data",
                "network backend",
                "volume cache",
                "volume logs"
            ]
        );
        assert!(
            references(&serde_json::json!({"HostConfig": {"NetworkMode": "bridge"}})).is_empty()
        );
    }

    #[test]
    fn inspect_paths_and_labels() {
        assert_eq!(inspect_path(Kind::Container, "web"), "/containers/web/json");
        assert_eq!(inspect_path(Kind::Volume, "v 1"), "/volumes/v%201");
        let service = serde_json::json!({"Spec": {"Labels": {"team": "payments"}}});
        assert!(payments().in_scope(labels_in(Kind::Service, &service)));
    }
}
