//! Every state-changing request, written once: the role check, the work, and the audit
//! row that records it (who, from which address, where, which node, what, on what, and
//! how it went).

use std::future::Future;
use std::net::IpAddr;

use super::{ApiError, ApiResult, App, Authed};
use crate::auth::Role;
use crate::store::AuditEntry;

/// One state-changing act, as the audit log records it.
pub(super) struct Action<'a> {
    user: &'a str,
    /// Where the request came from; `None` where it is not known.
    address: Option<IpAddr>,
    /// What is done, as the audit log names it: `container.stop`, `login`.
    what: &'a str,
    /// The endpoint's name, and the node there; empty where there is none.
    endpoint: &'a str,
    node: &'a str,
    /// On what: a name, with a detail where one helps.
    target: String,
}

impl<'a> Action<'a> {
    /// An act of a logged-in user: refused (403) unless their role is at least `needs`,
    /// before anything else is looked at, and a refusal is not recorded.
    pub(super) fn start(who: &'a Authed, needs: Role, what: &'a str) -> ApiResult<Self> {
        who.require(needs)?;
        Ok(Self::by(&who.username, what).from(who.address))
    }

    /// An act before any session (setting up, logging in), on the user named.
    pub(super) fn by(user: &'a str, what: &'a str) -> Self {
        Self {
            user,
            address: None,
            what,
            endpoint: "",
            node: "",
            target: user.to_owned(),
        }
    }

    /// The client's address.
    pub(super) fn from(mut self, address: IpAddr) -> Self {
        self.address = Some(address);
        self
    }

    /// Where it happens: an endpoint, and a node of its cluster.
    pub(super) fn at(mut self, endpoint: &'a str, node: &'a str) -> Self {
        self.endpoint = endpoint;
        self.node = node;
        self
    }

    /// What it is done to.
    pub(super) fn on(mut self, target: impl Into<String>) -> Self {
        self.target = target.into();
        self
    }

    /// Does `work` and records how it went: its error is both the answer and the row's.
    pub(super) async fn run<T, E>(
        self,
        app: &App,
        work: impl Future<Output = Result<T, E>>,
    ) -> ApiResult<T>
    where
        E: Into<ApiError>,
    {
        let result = work.await;
        self.finish(app, result).await
    }

    /// Records how work already done went: its error is both the answer and the row's.
    pub(super) async fn finish<T, E>(self, app: &App, result: Result<T, E>) -> ApiResult<T>
    where
        E: Into<ApiError>,
    {
        let result = result.map_err(Into::into);
        self.record(app, result.as_ref().err().map(|e| e.message.as_str()))
            .await;
        result
    }

    /// Records the act with its outcome: `None` for done, else why it was not.
    pub(super) async fn record(self, app: &App, error: Option<&str>) {
        app.db.audit(self.entry(error)).await;
    }

    /// The audit row of this act with its outcome.
    fn entry(self, error: Option<&str>) -> AuditEntry {
        AuditEntry {
            user: self.user.to_owned(),
            address: self.address.map(|a| a.to_string()).unwrap_or_default(),
            endpoint: self.endpoint.to_owned(),
            node: self.node.to_owned(),
            action: self.what.to_owned(),
            target: self.target,
            error: error.map(str::to_owned),
        }
    }
}

/// An act whose outcome comes after the request's answer has started (a pull's progress
/// streams): the same row, owned, so that the task that learns the outcome records it.
pub(super) struct PendingAction {
    entry: AuditEntry,
}

impl Action<'_> {
    /// This act, to be recorded later by [`PendingAction::record`].
    pub(super) fn pending(self) -> PendingAction {
        PendingAction {
            entry: self.entry(None),
        }
    }
}

impl PendingAction {
    /// Records the act with its outcome: `None` for done, else why it was not.
    pub(super) async fn record(mut self, app: &App, error: Option<&str>) {
        self.entry.error = error.map(str::to_owned);
        app.db.audit(self.entry).await;
    }
}
