//! Integration tests: the real `bosun-agent` binary in front of this machine's real Docker
//! Engine, driven by the real `docker` CLI, bollard and raw HTTP clients.

mod harness;

mod access;
mod auth;
mod bollard_client;
mod checks;
mod cli;
mod cluster;
mod command_line;
mod flood;
mod identity;
mod probes;
mod protocol;
mod swarm;
mod updates;
mod usage;
