//! Access control: what each client may do, decided on every agent for every request,
//! forwarded ones included.
//!
//! - `routes` — what a request is: its API section, whether it only reads, the object it
//!   acts on, creates or lists;
//! - `profile` — one client's rights: sections and levels, label scope, create rules,
//!   nodes; the built-in `admin` and `read`;
//! - `canonical` — a specification's keys spelled as the engine reads them;
//! - `create` — create rules and scope labels applied to a request's specification;
//! - `scope` — lists narrowed to the scope, objects outside it answered as missing;
//! - `policy` — the policy file: profiles, certificate rules, revoked serials;
//! - `store` — the policy in force, reloaded when its file changes.

pub mod canonical;
pub mod create;
pub mod policy;
pub mod profile;
pub mod routes;
pub mod scope;
pub mod store;

pub use policy::{CertSubject, Policy, PolicyError};
pub use profile::{Profile, Refusal};
pub use routes::{Kind, Operation, Section};
pub use store::PolicyStore;
