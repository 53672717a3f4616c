//! Who the client is: a bearer token or a client certificate, or, for a request another
//! agent forwarded, the identity its agent token carries.

use http::{HeaderValue, Request};

use crate::access::Policy;
use crate::auth::{AuthError, Authenticator, Identity};
use crate::cluster::token::Bound;
use crate::cluster::Cluster;
use crate::error::ProxyError;
use crate::headers::Asked;
use crate::tls::ClientCert;

/// What the agent knows about a client connection once TLS is up.
#[derive(Debug, Clone)]
pub struct ConnInfo {
    pub peer: std::net::SocketAddr,
    pub client_cert: ClientCert,
}

/// The client's identity, and whether another agent forwarded the request on its behalf.
pub fn identify<B>(
    cluster: &Cluster,
    auth: &Authenticator,
    conn: &ConnInfo,
    req: &Request<B>,
    asked: &Asked<'_>,
    policy: &Policy,
) -> Result<(Identity, bool), ProxyError> {
    if let Some(token) = asked.agent_token {
        let tokens = cluster.tokens().ok_or_else(|| {
            ProxyError::Unauthenticated(AuthError::Token(
                "this agent has no cluster secret and accepts no forwarded requests".into(),
            ))
        })?;
        let token = token.to_str().map_err(|_| {
            ProxyError::Unauthenticated(AuthError::Token("agent token is not text".into()))
        })?;
        let me = cluster.view().me.meta.node_name.clone();
        let path_and_query = req
            .uri()
            .path_and_query()
            .map(|p| p.as_str())
            .unwrap_or("/");
        let bound = Bound {
            node: &me,
            method: req.method(),
            path_and_query,
        };
        return Ok((tokens.verify(token, bound)?, true));
    }
    let identity = auth.authenticate(
        asked.authorization.map(HeaderValue::as_bytes),
        &conn.client_cert,
        policy,
    )?;
    Ok((identity, false))
}
