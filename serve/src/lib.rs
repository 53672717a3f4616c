//! What both Bosun binaries, the agent and the console, need to serve over TLS:
//!
//! | module | holds |
//! | --- | --- |
//! | [`listen`] | the accept loop: TLS, deadlines per connection, graceful drain |
//! | [`lanes`] | threads with a runtime each, which serve the connections handed to them |
//! | [`signal`] | SIGTERM and SIGINT as a stop request |
//! | [`tls`] | the process's crypto provider |
//! | [`pki`] | the cluster CA, the certificates it issues, reading PEM files |
//! | [`kept_cert`] | a self-signed certificate kept in a data directory |
//! | [`secret`] | the cluster secret, and files only their owner may read |
//! | [`tunnel`] | the edge tunnel: an agent's outbound connection, many streams over it |
//! | [`ed25519`] | Ed25519 signing keys: the console's, and each edge agent's |
//! | [`token`] | the bearer tokens the agent accepts: claims, scopes, signing |
//! | [`checks`] | checks, the signed policies that carry them, the results agents report |
//! | [`docker_stream`] | the engine's multiplexed stdout/stderr framing, taken off |
//! | [`node_name`] | the `"Agent": {"NodeName": ...}` Bosun adds to Docker's JSON |
//! | [`telemetry`] | logging set-up |
//! | [`usage`], [`duration`] | a usage error: one line, exit code 2; durations on the command line |
//! | [`host`], [`hex`], [`clock`] | the host's name, hex digits, seconds since the epoch |
#![forbid(unsafe_code)]

pub mod checks;
pub mod clock;
pub mod docker_stream;
pub mod duration;
pub mod ed25519;
pub mod hex;
pub mod host;
pub mod kept_cert;
pub mod lanes;
pub mod listen;
pub mod node_name;
pub mod pki;
pub mod secret;
pub mod signal;
pub mod telemetry;
pub mod tls;
pub mod token;
pub mod tunnel;
pub mod usage;
