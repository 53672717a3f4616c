//! Create rules and label scope applied to the specification a request carries: a
//! container, service, exec, network, volume, secret or config. The body is checked
//! against the profile's rules, then given the profile's labels.

use serde_json::{Map, Value};

use super::profile::{Profile, Refusal};
use super::routes::Kind;

/// Checks `spec` against the profile's create rules and adds the profile's labels. The
/// keys the checks read must be in their canonical spelling (`canonical::canonicalize`).
pub fn apply(profile: &Profile, kind: Kind, spec: &mut Value) -> Result<(), Refusal> {
    let refuse = |rule: &'static str, detail: String| Refusal::Create {
        profile: profile.name.clone(),
        kind: kind.as_str(),
        rule,
        detail,
    };
    match kind {
        Kind::Container => check_container(profile, spec, &refuse)?,
        Kind::Exec => {
            if spec["Privileged"].as_bool() == Some(true) && !profile.create.privileged {
                return Err(refuse("privileged", "a privileged exec".into()));
            }
        }
        Kind::Service => check_service(profile, spec, &refuse)?,
        Kind::Volume => check_volume_options(profile, &spec["DriverOpts"], &refuse)?,
        Kind::Network | Kind::Secret | Kind::Config | Kind::Task => {}
    }
    if profile.is_scoped() {
        match kind {
            Kind::Service => {
                add_labels(profile, spec, "Labels");
                let container = &mut spec["TaskTemplate"]["ContainerSpec"];
                if container.is_object() {
                    add_labels(profile, container, "Labels");
                }
            }
            Kind::Container | Kind::Network | Kind::Volume | Kind::Secret | Kind::Config => {
                add_labels(profile, spec, "Labels")
            }
            Kind::Exec | Kind::Task => {}
        }
    }
    Ok(())
}

/// Sets the profile's labels on `obj[key]`, over any value the client gave them.
fn add_labels(profile: &Profile, obj: &mut Value, key: &str) {
    if !obj.is_object() {
        return;
    }
    let labels = &mut obj[key];
    if !labels.is_object() {
        *labels = Value::Object(Map::new());
    }
    if let Some(map) = labels.as_object_mut() {
        for (k, v) in &profile.labels {
            map.insert(k.clone(), Value::String(v.clone()));
        }
    }
}

fn strings(v: &Value) -> impl Iterator<Item = &str> {
    v.as_array().into_iter().flatten().filter_map(Value::as_str)
}

fn non_empty(v: &Value) -> bool {
    match v {
        Value::Array(a) => !a.is_empty(),
        Value::Object(o) => !o.is_empty(),
        Value::Null => false,
        _ => true,
    }
}

type Refuse<'a> = dyn Fn(&'static str, String) -> Refusal + 'a;

fn check_container(profile: &Profile, spec: &Value, refuse: &Refuse<'_>) -> Result<(), Refusal> {
    let rules = &profile.create;
    let host = &spec["HostConfig"];
    if host["Privileged"].as_bool() == Some(true) && !rules.privileged {
        return Err(refuse("privileged", "--privileged".into()));
    }
    if !rules.host_namespaces {
        for (key, flag) in [
            ("NetworkMode", "--network"),
            ("PidMode", "--pid"),
            ("IpcMode", "--ipc"),
            ("UTSMode", "--uts"),
            ("UsernsMode", "--userns"),
            ("CgroupnsMode", "--cgroupns"),
        ] {
            if host[key].as_str() == Some("host") {
                return Err(refuse("host_namespaces", format!("{flag} host")));
            }
        }
    }
    for cap in strings(&host["CapAdd"]) {
        if !rules.allows_capability(cap) {
            return Err(refuse("capabilities", format!("--cap-add {cap}")));
        }
    }
    if !rules.devices {
        if non_empty(&host["Devices"]) {
            return Err(refuse("devices", "--device".into()));
        }
        if non_empty(&host["DeviceRequests"]) {
            return Err(refuse("devices", "--gpus or a device request".into()));
        }
        if non_empty(&host["DeviceCgroupRules"]) {
            return Err(refuse("devices", "--device-cgroup-rule".into()));
        }
    }
    for bind in strings(&host["Binds"]) {
        // SOURCE:TARGET[:OPTIONS]; a source without a leading slash names a volume.
        let source = bind.split(':').next().unwrap_or("");
        if source.starts_with('/') && !rules.allows_host_path(source) {
            return Err(refuse(
                "bind_mounts",
                format!("a bind mount of host path {source:?}"),
            ));
        }
    }
    check_mounts(profile, &host["Mounts"], refuse)?;
    if !rules.unconfined {
        for opt in strings(&host["SecurityOpt"]) {
            if is_unconfined(opt) {
                return Err(refuse("unconfined", format!("--security-opt {opt}")));
            }
        }
        for key in ["MaskedPaths", "ReadonlyPaths"] {
            if !host[key].is_null() {
                return Err(refuse(
                    "unconfined",
                    format!("{key} changes what /proc and /sys hide"),
                ));
            }
        }
    }
    Ok(())
}

/// `Mounts` of a container's `HostConfig` or a service's `ContainerSpec`.
fn check_mounts(profile: &Profile, mounts: &Value, refuse: &Refuse<'_>) -> Result<(), Refusal> {
    for mount in mounts.as_array().into_iter().flatten() {
        let source = mount["Source"].as_str().unwrap_or("");
        match mount["Type"].as_str() {
            Some("bind") if !profile.create.allows_host_path(source) => {
                return Err(refuse(
                    "bind_mounts",
                    format!("a bind mount of host path {source:?}"),
                ));
            }
            Some("volume") => check_volume_options(
                profile,
                &mount["VolumeOptions"]["DriverConfig"]["Options"],
                refuse,
            )?,
            _ => {}
        }
    }
    Ok(())
}

/// The local driver mounts a host path when told `o=bind` with a `device`: a bind mount
/// by another name.
fn check_volume_options(
    profile: &Profile,
    options: &Value,
    refuse: &Refuse<'_>,
) -> Result<(), Refusal> {
    let Some(device) = options["device"].as_str() else {
        return Ok(());
    };
    let binds = options["o"].as_str().is_some_and(|o| {
        o.split(',')
            .any(|x| x.trim() == "bind" || x.trim() == "rbind")
    });
    if (binds || device.starts_with('/')) && !profile.create.allows_host_path(device) {
        return Err(refuse(
            "bind_mounts",
            format!("a volume that mounts host path {device:?}"),
        ));
    }
    Ok(())
}

fn is_unconfined(opt: &str) -> bool {
    let opt = opt.replace(':', "=");
    matches!(
        opt.as_str(),
        "seccomp=unconfined"
            | "apparmor=unconfined"
            | "label=disable"
            | "label=disabled"
            | "systempaths=unconfined"
    )
}

fn check_service(profile: &Profile, spec: &Value, refuse: &Refuse<'_>) -> Result<(), Refusal> {
    let rules = &profile.create;
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    for cap in strings(&container["CapabilityAdd"]) {
        if !rules.allows_capability(cap) {
            return Err(refuse("capabilities", format!("--cap-add {cap}")));
        }
    }
    check_mounts(profile, &container["Mounts"], refuse)?;
    let privileges = &container["Privileges"];
    if !rules.unconfined {
        if privileges["Seccomp"]["Mode"].as_str() == Some("unconfined") {
            return Err(refuse("unconfined", "seccomp unconfined".into()));
        }
        if privileges["AppArmor"]["Mode"].as_str() == Some("disabled") {
            return Err(refuse("unconfined", "AppArmor disabled".into()));
        }
        if privileges["SELinuxContext"]["Disable"].as_bool() == Some(true) {
            return Err(refuse("unconfined", "SELinux labels disabled".into()));
        }
    }
    if !rules.host_namespaces {
        let networks = spec["TaskTemplate"]["Networks"]
            .as_array()
            .into_iter()
            .chain(spec["Networks"].as_array())
            .flatten();
        for network in networks {
            if network["Target"].as_str() == Some("host") {
                return Err(refuse("host_namespaces", "the host network".into()));
            }
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::access::profile::CreateRules;
    use serde_json::json;

    fn restricted() -> Profile {
        let mut p = Profile::admin();
        p.name = "payments".into();
        p.create = CreateRules::strict();
        p.create.bind_mounts = vec!["/srv/payments".into()];
        p.create.capabilities = vec!["NET_BIND_SERVICE".into()];
        p.labels.insert("team".into(), "payments".into());
        p
    }

    fn rule(kind: Kind, spec: Value) -> Option<&'static str> {
        let mut spec = spec;
        match apply(&restricted(), kind, &mut spec) {
            Ok(()) => None,
            Err(Refusal::Create { rule, .. }) => Some(rule),
            Err(other) => panic!("unexpected {other:?}"),
        }
    }

    #[test]
    fn container_rules_name_what_they_refuse() {
        let c = Kind::Container;
        assert_eq!(
            rule(c, json!({"HostConfig": {"Privileged": true}})),
            Some("privileged")
        );
        assert_eq!(
            rule(c, json!({"HostConfig": {"NetworkMode": "host"}})),
            Some("host_namespaces")
        );
        assert_eq!(
            rule(c, json!({"HostConfig": {"PidMode": "host"}})),
            Some("host_namespaces")
        );
        assert_eq!(
            rule(c, json!({"HostConfig": {"CapAdd": ["SYS_ADMIN"]}})),
            Some("capabilities")
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"CapAdd": ["CAP_NET_BIND_SERVICE"]}})
            ),
            None
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"Devices": [{"PathOnHost": "/dev/sda"}]}})
            ),
            Some("devices")
        );
        assert_eq!(
            rule(c, json!({"HostConfig": {"Binds": ["/:/host"]}})),
            Some("bind_mounts")
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"Binds": ["/srv/payments/x:/data:ro"]}})
            ),
            None
        );
        assert_eq!(
            rule(c, json!({"HostConfig": {"Binds": ["named:/data"]}})),
            None
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/etc"}]}})
            ),
            Some("bind_mounts")
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"Mounts": [{"Type": "volume", "Source": "v",
                "VolumeOptions": {"DriverConfig": {"Options": {"type": "none", "o": "bind", "device": "/"}}}}]}})
            ),
            Some("bind_mounts")
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"SecurityOpt": ["seccomp=unconfined"]}})
            ),
            Some("unconfined")
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"SecurityOpt": ["apparmor:unconfined"]}})
            ),
            Some("unconfined")
        );
        assert_eq!(
            rule(
                c,
                json!({"HostConfig": {"SecurityOpt": ["no-new-privileges"]}})
            ),
            None
        );
        assert_eq!(
            rule(c, json!({"HostConfig": {"MaskedPaths": []}})),
            Some("unconfined")
        );
        assert_eq!(rule(c, json!({"Image": "x"})), None);
    }

    #[test]
    fn other_kinds() {
        assert_eq!(
            rule(Kind::Exec, json!({"Privileged": true})),
            Some("privileged")
        );
        assert_eq!(rule(Kind::Exec, json!({"Cmd": ["sh"]})), None);
        assert_eq!(
            rule(
                Kind::Volume,
                json!({"DriverOpts": {"o": "bind", "device": "/etc", "type": "none"}})
            ),
            Some("bind_mounts")
        );
        assert_eq!(
            rule(
                Kind::Service,
                json!({"TaskTemplate": {"ContainerSpec": {"Mounts": [{"Type": "bind", "Source": "/"}]}}})
            ),
            Some("bind_mounts")
        );
        assert_eq!(
            rule(
                Kind::Service,
                json!({"TaskTemplate": {"Networks": [{"Target": "host"}]}})
            ),
            Some("host_namespaces")
        );
    }

    #[test]
    fn scoped_creations_carry_the_labels() {
        let p = restricted();
        let mut spec = json!({"Image": "x", "Labels": {"team": "other", "a": "b"}});
        apply(&p, Kind::Container, &mut spec).expect("allowed");
        assert_eq!(spec["Labels"], json!({"team": "payments", "a": "b"}));
        let mut spec = json!({"Name": "s", "TaskTemplate": {"ContainerSpec": {"Image": "x"}}});
        apply(&p, Kind::Service, &mut spec).expect("allowed");
        assert_eq!(spec["Labels"]["team"], "payments");
        assert_eq!(
            spec["TaskTemplate"]["ContainerSpec"]["Labels"]["team"],
            "payments"
        );
        let mut spec = json!({"Name": "n"});
        apply(&p, Kind::Network, &mut spec).expect("allowed");
        assert_eq!(spec["Labels"]["team"], "payments");
    }

    #[test]
    fn the_admin_profile_refuses_nothing() {
        let mut spec = json!({"HostConfig": {"Privileged": true, "Binds": ["/:/host"], "NetworkMode": "host"}});
        assert!(apply(&Profile::admin(), Kind::Container, &mut spec).is_ok());
    }
}
