//! The update puller: every `--update-pull-interval`, for each endpoint, the registry
//! credentials passed down (when it has some), then every node's latest check
//! (`GET /agent/v1/updates?scope=cluster`) stored as the endpoint's report, and its
//! findings sent to the alerts and to the notification channels.

use std::sync::Arc;
use std::time::Duration;

use http::Method;
use tokio_util::sync::CancellationToken;

use super::credentials::{self, CredentialError};
use super::report::ClusterReport;
use crate::agent::{AgentError, Call, Caller, Failing, CONSOLE_SUBJECT};
use crate::app::App;
use crate::auth::Role;
use crate::store::{Endpoint, StoreError};
use crate::watch::Signal;

/// A cluster's report is small, but one agent gathers every node's.
const PULL_TIMEOUT: Duration = Duration::from_secs(30);

/// The console itself passing registry credentials down: the agents take them only from
/// a client allowed to write images, which a console pull's read token is not.
pub const CONSOLE_WRITER: Caller<'static> = Caller {
    user: CONSOLE_SUBJECT,
    role: Role::Admin,
};

#[derive(Debug, thiserror::Error)]
pub enum PullError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error("the update report of endpoint {endpoint}: {reason}")]
    Answer { endpoint: String, reason: String },
    #[error(transparent)]
    Credentials(#[from] CredentialError),
    #[error(transparent)]
    Store(#[from] StoreError),
}

/// Pulls every endpoint's update report each interval until `stop`.
pub async fn run(app: Arc<App>, stop: CancellationToken) {
    let mut tick = tokio::time::interval(app.update_pull_interval);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut failing = Failing::new("updates");
    loop {
        tokio::select! {
            _ = stop.cancelled() => return,
            _ = tick.tick() => {}
        }
        let endpoints = match app.db.run(|s| s.endpoints()).await {
            Ok(list) => list,
            Err(e) => {
                tracing::error!(error = %e, "updates: cannot list the endpoints");
                continue;
            }
        };
        failing.retain(&endpoints);
        let rounds = endpoints.iter().map(|endpoint| {
            let app = &app;
            async move { (endpoint, pull(app, endpoint).await) }
        });
        for (endpoint, result) in futures_util::future::join_all(rounds).await {
            if let Some(report) = failing.note(endpoint, &result) {
                tracing::debug!(endpoint = %endpoint.name, available = report.available(), "updates: pulled");
            }
        }
    }
}

/// One endpoint's pull: credentials down, the report back, stored and told.
pub async fn pull(app: &App, endpoint: &Endpoint) -> Result<ClusterReport, PullError> {
    let client = app.agents.get(endpoint)?;
    let creds = credentials::load(&app.db, &app.sealer, endpoint.id).await?;
    if !creds.is_empty() {
        let put = Call::new(Method::PUT, "/agent/v1/updates/credentials?scope=cluster")
            .json(credentials::agent_body(&creds));
        client.call(CONSOLE_WRITER, put, PULL_TIMEOUT).await?;
    }
    let (_, body) = client
        .call(
            Caller::CONSOLE,
            Call::get("/agent/v1/updates?scope=cluster"),
            PULL_TIMEOUT,
        )
        .await?;
    let report = parse(&endpoint.name, &body)?;
    keep(app, endpoint, &report).await?;
    Ok(report)
}

/// Reads an agent's answer as a cluster report.
pub fn parse(endpoint: &str, body: &[u8]) -> Result<ClusterReport, PullError> {
    serde_json::from_slice(body).map_err(|e| PullError::Answer {
        endpoint: endpoint.to_owned(),
        reason: e.to_string(),
    })
}

/// Stores `report` as the endpoint's latest and tells the alerts and the notification
/// channels its findings, all of them.
pub async fn keep(
    app: &App,
    endpoint: &Endpoint,
    report: &ClusterReport,
) -> Result<(), StoreError> {
    let id = endpoint.id;
    let stored = report.clone();
    app.db
        .run(move |s| s.put_update_report(id, &stored))
        .await?;
    let findings = report.findings(endpoint.id, &endpoint.name);
    app.alerts.signal(Signal::Updates {
        endpoint: endpoint.id,
        findings: findings.clone(),
    });
    app.notifier.updates(endpoint.id, findings);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::agent::ConsoleKey;
    use crate::app::Access;
    use crate::auth::{LoginLimiter, LoginLimits};
    use crate::sealed::Sealer;
    use crate::store::Store;
    use crate::usage::{Usage, UsageConfig, UsageStore};
    use crate::watch::Outgoing;

    fn app() -> App {
        let store = Store::in_memory().expect("store");
        store
            .add_tables(crate::updates::store::SCHEMA)
            .expect("tables");
        let key = ConsoleKey::from_pkcs8(&ConsoleKey::generate().expect("key")).expect("load");
        let access = Access {
            limiter: LoginLimiter::new(LoginLimits::default()),
            proxies: crate::auth::proxy::TrustedProxies::new(Vec::new()),
            mask_env: false,
            oidc: None,
        };
        let usage = Usage::new(
            UsageStore::in_memory().expect("usage store"),
            UsageConfig::default(),
        );
        App::new(store, key, access, usage, Sealer::ephemeral())
    }

    #[tokio::test]
    async fn a_pulled_answer_is_stored_and_its_findings_told_to_alerts_and_channels() {
        let app = app();
        let (ca, _) = bosun_serve::pki::Ca::generate("test CA").expect("CA");
        let ca_pem = ca.cert_pem().to_owned();
        let endpoint = app
            .db
            .run(move |s| {
                s.create_endpoint(
                    "prod",
                    "https://localhost:9001",
                    &ca_pem,
                    "key",
                    None,
                    &crate::profiles::ProfileMap::default(),
                )
            })
            .await
            .expect("endpoint");
        let body = serde_json::json!({
            "nodes": [{"node": "n1", "checked_at": 10, "next_check_at": 20, "checking": false,
                "items": [{"object": "container", "id": "c1", "name": "web",
                    "image": "127.0.0.1:5000/app:1.0.0", "update": "digest",
                    "running_digest": "sha256:a", "newest_digest": "sha256:b",
                    "newer_tags": [], "link": null, "checked_at": 10, "error": null}]}],
            "missing": [{"node": "n2", "reason": "down"}]
        })
        .to_string();
        let report = parse("prod", body.as_bytes()).expect("parses");
        keep(&app, &endpoint, &report).await.expect("kept");

        let id = endpoint.id;
        let stored = app
            .db
            .run(move |s| s.update_report(id))
            .await
            .expect("read")
            .expect("stored");
        assert_eq!(stored.report, report);
        let mut alerts = app.alerts.take_queue().expect("queue");
        let Some(Signal::Updates {
            endpoint: e,
            findings,
        }) = alerts.recv().await
        else {
            panic!("a signal");
        };
        assert_eq!(e, endpoint.id);
        assert_eq!(findings.len(), 1);
        assert_eq!(findings[0].name, "web");
        assert_eq!(findings[0].endpoint_name, "prod");
        let mut notices = app.notifier.take_queue().expect("queue");
        match notices.recv().await {
            Some(Outgoing::Updates {
                endpoint: e,
                findings,
            }) => {
                assert_eq!(e, endpoint.id);
                assert_eq!(findings[0].kind, "digest");
            }
            other => panic!("the channels hear of the findings: {other:?}"),
        }
        let bad = parse("prod", b"{\"nodes\": 3}").expect_err("not a report");
        assert!(bad.to_string().contains("prod"), "{bad}");
    }
}
