//! The one body type that flows through the agent: a stream from a peer, bytes the agent
//! made itself, or a stream the agent assembles (the merged events of every node).

use std::collections::HashMap;
use std::pin::Pin;
use std::sync::{Arc, Mutex};
use std::task::{Context, Poll};

use bytes::{Bytes, BytesMut};
use http_body::{Body as _, Frame, SizeHint};
use hyper::body::Incoming;
use tokio::sync::mpsc;

pub type BoxError = Box<dyn std::error::Error + Send + Sync>;

/// Most a streamed body gathers before passing it on.
const COALESCE: usize = 64 * 1024;
/// A frame this large fills a TLS record already and goes on without waiting for more.
const FULL_RECORD: usize = 16 * 1024;
/// What a streamed body sets aside when it starts gathering; it grows as needed.
const FIRST_GATHER: usize = 8 * 1024;
/// How long a streamed body waits for more once it holds something: engines write a
/// frame per log line, and each frame crosses from the connection's task to the
/// client's; passing each on alone would cost a TLS record and a write per line.
const LINGER: std::time::Duration = std::time::Duration::from_millis(1);

#[derive(Debug)]
pub enum Body {
    /// Streamed from the other side, never held back: what has arrived is passed on at
    /// once, in as few frames as possible (engines write a frame per log line, and a TLS
    /// record per line would cost more than the line).
    Incoming(Streamed),
    /// The agent's own (errors, its API, merged lists); `None` once sent.
    Full(Option<Bytes>),
    /// Assembled by the agent as it goes; ends when every sender is gone.
    Channel(mpsc::Receiver<Bytes>),
    /// Another body, with something kept alive until it is sent or dropped.
    Kept(Box<Body>, Keep),
}

/// Something kept alive for as long as a body or a relayed stream lasts (a stream's
/// place among those the agent holds).
#[derive(Clone)]
pub struct Keep(pub Arc<dyn Send + Sync>);

impl std::fmt::Debug for Keep {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Keep")
    }
}

impl Body {
    /// This body, keeping `keep` alive until it is sent or dropped.
    pub fn keeping(self, keep: Keep) -> Body {
        Body::Kept(Box::new(self), keep)
    }
}

/// What the agent may hold of request bodies at once, across every request: bodies it
/// must read whole (a manager operation kept to be sent again, a specification checked
/// against a profile) count against it while they are held. One client may hold a
/// quarter of it, and a body must arrive within [`BODY_DEADLINE`], so that slow or
/// large senders cannot keep it from the others.
#[derive(Clone)]
pub struct Budget {
    bytes: Arc<tokio::sync::Semaphore>,
    total: usize,
    by_client: ByClient,
}

/// Bytes held per client.
type ByClient = Arc<Mutex<HashMap<String, usize>>>;

/// How long a body the agent reads whole may take to arrive.
pub const BODY_DEADLINE: std::time::Duration = std::time::Duration::from_secs(30);

/// Bytes counted against the budget, and against their client's share, until dropped.
pub struct Held {
    _permit: Option<tokio::sync::OwnedSemaphorePermit>,
    /// The client's share: the map, the client, the bytes this holds.
    client: Option<(ByClient, String, usize)>,
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some((by_client, client, n)) = self.client.take() {
            let mut map = by_client.lock().unwrap_or_else(|p| p.into_inner());
            if let Some(held) = map.get_mut(&client) {
                *held = held.saturating_sub(n);
                if *held == 0 {
                    map.remove(&client);
                }
            }
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum BudgetError {
    #[error("the request body is larger than the {max} bytes the agent reads for {what}")]
    TooLarge { what: &'static str, max: usize },
    #[error("the agent already holds {total} bytes of request bodies for other requests; try again shortly")]
    Busy { total: usize },
    #[error("{client} already has {held} bytes of request bodies held by this agent, its share; try again shortly")]
    Share { client: String, held: usize },
    #[error("the request body did not arrive within {0} s")]
    Slow(u64),
    #[error("the request body could not be read: {0}")]
    Read(String),
}

impl Budget {
    pub fn new(total: usize) -> Self {
        let total = total.min(tokio::sync::Semaphore::MAX_PERMITS);
        Self {
            bytes: Arc::new(tokio::sync::Semaphore::new(total)),
            total,
            by_client: Arc::default(),
        }
    }

    /// Counts `n` more bytes for `held`, within the budget and the client's share.
    fn count(
        &self,
        n: usize,
        held: &mut Held,
        what: &'static str,
        max: usize,
    ) -> Result<(), BudgetError> {
        let Some((_, client, mine)) = held.client.as_mut() else {
            return Ok(());
        };
        let share = self.total / 4;
        {
            let mut map = self.by_client.lock().unwrap_or_else(|p| p.into_inner());
            let of_client = map.entry(client.clone()).or_insert(0);
            if *of_client + n > share {
                return Err(BudgetError::Share {
                    client: client.clone(),
                    held: *of_client,
                });
            }
            *of_client += n;
            *mine += n;
        }
        let n = u32::try_from(n).map_err(|_| BudgetError::TooLarge { what, max })?;
        let permit = Arc::clone(&self.bytes)
            .try_acquire_many_owned(n)
            .map_err(|_| BudgetError::Busy { total: self.total })?;
        match &mut held._permit {
            Some(p) => p.merge(permit),
            None => held._permit = Some(permit),
        }
        Ok(())
    }

    /// Reads a whole body of at most `max` bytes for `client`, counting it against the
    /// budget before it is held: a body the budget cannot hold is refused, not waited
    /// for, and one that does not arrive within [`BODY_DEADLINE`] is given up.
    pub async fn collect(
        &self,
        body: Body,
        max: usize,
        what: &'static str,
        client: &str,
    ) -> Result<(Bytes, Held), BudgetError> {
        tokio::time::timeout(BODY_DEADLINE, self.read(body, max, what, client))
            .await
            .map_err(|_| BudgetError::Slow(BODY_DEADLINE.as_secs()))?
    }

    async fn read(
        &self,
        mut body: Body,
        max: usize,
        what: &'static str,
        client: &str,
    ) -> Result<(Bytes, Held), BudgetError> {
        use http_body_util::BodyExt;
        let mut held = Held {
            _permit: None,
            client: Some((Arc::clone(&self.by_client), client.to_owned(), 0)),
        };
        // A body of announced length is counted, then read into one buffer of that size
        // rather than one that doubles as it fills.
        let announced =
            usize::try_from(body.size_hint().exact().unwrap_or(0)).unwrap_or(usize::MAX);
        if announced > max {
            return Err(BudgetError::TooLarge { what, max });
        }
        if announced > 0 {
            self.count(announced, &mut held, what, max)?;
        }
        let mut buf = BytesMut::with_capacity(announced);
        while let Some(frame) = body.frame().await {
            let frame = frame.map_err(|e| BudgetError::Read(e.to_string()))?;
            let Ok(data) = frame.into_data() else {
                continue;
            };
            if buf.len() + data.len() > max {
                return Err(BudgetError::TooLarge { what, max });
            }
            // What was announced is counted already; only what goes past it is not.
            let beyond = (buf.len() + data.len()).saturating_sub(announced.max(buf.len()));
            if beyond > 0 {
                self.count(beyond, &mut held, what, max)?;
            }
            buf.extend_from_slice(&data);
        }
        Ok((buf.freeze(), held))
    }
}

pub fn full(bytes: impl Into<Bytes>) -> Body {
    Body::Full(Some(bytes.into()))
}

pub fn empty() -> Body {
    Body::Full(None)
}

impl From<Incoming> for Body {
    fn from(body: Incoming) -> Self {
        Body::Incoming(Streamed {
            body,
            gathering: None,
        })
    }
}

/// A streamed body, and its gathering once a frame has had to wait for others.
#[derive(Debug)]
pub struct Streamed {
    body: Incoming,
    /// Boxed, and made only for a body that comes in more than one frame: a body moves
    /// with its request or answer through every step, and an answer that arrives whole
    /// (most of them) needs none of it.
    gathering: Option<Box<Gathering>>,
}

/// Frames joined into fewer, larger ones.
#[derive(Debug, Default)]
struct Gathering {
    /// What ended the last gathering (a trailer, an error or the end), to be passed on
    /// next.
    pending: Option<Option<Result<Frame<Bytes>, BoxError>>>,
    /// Data gathered and not passed on yet.
    gathered: BytesMut,
    /// When what is gathered goes out, whatever follows.
    linger: Option<Pin<Box<tokio::time::Sleep>>>,
}

impl http_body::Body for Body {
    type Data = Bytes;
    type Error = BoxError;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        match self.get_mut() {
            Body::Incoming(streamed) => poll_coalesced(streamed, cx),
            Body::Full(bytes) => Poll::Ready(
                bytes
                    .take()
                    .filter(|b| !b.is_empty())
                    .map(|b| Ok(Frame::data(b))),
            ),
            Body::Channel(rx) => rx
                .poll_recv(cx)
                .map(|chunk| chunk.map(|b| Ok(Frame::data(b)))),
            Body::Kept(inner, _) => Pin::new(inner.as_mut()).poll_frame(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            Body::Incoming(streamed) => {
                streamed
                    .gathering
                    .as_ref()
                    .is_none_or(|g| g.pending.is_none() && g.gathered.is_empty())
                    && streamed.body.is_end_stream()
            }
            Body::Full(bytes) => bytes.as_ref().is_none_or(Bytes::is_empty),
            Body::Channel(_) => false,
            Body::Kept(inner, _) => inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            Body::Incoming(streamed) => streamed.body.size_hint(),
            Body::Full(bytes) => SizeHint::with_exact(bytes.as_ref().map_or(0, |b| b.len() as u64)),
            Body::Channel(_) => SizeHint::default(),
            Body::Kept(inner, _) => inner.size_hint(),
        }
    }
}

/// The stream's data in frames of up to [`COALESCE`] bytes: what arrives within
/// [`LINGER`] of the first byte of a frame is joined to it. A stream that falls silent
/// (`logs -f`) still passes each line on within [`LINGER`].
fn poll_coalesced(
    streamed: &mut Streamed,
    cx: &mut Context<'_>,
) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
    let Streamed { body, gathering } = streamed;
    // What ended the last gathering goes on once its data has.
    if let Some(pending) = gathering.as_deref_mut().and_then(|g| g.pending.take()) {
        return Poll::Ready(pending);
    }
    loop {
        if let Some(g) = gathering
            .as_deref_mut()
            .filter(|g| g.gathered.len() >= COALESCE)
        {
            return g.pass_on();
        }
        let ended = match Pin::new(&mut *body).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => match frame.into_data() {
                // A frame that fills a TLS record (a paced read of a log), or one that
                // ends the body (a small answer arrives whole), goes on as it is.
                Ok(data)
                    if gathering.as_ref().is_none_or(|g| g.gathered.is_empty())
                        && (data.len() >= FULL_RECORD || body.is_end_stream()) =>
                {
                    return Poll::Ready(Some(Ok(Frame::data(data))));
                }
                Ok(data) => {
                    let g = gathering.get_or_insert_with(Box::default);
                    if g.gathered.capacity() == 0 {
                        g.gathered.reserve(FIRST_GATHER.max(data.len()));
                    }
                    g.gathered.extend_from_slice(&data);
                    continue;
                }
                Err(trailers) => Some(Ok(trailers)),
            },
            Poll::Ready(Some(Err(e))) => Some(Err(e.into())),
            Poll::Ready(None) => None,
            Poll::Pending => {
                let Some(g) = gathering.as_deref_mut().filter(|g| !g.gathered.is_empty()) else {
                    return Poll::Pending;
                };
                let linger = g
                    .linger
                    .get_or_insert_with(|| Box::pin(tokio::time::sleep(LINGER)));
                if std::future::Future::poll(linger.as_mut(), cx).is_pending() {
                    return Poll::Pending;
                }
                return g.pass_on();
            }
        };
        // A trailer, an error or the end goes on at once when nothing gathered waits
        // before it, and after what has been gathered when something does.
        return match gathering.as_deref_mut().filter(|g| !g.gathered.is_empty()) {
            Some(g) => {
                g.pending = Some(ended);
                g.pass_on()
            }
            None => Poll::Ready(ended),
        };
    }
}

impl Gathering {
    /// What has been gathered, as one frame.
    fn pass_on(&mut self) -> Poll<Option<Result<Frame<Bytes>, BoxError>>> {
        self.linger = None;
        Poll::Ready(Some(Ok(Frame::data(self.gathered.split().freeze()))))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The body of the answer `raw` (a whole HTTP/1.1 response, written at once) as the
    /// agent relays it, its frames read one by one.
    async fn relayed(raw: &'static [u8]) -> (Vec<Bytes>, Body) {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let (client, mut server) = tokio::io::duplex(64 * 1024);
        let (mut sender, conn) =
            hyper::client::conn::http1::handshake::<_, Body>(hyper_util::rt::TokioIo::new(client))
                .await
                .unwrap();
        tokio::spawn(conn);
        let answer = tokio::spawn(async move {
            sender.ready().await?;
            sender
                .send_request(http::Request::get("/").body(empty()).unwrap())
                .await
        });
        let mut head = Vec::new();
        while !head.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            server.read_exact(&mut byte).await.unwrap();
            head.push(byte[0]);
        }
        server.write_all(raw).await.unwrap();
        let resp = answer.await.unwrap().expect("an answer");
        let mut body = Body::from(resp.into_body());
        let mut frames = Vec::new();
        while let Some(frame) = std::future::poll_fn(|cx| Pin::new(&mut body).poll_frame(cx)).await
        {
            frames.push(frame.unwrap().into_data().unwrap());
        }
        (frames, body)
    }

    #[tokio::test]
    async fn a_small_answer_goes_on_as_it_came_and_a_chunked_one_is_joined() {
        let (frames, body) = relayed(b"HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nOK").await;
        assert_eq!(frames, [Bytes::from_static(b"OK")]);
        let Body::Incoming(streamed) = body else {
            panic!("a relayed body")
        };
        assert!(
            streamed.gathering.is_none(),
            "an answer that came whole is not copied into a gathering"
        );

        // A line per chunk, all arrived together: one frame.
        let (frames, _) = relayed(
            b"HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n\
              6\r\nline1\n\r\n6\r\nline2\n\r\n6\r\nline3\n\r\n0\r\n\r\n",
        )
        .await;
        assert_eq!(frames, [Bytes::from_static(b"line1\nline2\nline3\n")]);
    }

    #[tokio::test]
    async fn the_budget_holds_for_the_whole_agent_and_comes_back() {
        let budget = Budget::new(4000);
        let (a, held_a) = budget
            .collect(full(vec![1u8; 600]), 800, "a test", "alice")
            .await
            .expect("within the budget");
        assert_eq!(a.len(), 600);
        let share = budget
            .collect(full(vec![1u8; 600]), 800, "a test", "alice")
            .await;
        assert!(
            matches!(share, Err(BudgetError::Share { held: 600, .. })),
            "a quarter each"
        );
        let large = budget
            .collect(full(vec![1u8; 900]), 800, "a test", "bob")
            .await;
        assert!(matches!(large, Err(BudgetError::TooLarge { max: 800, .. })));
        let (_b, _held_b) = budget
            .collect(full(vec![1u8; 800]), 800, "a test", "bob")
            .await
            .expect("bob");
        let (_c, _held_c) = budget
            .collect(full(vec![1u8; 800]), 800, "a test", "carol")
            .await
            .expect("carol");
        let (_d, _held_d) = budget
            .collect(full(vec![1u8; 800]), 800, "a test", "dave")
            .await
            .expect("dave");
        let (_e, _held_e) = budget
            .collect(full(vec![1u8; 800]), 800, "a test", "erin")
            .await
            .expect("erin");
        let busy = budget
            .collect(full(vec![1u8; 800]), 800, "a test", "frank")
            .await;
        assert!(matches!(busy, Err(BudgetError::Busy { total: 4000 })));
        drop(held_a);
        assert!(budget
            .collect(full(vec![1u8; 600]), 800, "a test", "alice")
            .await
            .is_ok());
        assert!(budget
            .by_client
            .lock()
            .map(|m| !m.contains_key("alice"))
            .unwrap_or(false));
    }
}
