//! One container or Swarm service whose image has a newer version in its registry: what
//! the update pull hands to the alerts and to the notification channels.

use serde::{Deserialize, Serialize};

/// A newer image for one container (or service) of one cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct UpdateFinding {
    /// The endpoint (cluster) it was found on.
    pub endpoint: i64,
    pub endpoint_name: String,
    /// The node that checked it.
    pub node: String,
    /// `container` or `service`.
    pub object: String,
    /// The container's or service's name, and its ID.
    pub name: String,
    pub id: String,
    /// The image as the container names it, e.g. `registry:5000/app:1.0.0`.
    pub image: String,
    /// `digest` (the tag now points elsewhere), or `patch`, `minor` or `major` (a newer
    /// semantic-version tag).
    pub kind: String,
    /// The newest tag of that kind, for `patch`/`minor`/`major`.
    pub newer_tag: Option<String>,
    /// The registry's current digest for the running tag.
    pub newest_digest: Option<String>,
    /// A link to the release notes, from the `wud.link.template` label.
    pub link: Option<String>,
}
