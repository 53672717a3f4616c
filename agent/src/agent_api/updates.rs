//! `/agent/v1/updates`: this node's latest image update check, or every node's
//! (`scope=cluster`); `POST …/check` checks now and `PUT …/credentials` keeps the console's
//! registry credentials, here or on every node.

use std::time::Duration;

use bytes::Bytes;
use http::{Method, Request, StatusCode};

use crate::body::Body;
use crate::error::json_error;
use crate::updates::credentials::CredentialsBody;
use crate::updates::report::{ClusterUpdates, Missing, NodeUpdates};

use super::{asked, Context};

/// The largest credentials body read.
const MAX_BODY: usize = 256 << 10;
/// How long a cluster-wide check waits for the slowest node's check.
const CHECK_DEADLINE: Duration = Duration::from_secs(300);

pub async fn latest(cx: &Context<'_>, query: &str) -> http::Response<Body> {
    let cluster = match asked(query) {
        Ok(a) => a.cluster,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    if !cluster {
        return super::json_answer(&here(cx), "update checks");
    }
    let mut answer = ClusterUpdates {
        nodes: vec![here(cx)],
        missing: Vec::new(),
    };
    gather(&mut answer, super::ask_peers(cx, "/agent/v1/updates").await);
    partial(answer)
}

pub async fn check(cx: &Context<'_>, query: &str, req: Request<Body>) -> http::Response<Body> {
    let cluster = match asked(query) {
        Ok(a) => a.cluster,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let content = match read_body(cx, req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if !cluster {
        return super::json_answer(
            &cx.updates.check().await.scoped(&cx.profile.labels),
            "update checks",
        );
    }
    let path = "/agent/v1/updates/check";
    let (mine, others) = tokio::join!(
        cx.updates.check(),
        super::ask_peers_with(cx, Some((&Method::POST, &content)), path, CHECK_DEADLINE)
    );
    let mut answer = ClusterUpdates {
        nodes: vec![mine.scoped(&cx.profile.labels)],
        missing: Vec::new(),
    };
    gather(&mut answer, others);
    partial(answer)
}

pub async fn credentials(
    cx: &Context<'_>,
    query: &str,
    req: Request<Body>,
) -> http::Response<Body> {
    let cluster = match asked(query) {
        Ok(a) => a.cluster,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e),
    };
    let content = match read_body(cx, req).await {
        Ok(c) => c,
        Err(resp) => return resp,
    };
    if cluster {
        let path = "/agent/v1/updates/credentials";
        let failed: Vec<(String, String)> =
            super::ask_peers_with(cx, Some((&Method::PUT, &content)), path, cx.fanout_deadline)
                .await
                .into_iter()
                .filter_map(|(node, answer)| answer.err().map(|reason| (node, reason)))
                .collect();
        if !failed.is_empty() {
            let named: Vec<String> = failed.iter().map(|(n, r)| format!("{n}: {r}")).collect();
            return json_error(
                StatusCode::BAD_GATEWAY,
                &format!("kept here, but not on every node: {}", named.join("; ")),
            );
        }
    }
    let mut resp = http::Response::new(crate::body::empty());
    *resp.status_mut() = StatusCode::NO_CONTENT;
    resp
}

/// Reads the optional credentials body and keeps its credentials; the body, to pass on to
/// the other nodes.
async fn read_body(cx: &Context<'_>, req: Request<Body>) -> Result<Bytes, http::Response<Body>> {
    let (bytes, _held) = cx
        .budget
        .collect(
            req.into_body(),
            MAX_BODY,
            "registry credentials",
            &cx.identity.subject,
        )
        .await
        .map_err(|e| json_error(StatusCode::BAD_REQUEST, &e.to_string()))?;
    if bytes.iter().all(u8::is_ascii_whitespace) {
        return Ok(Bytes::new());
    }
    let body: CredentialsBody = serde_json::from_slice(&bytes).map_err(|e| {
        json_error(
            StatusCode::BAD_REQUEST,
            &format!(
                "the body is not {{\"credentials\": [{{\"registry\", \"username\", \"password\"}}]}}: {e}"
            ),
        )
    })?;
    if let Some(c) = body
        .credentials
        .iter()
        .find(|c| c.registry.trim().is_empty())
    {
        return Err(json_error(
            StatusCode::BAD_REQUEST,
            &format!("a credential for user {:?} names no registry", c.username),
        ));
    }
    cx.updates.set_credentials(body.credentials);
    Ok(bytes)
}

fn here(cx: &Context<'_>) -> NodeUpdates {
    cx.updates.latest().scoped(&cx.profile.labels)
}

fn gather(answer: &mut ClusterUpdates, others: Vec<(String, Result<Bytes, String>)>) {
    let (nodes, missing) = super::read_answers::<NodeUpdates>(others);
    answer.nodes.extend(nodes);
    answer.missing.extend(
        missing
            .into_iter()
            .map(|(node, reason)| Missing { node, reason }),
    );
}

fn partial(answer: ClusterUpdates) -> http::Response<Body> {
    let missing: Vec<(String, String)> = answer
        .missing
        .iter()
        .map(|m| (m.node.clone(), m.reason.clone()))
        .collect();
    super::cluster_answer(&answer, &missing, "update checks")
}
