//! A script check pushed to an agent in front of the real engine runs on its schedule in
//! a sandbox container, its exit code read as Nagios reads it; a policy without it stops
//! it, and no sandbox container of the agent's is left behind.

use std::time::Duration;

use serde_json::json;

use super::{args, policy, push, results, Signer};
use crate::harness::*;

fn sandboxes(agent_id: &str) -> String {
    engine_ok(&[
        "ps",
        "-a",
        "--filter",
        &format!("label=bosun.check.agent={agent_id}"),
        "--format",
        "{{.Names}}",
    ])
    .trim()
    .to_owned()
}

#[tokio::test(flavor = "multi_thread")]
async fn a_script_check_runs_in_a_sandbox_until_a_policy_drops_it() {
    blocking(ensure_image);
    let pki = Pki::by_commands();
    let signer = Signer::new();
    let data = tempfile::tempdir().expect("tempdir");
    let agent = blocking(|| Agent::start_with(&args(&pki, data.path(), Some(&signer), &[])));
    let node = engine_name();
    let script = json!({
        "id": "disk", "name": "disk space", "interval_secs": 2, "timeout_secs": 20,
        "probe": {"kind": "script", "image": IMAGE, "script": "echo disk at 97%; exit 2"}
    });
    let v1 = signer.sign(&policy(&node, 1, vec![script]));
    assert_eq!(
        push(&pki, &agent, &[(&node, &v1)]).await[0]["outcome"],
        "applied"
    );
    let read = eventually("the script's result", Duration::from_secs(60), || async {
        let read = results(&pki, &agent, "").await;
        if read["results"][0]["check"] == "disk" {
            Ok(read)
        } else {
            Err(read.to_string())
        }
    })
    .await;
    let result = &read["results"][0];
    assert_eq!(result["status"], "critical", "exit 2: {result}");
    assert_eq!(result["state"], "critical", "{result}");
    assert!(
        result["output"]
            .as_str()
            .is_some_and(|o| o.contains("disk at 97%")),
        "{result}"
    );
    assert!(
        result["duration_ms"].as_u64().is_some_and(|d| d > 0),
        "{result}"
    );
    let agent_id = read["agent_id"].as_str().expect("agent_id").to_owned();

    let v2 = signer.sign(&policy(&node, 2, vec![]));
    assert_eq!(
        push(&pki, &agent, &[(&node, &v2)]).await[0]["outcome"],
        "applied"
    );
    eventually(
        "no sandbox container left",
        Duration::from_secs(40),
        || async {
            match blocking(|| sandboxes(&agent_id)) {
                names if names.is_empty() => Ok(()),
                names => Err(names),
            }
        },
    )
    .await;
    let stopped = results(&pki, &agent, "").await;
    assert_eq!(stopped["states"], json!([]), "{stopped}");
    tokio::time::sleep(Duration::from_secs(3)).await;
    let later = results(&pki, &agent, "").await;
    assert_eq!(
        later["next_seq"], stopped["next_seq"],
        "a dropped check runs no more"
    );
}

#[tokio::test(flavor = "multi_thread")]
async fn an_agent_stopped_during_a_script_check_leaves_no_sandbox_behind() {
    blocking(ensure_image);
    let pki = Pki::by_commands();
    let signer = Signer::new();
    let data = tempfile::tempdir().expect("tempdir");
    let mut agent = blocking(|| Agent::start_with(&args(&pki, data.path(), Some(&signer), &[])));
    let node = engine_name();
    let slow = json!({
        "id": "slow", "name": "slow script", "interval_secs": 60, "timeout_secs": 50,
        "probe": {"kind": "script", "image": IMAGE, "script": "sleep 40"}
    });
    let v1 = signer.sign(&policy(&node, 1, vec![slow]));
    assert_eq!(
        push(&pki, &agent, &[(&node, &v1)]).await[0]["outcome"],
        "applied"
    );
    let agent_id = results(&pki, &agent, "").await["agent_id"]
        .as_str()
        .expect("agent_id")
        .to_owned();
    eventually(
        "the script's container runs",
        Duration::from_secs(20),
        || async {
            match blocking(|| sandboxes(&agent_id)) {
                names if names.is_empty() => Err("none yet".to_owned()),
                _ => Ok(()),
            }
        },
    )
    .await;

    agent.terminate();
    let exit = blocking(|| agent.wait_exit(Duration::from_secs(30)));
    assert!(
        exit.is_some_and(|status| status.success()),
        "the agent stops of itself within 30 s of SIGTERM ({exit:?}); its log:\n{}",
        agent.log()
    );
    assert_eq!(
        blocking(|| sandboxes(&agent_id)),
        "",
        "no sandbox container of the stopped agent; its log:\n{}",
        agent.log()
    );
}
