//! Bosun agent: serves a Docker Engine's API over TLS to authenticated clients.
//!
//! The binary is thin; everything it does lives here so that tests can start a real agent
//! on port 0 with the same code paths.
#![forbid(unsafe_code)]

pub mod access;
pub mod admission;
pub mod aggregate;
pub mod api;
pub mod audit;
pub mod auth;
pub mod body;
pub mod cli;
pub mod cluster;
pub mod config;
pub mod engine;
pub mod health;
pub mod locate;
pub mod proxy;
pub mod route;
pub mod secret;
pub mod server;
pub mod telemetry;
pub mod tls;

/// The agent's version, as reported by `/agent/v1/info` and `--version`.
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
