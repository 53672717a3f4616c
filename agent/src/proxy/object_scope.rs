//! Checks where the object lives, against the local engine, just before a request runs
//! there: the object it names (an exec by its container, a task by its service) must be
//! inside the client's label scope, or it is answered as missing; the containers,
//! networks and volumes a specification names must be inside the scope too, and a
//! network it attaches to must not be the host's unless the profile allows host
//! namespaces. Every name so checked is then pinned to the full id the check saw, so
//! that the engine cannot resolve it to another object a moment later (a name that is
//! also another object's id prefix, an object renamed in between).

use std::time::Duration;

use bytes::Bytes;
use http::{header, HeaderValue, Request, Uri};

use crate::access::{scope, Kind, Refusal};
use crate::body::{self, Body};
use crate::upstream::UpstreamError;

use super::guard::Access;
use crate::error::ProxyError;

use super::execute::Executor;

/// How long the agent waits for its engine when it inspects an object for a check.
const CHECK_TIMEOUT: Duration = Duration::from_secs(10);

/// What the checks pinned: the path's object, and the specification's references.
#[derive(Default)]
pub(super) struct Pinned {
    path: Option<String>,
    spec: Option<Bytes>,
}

impl Pinned {
    /// Applies the pins to a request about to be sent.
    pub(super) fn apply(self, req: &mut Request<Body>) -> Result<(), ProxyError> {
        if let Some(path) = self.path {
            *req.uri_mut() = with_path(req.uri(), &path)?;
        }
        if let Some(spec) = self.spec {
            req.headers_mut()
                .insert(header::CONTENT_LENGTH, HeaderValue::from(spec.len()));
            *req.body_mut() = body::full(spec);
        }
        Ok(())
    }

    /// Applies the pins to the parts and bytes of a request kept to be sent again.
    pub(super) fn apply_kept(
        self,
        uri: &mut Uri,
        headers: &mut http::HeaderMap,
        bytes: &mut Bytes,
    ) -> Result<(), ProxyError> {
        if let Some(path) = self.path {
            *uri = with_path(uri, &path)?;
        }
        if let Some(spec) = self.spec {
            headers.insert(header::CONTENT_LENGTH, HeaderValue::from(spec.len()));
            *bytes = spec;
        }
        Ok(())
    }
}

fn with_path(uri: &Uri, path: &str) -> Result<Uri, ProxyError> {
    let target = match uri.query() {
        Some(q) => format!("{path}?{q}"),
        None => path.to_owned(),
    };
    target
        .parse()
        .map_err(|e| ProxyError::BadRequest(format!("request target: {e}")))
}

/// `path` (with or without a version prefix) with its object segment, the one after the
/// collection, replaced by `id`.
fn pin_path(path: &str, id: &str) -> Option<String> {
    let api = crate::path::strip_version(path);
    let prefix = &path[..path.len() - api.len()];
    let mut segments: Vec<String> = api.split('/').map(str::to_owned).collect();
    let slot = segments.get_mut(2)?;
    *slot = percent_encoding::utf8_percent_encode(id, scope::SEGMENT).to_string();
    Some(format!("{prefix}{}", segments.join("/")))
}

impl Executor<'_> {
    /// Every check of a request that runs on the local engine; what it pinned.
    pub(super) async fn check_here(
        &self,
        access: &Access,
        path: &str,
    ) -> Result<Pinned, ProxyError> {
        let mut pinned = Pinned::default();
        if let Some(id) = self.check_scope(access).await? {
            pinned.path = pin_path(path, &id);
        }
        pinned.spec = self.check_references(access).await?;
        Ok(pinned)
    }

    /// Answers "No such ..." for an object of the local engine that lies outside the
    /// profile's label scope; an object the engine does not know is left for the engine
    /// to answer. Returns the object's full id.
    async fn check_scope(&self, access: &Access) -> Result<Option<String>, ProxyError> {
        let Some(object) = &access.op.object else {
            return Ok(None);
        };
        if !access.profile.is_scoped() {
            return Ok(None);
        }
        let missing = || ProxyError::NotFound(scope::not_found(object.kind, &object.id));
        // Not there: answered here, rather than sending the name on unpinned for an
        // object of that name made in between.
        let Some(inspect) = self.inspect(object.kind, &object.id).await? else {
            return Err(missing());
        };
        let full_id = scope::id_in(object.kind, &inspect).map(str::to_owned);
        // An exec is judged by its container, a task by its service.
        let judged = match object.kind {
            Kind::Exec | Kind::Task => {
                let (kind, key) = if object.kind == Kind::Exec {
                    (Kind::Container, "ContainerID")
                } else {
                    (Kind::Service, "ServiceID")
                };
                let owner = inspect[key].as_str().ok_or_else(missing)?;
                let owner = self.inspect(kind, owner).await?.ok_or_else(missing)?;
                (kind, owner)
            }
            kind => (kind, inspect),
        };
        if access
            .profile
            .in_scope(scope::labels_in(judged.0, &judged.1))
        {
            Ok(full_id)
        } else {
            Err(missing())
        }
    }

    /// The references of a specification: inside the scope, not the host's network, and
    /// pinned to their ids. A named volume that does not exist yet is created inside the
    /// scope (the engine would create it unlabelled, out of its creator's sight). Returns
    /// the specification to send when it changed.
    async fn check_references(&self, access: &Access) -> Result<Option<Bytes>, ProxyError> {
        let (Some(kind), Some(spec)) = (access.op.creates, &access.spec) else {
            return Ok(None);
        };
        let profile = &access.profile;
        let scoped = profile.is_scoped();
        let refuse = |rule: &'static str, detail: String| {
            ProxyError::from(Refusal::Create {
                profile: profile.name.clone(),
                kind: kind.as_str(),
                rule,
                detail,
            })
        };
        let ruled = !profile.create.is_unrestricted();
        let mut pins = scope::Pins::new();
        for (of, name) in scope::references(kind, spec) {
            // Without a scope, a network can break a rule (the host's, by its id), and a
            // container can lend what the profile may not have.
            let checked = scoped
                || (of == Kind::Network && !profile.create.host_namespaces)
                || (of == Kind::Container && ruled);
            if !checked {
                continue;
            }
            match self.inspect(of, &name).await? {
                Some(v) => {
                    let host =
                        v["Name"].as_str() == Some("host") || v["Driver"].as_str() == Some("host");
                    if of == Kind::Network && host && !profile.create.host_namespaces {
                        return Err(refuse(
                            "host_namespaces",
                            format!("the host network ({name:?})"),
                        ));
                    }
                    if of == Kind::Container && ruled {
                        crate::access::create::check_joined(profile, &name, &v)
                            .map_err(ProxyError::from)?;
                    }
                    if scoped && !profile.in_scope(scope::labels_in(of, &v)) {
                        return Err(refuse(
                            "labels",
                            format!(
                                "{} {name:?} is outside the profile's label scope",
                                of.as_str()
                            ),
                        ));
                    }
                    if let Some(id) = scope::id_in(of, &v) {
                        pins.insert((of, name.clone()), id.to_owned());
                    }
                }
                None if of == Kind::Volume && scoped => {
                    let volume = serde_json::json!({ "Name": name, "Labels": profile.labels });
                    self.calls
                        .engine()
                        .post_json("/volumes/create", &volume, CHECK_TIMEOUT)
                        .await?;
                }
                // The engine names what it cannot find.
                None => {}
            }
        }
        if pins.is_empty() {
            return Ok(None);
        }
        let mut pinned = (**spec).clone();
        scope::pin_references(kind, &mut pinned, &pins);
        if pinned == **spec {
            return Ok(None);
        }
        serde_json::to_vec(&pinned)
            .map(|b| Some(Bytes::from(b)))
            .map_err(|e| ProxyError::BadRequest(format!("the request body: {e}")))
    }

    /// An object as the local engine describes it; `None` when the engine knows no such
    /// object.
    pub(super) async fn inspect(
        &self,
        kind: Kind,
        id: &str,
    ) -> Result<Option<serde_json::Value>, ProxyError> {
        match self
            .calls
            .engine()
            .get_json(&scope::inspect_path(kind, id), CHECK_TIMEOUT)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(UpstreamError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_object_segment_is_pinned() {
        assert_eq!(
            pin_path("/v1.41/containers/web/json", "abc123").as_deref(),
            Some("/v1.41/containers/abc123/json")
        );
        assert_eq!(
            pin_path("/networks/n", "id").as_deref(),
            Some("/networks/id")
        );
        assert_eq!(pin_path("/_ping", "id"), None);
    }
}
