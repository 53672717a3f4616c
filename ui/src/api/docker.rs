//! The Docker Engine API of every endpoint, through the console:
//! `{e}/docker/{path}`, so that the stock CLI reaches a cluster nobody can dial
//! (`DOCKER_HOST=tcp://console:9443/api/endpoints/ID/docker` with `--tls`, and a personal
//! token in the CLI's `HttpHeaders`).
//!
//! A request is passed on to the endpoint's agent as it came, with the console's token for
//! the user instead of the user's credential, so the agent decides what the user's role
//! (or profile there) allows, exactly as for the console's own pages. Answers stream back;
//! an upgraded request (`exec`, `attach`) becomes a raw stream both ways. Everything a
//! request keeps open ends when the user's session or token does. Every request that is
//! not a read is audited as `docker.api`, with the node that ran it.

use axum::body::Body;
use axum::extract::{Path, Request, State};
use axum::http::{header, HeaderMap, HeaderValue, Method, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::any;
use axum::Router;
use futures_util::StreamExt;
use http_body_util::BodyExt;
use hyper::body::Incoming;
use hyper_util::rt::TokioIo;

use super::action::Action;
use super::cluster::{served_by, Cluster};
use super::{ApiError, Authed, Shared, CLUSTER};
use crate::agent::{self, BoxError};
use crate::auth::Role;

/// The most of an error answer read for the audit row (Docker's are a line of JSON).
const MAX_ERROR_BODY: usize = 64 * 1024;

/// The headers of an agent's answer not passed on: those of its connection with the
/// console, and cookies, which are the console's own to set.
const HOP_BY_HOP: [&str; 6] = [
    "connection",
    "keep-alive",
    "transfer-encoding",
    "upgrade",
    "trailer",
    "set-cookie",
];

pub(super) fn routes() -> Router<Shared> {
    Router::new().route(&format!("{CLUSTER}/docker/{{*rest}}"), any(forward))
}

/// The Docker API path the client asked for, as it came (still percent-encoded), with its
/// query: what follows `/api/endpoints/{id}/docker`.
fn docker_path(uri: &axum::http::Uri, id: i64) -> Result<String, ApiError> {
    let prefix = format!("/api/endpoints/{id}/docker/");
    let rest = uri.path().strip_prefix(&prefix).ok_or_else(|| {
        ApiError::new(
            StatusCode::NOT_FOUND,
            format!("the Docker API of endpoint {id} is under {prefix}"),
        )
    })?;
    if rest
        .split('/')
        .any(|s| s == ".." || s == "." || s.is_empty())
    {
        return Err(ApiError::bad(
            "a Docker API path has no empty, . or .. segments",
        ));
    }
    // The agent's own API (`/agent/...`, `/metrics`) is the console's to use, not passed on.
    let unversioned = match rest.split_once('/') {
        Some((first, after)) if first.starts_with('v') && first[1..].contains('.') => after,
        _ => rest,
    };
    if unversioned == "metrics" || unversioned == "agent" || unversioned.starts_with("agent/") {
        return Err(ApiError::new(
            StatusCode::NOT_FOUND,
            "the agent's own API is not served through the console's Docker API",
        ));
    }
    Ok(match uri.query() {
        Some(q) => format!("/{rest}?{q}"),
        None => format!("/{rest}"),
    })
}

async fn forward(
    State(app): State<Shared>,
    who: Authed,
    Path((id, _)): Path<(i64, String)>,
    mut req: Request,
) -> Response {
    if who.by_session() {
        // For tools, not pages: a session's cookie would let a page of this site reach the
        // engine (a WebSocket attach is a GET), and the engine's answers would be served
        // from the console's origin.
        return ApiError::new(
            StatusCode::UNAUTHORIZED,
            "the Docker API through the console takes a personal token (Authorization: \
             Bearer bosun_pat_…), not a session: make one on the Tokens page",
        )
        .into_response();
    }
    let method = req.method().clone();
    let path = match docker_path(req.uri(), id) {
        Ok(path) => path,
        Err(e) => return e.into_response(),
    };
    let cluster = match Cluster::open(&app, id, &who).await {
        Ok(cluster) => cluster,
        Err(e) => return e.into_response(),
    };
    // Reads are not audited: a write is, and every upgrade (a WebSocket attach is a GET),
    // with the node the agent says ran it.
    let upgrading = agent::upgrade_asked(req.headers()).is_some();
    let audited = (upgrading || (method != Method::GET && method != Method::HEAD)).then(|| {
        let endpoint = cluster.endpoint.name.clone();
        (endpoint, format!("{method} {}", path_only(&path)))
    });
    let client_upgrade = upgrading.then(|| hyper::upgrade::on(&mut req));
    let (parts, body) = req.into_parts();
    let body = body.map_err(BoxError::from).boxed_unsync();
    // An error answer of an audited request is read whole, for its message in the row;
    // any other answer streams back as it comes.
    let answer = match cluster.forward(method, &path, &parts.headers, body).await {
        Err(e) => {
            let e = ApiError::from(e);
            Err((e.message.clone(), e.into_response()))
        }
        Ok(resp)
            if audited.is_some()
                && (resp.status().is_client_error() || resp.status().is_server_error()) =>
        {
            Err(error_answer(resp).await)
        }
        Ok(resp) => Ok(resp),
    };
    if let Some((endpoint, target)) = &audited {
        let node = answer
            .as_ref()
            .ok()
            .and_then(|r| served_by(r.headers()))
            .unwrap_or_default()
            .to_owned();
        if let Ok(action) = Action::start(&who, Role::Viewer, "docker.api") {
            let error = answer.as_ref().err().map(|(message, _)| message.as_str());
            action
                .at(endpoint, &node)
                .on(target.clone())
                .record(&app, error)
                .await;
        }
    }
    let resp = match answer {
        Ok(resp) => resp,
        // The agent's own answer, status and all, as the engine or the agent gave it.
        Err((_, resp)) => return resp,
    };
    if resp.status() == StatusCode::SWITCHING_PROTOCOLS {
        return switch(resp, client_upgrade, who.ended());
    }
    stream_back(resp, who.ended())
}

/// The path of `path_and_query`, for the audit row (a query can hold filters or secrets).
fn path_only(path_and_query: &str) -> &str {
    path_and_query
        .split_once('?')
        .map_or(path_and_query, |(p, _)| p)
}

/// An error answer, read whole: its message for the audit row, and the answer to give.
async fn error_answer(resp: hyper::Response<Incoming>) -> (String, Response) {
    let (mut parts, body) = resp.into_parts();
    let limited = http_body_util::Limited::new(body, MAX_ERROR_BODY);
    let bytes = limited
        .collect()
        .await
        .map(|b| b.to_bytes())
        .unwrap_or_default();
    let message = agent::error_message(&bytes, parts.status);
    strip_hop_by_hop(&mut parts.headers);
    parts.headers.remove(header::CONTENT_LENGTH);
    (message, Response::from_parts(parts, Body::from(bytes)))
}

fn strip_hop_by_hop(headers: &mut HeaderMap) {
    for name in HOP_BY_HOP {
        headers.remove(name);
    }
}

/// The agent's answer with its body streaming to the client, until the body ends or the
/// user's session or token does.
fn stream_back(
    resp: hyper::Response<Incoming>,
    ended: impl std::future::Future<Output = ()> + Send + 'static,
) -> Response {
    let (mut parts, body) = resp.into_parts();
    strip_hop_by_hop(&mut parts.headers);
    let stream = body.into_data_stream().take_until(ended);
    Response::from_parts(parts, Body::from_stream(stream))
}

/// An upgraded answer (`exec`, `attach`): `101` to the client, then bytes both ways
/// between the client's connection and the agent's until both sides end or the user's
/// session or token does.
fn switch(
    resp: hyper::Response<Incoming>,
    client_upgrade: Option<hyper::upgrade::OnUpgrade>,
    ended: impl std::future::Future<Output = ()> + Send + 'static,
) -> Response {
    let Some(client_upgrade) = client_upgrade else {
        return ApiError::new(
            StatusCode::BAD_GATEWAY,
            "the agent switched protocols on a request that did not ask to",
        )
        .into_response();
    };
    let mut answer = Response::new(Body::empty());
    *answer.status_mut() = StatusCode::SWITCHING_PROTOCOLS;
    let headers = answer.headers_mut();
    for (name, value) in resp.headers() {
        if !HOP_BY_HOP.contains(&name.as_str()) {
            headers.insert(name, value.clone());
        }
    }
    headers.insert(header::CONNECTION, HeaderValue::from_static("Upgrade"));
    let protocol = resp
        .headers()
        .get(header::UPGRADE)
        .cloned()
        .unwrap_or(HeaderValue::from_static("tcp"));
    headers.insert(header::UPGRADE, protocol);
    tokio::spawn(async move {
        let (agent_side, client_side) =
            match tokio::try_join!(hyper::upgrade::on(resp), client_upgrade) {
                Ok(both) => both,
                Err(e) => {
                    tracing::debug!(error = %e, "an upgraded Docker API request");
                    return;
                }
            };
        let (mut agent_side, mut client_side) =
            (TokioIo::new(agent_side), TokioIo::new(client_side));
        tokio::select! {
            copied = tokio::io::copy_bidirectional(&mut client_side, &mut agent_side) => {
                if let Err(e) = copied {
                    tracing::debug!(error = %e, "an upgraded Docker API stream");
                }
            }
            () = ended => {}
        }
    });
    answer
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_docker_path_is_what_follows_the_prefix_as_it_came() {
        let uri: axum::http::Uri = "/api/endpoints/3/docker/v1.41/containers/json?all=1"
            .parse()
            .unwrap();
        assert_eq!(
            docker_path(&uri, 3).unwrap(),
            "/v1.41/containers/json?all=1"
        );
        let uri: axum::http::Uri = "/api/endpoints/3/docker/v1.41/images/a%2Fb/json"
            .parse()
            .unwrap();
        assert_eq!(docker_path(&uri, 3).unwrap(), "/v1.41/images/a%2Fb/json");
        let uri: axum::http::Uri = "/api/endpoints/3/docker/../../users".parse().unwrap();
        assert_eq!(
            docker_path(&uri, 3).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let uri: axum::http::Uri = "/api/endpoints/3/docker//agent/v1/info".parse().unwrap();
        assert_eq!(
            docker_path(&uri, 3).unwrap_err().status,
            StatusCode::BAD_REQUEST
        );
        let uri: axum::http::Uri = "/api/endpoints/03/docker/_ping".parse().unwrap();
        assert_eq!(
            docker_path(&uri, 3).unwrap_err().status,
            StatusCode::NOT_FOUND
        );
        assert_eq!(path_only("/containers/json?filters=x"), "/containers/json");
        for own in ["agent/v1/edge/key", "v1.41/agent/v1/members", "metrics"] {
            let uri: axum::http::Uri = format!("/api/endpoints/3/docker/{own}").parse().unwrap();
            assert_eq!(
                docker_path(&uri, 3).unwrap_err().status,
                StatusCode::NOT_FOUND,
                "{own}"
            );
        }
    }
}
