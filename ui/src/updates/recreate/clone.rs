//! A container's configuration cloned for its replacement, as the docker CLI and Watchtower
//! do: `Config` and `HostConfig` from its inspect with the image replaced, what the old
//! image gave it by default left out (so the new image's defaults apply), what the engine
//! derived dropped, anonymous volumes kept, and its networks: the primary one in the create
//! body, the others to connect after create.

use serde_json::{json, Map, Value};

/// What recreating a container sends: the create body, and the networks to connect after.
#[derive(Debug, Clone, PartialEq)]
pub struct CreatePlan {
    /// The container's name, without the leading `/`.
    pub name: String,
    /// `POST /containers/create?name=…`'s body.
    pub body: Value,
    /// Networks other than the primary one, each with its endpoint settings.
    pub extra_networks: Vec<(String, Value)>,
}

/// The create plan for the container `inspect` describes, on `image`; `old_image` is its
/// current image's inspect (`Value::Null` when it is gone).
pub fn plan(inspect: &Value, old_image: &Value, image: &str) -> CreatePlan {
    let id = inspect["Id"].as_str().unwrap_or_default();
    let name = inspect["Name"]
        .as_str()
        .unwrap_or_default()
        .trim_start_matches('/')
        .to_owned();
    let host = host_config(inspect);
    let mut config = config(inspect, &old_image["Config"], &host, id);
    config.insert("Image".into(), json!(image));

    let (primary, extra_networks) = networks(inspect, id);
    let mut body = Value::Object(config);
    body["HostConfig"] = host;
    if let Some((network, settings)) = primary {
        body["NetworkingConfig"] = json!({ "EndpointsConfig": { network: settings } });
    }
    CreatePlan {
        name,
        body,
        extra_networks,
    }
}

/// `Config`, less what the old image gave it and what the engine derived.
fn config(inspect: &Value, image: &Value, host: &Value, id: &str) -> Map<String, Value> {
    let mut config = inspect["Config"].as_object().cloned().unwrap_or_default();
    let same = |config: &Map<String, Value>, key: &str| {
        config.get(key).unwrap_or(&Value::Null) == image.get(key).unwrap_or(&Value::Null)
    };
    for key in ["WorkingDir", "User"] {
        if same(&config, key) {
            config.remove(key);
        }
    }
    // The command comes from the new image unless it was given: an entrypoint and command
    // equal to the old image's were not.
    if same(&config, "Entrypoint") {
        config.remove("Entrypoint");
        if same(&config, "Cmd") {
            config.remove("Cmd");
        }
    }
    if same(&config, "Healthcheck") {
        config.remove("Healthcheck");
    }
    // The engine names a container's host after its ID unless told otherwise; a container
    // sharing another's network namespace takes that one's.
    let hostname = config
        .get("Hostname")
        .and_then(Value::as_str)
        .unwrap_or_default();
    let network_mode = host["NetworkMode"].as_str().unwrap_or_default();
    if hostname.is_empty()
        || (id.len() >= 12 && hostname == &id[..12])
        || network_mode.starts_with("container:")
    {
        config.remove("Hostname");
    }
    // Deprecated there; the network's endpoint settings hold it.
    config.remove("MacAddress");
    subtract_list(&mut config, "Env", &image["Env"]);
    subtract_map(&mut config, "Labels", &image["Labels"], true);
    subtract_map(&mut config, "Volumes", &image["Volumes"], false);
    subtract_map(&mut config, "ExposedPorts", &image["ExposedPorts"], false);
    // A published port is exposed, whatever the image says.
    if let Some(bindings) = host["PortBindings"].as_object() {
        if !bindings.is_empty() {
            let exposed = config.entry("ExposedPorts").or_insert_with(|| json!({}));
            if !exposed.is_object() {
                *exposed = json!({});
            }
            for port in bindings.keys() {
                exposed[port.as_str()] = json!({});
            }
        }
    }
    config
}

/// The items of `config[key]` (a list) that are not in `image`'s.
fn subtract_list(config: &mut Map<String, Value>, key: &str, image: &Value) {
    let (Some(Value::Array(items)), Some(from_image)) = (config.get_mut(key), image.as_array())
    else {
        return;
    };
    items.retain(|item| !from_image.contains(item));
}

/// The entries of `config[key]` (an object) that are not in `image`'s: with the same
/// value when `values` is set (labels), by key alone otherwise (volumes, ports).
fn subtract_map(config: &mut Map<String, Value>, key: &str, image: &Value, values: bool) {
    let (Some(Value::Object(items)), Some(from_image)) = (config.get_mut(key), image.as_object())
    else {
        return;
    };
    items.retain(|k, v| match from_image.get(k) {
        Some(given) => values && given != v,
        None => true,
    });
}

/// `HostConfig` as given, with the container's anonymous volumes named, so that the new
/// container mounts the same ones rather than new empty ones.
fn host_config(inspect: &Value) -> Value {
    let mut host = inspect["HostConfig"].clone();
    if !host.is_object() {
        host = json!({});
    }
    let mut covered: Vec<String> = Vec::new();
    for bind in host["Binds"].as_array().into_iter().flatten() {
        if let Some(target) = bind.as_str().and_then(|b| b.split(':').nth(1)) {
            covered.push(target.to_owned());
        }
    }
    for mount in host["Mounts"].as_array().into_iter().flatten() {
        if let Some(target) = mount["Target"].as_str() {
            covered.push(target.to_owned());
        }
    }
    let mut keep = Vec::new();
    for mount in inspect["Mounts"].as_array().into_iter().flatten() {
        let (Some(name), Some(dest)) = (mount["Name"].as_str(), mount["Destination"].as_str())
        else {
            continue;
        };
        if mount["Type"] != "volume" || covered.iter().any(|c| c == dest) {
            continue;
        }
        let mode = if mount["RW"] == false { ":ro" } else { "" };
        keep.push(json!(format!("{name}:{dest}{mode}")));
    }
    if !keep.is_empty() {
        match host["Binds"].as_array_mut() {
            Some(binds) => binds.extend(keep),
            None => host["Binds"] = Value::Array(keep),
        }
    }
    host
}

/// The primary network (the one `NetworkMode` names) with its endpoint settings, and the
/// others. A container in the host's, none or another container's network has none.
type Networks = (Option<(String, Value)>, Vec<(String, Value)>);

fn networks(inspect: &Value, id: &str) -> Networks {
    let mode = inspect["HostConfig"]["NetworkMode"]
        .as_str()
        .unwrap_or("default");
    if mode == "host" || mode == "none" || mode.starts_with("container:") {
        return (None, Vec::new());
    }
    let primary_name = if mode == "default" { "bridge" } else { mode };
    let mut primary = None;
    let mut extra = Vec::new();
    let Some(attached) = inspect["NetworkSettings"]["Networks"].as_object() else {
        return (None, Vec::new());
    };
    for (network, settings) in attached {
        let kept = endpoint_settings(settings, id);
        if network == primary_name {
            primary = Some((network.clone(), kept));
        } else {
            extra.push((network.clone(), kept));
        }
    }
    (primary, extra)
}

/// What was asked of a network endpoint: static addresses, aliases, links, driver options.
/// Addresses the engine assigned, its IDs, and the alias it adds (the short ID) are left
/// for the engine to make again.
fn endpoint_settings(settings: &Value, id: &str) -> Value {
    let short = id.get(..12).unwrap_or(id);
    let aliases: Vec<Value> = settings["Aliases"]
        .as_array()
        .into_iter()
        .flatten()
        .filter(|a| a.as_str().is_some_and(|a| a != short && a != id))
        .cloned()
        .collect();
    let mut out = json!({});
    for key in ["IPAMConfig", "Links", "DriverOpts"] {
        if !settings[key].is_null() {
            out[key] = settings[key].clone();
        }
    }
    if !aliases.is_empty() {
        out["Aliases"] = Value::Array(aliases);
    }
    out
}

#[cfg(test)]
#[path = "clone_tests.rs"]
mod tests;
