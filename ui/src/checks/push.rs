//! Sending the policies: one signed policy per member node (a node no check selects gets
//! an empty one), all in one `PUT /agent/v1/checks/policies` to the endpoint's agent,
//! which applies its own and forwards each other node's. What each node did is recorded.

use std::collections::BTreeMap;
use std::time::Duration;

use bosun_serve::checks::{PolicyPush, PushAnswer, PushOutcomeKind, Refusal};
use http::Method;

use super::target::{members, Member};
use crate::agent::{AgentError, Call, Caller};
use crate::app::App;
use crate::store::{Endpoint, StoreError};
use crate::updates::pull::CONSOLE_WRITER;

/// One agent asks every other node: as long as its slowest forward.
const PUSH_TIMEOUT: Duration = Duration::from_secs(30);
/// The members list.
const MEMBERS_TIMEOUT: Duration = Duration::from_secs(10);

#[derive(Debug, thiserror::Error)]
pub enum PushError {
    #[error(transparent)]
    Agent(#[from] AgentError),
    #[error(transparent)]
    Store(#[from] StoreError),
    #[error("{0}")]
    Sign(String),
    #[error("the push answer of endpoint {endpoint}: {reason}")]
    Answer { endpoint: String, reason: String },
}

/// The endpoint's nodes, as its agent lists them.
pub async fn cluster_members(app: &App, endpoint: &Endpoint) -> Result<Vec<Member>, AgentError> {
    let client = app.agents.get(endpoint)?;
    let (_, answer) = client
        .json(
            Caller::CONSOLE,
            Call::get("/agent/v1/members"),
            MEMBERS_TIMEOUT,
        )
        .await?;
    Ok(members(&answer))
}

/// Signs the current version's policy for every member node that is not down (or only
/// those in `only`) and sends them; what each node did. Nothing is sent before the
/// endpoint has had a check.
pub async fn push(
    app: &App,
    endpoint: &Endpoint,
    only: Option<&[String]>,
) -> Result<PushAnswer, PushError> {
    let lock = app.checks.push_lock(endpoint.id);
    let _one_at_a_time = lock.lock().await;
    let id = endpoint.id;
    let (config, defs) = app
        .db
        .run(move |s| Ok((s.check_config(id)?, s.check_defs(id)?)))
        .await?;
    if config.version == 0 {
        return Ok(PushAnswer { nodes: Vec::new() });
    }
    let nodes = match cluster_members(app, endpoint).await {
        Ok(nodes) => nodes,
        Err(e) => {
            mark_nodes(app, endpoint.id, &e.to_string()).await;
            return Err(e.into());
        }
    };
    let mut policies = BTreeMap::new();
    for member in nodes
        .iter()
        .filter(|m| m.state != "down")
        .filter(|m| only.is_none_or(|names| names.contains(&m.node)))
    {
        let jws = super::sign::sign(&app.key, member, &defs, config.version, config.concurrency)
            .map_err(PushError::Sign)?;
        policies.insert(member.node.clone(), jws);
    }
    if policies.is_empty() {
        return Ok(PushAnswer { nodes: Vec::new() });
    }
    let body = serde_json::to_value(PolicyPush { policies }).map_err(|e| PushError::Answer {
        endpoint: endpoint.name.clone(),
        reason: e.to_string(),
    })?;
    let client = app.agents.get(endpoint)?;
    let call = Call::new(Method::PUT, "/agent/v1/checks/policies").json(body);
    let answer = match client.call(CONSOLE_WRITER, call, PUSH_TIMEOUT).await {
        Ok((_, bytes)) => {
            serde_json::from_slice::<PushAnswer>(&bytes).map_err(|e| PushError::Answer {
                endpoint: endpoint.name.clone(),
                reason: e.to_string(),
            })?
        }
        Err(e) => {
            mark_nodes(app, endpoint.id, &format!("sending the policies: {e}")).await;
            return Err(e.into());
        }
    };
    let outcomes = answer.clone();
    let version = config.version;
    app.db
        .run(move |s| {
            for o in &outcomes.nodes {
                match o.outcome {
                    PushOutcomeKind::Applied | PushOutcomeKind::Unchanged => {
                        s.set_check_node_pushed(id, &o.node, o.version, None)?
                    }
                    PushOutcomeKind::Refused => {
                        let refusal = Refusal {
                            at: crate::store::now_secs().max(0) as u64,
                            version: Some(version),
                            reason: o.reason.clone().unwrap_or_else(|| "refused".into()),
                        };
                        s.set_check_node_pushed(id, &o.node, o.version, Some(&refusal))?
                    }
                    PushOutcomeKind::Unreachable => s.set_check_node_error(
                        id,
                        &o.node,
                        &format!(
                            "its policy could not be sent: {}",
                            o.reason.as_deref().unwrap_or("unreachable")
                        ),
                    )?,
                }
            }
            Ok(())
        })
        .await?;
    Ok(answer)
}

/// Marks every node the console knows of the endpoint with why it could not be reached
/// (a push or a pull that failed).
pub(super) async fn mark_nodes(app: &App, endpoint: i64, error: &str) {
    let error = error.to_owned();
    let done = app
        .db
        .run(move |s| {
            for node in s.check_nodes(endpoint)? {
                s.set_check_node_error(endpoint, &node.node, &error)?;
            }
            Ok(())
        })
        .await;
    if let Err(e) = done {
        tracing::warn!(error = %e, "checks: cannot record why the endpoint was not reached");
    }
}
