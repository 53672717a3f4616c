//! `POST /agent/v1/edge/key` and `POST /agent/v1/edge/key/commit`: the console rotates an
//! edge agent's key through its tunnel ([`crate::edge::EdgeKeys`]). The first makes a new
//! key and answers its public half with a proof it signs and a proof of the key in use,
//! `{"key", "proof", "current_proof"}`; the second,
//! `{"key"}`, makes that key the agent's once the console has pinned it. Both need write
//! on the agent's section (the admin profile).

use http::{Request, StatusCode};
use serde::Deserialize;
use serde_json::json;

use super::Context;
use crate::body::Body;
use crate::error::{json_error, json_response};

/// A commit's body is one public key.
const MAX_COMMIT: usize = 4 * 1024;

fn not_edge() -> http::Response<Body> {
    json_error(
        StatusCode::NOT_FOUND,
        "this agent is not in edge mode (--console-url): it has no edge key",
    )
}

pub fn begin(cx: &Context<'_>) -> http::Response<Body> {
    let Some(keys) = cx.edge_keys else {
        return not_edge();
    };
    let agent_id = cx.calls.cluster().agent_id();
    match keys.begin_rotation(agent_id) {
        Ok((key, proof)) => {
            tracing::info!(by = %cx.identity.subject, "edge key rotation begun");
            let current_proof = keys.proof(agent_id);
            json_response(
                StatusCode::OK,
                &json!({"key": key, "proof": proof, "current_proof": current_proof}),
            )
        }
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}

#[derive(Deserialize)]
struct Commit {
    key: String,
}

pub async fn commit(cx: &Context<'_>, req: Request<Body>) -> http::Response<Body> {
    let Some(keys) = cx.edge_keys else {
        return not_edge();
    };
    let (bytes, _held) = match cx
        .budget
        .collect(
            req.into_body(),
            MAX_COMMIT,
            "an edge key",
            &cx.identity.subject,
        )
        .await
    {
        Ok(read) => read,
        Err(e) => return json_error(StatusCode::BAD_REQUEST, &e.to_string()),
    };
    let commit: Commit = match serde_json::from_slice(&bytes) {
        Ok(c) => c,
        Err(e) => {
            return json_error(
                StatusCode::BAD_REQUEST,
                &format!("the body is not {{\"key\": \"PUBLIC KEY\"}}: {e}"),
            )
        }
    };
    match keys.commit_rotation(&commit.key) {
        Ok(true) => {
            tracing::info!(by = %cx.identity.subject, "edge key rotated: the new key is kept");
            json_response(StatusCode::OK, &json!({"key": commit.key}))
        }
        Ok(false) => json_error(
            StatusCode::CONFLICT,
            "no rotation to that key was begun here (or it was taken already)",
        ),
        Err(e) => json_error(StatusCode::INTERNAL_SERVER_ERROR, &e.to_string()),
    }
}
