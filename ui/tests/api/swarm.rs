//! Swarm services and stacks through the console, on a single-node Swarm of an engine in a
//! container ([`Node`]) with the agent in front of it: this machine's own engine, shared by
//! the whole suite, never goes through `swarm init` and `leave`. Runs alone
//! (`.config/nextest.toml`).

use http::StatusCode;
use serde_json::json;

use crate::common::*;
use crate::containers::people;
use crate::{audit_rows, local_endpoint};

/// A one-node Swarm with the test image loaded: its node's engine is named `hostname`.
fn swarm_of_one(hostname: &str) -> Node {
    ensure_image();
    blocking(|| {
        let node = Node::start(
            &format!("bosun-it-{hostname}-{}", std::process::id()),
            hostname,
            None,
        );
        node.load(&Images::save(&[IMAGE]));
        node.swarm_init();
        node
    })
}

#[tokio::test(flavor = "multi_thread")]
async fn services_and_a_stack_are_listed_scaled_and_removed_with_audit_rows() {
    let node = swarm_of_one("bosun-ui-swarm");
    let service = "bosun-it-ui-svc";
    node.docker(&[
        "service",
        "create",
        "--detach",
        "--name",
        service,
        "--replicas",
        "1",
        IMAGE,
        "sleep",
        "3600",
    ]);

    let options = AgentOptions {
        engine_socket: Some(node.socket()),
        ..AgentOptions::default()
    };
    let (_creds, _agent, console) = stack_with(&options).await;
    let (admin, operator, viewer, e) = people(&console).await;

    let services = viewer.get(&format!("{e}/services")).await;
    assert_eq!(services.status, StatusCode::OK, "{}", services.text());
    let sid = services.json()["items"]
        .as_array()
        .and_then(|a| a.iter().find(|s| s["Spec"]["Name"] == service))
        .and_then(|s| s["ID"].as_str().map(str::to_owned))
        .unwrap_or_else(|| panic!("{service} listed: {}", services.text()));
    let tasks = eventually("the service's task", SETTLE, || async {
        let tasks = viewer.get(&format!("{e}/tasks")).await.json();
        let mine = tasks["items"]
            .as_array()
            .map(|a| a.iter().filter(|t| t["ServiceID"] == sid.as_str()).count())
            .unwrap_or(0);
        if mine > 0 {
            Ok(mine)
        } else {
            Err(tasks.to_string())
        }
    })
    .await;
    assert!(tasks >= 1);

    let scale = format!("{e}/services/{sid}/scale");
    assert_eq!(
        viewer.post(&scale, &json!({"replicas": 2})).await.status,
        StatusCode::FORBIDDEN
    );
    let scaled = operator.post(&scale, &json!({"replicas": 2})).await;
    assert_eq!(scaled.status, StatusCode::OK, "{}", scaled.text());
    let replicas = node.docker(&[
        "service",
        "inspect",
        "--format",
        "{{.Spec.Mode.Replicated.Replicas}}",
        service,
    ]);
    assert_eq!(replicas, "2", "the engine has the new replica count");

    assert_eq!(
        viewer.delete(&format!("{e}/services/{sid}")).await.status,
        StatusCode::FORBIDDEN
    );
    let removed = operator.delete(&format!("{e}/services/{sid}")).await;
    assert_eq!(removed.status, StatusCode::OK, "{}", removed.text());
    assert!(
        !node.run(&["service", "inspect", service]).status.success(),
        "the service is gone from the engine"
    );

    let rows = audit_rows(&admin, "user=olga").await;
    let scale_row = rows
        .iter()
        .find(|r| r["action"] == "service.scale")
        .expect("service.scale audited");
    assert_eq!(scale_row["result"], "ok");
    assert_eq!(scale_row["target"], format!("{service} to 2"));
    let remove_row = rows
        .iter()
        .find(|r| r["action"] == "service.remove")
        .expect("service.remove audited");
    assert_eq!(remove_row["target"], service);
    assert_eq!(remove_row["endpoint"], "local");

    stack_deployed_and_removed_with_the_cli(&admin, &console, &node).await;
}

/// `docker stack deploy` and `docker stack rm` with the stock CLI through the console's
/// Docker API, on the same Swarm: the CLI asks `/info` whether it talks to a manager, makes
/// the stack's network and service, and the engine runs its task; the writes are audited
/// with the node that ran them.
async fn stack_deployed_and_removed_with_the_cli(
    admin: &Client,
    console: &ConsoleUnderTest,
    node: &Node,
) {
    let id = local_endpoint(&admin.get("/api/endpoints").await.json());
    let (token, _) = crate::docker_api::personal_token(admin, "deploy").await;
    let cli = crate::docker_api::Cli::new(
        console.addr,
        id,
        &console.data.path().join("console-cert.pem"),
        Some(&token),
    );
    let stack = "bosun-it-ui-stack";
    let file = console.data.path().join("stack.yml");
    std::fs::write(
        &file,
        format!(
            "version: \"3.8\"\nservices:\n  sleeper:\n    image: {IMAGE}\n    command: [\"sleep\", \"3600\"]\n"
        ),
    )
    .expect("the stack file");
    let file = file.to_str().expect("a UTF-8 path");

    let said = cli
        .ok(&[
            "stack",
            "deploy",
            "--resolve-image",
            "never",
            "-c",
            file,
            stack,
        ])
        .await;
    assert!(said.contains(&format!("{stack}_sleeper")), "{said}");
    let in_stack = format!("label=com.docker.stack.namespace={stack}");
    eventually("the stack's service running its task", SETTLE, || async {
        let replicas = node.docker(&[
            "service",
            "ls",
            "--filter",
            &in_stack,
            "--format",
            "{{.Name}} {{.Replicas}}",
        ]);
        if replicas == format!("{stack}_sleeper 1/1") {
            Ok(())
        } else {
            Err(replicas)
        }
    })
    .await;
    let listed = cli
        .ok(&["stack", "services", "--format", "{{.Name}}", stack])
        .await;
    assert_eq!(
        listed.trim(),
        format!("{stack}_sleeper"),
        "through the console"
    );

    let rows = audit_rows(admin, "action=docker.api").await;
    let created = crate::docker_api::posted(&rows, "/services/create");
    assert_eq!(created["user"], ADMIN);
    assert_eq!(created["node"], node.hostname(), "the node that ran it");

    cli.ok(&["stack", "rm", stack]).await;
    eventually("the stack gone from the engine", SETTLE, || async {
        let left = format!(
            "{}{}",
            node.docker(&["service", "ls", "--filter", &in_stack, "-q"]),
            node.docker(&["network", "ls", "--filter", &in_stack, "-q"])
        );
        if left.trim().is_empty() {
            Ok(())
        } else {
            Err(left)
        }
    })
    .await;
}
