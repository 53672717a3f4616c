//! The one body type that flows through the agent: a stream from a peer, bytes the agent
//! made itself, or a stream the agent assembles (the merged events of every node).

use std::pin::Pin;
use std::task::{Context, Poll};

use bytes::Bytes;
use http_body::{Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::mpsc;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

#[derive(Debug)]
pub enum Body {
    /// Streamed from the other side, frame by frame, never buffered.
    Incoming(Incoming),
    /// The agent's own (errors, its API, merged lists); `None` once sent.
    Full(Option<Bytes>),
    /// Assembled by the agent as it goes; ends when every sender is gone.
    Channel(mpsc::Receiver<Bytes>),
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::Full(Some(bytes.into()))
}

pub fn empty() -> Body {
    Body::Full(None)
}

impl From<Incoming> for Body {
    fn from(body: Incoming) -> Self {
        Body::Incoming(body)
    }
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Incoming(body) => Pin::new(body).poll_frame(cx).map_err(Into::into),
            Body::Full(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Body::Channel(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Incoming(body) => body.is_end_stream(),
            Body::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Body::Channel(_) => false,
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Incoming(body) => body.size_hint(),
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Channel(_) => SizeHint::default(),
        }
    }
}
