//! The Bosun console: a web UI, served over HTTPS, for one or several clusters of Bosun
//! agents. Users, endpoints and the audit log live in SQLite, the clusters' usage history
//! in a second SQLite file; the browser holds a session cookie only, never agent
//! credentials.
#![forbid(unsafe_code)]

pub mod agent;
pub mod alerts;
pub mod api;
pub mod app;
pub mod assets;
pub mod auth;
pub mod checks;
pub mod cli;
pub mod connector;
pub mod edge;
pub mod notify;
pub mod profiles;
pub mod sealed;
pub mod server;
pub mod store;
pub mod updates;
pub mod usage;
pub mod watch;
