//! Waiting for a new container to run: running and staying so, and healthy where it has a
//! health check, within a deadline its health check's own timing may lengthen.

use std::time::{Duration, Instant};

use serde_json::Value;

use super::super::node::NodeDocker;

/// How long a container without a health check must keep running (same start, no
/// restart) to count as up: one that exits at once is caught before it is called so.
const STEADY: Duration = Duration::from_secs(3);
/// How often the container is inspected meanwhile.
const POLL: Duration = Duration::from_millis(500);
/// The shortest and the longest wait.
const MIN_DEADLINE: Duration = Duration::from_secs(60);
const MAX_DEADLINE: Duration = Duration::from_secs(600);

/// How long to wait for a container with health check `check` (its `Config.Healthcheck`):
/// the start period and every retry's interval and timeout, at least a minute.
pub fn deadline(check: &Value) -> Duration {
    if check.is_null()
        || check["Test"]
            .as_array()
            .is_some_and(|t| t.first() == Some(&"NONE".into()))
    {
        return MIN_DEADLINE;
    }
    let nanos = |key: &str, default: u64| match check[key].as_u64() {
        Some(n) if n > 0 => Duration::from_nanos(n),
        _ => Duration::from_secs(default),
    };
    let retries = check["Retries"].as_u64().filter(|r| *r > 0).unwrap_or(3) as u32;
    let whole = nanos("StartPeriod", 0)
        + (nanos("Interval", 30) + nanos("Timeout", 30)) * (retries + 1)
        + Duration::from_secs(10);
    whole.clamp(MIN_DEADLINE, MAX_DEADLINE)
}

/// What one inspect says of a starting container.
#[derive(Debug, PartialEq, Eq)]
pub enum Progress {
    /// Up: running (and healthy, where there is a check).
    Up,
    /// Not yet: keep waiting.
    Starting,
    /// It will not come up: why.
    Failed(String),
}

/// Reads a container's `State`; `since` is the first start seen and how long ago.
pub fn progress(state: &Value, first_start: Option<(&str, Duration)>) -> Progress {
    let status = state["Status"].as_str().unwrap_or_default();
    let exit = state["ExitCode"].as_i64().unwrap_or_default();
    let error = state["Error"].as_str().filter(|e| !e.is_empty());
    let because = error.map(|e| format!(": {e}")).unwrap_or_default();
    match status {
        "running" => {}
        "created" => return Progress::Starting,
        "restarting" => {
            return Progress::Failed(format!(
                "it exited (code {exit}) and is restarting{because}"
            ))
        }
        other => return Progress::Failed(format!("it is {other}, exit code {exit}{because}")),
    }
    if state["RestartCount"].as_u64().unwrap_or(0) > 0 {
        return Progress::Failed(format!(
            "it exited (last exit code {exit}) and was restarted{because}"
        ));
    }
    if let Some(health) = state["Health"]["Status"].as_str() {
        return match health {
            "healthy" => Progress::Up,
            "unhealthy" => {
                let said = state["Health"]["Log"]
                    .as_array()
                    .and_then(|l| l.last())
                    .and_then(|l| l["Output"].as_str())
                    .map(|o| format!(": {}", o.trim()))
                    .unwrap_or_default();
                Progress::Failed(format!("its health check failed{said}"))
            }
            _ => Progress::Starting,
        };
    }
    let started = state["StartedAt"].as_str().unwrap_or_default();
    match first_start {
        Some((first, seen)) if first == started && seen >= STEADY => Progress::Up,
        Some((first, _)) if first != started => Progress::Failed(format!(
            "it exited (last exit code {exit}) and started again{because}"
        )),
        _ => Progress::Starting,
    }
}

/// Waits until container `id` is up, or says why it is not.
pub async fn until_up(docker: &NodeDocker<'_>, id: &str, health: &Value) -> Result<(), String> {
    let limit = deadline(health);
    let begun = Instant::now();
    let mut first: Option<(String, Instant)> = None;
    let mut last = String::from("no answer yet");
    while begun.elapsed() < limit {
        match docker.get(format!("/containers/{id}/json")).await {
            Ok(inspect) => {
                let state = &inspect["State"];
                if first.is_none() && state["Status"] == "running" {
                    let started = state["StartedAt"].as_str().unwrap_or_default();
                    first = Some((started.to_owned(), Instant::now()));
                }
                let seen = first.as_ref().map(|(s, at)| (s.as_str(), at.elapsed()));
                match progress(state, seen) {
                    Progress::Up => return Ok(()),
                    Progress::Failed(why) => return Err(why),
                    Progress::Starting => {
                        last = format!(
                            "{} {}",
                            state["Status"].as_str().unwrap_or("?"),
                            state["Health"]["Status"].as_str().unwrap_or("")
                        )
                        .trim()
                        .to_owned();
                    }
                }
            }
            Err(e) => last = e.to_string(),
        }
        tokio::time::sleep(POLL).await;
    }
    Err(format!(
        "not up within {}s (last seen: {last})",
        limit.as_secs()
    ))
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn the_deadline_follows_the_health_check() {
        assert_eq!(deadline(&Value::Null), MIN_DEADLINE);
        let quick = json!({"Test": ["CMD", "true"], "Interval": 1_000_000_000u64,
            "Timeout": 1_000_000_000u64, "Retries": 3});
        assert_eq!(deadline(&quick), MIN_DEADLINE);
        let slow = json!({"Test": ["CMD", "true"], "Interval": 60_000_000_000u64,
            "Timeout": 10_000_000_000u64, "Retries": 3, "StartPeriod": 30_000_000_000u64});
        assert_eq!(deadline(&slow), Duration::from_secs(30 + 70 * 4 + 10));
        assert_eq!(
            deadline(&json!({"Test": ["CMD", "x"], "Interval": u64::MAX / 8})),
            MAX_DEADLINE
        );
    }

    #[test]
    fn a_container_is_up_when_it_keeps_running_or_is_healthy() {
        let running = json!({"Status": "running", "StartedAt": "t1", "RestartCount": 0});
        assert_eq!(progress(&running, None), Progress::Starting);
        assert_eq!(
            progress(&running, Some(("t1", Duration::from_secs(1)))),
            Progress::Starting
        );
        assert_eq!(progress(&running, Some(("t1", STEADY))), Progress::Up);
        assert!(matches!(
            progress(&running, Some(("t0", STEADY))),
            Progress::Failed(_)
        ));
        let healthy =
            json!({"Status": "running", "StartedAt": "t1", "Health": {"Status": "healthy"}});
        assert_eq!(progress(&healthy, None), Progress::Up);
        let waiting =
            json!({"Status": "running", "StartedAt": "t1", "Health": {"Status": "starting"}});
        assert_eq!(progress(&waiting, Some(("t1", STEADY))), Progress::Starting);
        let sick = json!({"Status": "running", "Health": {"Status": "unhealthy",
            "Log": [{"Output": "connection refused\n"}]}});
        assert_eq!(
            progress(&sick, None),
            Progress::Failed("its health check failed: connection refused".into())
        );
        let exited = json!({"Status": "exited", "ExitCode": 3});
        assert_eq!(
            progress(&exited, None),
            Progress::Failed("it is exited, exit code 3".into())
        );
        let looping = json!({"Status": "restarting", "ExitCode": 1});
        assert!(
            matches!(progress(&looping, None), Progress::Failed(m) if m.contains("restarting"))
        );
    }
}
