//! The one body type that flows through the agent: a streamed body from a peer, or bytes
//! the agent made itself.

use bytes::Bytes;
pub use http_body_util::Either;
use http_body_util::Full;
use hyper::body::Incoming;

/// `Left`: streamed from the other side, frame by frame, never buffered. `Right`: the
/// agent's own (errors, its API, its queries to the engine).
pub type Body = Either<Incoming, Full<Bytes>>;

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Either::Right(Full::new(bytes.into()))
}

pub fn empty() -> Body {
    Either::Right(Full::new(Bytes::new()))
}
