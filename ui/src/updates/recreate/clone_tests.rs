//! The create body cloned from a real-shaped inspect, field by field.

use super::*;

const ID: &str = "4f1c0a7e9b2d3c4e5f60718293a4b5c6d7e8f90112233445566778899aabbcc";

fn inspect() -> Value {
    json!({
        "Id": ID,
        "Created": "2026-12-03T06:00:00Z",
        "Name": "/web",
        "Image": "sha256:1111",
        "State": {"Status": "running", "Running": true},
        "Config": {
            "Hostname": "4f1c0a7e9b2d",
            "Domainname": "",
            "User": "1000:1000",
            "Env": ["PATH=/bin", "MODE=prod", "TOKEN=abc"],
            "Cmd": ["serve", "--port", "8080"],
            "Entrypoint": ["/bin/app"],
            "Image": "127.0.0.1:5000/app:1.0.0",
            "WorkingDir": "/srv",
            "Labels": {"org.opencontainers.image.title": "app", "team": "web", "tier": "edge"},
            "ExposedPorts": {"8080/tcp": {}, "9090/tcp": {}},
            "Volumes": {"/cache": {}},
            "Healthcheck": {"Test": ["CMD", "/bin/app", "health"], "Interval": 1000000000, "Retries": 3},
            "StopSignal": "SIGTERM",
            "MacAddress": "02:42:ac:11:00:02"
        },
        "HostConfig": {
            "Binds": ["/srv/conf:/etc/app:ro", "web-data:/data"],
            "Memory": 67108864,
            "RestartPolicy": {"Name": "unless-stopped", "MaximumRetryCount": 0},
            "NetworkMode": "front",
            "PortBindings": {"8080/tcp": [{"HostIp": "127.0.0.1", "HostPort": "18080"}]},
            "Tmpfs": {"/run": "size=1m"},
            "Mounts": [{"Type": "volume", "Source": "logs", "Target": "/logs"}]
        },
        "Mounts": [
            {"Type": "bind", "Source": "/srv/conf", "Destination": "/etc/app", "RW": false},
            {"Type": "volume", "Name": "web-data", "Destination": "/data", "RW": true},
            {"Type": "volume", "Name": "logs", "Destination": "/logs", "RW": true},
            {"Type": "volume", "Name": "0a1b2c3d4e5f", "Destination": "/cache", "RW": true}
        ],
        "NetworkSettings": {"Networks": {
            "front": {
                "IPAMConfig": {"IPv4Address": "10.231.7.10"},
                "Aliases": ["web-alias", "4f1c0a7e9b2d"],
                "NetworkID": "n1", "EndpointID": "e1", "Gateway": "10.231.7.1",
                "IPAddress": "10.231.7.10", "MacAddress": "02:42:0a:e7:07:0a",
                "DNSNames": ["web", "web-alias", "4f1c0a7e9b2d"]
            },
            "back": {
                "IPAMConfig": null, "Aliases": ["db-client"], "Links": null,
                "NetworkID": "n2", "IPAddress": "10.231.8.3"
            }
        }}
    })
}

fn old_image() -> Value {
    json!({"Id": "sha256:1111", "Config": {
        "User": "1000:1000",
        "Env": ["PATH=/bin", "MODE=dev"],
        "Cmd": ["serve", "--port", "8080"],
        "Entrypoint": ["/bin/app"],
        "WorkingDir": "/",
        "Labels": {"org.opencontainers.image.title": "app", "team": "image-default"},
        "ExposedPorts": {"8080/tcp": {}},
        "Volumes": {"/cache": {}},
        "Healthcheck": {"Test": ["CMD", "/bin/app", "health"], "Interval": 30_000_000_000u64}
    }})
}

#[test]
fn the_create_body_keeps_what_was_given_and_leaves_the_image_defaults_to_the_new_image() {
    let plan = plan(&inspect(), &old_image(), "127.0.0.1:5000/app:1.0.1");
    assert_eq!(plan.name, "web");
    let body = &plan.body;
    assert_eq!(body["Image"], "127.0.0.1:5000/app:1.0.1");
    assert_eq!(
        body["Env"],
        json!(["MODE=prod", "TOKEN=abc"]),
        "the image's PATH is the new image's"
    );
    assert_eq!(
        body["Labels"],
        json!({"team": "web", "tier": "edge"}),
        "a changed label is kept"
    );
    assert!(
        body.get("Cmd").is_none() && body.get("Entrypoint").is_none(),
        "{body}"
    );
    assert!(body.get("User").is_none(), "the image's user");
    assert_eq!(body["WorkingDir"], "/srv");
    assert_eq!(
        body["Healthcheck"],
        json!({"Test": ["CMD", "/bin/app", "health"], "Interval": 1000000000, "Retries": 3}),
        "a health check of its own"
    );
    assert!(body.get("Hostname").is_none(), "the engine-made hostname");
    assert!(body.get("MacAddress").is_none());
    assert_eq!(body["StopSignal"], "SIGTERM");
    assert!(
        body.get("Volumes").is_none() || body["Volumes"] == json!({}),
        "{body}"
    );
    assert_eq!(
        body["ExposedPorts"],
        json!({"9090/tcp": {}, "8080/tcp": {}})
    );
    for derived in [
        "Id",
        "Created",
        "State",
        "Name",
        "NetworkSettings",
        "Mounts",
    ] {
        assert!(body.get(derived).is_none(), "{derived} is the engine's");
    }

    let host = &body["HostConfig"];
    assert_eq!(host["Memory"], 67108864);
    assert_eq!(host["RestartPolicy"]["Name"], "unless-stopped");
    assert_eq!(host["Tmpfs"], json!({"/run": "size=1m"}));
    assert_eq!(
        host["PortBindings"],
        inspect()["HostConfig"]["PortBindings"]
    );
    assert_eq!(host["Mounts"], inspect()["HostConfig"]["Mounts"]);
    assert_eq!(
        host["Binds"],
        json!([
            "/srv/conf:/etc/app:ro",
            "web-data:/data",
            "0a1b2c3d4e5f:/cache"
        ]),
        "the anonymous volume is mounted again, not made anew"
    );

    assert_eq!(
        body["NetworkingConfig"],
        json!({"EndpointsConfig": {"front": {
            "IPAMConfig": {"IPv4Address": "10.231.7.10"},
            "Aliases": ["web-alias"]
        }}})
    );
    assert_eq!(
        plan.extra_networks,
        vec![("back".to_owned(), json!({"Aliases": ["db-client"]}))]
    );
}

#[test]
fn what_differs_from_the_old_image_is_kept_and_host_networks_have_no_endpoints() {
    let mut given = inspect();
    given["Config"]["Hostname"] = json!("web-host");
    given["Config"]["Cmd"] = json!(["serve", "--port", "9"]);
    given["HostConfig"]["NetworkMode"] = json!("host");
    let plan = plan(&given, &old_image(), "x:2");
    assert_eq!(plan.body["Hostname"], "web-host");
    assert_eq!(plan.body["Cmd"], json!(["serve", "--port", "9"]));
    assert!(plan.body.get("Entrypoint").is_none());
    assert!(plan.body.get("NetworkingConfig").is_none());
    assert!(plan.extra_networks.is_empty());

    // Without the old image (removed since), everything the container has is kept.
    let plan = super::plan(&inspect(), &Value::Null, "x:2");
    assert_eq!(
        plan.body["Env"],
        json!(["PATH=/bin", "MODE=prod", "TOKEN=abc"])
    );
    assert_eq!(plan.body["Cmd"], json!(["serve", "--port", "8080"]));
    assert_eq!(plan.body["User"], "1000:1000");
}

#[test]
fn the_default_bridge_is_the_primary_network_of_a_default_mode() {
    let given = json!({
        "Id": ID, "Name": "/plain",
        "Config": {"Image": "app:1"},
        "HostConfig": {"NetworkMode": "default"},
        "NetworkSettings": {"Networks": {"bridge": {"IPAMConfig": null, "Aliases": null,
            "IPAddress": "172.17.0.5"}}}
    });
    let plan = plan(&given, &Value::Null, "app:1");
    assert_eq!(
        plan.body["NetworkingConfig"],
        json!({"EndpointsConfig": {"bridge": {}}})
    );
    assert!(plan.extra_networks.is_empty());
}
