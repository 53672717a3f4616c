//! What the client may do: its profile allows the request's section, the request passes the
//! guards every profile gets, a restricted profile's label scope and create rules are
//! applied, and a long-lived request takes one of its places.

use std::sync::Arc;

use http::{HeaderValue, Request};

use crate::access::{routes, Policy, Profile};
use crate::audit::Record;
use crate::auth::{Authenticator, Identity};
use crate::body::{self, Body, Budget, Held, Keep};
use crate::calls::Calls;
use crate::error::ProxyError;
use crate::headers;

use super::guard::{self, Access};
use super::identify::{self, ConnInfo};
use super::streams::Streams;

/// What an authorization needs.
pub struct Authorizer<'a> {
    pub calls: &'a Calls,
    pub auth: &'a Authenticator,
    pub policy: &'a Policy,
    pub budget: &'a Budget,
    pub streams: &'a Arc<Streams>,
}

/// What authorizing a request the client may make found out, for placing it.
pub struct Authorized {
    pub identity: Identity,
    /// Another agent placed it already.
    pub forwarded: bool,
    pub profile: Arc<Profile>,
    /// Percent-decoded, without its version prefix.
    pub api_path: String,
    /// The protocol to ask the engine to switch to.
    pub upgrade: Option<HeaderValue>,
    /// The part of the body budget a checked specification holds until the answer.
    pub held: Option<Held>,
    /// The stream place a long-lived request holds until its answer or relay ends.
    pub place: Option<Keep>,
}

impl Authorizer<'_> {
    /// Authorizes `req` or says why not; the record learns the operation and the client.
    /// `req` is changed where it lies: a restricted profile's request carries its
    /// [`Access`] in its extensions, narrowed and with its specification checked. It is
    /// not moved in and out: a request is a few hundred bytes, copied at every move.
    pub async fn authorize(
        &self,
        conn: &ConnInfo,
        req: &mut Request<Body>,
        record: &mut Record,
    ) -> Result<Authorized, ProxyError> {
        // Known before the client is: a refused read by a stranger is not audited.
        let decoded = routes::decode(crate::path::strip_version(req.uri().path()));
        let op = decoded
            .as_ref()
            .map(|p| routes::classify(req.method(), p))
            .ok();
        if let Some(op) = &op {
            record.operation(op);
        }
        let asked = headers::asked(req.headers());
        let (identity, forwarded) = identify::identify(
            self.calls.cluster(),
            self.auth,
            conn,
            req,
            &asked,
            self.policy,
        )?;
        let connection = asked.connection;
        record.identity(&identity);
        let api_path = decoded.map_err(|e| ProxyError::BadRequest(e.to_string()))?;
        let op = op.unwrap_or_else(|| routes::classify(req.method(), &api_path));
        let profile = self.policy.profile(&identity.profile).ok_or_else(|| {
            ProxyError::Forbidden(format!(
                "{} acts under profile {:?}, which this agent's policy does not define (it has {})",
                identity.subject,
                identity.profile,
                self.policy.profile_names().join(", ")
            ))
        })?;
        guard::no_body_on_reads(req)?;
        guard::websocket_attach(req, &api_path)?;
        profile
            .permits(&op, format_args!("{} {}", req.method(), api_path))
            .map_err(ProxyError::from)?;
        let upgrade = upgrade_protocol(req, &api_path, connection);
        let long_lived = op.long_lived;
        let mut held = None;
        if !profile.is_unrestricted() {
            let mut access = Access {
                profile: Arc::clone(&profile),
                op,
                spec: None,
            };
            guard::api_version(&access, req.uri().path())?;
            guard::narrow(&access, req)?;
            let taken = std::mem::replace(req, Request::new(body::empty()));
            let checked = Box::pin(guard::specification(
                self.budget,
                &access,
                &identity.subject,
                taken,
            ))
            .await?;
            *req = checked.req;
            held = checked.held;
            access.spec = checked.spec;
            req.extensions_mut().insert(access);
        }
        let place = if long_lived {
            let place = self
                .streams
                .admit(&identity.subject)
                .map_err(ProxyError::Unavailable)?;
            let keep = Keep(place);
            req.extensions_mut().insert(keep.clone());
            Some(keep)
        } else {
            None
        };
        Ok(Authorized {
            identity,
            forwarded,
            profile,
            api_path,
            upgrade,
            held,
            place,
        })
    }
}

/// The protocol to ask the engine to switch to: the client's own, or `tcp` for a hijack
/// the client did not announce (the engine only tunnels when asked to). `connection`:
/// whether the request has a `Connection` header at all ([`headers::Asked`]).
fn upgrade_protocol<B>(req: &Request<B>, api_path: &str, connection: bool) -> Option<HeaderValue> {
    let requested = connection
        .then(|| headers::requested_upgrade(req.headers()))
        .flatten();
    requested.or_else(|| {
        crate::path::is_hijack(req.method(), api_path).then(|| HeaderValue::from_static("tcp"))
    })
}
