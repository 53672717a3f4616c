//! Image updates of one endpoint's cluster: the stored report (what each node found, when
//! it checked, which nodes are missing), "check now", and updating a container or a Swarm
//! service to its newest image.

use std::time::Duration;

use axum::extract::{Path, State};
use axum::http::{Method, StatusCode};
use axum::routing::{get, post};
use axum::{Json, Router};
use bytes::Bytes;
use serde::Deserialize;
use serde_json::{json, Value};

use super::action::Action;
use super::cluster::{container_ref, Cluster, STATUS_TIMEOUT};
use super::{ApiError, ApiResult, App, Authed, Shared, CLUSTER};
use crate::agent::Call;
use crate::auth::Role;
use crate::updates::credentials::{self, registry_auth, RegistryCredential};
use crate::updates::node::NodeDocker;
use crate::updates::recreate::image::{valid_tag, ImageState};
use crate::updates::recreate::{self, Outcome};
use crate::updates::report::ClusterReport;
use crate::updates::{pull, service};

/// A check on every node asks every registry of every image.
const CHECK_TIMEOUT: Duration = Duration::from_secs(300);

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(&format!("{CLUSTER}/updates"), get(report))
        .route(&format!("{CLUSTER}/updates/check"), post(check_now))
        .route(
            &format!("{CLUSTER}/updates/containers/{{cid}}"),
            post(update_container),
        )
        .route(
            &format!("{CLUSTER}/updates/services/{{sid}}"),
            post(update_service),
        )
}

/// The page's view of a report: one row per item with its node, the nodes' check times,
/// the missing nodes, and how many updates there are.
fn view(pulled_at: Option<i64>, report: &ClusterReport) -> Value {
    let mut items = Vec::new();
    for node in &report.nodes {
        for item in &node.items {
            let mut row = serde_json::to_value(item).unwrap_or_default();
            row["node"] = json!(node.node);
            items.push(row);
        }
    }
    let nodes: Vec<Value> = report
        .nodes
        .iter()
        .map(|n| {
            json!({"node": n.node, "checked_at": n.checked_at,
                   "next_check_at": n.next_check_at, "checking": n.checking})
        })
        .collect();
    json!({
        "pulled_at": pulled_at,
        "nodes": nodes,
        "missing": report.missing,
        "items": items,
        "available": report.available(),
    })
}

async fn report(
    State(app): State<Shared>,
    _who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    app.db.run(move |s| s.endpoint(id)).await?;
    let stored = app.db.run(move |s| s.update_report(id)).await?;
    Ok(Json(match stored {
        Some(s) => view(Some(s.pulled_at), &s.report),
        None => view(None, &ClusterReport::default()),
    }))
}

/// An endpoint's registry credentials, opened; a failure is the request's.
async fn registry_credentials(app: &App, endpoint: i64) -> ApiResult<Vec<RegistryCredential>> {
    credentials::load(&app.db, &app.sealer, endpoint)
        .await
        .map_err(|e| ApiError::internal(e.to_string()))
}

async fn check_now(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Operator, "updates.check")?;
    let cluster = Cluster::open(&app, id, &who).await?;
    let action = action.at(&cluster.endpoint.name, "").on("every node");
    let work = async {
        let creds = registry_credentials(&app, id).await?;
        let call = Call::new(Method::POST, "/agent/v1/updates/check?scope=cluster")
            .json(credentials::agent_body(&creds));
        let (_, body) = cluster.call(call, CHECK_TIMEOUT).await?;
        let report = pull::parse(&cluster.endpoint.name, &body)
            .map_err(|e| ApiError::new(StatusCode::BAD_GATEWAY, e.to_string()))?;
        pull::keep(&app, &cluster.endpoint, &report).await?;
        Ok::<_, ApiError>(view(Some(crate::store::now_secs()), &report))
    };
    Ok(Json(action.run(&app, work).await?))
}

/// What an update may be told: a newer tag to move to (else the running tag's newest).
#[derive(Deserialize, Default)]
#[serde(deny_unknown_fields)]
struct UpdateBody {
    tag: Option<String>,
}

/// The optional JSON body of an update.
fn update_body(body: &Bytes) -> ApiResult<Option<String>> {
    if body.iter().all(u8::is_ascii_whitespace) {
        return Ok(None);
    }
    let parsed: UpdateBody = serde_json::from_slice(body)
        .map_err(|e| ApiError::bad(format!("the update's body: {e}")))?;
    match parsed.tag {
        Some(tag) if !valid_tag(&tag) => Err(ApiError::bad(format!("{tag:?} is not a tag"))),
        tag => Ok(tag),
    }
}

async fn update_container(
    State(app): State<Shared>,
    who: Authed,
    Path((id, cid)): Path<(i64, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Operator, "container.update")?;
    let tag = update_body(&body)?;
    let (cluster, cid) = Cluster::for_object(&app, id, &cid, &who).await?;
    let owner = cluster.find_owner(cid).await;
    let action = action.at(&cluster.endpoint.name, &owner.node);
    let creds = registry_credentials(&app, id).await?;
    let client = app.agents.get(&cluster.endpoint)?;
    let docker = NodeDocker::new(client, who.caller(), &owner.node);
    match recreate::update_container(&docker, &owner.id, tag.as_deref(), &creds).await {
        Ok(outcome) => {
            if let Outcome::Updated {
                old_id,
                new_id,
                after,
                ..
            } = &outcome
            {
                record_update(&app, &cluster.endpoint, old_id, new_id, after).await;
            }
            let (target, error) = describe(&owner.name, &outcome);
            action.on(target).record(&app, error.as_deref()).await;
            let mut answer = serde_json::to_value(&outcome).unwrap_or_default();
            if let Some(message) = error {
                answer["message"] = json!(message);
            }
            Ok(Json(answer))
        }
        Err(e) => {
            let failed = ApiError::new(e.status(), format!("updating {}: {e}", owner.name));
            action
                .on(owner.name.clone())
                .finish(&app, Err(failed))
                .await
        }
    }
}

/// Marks the stored report's row of an updated container as updated, so that the page
/// and the alerts do not offer the same update again before the next check.
async fn record_update(
    app: &App,
    endpoint: &crate::store::Endpoint,
    old_id: &str,
    new_id: &str,
    after: &ImageState,
) {
    let id = endpoint.id;
    let Ok(Some(mut stored)) = app.db.run(move |s| s.update_report(id)).await else {
        return;
    };
    if stored
        .report
        .mark_updated(old_id, new_id, &after.reference, after.digest.as_deref())
    {
        if let Err(e) = pull::keep(app, endpoint, &stored.report).await {
            tracing::warn!(endpoint = %endpoint.name, error = %e, "updates: cannot record an update");
        }
    }
}

/// The audit row's target (the container and its images before and after) and error.
fn describe(name: &str, outcome: &Outcome) -> (String, Option<String>) {
    match outcome {
        Outcome::Updated {
            before,
            after,
            warning,
            ..
        } => (
            format!("{name}: {} -> {}", before.describe(), after.describe()),
            warning.clone(),
        ),
        Outcome::Current { image, .. } => {
            (format!("{name}: already on {}", image.describe()), None)
        }
        Outcome::RolledBack {
            before,
            after,
            step,
            reason,
            ..
        } => (
            format!("{name}: {} -> {}", before.describe(), after.describe()),
            Some(format!(
                "rolled back: {step}: {reason}; the old container runs again"
            )),
        ),
    }
}

async fn update_service(
    State(app): State<Shared>,
    who: Authed,
    Path((id, sid)): Path<(i64, String)>,
    body: Bytes,
) -> ApiResult<Json<Value>> {
    let action = Action::start(&who, Role::Operator, "service.update")?;
    let tag = update_body(&body)?;
    let sid = container_ref(&sid)?.to_owned();
    let cluster = Cluster::open(&app, id, &who).await?;
    let action = action.at(&cluster.endpoint.name, "");
    let creds = registry_credentials(&app, id).await?;
    // The digest the agents found, in case the engine cannot resolve one itself.
    let stored = app.db.run(move |s| s.update_report(id)).await?;
    let known = stored.and_then(|s| {
        s.report
            .nodes
            .iter()
            .flat_map(|n| n.items.iter())
            .find(|i| i.object == "service" && (i.id == sid || i.name == sid))
            .and_then(|i| i.newest_digest.clone())
    });
    let client = app.agents.get(&cluster.endpoint)?;
    let docker = NodeDocker::new(client, who.caller(), "");
    let image = cluster
        .json(Call::get(format!("/services/{sid}")), STATUS_TIMEOUT)
        .await
        .ok()
        .and_then(|(_, s)| {
            s["Spec"]["TaskTemplate"]["ContainerSpec"]["Image"]
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    let auth = registry_auth(&creds, &image);
    let result = service::update_service(
        &docker,
        &sid,
        tag.as_deref(),
        known.as_deref(),
        auth.as_deref(),
    )
    .await;
    match result {
        Ok((update, rollout)) => {
            let target = format!("{}: {} -> {}", update.name, update.before, update.image);
            let error = (!rollout.succeeded()).then(|| {
                format!("rollout {}: {}", rollout.state, rollout.message)
                    .trim_end_matches([' ', ':'])
                    .to_owned()
            });
            action.on(target).record(&app, error.as_deref()).await;
            Ok(Json(json!({
                "result": if rollout.succeeded() { "updated" } else { rollout.state.as_str() },
                "name": update.name,
                "before": update.before,
                "image": update.image,
                "rollout": rollout,
                "message": error,
            })))
        }
        Err(e) => {
            let failed = ApiError::new(e.status(), e.to_string());
            action.on(sid).finish(&app, Err(failed)).await
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_update_body_is_empty_or_a_tag() {
        assert_eq!(update_body(&Bytes::new()).expect("ok"), None);
        assert_eq!(update_body(&Bytes::from_static(b"{}")).expect("ok"), None);
        assert_eq!(
            update_body(&Bytes::from_static(b"{\"tag\": \"1.2.0\"}")).expect("ok"),
            Some("1.2.0".into())
        );
        assert!(update_body(&Bytes::from_static(b"{\"tag\": \"../x\"}")).is_err());
        assert!(update_body(&Bytes::from_static(b"{\"image\": \"x\"}")).is_err());
    }
}
