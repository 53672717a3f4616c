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
        Kind::Container => {
            // Without a HostConfig object the engine reads the old top-level fields
            // (`Privileged`, `Binds`...) instead; with one, it ignores them.
            if !spec["HostConfig"].is_object() && spec.is_object() {
                spec["HostConfig"] = Value::Object(Map::new());
            }
            check_container(profile, spec, &refuse)?
        }
        Kind::Exec => {
            if spec["Privileged"].as_bool() == Some(true) && !profile.create.privileged {
                return Err(refuse("privileged", "a privileged exec".into()));
            }
        }
        Kind::Service => check_service(profile, spec, &refuse)?,
        Kind::Volume => check_volume(profile, &spec["Driver"], &spec["DriverOpts"], &refuse)?,
        Kind::Network => check_network(profile, spec, &refuse)?,
        Kind::Attachment => check_endpoint(profile, &spec["EndpointConfig"], &refuse)?,
        Kind::Secret | Kind::Config | Kind::Task => {}
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
            Kind::Exec | Kind::Task | Kind::Attachment => {}
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

/// A list the engine also takes as one string (`strslice.StrSlice`: `CapAdd`): the
/// string as a list of one.
fn string_or_list(v: &Value) -> Vec<&str> {
    match v {
        Value::String(s) => vec![s.as_str()],
        _ => strings(v).collect(),
    }
}

/// The strings of a JSON list; nothing for anything else.
pub(super) fn strings(v: &Value) -> impl Iterator<Item = &str> {
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
    for cap in string_or_list(&host["CapAdd"]) {
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
        let mut parts = bind.split(':');
        let source = parts.next().unwrap_or("");
        let options = parts.nth(1).unwrap_or("");
        if source.starts_with('/') {
            check_bind(
                profile,
                source,
                options.split(',').any(|o| o == "ro"),
                refuse,
            )?;
        }
    }
    check_mounts(profile, &host["Mounts"], refuse)?;
    if !rules.unconfined {
        for opt in strings(&host["SecurityOpt"]) {
            if !is_no_new_privileges(opt) {
                return Err(refuse(
                    "unconfined",
                    format!("--security-opt {opt} (only no-new-privileges is allowed)"),
                ));
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
    let log_driver = host["LogConfig"]["Type"].as_str().unwrap_or("");
    if !rules.allows_log_driver(log_driver) {
        return Err(refuse("log_drivers", format!("--log-driver {log_driver}")));
    }
    let endpoints = spec["NetworkingConfig"]["EndpointsConfig"].as_object();
    for endpoint in endpoints.into_iter().flat_map(|e| e.values()) {
        check_endpoint(profile, endpoint, refuse)?;
    }
    Ok(())
}

/// A container whose volumes or namespaces a new one would take must itself pass the
/// rules that would refuse the new one those: a container may not borrow what it may not
/// have. `inspect` is the engine's inspect of that container.
pub fn check_joined(profile: &Profile, name: &str, inspect: &Value) -> Result<(), Refusal> {
    let rules = &profile.create;
    let refuse = |rule: &'static str, what: String| Refusal::Create {
        profile: profile.name.clone(),
        kind: "container",
        rule,
        detail: format!(
            "container {name:?}, whose volumes or namespaces it would take, has {what}"
        ),
    };
    let host = &inspect["HostConfig"];
    if host["Privileged"].as_bool() == Some(true) && !rules.privileged {
        return Err(refuse("privileged", "--privileged".into()));
    }
    if !rules.host_namespaces {
        for key in ["NetworkMode", "PidMode", "IpcMode", "UTSMode", "UsernsMode"] {
            if host[key].as_str() == Some("host") {
                return Err(refuse("host_namespaces", format!("{key} host")));
            }
        }
    }
    for cap in string_or_list(&host["CapAdd"]) {
        if !rules.allows_capability(cap) {
            return Err(refuse("capabilities", format!("--cap-add {cap}")));
        }
    }
    if !rules.devices && non_empty(&host["Devices"]) {
        return Err(refuse("devices", "devices".into()));
    }
    for mount in inspect["Mounts"].as_array().into_iter().flatten() {
        if mount["Type"].as_str() == Some("bind") {
            let source = mount["Source"].as_str().unwrap_or("");
            let read_only = mount["RW"].as_bool() == Some(false);
            if !rules.allows_host_path(source) || (!read_only && !rules.writable_binds) {
                return Err(refuse(
                    "bind_mounts",
                    format!("a bind mount of host path {source:?}"),
                ));
            }
        }
    }
    if !rules.unconfined {
        for opt in strings(&host["SecurityOpt"]) {
            if !is_no_new_privileges(opt) {
                return Err(refuse("unconfined", format!("--security-opt {opt}")));
            }
        }
    }
    Ok(())
}

/// An endpoint's settings name its network by the key they are under (checked against
/// the scope); a `NetworkID` inside would make the engine attach to another.
fn check_endpoint(profile: &Profile, endpoint: &Value, refuse: &Refuse<'_>) -> Result<(), Refusal> {
    let id = endpoint["NetworkID"].as_str().unwrap_or("");
    if !id.is_empty() && !profile.create.network_options {
        return Err(refuse(
            "network_options",
            format!("an endpoint's NetworkID {id:?} (attach by the network's name)"),
        ));
    }
    Ok(())
}

/// A new network: the bridge or overlay driver with its defaults. A driver option can
/// take over the engine's own bridge (`com.docker.network.bridge.name`), a macvlan or
/// ipvlan one a host interface.
fn check_network(profile: &Profile, spec: &Value, refuse: &Refuse<'_>) -> Result<(), Refusal> {
    if profile.create.network_options {
        return Ok(());
    }
    let driver = spec["Driver"].as_str().unwrap_or("");
    if !["", "bridge", "overlay"].contains(&driver) {
        return Err(refuse(
            "network_options",
            format!("the network driver {driver:?}"),
        ));
    }
    if non_empty(&spec["Options"]) {
        return Err(refuse(
            "network_options",
            format!("driver options {}", spec["Options"]),
        ));
    }
    if spec["Ingress"].as_bool() == Some(true) {
        return Err(refuse("network_options", "an ingress network".into()));
    }
    if !spec["ConfigFrom"].is_null() {
        return Err(refuse(
            "network_options",
            "a network configured from another".into(),
        ));
    }
    let ipam = spec["IPAM"]["Driver"].as_str().unwrap_or("");
    if !ipam.is_empty() && ipam != "default" {
        return Err(refuse(
            "network_options",
            format!("the IPAM driver {ipam:?}"),
        ));
    }
    Ok(())
}

/// A bind of a host path: under an allowed path, and read-only unless writable binds are
/// allowed.
fn check_bind(
    profile: &Profile,
    source: &str,
    read_only: bool,
    refuse: &Refuse<'_>,
) -> Result<(), Refusal> {
    let rules = &profile.create;
    if !rules.allows_host_path(source) {
        return Err(refuse(
            "bind_mounts",
            format!("a bind mount of host path {source:?}"),
        ));
    }
    if !read_only && !rules.writable_binds {
        return Err(refuse(
            "bind_mounts",
            format!("a writable bind mount of host path {source:?} (mount it read-only)"),
        ));
    }
    Ok(())
}

/// `Mounts` of a container's `HostConfig` or a service's `ContainerSpec`.
fn check_mounts(profile: &Profile, mounts: &Value, refuse: &Refuse<'_>) -> Result<(), Refusal> {
    for mount in mounts.as_array().into_iter().flatten() {
        let source = mount["Source"].as_str().unwrap_or("");
        let read_only = mount["ReadOnly"].as_bool() == Some(true);
        match mount["Type"].as_str() {
            Some("bind") => check_bind(profile, source, read_only, refuse)?,
            Some("volume") => {
                let driver = &mount["VolumeOptions"]["DriverConfig"];
                check_volume(profile, &driver["Name"], &driver["Options"], refuse)?
            }
            _ => {}
        }
    }
    Ok(())
}

/// A volume's driver and options. The local driver mounts whatever its options say: a
/// host path (`o=bind`), an overlay of host directories (`lowerdir=`), a device, an NFS
/// or CIFS share. Without the `volume_options` rule, only a plain volume, a tmpfs, or a
/// read-only bind of an allowed path.
fn check_volume(
    profile: &Profile,
    driver: &Value,
    options: &Value,
    refuse: &Refuse<'_>,
) -> Result<(), Refusal> {
    if profile.create.volume_options {
        return Ok(());
    }
    let driver = driver.as_str().unwrap_or("");
    if !driver.is_empty() && driver != "local" {
        return Err(refuse(
            "volume_options",
            format!("the volume driver {driver:?}"),
        ));
    }
    let Some(options) = options.as_object().filter(|o| !o.is_empty()) else {
        return Ok(());
    };
    let text = |key: &str| options.get(key).and_then(Value::as_str).unwrap_or("");
    // Split as the engine's mount code splits: on commas, nothing trimmed; of `ro` and
    // `rw`, the last one wins.
    let o: Vec<&str> = text("o").split(',').collect();
    let keys: Vec<&str> = options.keys().map(String::as_str).collect();
    let only = |allowed: &[&str]| keys.iter().all(|k| allowed.contains(k));
    let tmpfs_option = |x: &&str| {
        ["size=", "mode=", "uid=", "gid=", "nr_inodes="]
            .iter()
            .any(|p| x.starts_with(p))
    };
    let bind_option = |x: &&str| ["bind", "rbind", "ro", "rw"].contains(x);
    let refused = || {
        refuse(
            "volume_options",
            format!(
                "local volume options {} (only a tmpfs, or a read-only bind of an allowed path)",
                Value::Object(options.clone())
            ),
        )
    };
    match text("type") {
        "tmpfs"
            if only(&["type", "device", "o"])
                && (text("o").is_empty() || o.iter().all(tmpfs_option)) =>
        {
            Ok(())
        }
        "none" | ""
            if only(&["type", "device", "o"])
                && o.iter().all(bind_option)
                && o.iter().any(|x| *x == "bind" || *x == "rbind") =>
        {
            let read_only = o.iter().rev().find(|x| **x == "ro" || **x == "rw") == Some(&"ro");
            check_bind(profile, text("device"), read_only, refuse)
        }
        _ => Err(refused()),
    }
}

/// The one security option that adds confinement rather than changing it.
fn is_no_new_privileges(opt: &str) -> bool {
    matches!(
        opt,
        "no-new-privileges" | "no-new-privileges=true" | "no-new-privileges:true"
    )
}

fn check_service(profile: &Profile, spec: &Value, refuse: &Refuse<'_>) -> Result<(), Refusal> {
    let rules = &profile.create;
    let container = &spec["TaskTemplate"]["ContainerSpec"];
    for cap in string_or_list(&container["CapabilityAdd"]) {
        if !rules.allows_capability(cap) {
            return Err(refuse("capabilities", format!("--cap-add {cap}")));
        }
    }
    check_mounts(profile, &container["Mounts"], refuse)?;
    let log_driver = spec["TaskTemplate"]["LogDriver"]["Name"]
        .as_str()
        .unwrap_or("");
    if !rules.allows_log_driver(log_driver) {
        return Err(refuse("log_drivers", format!("--log-driver {log_driver}")));
    }
    let privileges = &container["Privileges"];
    if !rules.unconfined {
        for (key, what) in [("Seccomp", "seccomp"), ("AppArmor", "AppArmor")] {
            let mode = privileges[key]["Mode"].as_str().unwrap_or("");
            if !mode.is_empty() && mode != "default" {
                return Err(refuse("unconfined", format!("{what} mode {mode:?}")));
            }
        }
        if !privileges["SELinuxContext"].is_null() {
            return Err(refuse("unconfined", "an SELinux context".into()));
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
    fn security_options_binds_and_log_drivers() {
        let c = Kind::Container;
        for opt in [
            "seccomp={\"defaultAction\":\"SCMP_ACT_ALLOW\"}",
            "disable",
            "label=type:spc_t",
            "apparmor=other",
        ] {
            let spec = json!({"HostConfig": {"SecurityOpt": [opt]}});
            assert_eq!(rule(c, spec), Some("unconfined"), "{opt}");
        }
        let rw = json!({"HostConfig": {"Binds": ["/srv/payments/x:/data"]}});
        assert_eq!(rule(c, rw), Some("bind_mounts"));
        let ro_mount = json!({"HostConfig": {"Mounts": [
            {"Type": "bind", "Source": "/srv/payments", "ReadOnly": true}
        ]}});
        assert_eq!(rule(c, ro_mount), None);
        let rw_mount =
            json!({"HostConfig": {"Mounts": [{"Type": "bind", "Source": "/srv/payments"}]}});
        assert_eq!(rule(c, rw_mount), Some("bind_mounts"));
        let gelf = json!({"HostConfig": {"LogConfig": {"Type": "gelf"}}});
        assert_eq!(rule(c, gelf), Some("log_drivers"));
        let local = json!({"HostConfig": {"LogConfig": {"Type": "json-file"}}});
        assert_eq!(rule(c, local), None);
        let seccomp = json!({"TaskTemplate": {"ContainerSpec": {"Privileges": {"Seccomp": {"Mode": "custom"}}}}});
        assert_eq!(rule(Kind::Service, seccomp), Some("unconfined"));
    }

    #[test]
    fn a_container_always_has_a_host_config() {
        // Without one, the engine would read these old top-level fields.
        let mut spec = json!({"Image": "x", "Privileged": true, "Binds": ["/:/host"]});
        apply(&restricted(), Kind::Container, &mut spec).expect("nothing checked is set");
        assert_eq!(spec["HostConfig"], json!({}));
        let mut spec = json!({"Image": "x", "HostConfig": null, "Privileged": true});
        apply(&restricted(), Kind::Container, &mut spec).expect("nothing checked is set");
        assert_eq!(spec["HostConfig"], json!({}));
    }

    #[test]
    fn volume_drivers_and_options() {
        let v = Kind::Volume;
        let opts = |o: Value| json!({ "DriverOpts": o });
        assert_eq!(rule(v, json!({"Name": "plain"})), None);
        let tmpfs = json!({"type": "tmpfs", "device": "tmpfs", "o": "size=64m"});
        assert_eq!(rule(v, opts(tmpfs)), None);
        let overlay = json!({"type": "overlay", "device": "overlay", "o": "lowerdir=/etc:/opt"});
        assert_eq!(rule(v, opts(overlay)), Some("volume_options"));
        let device = json!({"type": "ext4", "device": "dev/sda1"});
        assert_eq!(rule(v, opts(device)), Some("volume_options"));
        let nfs = json!({"type": "nfs", "o": "addr=10.0.0.1"});
        assert_eq!(rule(v, opts(nfs)), Some("volume_options"));
        assert_eq!(rule(v, json!({"Driver": "rexray"})), Some("volume_options"));
        let ro = json!({"type": "none", "o": "bind,ro", "device": "/srv/payments/db"});
        assert_eq!(rule(v, opts(ro)), None);
        let rw = json!({"type": "none", "o": "bind", "device": "/srv/payments/db"});
        assert_eq!(rule(v, opts(rw)), Some("bind_mounts"));
    }

    #[test]
    fn a_joined_container_passes_the_rules_itself() {
        let p = restricted();
        let plain = json!({"HostConfig": {"NetworkMode": "bridge", "CgroupnsMode": "host"}, "Mounts": [
            {"Type": "volume", "Source": "/var/lib/docker/volumes/v/_data", "RW": true}
        ]});
        assert!(check_joined(&p, "plain", &plain).is_ok());
        let host = json!({"HostConfig": {"PidMode": "host"}});
        assert!(matches!(
            check_joined(&p, "h", &host),
            Err(Refusal::Create {
                rule: "host_namespaces",
                ..
            })
        ));
        let bound =
            json!({"HostConfig": {}, "Mounts": [{"Type": "bind", "Source": "/etc", "RW": false}]});
        assert!(matches!(
            check_joined(&p, "b", &bound),
            Err(Refusal::Create {
                rule: "bind_mounts",
                ..
            })
        ));
        let writable = json!({"HostConfig": {}, "Mounts": [{"Type": "bind", "Source": "/srv/payments", "RW": true}]});
        assert!(matches!(
            check_joined(&p, "w", &writable),
            Err(Refusal::Create {
                rule: "bind_mounts",
                ..
            })
        ));
    }

    #[test]
    fn networks_and_endpoints() {
        let n = Kind::Network;
        assert_eq!(rule(n, json!({"Name": "x", "Driver": "bridge"})), None);
        let takeover =
            json!({"Name": "x", "Options": {"com.docker.network.bridge.name": "docker0"}});
        assert_eq!(rule(n, takeover), Some("network_options"));
        assert_eq!(
            rule(n, json!({"Name": "x", "Driver": "macvlan"})),
            Some("network_options")
        );
        assert_eq!(
            rule(n, json!({"Name": "x", "Ingress": true})),
            Some("network_options")
        );
        let endpoint = json!({"HostConfig": {}, "NetworkingConfig": {"EndpointsConfig": {"mine": {"NetworkID": "theirs"}}}});
        assert_eq!(rule(Kind::Container, endpoint), Some("network_options"));
        let connect = json!({"Container": "c", "EndpointConfig": {"NetworkID": "theirs"}});
        assert_eq!(rule(Kind::Attachment, connect), Some("network_options"));
    }

    #[test]
    fn option_lists_are_read_as_the_engine_reads_them() {
        let v = Kind::Volume;
        let opts =
            |o: &str| json!({"DriverOpts": {"type": "none", "o": o, "device": "/srv/payments/db"}});
        assert_eq!(rule(v, opts("bind,ro")), None);
        assert_eq!(
            rule(v, opts("bind,ro,rw")),
            Some("bind_mounts"),
            "the last of ro and rw wins"
        );
        assert_eq!(
            rule(v, opts("bind, ro")),
            Some("volume_options"),
            "nothing is trimmed"
        );
        assert_eq!(rule(v, opts("bind,rw,ro")), None);
        let cap = json!({"HostConfig": {"CapAdd": "ALL"}});
        assert_eq!(
            rule(Kind::Container, cap),
            Some("capabilities"),
            "a string is a list of one"
        );
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
