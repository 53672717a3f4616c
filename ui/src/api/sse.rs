//! Server-sent events: the answer that streams them, a stream fed by a task that ends
//! with the session that asked, and one event's `data:` lines.

use std::convert::Infallible;

use axum::body::Body;
use axum::http::header;
use axum::response::Response;
use bytes::Bytes;

use super::Authed;

/// One event: each line of `text` as a `data:` line.
pub(super) fn sse_data(text: &str) -> Bytes {
    let mut out = String::with_capacity(text.len() + 8);
    for line in text.trim_end_matches('\r').split(['\n', '\r']) {
        out.push_str("data: ");
        out.push_str(line);
        out.push('\n');
    }
    out.push('\n');
    Bytes::from(out)
}

/// An answer of events, fed by a task: `produce` sends them into the channel it is given,
/// and should stop once the channel closes (the browser left). When `who`'s session ends
/// (logout, removal, another role), the task is dropped and the answer ends.
pub(super) fn sse_response<F, Fut>(who: &Authed, produce: F) -> Response
where
    F: FnOnce(tokio::sync::mpsc::Sender<Bytes>) -> Fut,
    Fut: std::future::Future<Output = ()> + Send + 'static,
{
    let (tx, rx) = tokio::sync::mpsc::channel::<Bytes>(16);
    let feed = produce(tx);
    let ended = who.ended();
    tokio::spawn(async move {
        tokio::select! {
            () = feed => {}
            () = ended => {}
        }
    });
    let stream = futures_util::stream::unfold(rx, |mut rx| async move {
        rx.recv().await.map(|b| (Ok::<_, Infallible>(b), rx))
    });
    Response::builder()
        .header(header::CONTENT_TYPE, "text/event-stream")
        .header(header::CACHE_CONTROL, "no-cache")
        .body(Body::from_stream(stream))
        .expect("a response")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sse_data_splits_lines() {
        assert_eq!(&sse_data("a\nb")[..], b"data: a\ndata: b\n\n");
    }
}
