//! Container exits, restart loops, health and OOM: the agent's merged event stream of an
//! endpoint, followed live. Where it was left is stored, so that after a drop or a
//! console restart the stream resumes from there (`since`) and nothing is missed. An
//! exit, an OOM or an unhealthy container comes with its last 20 log lines.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::{Duration, Instant};

use http_body_util::BodyExt;
use serde_json::Value;
use tokio::sync::mpsc;
use tokio_util::sync::CancellationToken;

use super::evaluate::{Observation, Reading};
use super::rule::Kind;
use super::Batch;
use crate::agent::{AgentClients, Call, Caller};
use crate::store::{now_secs, Db, Endpoint};

/// How long to wait before asking again after the stream ended or could not be opened.
const RECONNECT_AFTER: Duration = Duration::from_secs(2);
const LOGS_TIMEOUT: Duration = Duration::from_secs(5);
const MEMBERS_TIMEOUT: Duration = Duration::from_secs(5);
/// How often, at most, where the stream was left is stored when nothing is judged.
const CURSOR_EVERY: Duration = Duration::from_secs(1);
/// The log lines attached to an alert.
const LOG_LINES: usize = 20;
/// Deaths kept per container for restart loops.
const DEATHS_KEPT: usize = 100;

/// Where the stream was left: the last event's time in nanoseconds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
struct Cursor(i128);

impl Cursor {
    fn parse(text: &str) -> Option<Self> {
        let (secs, nanos) = text.split_once('.').unwrap_or((text, "0"));
        let secs: i128 = secs.parse().ok()?;
        let nanos: i128 = format!("{nanos:0<9}").get(..9)?.parse().ok()?;
        Some(Self(secs * 1_000_000_000 + nanos))
    }

    /// As the engines' `since` takes it: seconds with nine decimals.
    fn since(self) -> String {
        format!(
            "{}.{:09}",
            self.0.div_euclid(1_000_000_000),
            self.0.rem_euclid(1_000_000_000)
        )
    }
}

/// What the watcher keeps between events.
struct Watch {
    endpoint: Endpoint,
    agents: Arc<AgentClients>,
    /// The node of a standalone agent, whose events name none.
    sole: Option<String>,
    cursor: Cursor,
    /// The last event handled at the cursor's time, so a resumed stream skips it.
    last: Option<(String, String)>,
    deaths: HashMap<String, Vec<i64>>,
}

/// Follows `endpoint`'s container events until `stop`.
pub async fn watch(
    db: Db,
    agents: Arc<AgentClients>,
    endpoint: Endpoint,
    tx: mpsc::Sender<Batch>,
    stop: CancellationToken,
) {
    let id = endpoint.id;
    let stored = db.run(move |s| s.alert_event_cursor(id)).await;
    let cursor = match stored {
        Ok(Some(text)) => Cursor::parse(&text),
        Ok(None) => None,
        Err(e) => {
            tracing::warn!(endpoint = %endpoint.name, error = %e, "alerts: where the events were left");
            None
        }
    };
    // A first start watches from now: what happened before is not news.
    let cursor = cursor.unwrap_or(Cursor(now_secs() as i128 * 1_000_000_000));
    let mut w = Watch {
        endpoint,
        agents,
        sole: None,
        cursor,
        last: None,
        deaths: HashMap::new(),
    };
    let mut failing = false;
    loop {
        let ended = tokio::select! {
            _ = stop.cancelled() => return,
            ended = w.follow(&db, &tx) => ended,
        };
        match ended {
            Ok(()) => failing = false,
            Err(e) if !failing => {
                tracing::warn!(endpoint = %w.endpoint.name, error = %e, "alerts: the event stream");
                failing = true;
            }
            Err(_) => {}
        }
        if tx.is_closed() {
            return;
        }
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tokio::time::sleep(RECONNECT_AFTER) => {}
        }
    }
}

impl Watch {
    /// One stream, from the cursor on, until it ends.
    async fn follow(&mut self, db: &Db, tx: &mpsc::Sender<Batch>) -> Result<(), String> {
        let client = self.agents.get(&self.endpoint).map_err(|e| e.to_string())?;
        let members = client
            .json(
                Caller::CONSOLE,
                Call::get("/agent/v1/members"),
                MEMBERS_TIMEOUT,
            )
            .await
            .map_err(|e| e.to_string())?
            .1;
        self.sole = match members["Members"].as_array().map(Vec::as_slice) {
            Some([only]) => only["NodeName"].as_str().map(str::to_owned),
            _ => None,
        };
        let filters = percent_encoding::utf8_percent_encode(
            r#"{"type":["container"]}"#,
            percent_encoding::NON_ALPHANUMERIC,
        );
        let path = format!("/events?filters={filters}&since={}", self.cursor.since());
        let mut body = client
            .open(Caller::CONSOLE, Call::get(path))
            .await
            .map_err(|e| e.to_string())?
            .into_body();
        let mut pending: Vec<u8> = Vec::new();
        let mut stored = Instant::now();
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| e.to_string())?;
            let Some(data) = frame.data_ref() else {
                continue;
            };
            pending.extend_from_slice(data);
            while let Some(at) = pending.iter().position(|b| *b == b'\n') {
                let line: Vec<u8> = pending.drain(..=at).collect();
                let Ok(event) = serde_json::from_slice::<Value>(&line) else {
                    continue;
                };
                let judged = self.handle(&event).await;
                let judged_any = judged.is_some();
                if let Some(batch) = judged {
                    if tx.send(batch).await.is_err() {
                        return Ok(());
                    }
                }
                // Health checks' exec events come often: the cursor is stored at most once
                // a second, and after each event that was judged. A replay of that second
                // after a restart judges nothing twice: the machine ignores a repeat.
                if judged_any || stored.elapsed() >= CURSOR_EVERY {
                    stored = Instant::now();
                    let (id, since) = (self.endpoint.id, self.cursor.since());
                    if let Err(e) = db.run(move |s| s.set_alert_event_cursor(id, &since)).await {
                        tracing::warn!(error = %e, "alerts: cannot store where the events were left");
                    }
                }
            }
        }
        Ok(())
    }

    /// One event: the cursor moves on, and what it says of the container is observed.
    async fn handle(&mut self, event: &Value) -> Option<Batch> {
        let nanos = event["timeNano"]
            .as_i64()
            .map(i128::from)
            .or_else(|| event["time"].as_i64().map(|s| s as i128 * 1_000_000_000))?;
        let action = event["Action"].as_str().unwrap_or_default().to_owned();
        let cid = event["Actor"]["ID"].as_str().unwrap_or_default().to_owned();
        let seen = Cursor(nanos);
        if seen < self.cursor
            || (seen == self.cursor && self.last == Some((cid.clone(), action.clone())))
        {
            return None;
        }
        self.cursor = seen;
        self.last = Some((cid.clone(), action.clone()));
        let at = (nanos / 1_000_000_000) as i64;
        let attributes = &event["Actor"]["Attributes"];
        let name = attributes["name"].as_str().unwrap_or(&cid).to_owned();
        let node = event["Agent"]["NodeName"]
            .as_str()
            .map(str::to_owned)
            .or_else(|| self.sole.clone())?;
        let labels: BTreeMap<String, String> = attributes
            .as_object()
            .into_iter()
            .flatten()
            .filter_map(|(k, v)| v.as_str().map(|v| (k.clone(), v.to_owned())))
            .collect();
        let base = Observation {
            kind: Kind::ContainerExited,
            endpoint: self.endpoint.id,
            node: Some(node.clone()),
            labels: Some(Arc::new(labels)),
            key: format!("{node}/ctr:{name}"),
            subject: name.clone(),
            reading: Reading::Holds(false),
            summary: String::new(),
            details: Vec::new(),
            at,
        };
        let seen = |kind: Kind, holds: bool, summary: String| Observation {
            kind,
            reading: Reading::Holds(holds),
            summary,
            ..base.clone()
        };
        let health = action.strip_prefix("health_status:").map(str::trim);
        let observations = match (action.as_str(), health) {
            ("die", _) => {
                let code = attributes["exitCode"].as_str().unwrap_or("0").to_owned();
                let deaths = self.deaths.entry(base.key.clone()).or_default();
                deaths.push(at);
                if deaths.len() > DEATHS_KEPT {
                    deaths.remove(0);
                }
                let restarts = Observation {
                    kind: Kind::ContainerRestarting,
                    reading: Reading::Restarts(deaths.clone()),
                    summary: format!("{name} keeps dying (last exit code {code})"),
                    ..base.clone()
                };
                if code == "0" {
                    vec![restarts]
                } else {
                    let logs = self.logs(&cid, &node).await;
                    let exited = Observation {
                        details: logs.clone(),
                        ..seen(
                            Kind::ContainerExited,
                            true,
                            format!("{name} exited with code {code}"),
                        )
                    };
                    vec![
                        exited,
                        Observation {
                            details: logs,
                            ..restarts
                        },
                    ]
                }
            }
            ("oom", _) => {
                let logs = self.logs(&cid, &node).await;
                vec![Observation {
                    details: logs,
                    ..seen(
                        Kind::ContainerOom,
                        true,
                        format!("{name} ran out of memory"),
                    )
                }]
            }
            ("start", _) => {
                let again = format!("{name} is running again");
                vec![
                    seen(Kind::ContainerExited, false, again.clone()),
                    seen(Kind::ContainerOom, false, again),
                ]
            }
            (_, Some("unhealthy")) => {
                let logs = self.logs(&cid, &node).await;
                vec![Observation {
                    details: logs,
                    ..seen(
                        Kind::ContainerUnhealthy,
                        true,
                        format!("{name} is unhealthy"),
                    )
                }]
            }
            (_, Some("healthy")) => vec![seen(
                Kind::ContainerUnhealthy,
                false,
                format!("{name} is healthy again"),
            )],
            ("destroy", _) => {
                self.deaths.remove(&base.key);
                let gone = format!("{name} was removed");
                vec![
                    seen(Kind::ContainerExited, false, gone.clone()),
                    seen(Kind::ContainerOom, false, gone.clone()),
                    seen(Kind::ContainerUnhealthy, false, gone.clone()),
                    Observation {
                        kind: Kind::ContainerRestarting,
                        reading: Reading::Restarts(Vec::new()),
                        summary: gone,
                        ..base.clone()
                    },
                ]
            }
            _ => return None,
        };
        Some((observations, None))
    }

    /// The container's last log lines, through the agent on its node; a line saying why
    /// where they cannot be had.
    async fn logs(&self, cid: &str, node: &str) -> Vec<String> {
        let path = format!("/containers/{cid}/logs?tail={LOG_LINES}&stdout=1&stderr=1");
        let client = match self.agents.get(&self.endpoint) {
            Ok(c) => c,
            Err(e) => return vec![format!("(no log lines: {e})")],
        };
        match client
            .call(Caller::CONSOLE, Call::get(path).on(node), LOGS_TIMEOUT)
            .await
        {
            Ok((_, raw)) => {
                let (text, _) = crate::agent::docker_stream::demux(&raw);
                let text = String::from_utf8_lossy(&text);
                let lines: Vec<String> = text.lines().map(str::to_owned).collect();
                let from = lines.len().saturating_sub(LOG_LINES);
                lines[from..].to_vec()
            }
            Err(e) => vec![format!("(no log lines: {e})")],
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cursors_read_and_write_the_engines_since() {
        let c = Cursor::parse("1700000000.5").expect("a time");
        assert_eq!(c.since(), "1700000000.500000000");
        assert_eq!(
            Cursor::parse("1700000000").map(Cursor::since).as_deref(),
            Some("1700000000.000000000")
        );
        assert!(Cursor::parse("x").is_none());
    }
}
