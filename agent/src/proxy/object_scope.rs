//! Label scope where the object lives: before a request runs on the local engine, the
//! object it names (an exec by its container, a task by its service) must be inside the
//! client's scope, or it is answered as missing; and a container being created may name
//! only containers, volumes and networks inside the scope (a named volume that does not
//! exist yet is created inside it).

use std::time::Duration;

use crate::access::{scope, Kind, Refusal};
use crate::engine::EngineError;

use super::guard::Access;
use super::{Proxy, ProxyError};

/// How long the agent waits for its engine when it inspects an object for a scope check.
const SCOPE_CHECK_TIMEOUT: Duration = Duration::from_secs(10);

impl Proxy {
    /// Answers "No such ..." for an object of the local engine that lies outside the
    /// profile's label scope; an object the engine does not know is left for the engine
    /// to answer.
    pub(super) async fn check_scope(&self, access: &Access) -> Result<(), ProxyError> {
        let Some(object) = &access.op.object else {
            return Ok(());
        };
        if !access.profile.is_scoped() {
            return Ok(());
        }
        let missing = || ProxyError::NotFound(scope::not_found(object.kind, &object.id));
        let (kind, id) = match object.kind {
            Kind::Exec | Kind::Task => {
                let Some(inspect) = self.inspect(object.kind, &object.id).await? else {
                    return Ok(());
                };
                let (kind, key) = if object.kind == Kind::Exec {
                    (Kind::Container, "ContainerID")
                } else {
                    (Kind::Service, "ServiceID")
                };
                match inspect[key].as_str() {
                    Some(id) => (kind, id.to_owned()),
                    None => return Err(missing()),
                }
            }
            kind => (kind, object.id.clone()),
        };
        match self.inspect(kind, &id).await? {
            Some(v) if access.profile.in_scope(scope::labels_in(kind, &v)) => Ok(()),
            Some(_) => Err(missing()),
            None if kind == object.kind => Ok(()),
            None => Err(missing()),
        }
    }

    /// The containers, volumes and networks a new container's specification names must be
    /// inside the scope; a named volume that does not exist yet is created inside it
    /// (the engine would create it unlabelled, out of its creator's sight).
    pub(super) async fn check_references(&self, access: &Access) -> Result<(), ProxyError> {
        let profile = &access.profile;
        let (Some(Kind::Container), Some(spec), true) =
            (access.op.creates, &access.spec, profile.is_scoped())
        else {
            return Ok(());
        };
        for (kind, name) in scope::references(spec) {
            match self.inspect(kind, &name).await? {
                Some(v) if profile.in_scope(scope::labels_in(kind, &v)) => {}
                Some(_) => {
                    return Err(ProxyError::Forbidden(
                        Refusal::Create {
                            profile: profile.name.clone(),
                            kind: "container",
                            rule: "labels",
                            detail: format!(
                                "{} {name:?} is outside the profile's label scope",
                                kind.as_str()
                            ),
                        }
                        .to_string(),
                    ))
                }
                None if kind == Kind::Volume => {
                    let volume = serde_json::json!({ "Name": name, "Labels": profile.labels });
                    self.engine
                        .post_json("/volumes/create", &volume, SCOPE_CHECK_TIMEOUT)
                        .await?;
                }
                // The engine names what it cannot find.
                None => {}
            }
        }
        Ok(())
    }

    /// An object as the local engine describes it; `None` when the engine knows no such
    /// object.
    pub(super) async fn inspect(
        &self,
        kind: Kind,
        id: &str,
    ) -> Result<Option<serde_json::Value>, ProxyError> {
        match self
            .engine
            .get_json(&scope::inspect_path(kind, id), SCOPE_CHECK_TIMEOUT)
            .await
        {
            Ok(v) => Ok(Some(v)),
            Err(EngineError::Status { status: 404, .. }) => Ok(None),
            Err(e) => Err(e.into()),
        }
    }
}
