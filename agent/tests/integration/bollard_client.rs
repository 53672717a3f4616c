//! bollard, a Rust Docker client with its own HTTP stack, driving a container's whole life
//! through the agent over mTLS: list, create, start, follow logs, exec attached, remove.

use std::time::Duration;

use bollard::exec::{CreateExecOptions, StartExecResults};
use bollard::models::ContainerCreateBody;
use bollard::query_parameters::{
    CreateContainerOptionsBuilder, ListContainersOptionsBuilder, LogsOptionsBuilder,
    RemoveContainerOptionsBuilder,
};
use bollard::Docker;
use futures_util::StreamExt;

use crate::harness::*;

const LIVENESS: Duration = Duration::from_secs(30);

async fn names_of_all(docker: &Docker) -> Vec<String> {
    docker
        .list_containers(Some(ListContainersOptionsBuilder::new().all(true).build()))
        .await
        .expect("list containers through the agent")
        .into_iter()
        .flat_map(|c| c.names.unwrap_or_default())
        .collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bollard_runs_a_container_life_cycle_through_the_agent() {
    tokio::task::block_in_place(ensure_image);
    let pki = Pki::by_commands();
    let agent = Agent::start(&pki);
    let name = Name::new("bollard");
    bosun_agent::tls::install_crypto_provider();

    let docker = Docker::connect_with_ssl(
        &format!("tcp://{}", agent.addr),
        &pki.client.join("key.pem"),
        &pki.client.join("cert.pem"),
        &pki.client.join("ca.pem"),
        LIVENESS.as_secs(),
        bollard::API_DEFAULT_VERSION,
    )
    .expect("bollard client for the agent");
    // bollard's default API version is newer than this engine's; it negotiates down the
    // way a real client would, through the agent.
    let docker = docker
        .negotiate_version()
        .await
        .expect("negotiate the API version through the agent");

    let slashed = format!("/{}", name.as_str());
    assert!(!names_of_all(&docker).await.contains(&slashed));

    let created = docker
        .create_container(
            Some(
                CreateContainerOptionsBuilder::new()
                    .name(name.as_str())
                    .build(),
            ),
            ContainerCreateBody {
                image: Some(IMAGE.to_owned()),
                cmd: Some(vec![
                    "sh".to_owned(),
                    "-c".to_owned(),
                    "echo bollard-out; sleep 30".to_owned(),
                ]),
                ..Default::default()
            },
        )
        .await
        .expect("create through the agent");
    assert!(names_of_all(&docker).await.contains(&slashed));

    docker
        .start_container(name.as_str(), None)
        .await
        .expect("start through the agent");

    // Followed, so the line is awaited rather than raced.
    let mut logs = docker.logs(
        name.as_str(),
        Some(
            LogsOptionsBuilder::new()
                .follow(true)
                .stdout(true)
                .stderr(true)
                .build(),
        ),
    );
    let mut seen = String::new();
    let found = tokio::time::timeout(LIVENESS, async {
        while let Some(chunk) = logs.next().await {
            seen.push_str(&chunk.expect("log chunk").to_string());
            if seen.contains("bollard-out") {
                return true;
            }
        }
        false
    })
    .await;
    assert_eq!(found, Ok(true), "logs so far: {seen:?}");
    drop(logs);

    let exec = docker
        .create_exec(
            name.as_str(),
            CreateExecOptions {
                attach_stdout: Some(true),
                attach_stderr: Some(true),
                cmd: Some(vec!["echo", "exec-out"]),
                ..Default::default()
            },
        )
        .await
        .expect("create an exec through the agent");
    let StartExecResults::Attached { mut output, .. } = docker
        .start_exec(&exec.id, None)
        .await
        .expect("start the exec through the agent")
    else {
        panic!("an exec started without detach must be attached");
    };
    let mut exec_out = String::new();
    tokio::time::timeout(LIVENESS, async {
        while let Some(chunk) = output.next().await {
            exec_out.push_str(&chunk.expect("exec output").to_string());
        }
    })
    .await
    .unwrap_or_else(|_| panic!("the exec stream did not end; got {exec_out:?}"));
    assert_eq!(exec_out, "exec-out\n");
    let inspected = docker
        .inspect_exec(&exec.id)
        .await
        .expect("inspect the exec");
    assert_eq!(inspected.exit_code, Some(0));

    docker
        .remove_container(
            &created.id,
            Some(RemoveContainerOptionsBuilder::new().force(true).build()),
        )
        .await
        .expect("remove through the agent");
    let gone = tokio::task::block_in_place(|| !engine_has_container(name.as_str()));
    assert!(gone, "the engine still has {}", name.as_str());
}
