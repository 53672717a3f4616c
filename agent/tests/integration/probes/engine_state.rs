//! The `container` kind against real containers on the machine's engine: running without a
//! health check, a health check still starting, unhealthy, stopped, and absent.

use std::time::Duration;

use serde_json::json;

use super::*;

fn container_check(id: &str, name: &str) -> Check {
    check(id, 10, json!({"kind": "container", "container": name}))
}

/// `docker run -d --name NAME FLAGS IMAGE sleep 300`.
fn run_with(name: &Name, flags: &[&str]) {
    ensure_image();
    let mut args = vec!["run", "-d", "--name", name.as_str()];
    args.extend_from_slice(flags);
    args.extend_from_slice(&[IMAGE, "sleep", "300"]);
    engine_ok(&args);
}

#[tokio::test(flavor = "multi_thread")]
async fn container_running_starting_unhealthy_stopped_absent() {
    let cx = context();
    let running = Name::new("probe-running");
    running.run(&["sleep", "300"]);
    let starting = Name::new("probe-starting");
    run_with(
        &starting,
        &[
            "--health-cmd",
            "true",
            "--health-interval",
            "60s",
            "--health-start-period",
            "60s",
        ],
    );
    let unhealthy = Name::new("probe-unhealthy");
    run_with(
        &unhealthy,
        &[
            "--health-cmd",
            "echo db is down; false",
            "--health-interval",
            "1s",
            "--health-retries",
            "1",
        ],
    );
    let stopped = Name::new("probe-stopped");
    stopped.run(&["sh", "-c", "exit 3"]);

    let outcome = run_once(&container_check("running", running.as_str()), &cx, 1).await;
    assert_status(&outcome, Status::Ok);
    assert!(
        outcome.output.contains("no health check"),
        "{}",
        outcome.output
    );

    let outcome = run_once(&container_check("starting", starting.as_str()), &cx, 1).await;
    assert_status(&outcome, Status::Warning);
    assert!(outcome.output.contains("starting"), "{}", outcome.output);

    let check = container_check("unhealthy", unhealthy.as_str());
    let outcome = eventually(
        "the container unhealthy",
        Duration::from_secs(30),
        || async {
            let outcome = probe::run(&check, 1, &cx).await;
            if outcome.status == Status::Critical {
                Ok(outcome)
            } else {
                Err(format!("{outcome:?}"))
            }
        },
    )
    .await;
    assert!(
        outcome.output.contains("is unhealthy") && outcome.output.contains("db is down"),
        "the last health log line is shown: {}",
        outcome.output
    );

    wait_for("the container stopped", Duration::from_secs(30), || {
        let state = stopped.state();
        (state == "exited").then_some(()).ok_or(state)
    });
    let outcome = run_once(&container_check("stopped", stopped.as_str()), &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.contains("is exited (exit code 3)"),
        "{}",
        outcome.output
    );

    let absent = Name::new("probe-absent");
    let outcome = run_once(&container_check("absent", absent.as_str()), &cx, 1).await;
    assert_status(&outcome, Status::Critical);
    assert!(
        outcome.output.starts_with("no container"),
        "{}",
        outcome.output
    );
}
