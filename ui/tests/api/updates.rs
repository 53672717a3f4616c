//! Updating a container to its image's newest version through the console: against the
//! real engine (through a real agent) and a loopback registry. The container is recreated
//! with the same configuration, or put back when the new one does not come up; viewers
//! are refused; registry credentials are admins' and never shown again.

mod fixtures;
mod pulled;
mod registries;

use http::StatusCode;
use serde_json::{json, Value};

use super::containers::people;
use crate::audit_rows;
use crate::common::LoopbackRegistry;
use crate::common::*;
use fixtures::{bind_dir, containers_named, inspect, network, publish, Made};

/// The image's default command: a process that stays up and stops on TERM.
pub(super) const SERVE: &str =
    r#"CMD ["sh", "-c", "trap 'exit 0' TERM; while true; do sleep 1; done"]"#;

/// A container with much of what `docker run` can set, on `reference`; its name.
fn run_configured(name: &str, reference: &str, made: &mut Made, dir: &std::path::Path) -> String {
    let (front, prefix) = network(&format!("{name}-front"), made);
    let (back, _) = network(&format!("{name}-back"), made);
    let volume = format!("{name}-data");
    made.volumes.push(volume.clone());
    let bind = bind_dir(dir);
    let ip = format!("{prefix}.10");
    engine_ok(&[
        "run",
        "-d",
        "--name",
        name,
        "--hostname",
        "web-host",
        "-e",
        "MODE=prod",
        "-e",
        "TOKEN=abc",
        "-v",
        &format!("{volume}:/data"),
        "-v",
        &format!("{bind}:/bind:ro"),
        "--tmpfs",
        "/run:size=1m",
        "--label",
        "team=web",
        "--label",
        "tier=edge",
        "--restart",
        "unless-stopped",
        "--memory",
        "64m",
        "--network",
        &front,
        "--network-alias",
        "web-alias",
        "--ip",
        &ip,
        "--health-cmd",
        "true",
        "--health-interval",
        "1s",
        "--health-timeout",
        "1s",
        "--health-retries",
        "3",
        "-p",
        "127.0.0.1::8080",
        "--user",
        "0",
        "--workdir",
        "/tmp",
        "--stop-timeout",
        "5",
        reference,
    ]);
    engine_ok(&["network", "connect", "--alias", "side", &back, name]);
    ip
}

/// An inspect without what differs between a container and its replacement by nature:
/// IDs, times, state, the image, what the engine assigned (ports, addresses, its
/// short-ID alias), and the labels the image gives.
fn configuration(inspect: &Value, image_labels: &[&str]) -> Value {
    let mut config = inspect["Config"].clone();
    config.as_object_mut().map(|c| c.remove("Image"));
    for label in image_labels {
        config["Labels"].as_object_mut().map(|l| l.remove(*label));
    }
    let short = &inspect["Id"].as_str().unwrap_or_default()[..12];
    let mut networks = json!({});
    for (net, settings) in inspect["NetworkSettings"]["Networks"]
        .as_object()
        .into_iter()
        .flatten()
    {
        let aliases: Vec<&Value> = settings["Aliases"]
            .as_array()
            .into_iter()
            .flatten()
            .filter(|a| a.as_str() != Some(short))
            .collect();
        networks[net] = json!({
            "IPAMConfig": settings["IPAMConfig"],
            "Aliases": aliases,
            "static": settings["IPAMConfig"]["IPv4Address"].is_string().then(|| settings["IPAddress"].clone()),
        });
    }
    let mut mounts: Vec<Value> = inspect["Mounts"]
        .as_array()
        .into_iter()
        .flatten()
        .map(|m| json!([m["Type"], m["Name"], m["Source"], m["Destination"], m["RW"]]))
        .collect();
    mounts.sort_by_key(|m| m.to_string());
    json!({
        "Name": inspect["Name"],
        "Config": config,
        "HostConfig": inspect["HostConfig"],
        "Mounts": mounts,
        "Networks": networks,
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn a_container_is_recreated_on_its_new_image_with_the_same_configuration() {
    ensure_image();
    let registry = LoopbackRegistry::start().await;
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, viewer, e) = people(&console).await;
    let dir = tempfile::tempdir().expect("tempdir");
    let mut made = Made::default();
    let name = Name::new("cu-web");
    made.container_prefixes.push(name.0.clone());
    let reference = format!(
        "127.0.0.1:{}/bosun-it-cu-app-{}:1.0.0",
        registry.port,
        std::process::id()
    );
    made.tags.push(reference.clone());
    publish(
        &reference,
        &format!("LABEL app.version=1\n{SERVE}"),
        &mut made,
    );
    let ip = run_configured(&name.0, &reference, &mut made, dir.path());
    let before = inspect(&name.0);
    assert_eq!(before["State"]["Running"], true, "{before}");

    let new_id = publish(
        &reference,
        &format!("LABEL app.version=2\n{SERVE}"),
        &mut made,
    );
    let path = format!("{e}/updates/containers/{}", name.0);

    // A viewer is refused, and nothing changes.
    let refused = viewer.post(&path, &json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    assert_eq!(inspect(&name.0)["Id"], before["Id"], "not recreated");
    assert!(audit_rows(&admin, "action=container.update")
        .await
        .is_empty());

    let answer = operator.post(&path, &json!({})).await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let outcome = answer.json();
    assert_eq!(outcome["result"], "updated", "{outcome}");
    assert_eq!(outcome["warning"], Value::Null, "{outcome}");

    let after = inspect(&name.0);
    assert_ne!(after["Id"], before["Id"], "a new container");
    assert_eq!(outcome["new_id"], after["Id"]);
    assert_eq!(
        after["Image"].as_str(),
        Some(new_id.as_str()),
        "on the new image"
    );
    assert_eq!(after["Config"]["Image"], reference.as_str());
    assert_eq!(
        after["Config"]["Labels"]["app.version"], "2",
        "the new image's label"
    );
    assert_eq!(before["Config"]["Labels"]["app.version"], "1");
    assert_eq!(after["State"]["Running"], true, "{after}");
    assert_eq!(after["State"]["Health"]["Status"], "healthy", "{after}");
    assert_eq!(
        configuration(&after, &["app.version"]),
        configuration(&before, &["app.version"]),
        "the same configuration"
    );
    assert_eq!(
        after["NetworkSettings"]["Networks"][format!("{}-front", name.0)]["IPAddress"],
        ip.as_str()
    );
    assert_eq!(
        containers_named(&name.0),
        vec![name.0.clone()],
        "the old container is gone"
    );

    // The audit row: who, where, and the image before and after.
    let rows = audit_rows(&admin, "action=container.update").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    let row = &rows[0];
    assert_eq!(row["result"], "ok", "{row}");
    assert_eq!(row["user"], "olga");
    assert_eq!(row["node"], engine_name().as_str());
    let target = row["target"].as_str().unwrap_or_default();
    let short = |d: &Value| {
        d.as_str()
            .unwrap_or_default()
            .trim_start_matches("sha256:")
            .chars()
            .take(12)
            .collect::<String>()
    };
    let (was, now) = (&outcome["before"]["digest"], &outcome["after"]["digest"]);
    assert!(
        was.is_string() && now.is_string() && was != now,
        "{outcome}"
    );
    assert!(
        target.starts_with(&format!("{}: {reference} {}", name.0, short(was)))
            && target.ends_with(&format!("{reference} {}", short(now))),
        "{target}"
    );

    // A container that does not exist: the step and the engine's reason.
    let missing = operator
        .post(
            &format!("{e}/updates/containers/bosun-it-cu-no-such"),
            &json!({}),
        )
        .await;
    assert_eq!(missing.status, StatusCode::NOT_FOUND, "{}", missing.text());
    assert!(
        missing.message().contains("inspecting the container")
            && missing.message().contains("No such container"),
        "{}",
        missing.message()
    );

    // Once more: already on the newest image, nothing recreated.
    let again = operator.post(&path, &json!({})).await;
    assert_eq!(again.status, StatusCode::OK, "{}", again.text());
    assert_eq!(again.json()["result"], "current", "{}", again.text());
    assert_eq!(inspect(&name.0)["Id"], after["Id"]);
    drop(made);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_new_image_that_does_not_come_up_is_rolled_back_to_the_old_container() {
    ensure_image();
    let registry = LoopbackRegistry::start().await;
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, _viewer, e) = people(&console).await;
    let mut made = Made::default();
    let name = Name::new("cu-back");
    made.container_prefixes.push(name.0.clone());
    let reference = format!(
        "127.0.0.1:{}/bosun-it-cu-back-{}:1.0.0",
        registry.port,
        std::process::id()
    );
    made.tags.push(reference.clone());
    publish(&reference, SERVE, &mut made);
    engine_ok(&[
        "run",
        "-d",
        "--name",
        &name.0,
        "--restart",
        "unless-stopped",
        "--label",
        "team=web",
        &reference,
    ]);
    let before = inspect(&name.0);
    publish(
        &reference,
        r#"CMD ["sh", "-c", "echo broken; exit 3"]"#,
        &mut made,
    );

    let answer = operator
        .post(&format!("{e}/updates/containers/{}", name.0), &json!({}))
        .await;
    assert_eq!(answer.status, StatusCode::OK, "{}", answer.text());
    let outcome = answer.json();
    assert_eq!(outcome["result"], "rolled_back", "{outcome}");
    assert_eq!(outcome["step"], "wait", "{outcome}");
    let message = outcome["message"].as_str().unwrap_or_default();
    assert!(
        message.starts_with("rolled back: waiting for the new container to be up: ")
            && message.contains("exited"),
        "{message}"
    );

    let now = inspect(&name.0);
    assert_eq!(now["Id"], before["Id"], "the old container, under its name");
    assert_eq!(now["Image"], before["Image"]);
    assert_eq!(now["State"]["Running"], true, "running again: {now}");
    assert_eq!(
        containers_named(&name.0),
        vec![name.0.clone()],
        "no leftover"
    );

    let rows = audit_rows(&admin, "action=container.update").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["result"], "error");
    assert!(
        rows[0]["detail"]
            .as_str()
            .unwrap_or_default()
            .starts_with("rolled back: waiting for the new container to be up"),
        "{}",
        rows[0]
    );
    drop(made);
}

#[tokio::test(flavor = "multi_thread")]
async fn a_service_update_is_for_operators_and_says_which_step_failed() {
    let (_creds, _agent, console) = stack().await;
    let (admin, operator, viewer, e) = people(&console).await;
    let path = format!("{e}/updates/services/bosun-it-cu-no-such-service");
    let refused = viewer.post(&path, &json!({})).await;
    assert_eq!(refused.status, StatusCode::FORBIDDEN, "{}", refused.text());
    let bad = operator.post(&path, &json!({"tag": "../x"})).await;
    assert_eq!(bad.status, StatusCode::BAD_REQUEST, "{}", bad.text());

    // No such service (or no Swarm at all): the manager's answer, with the step.
    let failed = operator.post(&path, &json!({})).await;
    assert!(
        failed.status == StatusCode::NOT_FOUND || failed.status == StatusCode::SERVICE_UNAVAILABLE,
        "{} {}",
        failed.status,
        failed.text()
    );
    assert!(
        failed.message().starts_with("inspecting the service: "),
        "{}",
        failed.message()
    );
    let rows = audit_rows(&admin, "action=service.update").await;
    assert_eq!(rows.len(), 1, "{rows:?}");
    assert_eq!(rows[0]["result"], "error");
    assert_eq!(rows[0]["target"], "bosun-it-cu-no-such-service");
    assert_eq!(rows[0]["user"], "olga");
}
