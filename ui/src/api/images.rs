//! Pulling an image on chosen nodes, with the engines' progress streamed to the page.
//! Removing and pruning images are in `node_objects.rs`, as for volumes and networks.

use axum::extract::{Path, State};
use axum::http::Method;
use axum::response::Response;
use axum::routing::post;
use axum::Router;
use bytes::Bytes;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use serde::Deserialize;
use serde_json::{json, Value};
use tokio::sync::mpsc::Sender;

use super::action::{Action, PendingAction};
use super::cluster::Cluster;
use super::node_objects::{self, node_name, object_ref};
use super::sse::{sse_data, sse_response};
use super::{ApiError, ApiResult, Authed, JsonBody, Shared, CLUSTER};
use crate::agent::Call;
use crate::auth::Role;

pub(super) fn routes() -> Router<Shared> {
    Router::new()
        .route(&format!("{CLUSTER}/images/pull"), post(pull))
        .merge(node_objects::routes(node_objects::IMAGES))
}

/// What to pull, and where: no nodes is every node.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct PullRequest {
    image: String,
    #[serde(default)]
    nodes: Vec<String>,
}

/// `fromImage` and `tag` for a reference: without a tag or digest, `latest`, as the CLI
/// does (an empty tag would pull every tag).
fn from_image(reference: &str) -> (&str, &str) {
    if reference.contains('@') {
        return (reference, "");
    }
    let last = reference.rsplit('/').next().unwrap_or(reference);
    match last.rsplit_once(':') {
        Some((_, tag)) => (&reference[..reference.len() - tag.len() - 1], tag),
        None => (reference, "latest"),
    }
}

/// Starts the pull on every chosen node, then streams each node's progress as events
/// `{"node", ...the engine's progress line}`, then one `{"node", "done": true}` or
/// `{"node", "error"}` per node, and `{"end": true}` last. Each node's pull is audited when
/// its stream ends, with the engine's error if it gave one.
async fn pull(
    State(app): State<Shared>,
    who: Authed,
    Path(id): Path<i64>,
    body: JsonBody<PullRequest>,
) -> ApiResult<Response> {
    who.require(Role::Operator)?;
    let JsonBody(body) = body;
    let image = object_ref(body.image.trim())?;
    let cluster = Cluster::open(&app, id, &who).await?;
    let mut nodes = Vec::new();
    for node in &body.nodes {
        nodes.push(node_name(node)?.to_owned());
    }
    if nodes.is_empty() {
        nodes = node_objects::node_names(&cluster).await?;
    }
    if nodes.is_empty() {
        return Err(ApiError::bad("no node to pull on"));
    }
    let (repo, tag) = from_image(image);
    let path = format!(
        "/images/create?fromImage={}&tag={}",
        encode(repo),
        encode(tag)
    );
    let mut started = Vec::new();
    let mut refused = Vec::new();
    for node in nodes {
        let act = Action::start(&who, Role::Operator, "image.pull")?
            .at(&cluster.endpoint.name, &node)
            .on(image)
            .pending();
        match cluster
            .open_stream(Call::new(Method::POST, path.clone()).on(&node))
            .await
        {
            Ok(resp) => started.push((node, act, resp.into_body())),
            Err(e) => {
                let message = e.to_string();
                act.record(&app, Some(&message)).await;
                refused.push(json!({"node": node, "error": message}));
            }
        }
    }
    Ok(sse_response(&who, move |tx| async move {
        for event in refused {
            if tx.send(sse_data(&event.to_string())).await.is_err() {
                return;
            }
        }
        let relays = started
            .into_iter()
            .map(|(node, act, body)| relay(node, act, body, tx.clone(), &app));
        futures_util::future::join_all(relays).await;
        let _ = tx.send(sse_data(&json!({"end": true}).to_string())).await;
    }))
}

fn encode(text: &str) -> String {
    percent_encoding::utf8_percent_encode(text, percent_encoding::NON_ALPHANUMERIC).to_string()
}

/// Passes one node's progress lines on, each with its node, until the engine ends the
/// pull; then records how it went. A browser that leaves does not stop the pull: the
/// engine's stream is read to its end, so that the audit row says how it ended.
async fn relay(
    node: String,
    act: PendingAction,
    mut body: Incoming,
    tx: Sender<Bytes>,
    app: &super::App,
) {
    let mut pending: Vec<u8> = Vec::new();
    let mut error: Option<String> = None;
    loop {
        let frame = match body.frame().await {
            Some(Ok(frame)) => frame,
            Some(Err(e)) => {
                error = Some(format!("the pull's stream broke: {e}"));
                break;
            }
            None => break,
        };
        let Some(data) = frame.data_ref() else {
            continue;
        };
        pending.extend_from_slice(data);
        while let Some(at) = pending.iter().position(|b| *b == b'\n') {
            let line: Vec<u8> = pending.drain(..=at).collect();
            let Ok(mut progress) = serde_json::from_slice::<Value>(&line) else {
                continue;
            };
            if let Some(message) = progress["error"].as_str() {
                error = Some(message.to_owned());
                continue;
            }
            progress["node"] = json!(node);
            // A browser that left is no reason to stop reading: see above.
            let _ = tx.send(sse_data(&progress.to_string())).await;
        }
    }
    let last = match &error {
        Some(message) => json!({"node": node, "error": message}),
        None => json!({"node": node, "done": true}),
    };
    let _ = tx.send(sse_data(&last.to_string())).await;
    act.record(app, error.as_deref()).await;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_reference_without_a_tag_pulls_latest() {
        assert_eq!(from_image("busybox"), ("busybox", "latest"));
        assert_eq!(from_image("busybox:1.36"), ("busybox", "1.36"));
        assert_eq!(
            from_image("127.0.0.1:5000/team/app"),
            ("127.0.0.1:5000/team/app", "latest")
        );
        assert_eq!(
            from_image("127.0.0.1:5000/team/app:v2"),
            ("127.0.0.1:5000/team/app", "v2")
        );
        assert_eq!(from_image("app@sha256:ab"), ("app@sha256:ab", ""));
    }
}
