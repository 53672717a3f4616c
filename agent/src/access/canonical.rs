//! The keys of a specification as the engine reads them. Go's JSON decoder matches an
//! object's keys to struct fields without regard to case (Unicode case folding: `ſ` is
//! `s`, the Kelvin sign is `k`), so `{"hostconfig":{"privileged":true}}` is a privileged
//! container to the engine. Before a specification is checked, every key the checks read
//! is given its canonical spelling, and two keys that the engine would read as one field
//! are refused as ambiguous; the engine then gets exactly what was checked.
//!
//! Only struct positions are rewritten: the keys of maps (labels, driver options,
//! endpoint names) are data and are matched exactly by the engine too.

use serde_json::Value;

use super::routes::Kind;

/// Where the checked keys are: struct fields and what they hold.
#[derive(Clone, Copy)]
enum Shape {
    /// A struct: its fields the checks read, each with the shape of its value.
    Struct(&'static [(&'static str, Shape)]),
    /// A list of values of one shape.
    ListOf(&'static Shape),
    /// A map whose keys are data and whose values have one shape.
    MapOf(&'static Shape),
    /// Anything else: a value, or a map whose keys are data.
    Value,
}

use Shape::{ListOf, MapOf, Struct, Value as V};

const ENDPOINT: Shape = Struct(&[("NetworkID", V)]);

const DRIVER_CONFIG: Shape = Struct(&[("Name", V), ("Options", V)]);
const VOLUME_OPTIONS: Shape = Struct(&[("DriverConfig", DRIVER_CONFIG)]);
const MOUNT: Shape = Struct(&[
    ("Type", V),
    ("Source", V),
    ("ReadOnly", V),
    ("VolumeOptions", VOLUME_OPTIONS),
]);
const HOST_CONFIG: Shape = Struct(&[
    ("Privileged", V),
    ("NetworkMode", V),
    ("PidMode", V),
    ("IpcMode", V),
    ("UTSMode", V),
    ("UsernsMode", V),
    ("CgroupnsMode", V),
    ("CapAdd", V),
    ("Devices", V),
    ("DeviceRequests", V),
    ("DeviceCgroupRules", V),
    ("Binds", V),
    ("Mounts", ListOf(&MOUNT)),
    ("SecurityOpt", V),
    ("MaskedPaths", V),
    ("ReadonlyPaths", V),
    ("VolumesFrom", V),
    ("Links", V),
    ("LogConfig", Struct(&[("Type", V)])),
]);
const CONTAINER: Shape = Struct(&[
    ("HostConfig", HOST_CONFIG),
    (
        "NetworkingConfig",
        Struct(&[("EndpointsConfig", MapOf(&ENDPOINT))]),
    ),
    ("Labels", V),
]);
const PRIVILEGES: Shape = Struct(&[
    ("Seccomp", Struct(&[("Mode", V)])),
    ("AppArmor", Struct(&[("Mode", V)])),
    ("SELinuxContext", Struct(&[("Disable", V)])),
]);
const NETWORK_ATTACHMENT: Shape = Struct(&[("Target", V)]);
const SERVICE: Shape = Struct(&[
    ("Labels", V),
    (
        "TaskTemplate",
        Struct(&[
            (
                "ContainerSpec",
                Struct(&[
                    ("Labels", V),
                    ("CapabilityAdd", V),
                    ("Mounts", ListOf(&MOUNT)),
                    ("Privileges", PRIVILEGES),
                ]),
            ),
            ("Networks", ListOf(&NETWORK_ATTACHMENT)),
            ("LogDriver", Struct(&[("Name", V)])),
        ]),
    ),
    ("Networks", ListOf(&NETWORK_ATTACHMENT)),
]);
const EXEC: Shape = Struct(&[("Privileged", V)]);
const VOLUME: Shape = Struct(&[("Driver", V), ("DriverOpts", V), ("Labels", V)]);
const LABELLED: Shape = Struct(&[("Labels", V)]);
const ATTACHMENT: Shape = Struct(&[("Container", V), ("EndpointConfig", ENDPOINT)]);
const NETWORK: Shape = Struct(&[
    ("Labels", V),
    ("Driver", V),
    ("Options", V),
    ("Ingress", V),
    ("ConfigFrom", V),
    ("IPAM", Struct(&[("Driver", V)])),
]);

/// Gives the keys the checks read their canonical spelling; refuses keys the engine
/// would take for one field.
pub fn canonicalize(kind: Kind, spec: &mut Value) -> Result<(), String> {
    let shape = match kind {
        Kind::Container => CONTAINER,
        Kind::Service => SERVICE,
        Kind::Exec => EXEC,
        Kind::Volume => VOLUME,
        Kind::Network => NETWORK,
        Kind::Secret | Kind::Config | Kind::Task => LABELLED,
        Kind::Attachment => ATTACHMENT,
    };
    walk(spec, shape, "")
}

/// Case folding as Go's `strings.EqualFold` does it, for the characters that matter here.
fn fold(key: &str) -> String {
    key.chars()
        .flat_map(char::to_uppercase)
        .flat_map(char::to_lowercase)
        .collect()
}

fn walk(value: &mut Value, shape: Shape, at: &str) -> Result<(), String> {
    match shape {
        Shape::Value => Ok(()),
        Shape::ListOf(item) => {
            for (i, v) in value.as_array_mut().into_iter().flatten().enumerate() {
                walk(v, *item, &format!("{at}[{i}]"))?;
            }
            Ok(())
        }
        Shape::MapOf(item) => {
            for (k, v) in value.as_object_mut().into_iter().flatten() {
                walk(v, *item, &format!("{at}{k}."))?;
            }
            Ok(())
        }
        Shape::Struct(fields) => {
            let Some(object) = value.as_object_mut() else {
                return Ok(());
            };
            for (name, field) in fields {
                let wanted = fold(name);
                let spellings: Vec<String> = object
                    .keys()
                    .filter(|k| fold(k) == wanted)
                    .cloned()
                    .collect();
                let key = match spellings.as_slice() {
                    [] => continue,
                    [one] => one.clone(),
                    many => {
                        return Err(format!(
                            "the specification is ambiguous: {} are one field ({at}{name}) to the engine",
                            many.join(", ")
                        ))
                    }
                };
                if let Some(mut v) = object.remove(&key) {
                    walk(&mut v, *field, &format!("{at}{name}."))?;
                    object.insert((*name).to_owned(), v);
                }
            }
            Ok(())
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn keys_the_engine_reads_without_case_get_their_spelling() {
        let mut spec = json!({
            "image": "x",
            "hostconfig": {"PRIVILEGED": true, "binds": ["/:/host"], "mounts": [{"type": "bind", "source": "/"}]},
            "Labels": {"mode": "kept", "HostConfig": "a label, kept"},
        });
        canonicalize(Kind::Container, &mut spec).expect("unambiguous");
        assert_eq!(spec["HostConfig"]["Privileged"], true);
        assert_eq!(spec["HostConfig"]["Binds"], json!(["/:/host"]));
        assert_eq!(spec["HostConfig"]["Mounts"][0]["Type"], "bind");
        assert_eq!(spec["HostConfig"]["Mounts"][0]["Source"], "/");
        assert_eq!(
            spec["Labels"],
            json!({"mode": "kept", "HostConfig": "a label, kept"})
        );
        assert_eq!(
            spec["image"], "x",
            "keys no check reads are left as they are"
        );
    }

    #[test]
    fn unicode_folding_is_the_engines() {
        // U+017F LATIN SMALL LETTER LONG S folds to s; U+212A KELVIN SIGN to k.
        let mut spec =
            json!({"HostConfig": {"Bind\u{17f}": ["/:/h"], "Ma\u{17f}\u{212a}edPaths": []}});
        canonicalize(Kind::Container, &mut spec).expect("unambiguous");
        assert_eq!(spec["HostConfig"]["Binds"], json!(["/:/h"]));
        assert_eq!(spec["HostConfig"]["MaskedPaths"], json!([]));
    }

    #[test]
    fn two_spellings_of_one_field_are_refused() {
        let mut spec = json!({"HostConfig": {"Privileged": false, "privileged": true}});
        let err = canonicalize(Kind::Container, &mut spec).expect_err("ambiguous");
        assert!(err.contains("HostConfig.Privileged"), "{err}");
    }

    #[test]
    fn services_and_volumes() {
        let mut spec = json!({"taskTemplate": {"containerSpec": {"privileges": {"seccomp": {"mode": "unconfined"}}}}});
        canonicalize(Kind::Service, &mut spec).expect("ok");
        assert_eq!(
            spec["TaskTemplate"]["ContainerSpec"]["Privileges"]["Seccomp"]["Mode"],
            "unconfined"
        );
        let mut spec = json!({"driveropts": {"device": "/"}});
        canonicalize(Kind::Volume, &mut spec).expect("ok");
        assert_eq!(spec["DriverOpts"]["device"], "/");
    }
}
