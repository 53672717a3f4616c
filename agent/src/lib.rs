//! Bosun agent: serves a Docker Engine's API over TLS to authenticated clients, for its own
//! node or, with its peers, for the whole cluster.
//!
//! The binary is thin; everything it does lives here so that tests can start a real agent
//! on port 0 with the same code paths.
//!
//! A request flows one way through these modules:
//!
//! | step | module | what it does |
//! | --- | --- | --- |
//! | accept | [`server`] | TLS, connection caps ([`admission`]), HTTP/1.1, drain on shutdown |
//! | identify | [`proxy::identify`] | a bearer token or client certificate ([`auth`]), or a peer's agent token ([`cluster::token`]) |
//! | authorize | [`proxy::authorize`] | the client's profile ([`access`]): sections, label scope, create rules, stream places |
//! | place | [`place`] | where it runs: a pure function of the request and the cluster [`cluster::View`] |
//! | execute | [`proxy::execute`] | carries the placement out: [`proxy::forward`] to one node, [`aggregate`] over many, [`agent_api`] here |
//! | reach a node | [`calls`] | the node's engine ([`upstream`]) or its agent, with the client's identity in an agent token |
//! | back | [`proxy`] | the answer, decorated by [`node_name`] where it is a cluster's, and one [`audit`] line |
//!
//! Around it: [`cli`] and [`config`] start the agent; [`identity`] gives it an ID of its
//! own; [`cluster`] keeps the membership by gossip and DNS; [`owners`] remembers which node
//! holds a container; [`body`] bounds what the agent reads whole; [`probe`] is the
//! `healthcheck` command's client; [`usage`] samples the host and its containers, which
//! [`agent_api`] serves as JSON and [`metrics`] to Prometheus; [`updates`] checks the
//! containers' images against their registries; [`checks`] runs the console's signed
//! check policies and buffers their results; [`edge`] dials out to a console that cannot
//! reach the agent and serves over that tunnel, from [`proxy::identify`] on.
//!
//! No unsafe code, but for two calls: `trim.rs` asks glibc to give freed memory back, and
//! `upstream/paced.rs` registers its timerfd with tokio.
#![deny(unsafe_code)]

pub mod access;
pub mod admission;
pub mod agent_api;
pub mod aggregate;
pub mod audit;
pub mod auth;
pub mod body;
pub mod calls;
pub mod checks;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod edge;
pub mod error;
pub mod headers;
pub mod identity;
pub mod metrics;
pub mod owners;
pub mod path;
pub mod place;
pub mod probe;
pub mod proxy;
pub mod resolve;
pub mod server;
pub mod tls;
pub mod trim;
pub mod updates;
pub mod upstream;
pub mod usage;

pub use bosun_serve::{host, node_name, secret, telemetry};

/// The agent's version, as reported by `/agent/v1/info` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
