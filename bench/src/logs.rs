//! Log streaming throughput: reads a container's whole log, as `docker logs` does, counting and discarding it.
//!
//! The response is read straight off the stream with large reads rather than through hyper: the engine
//! sends each log line as its own HTTP chunk, and handing millions of 100-byte chunks from hyper's
//! connection task to the body reader costs more than the engine spends producing them, which would
//! make the client, not the target, the bottleneck.

use std::time::{Duration, Instant};

use anyhow::{anyhow, bail, ensure, Context, Result};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::client::{snippet, Dial};

const READ_BUFFER: usize = 256 * 1024;
const MAX_HEAD: usize = 64 * 1024;

pub struct LogRead {
    /// Log bytes, without the engine's stream framing.
    pub payload: u64,
    /// Body bytes as received, with HTTP chunk and stream framing.
    pub wire: u64,
    pub elapsed: Duration,
}

impl LogRead {
    /// Log bytes delivered per second, in MB (10^6 bytes).
    pub fn mb_per_second(&self) -> f64 {
        self.payload as f64 / 1e6 / self.elapsed.as_secs_f64()
    }
}

pub async fn read(dial: &Dial, id: &str, budget: Duration) -> Result<LogRead> {
    let path = format!("/containers/{id}/logs?stdout=1&stderr=1");
    let mut io = dial.connect_stream().await?;
    let start = Instant::now();
    let exchange = async {
        let request =
            format!("GET {path} HTTP/1.1\r\nHost: localhost\r\nConnection: close\r\n\r\n");
        io.write_all(request.as_bytes()).await?;
        io.flush().await?;

        let mut buf = vec![0u8; READ_BUFFER];
        let mut head = Vec::new();
        let body_start = loop {
            let n = io.read(&mut buf).await?;
            ensure!(n > 0, "connection closed before the response head");
            head.extend_from_slice(&buf[..n]);
            if let Some(end) = find(&head, b"\r\n\r\n") {
                break end + 4;
            }
            ensure!(
                head.len() <= MAX_HEAD,
                "response head longer than {MAX_HEAD} bytes"
            );
        };
        let (status, framing) = parse_head(&head[..body_start])?;
        let mut body = Body::new(framing);
        let mut stream = StdStream::default();
        body.feed(&head[body_start..], &mut stream)?;
        if status != 200 {
            while !body.done() && body.wire < MAX_HEAD as u64 {
                let n = io.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                body.feed(&buf[..n], &mut stream)?;
            }
            bail!("GET {path}: {status}: {}", snippet(&body.error_text));
        }
        while !body.done() {
            let n = io.read(&mut buf).await?;
            if n == 0 {
                ensure!(
                    body.close_delimited(),
                    "connection closed mid-body after {} bytes",
                    body.wire
                );
                break;
            }
            body.feed(&buf[..n], &mut stream)?;
        }
        anyhow::Ok((stream.payload, body.wire))
    };
    let (payload, wire) = tokio::time::timeout(budget, exchange)
        .await
        .with_context(|| format!("reading the log took longer than {budget:?}"))??;
    Ok(LogRead {
        payload,
        wire,
        elapsed: start.elapsed(),
    })
}

fn find(haystack: &[u8], needle: &[u8]) -> Option<usize> {
    haystack.windows(needle.len()).position(|w| w == needle)
}

#[derive(Debug, PartialEq)]
enum Framing {
    Chunked,
    Length(u64),
    Close,
}

fn parse_head(head: &[u8]) -> Result<(u16, Framing)> {
    let text = std::str::from_utf8(head).context("response head is not UTF-8")?;
    let mut lines = text.split("\r\n");
    let status_line = lines.next().unwrap_or_default();
    let status = status_line
        .split_whitespace()
        .nth(1)
        .and_then(|s| s.parse().ok())
        .ok_or_else(|| anyhow!("bad status line {status_line:?}"))?;
    let mut framing = Framing::Close;
    for line in lines {
        let Some((name, value)) = line.split_once(':') else {
            continue;
        };
        let value = value.trim();
        if name.eq_ignore_ascii_case("transfer-encoding")
            && value.to_ascii_lowercase().ends_with("chunked")
        {
            framing = Framing::Chunked;
        } else if name.eq_ignore_ascii_case("content-length") && framing != Framing::Chunked {
            framing = Framing::Length(
                value
                    .parse()
                    .with_context(|| format!("bad Content-Length {value:?}"))?,
            );
        }
    }
    Ok((status, framing))
}

/// Incremental HTTP/1.1 body decoder: chunked, fixed length or read to close.
struct Body {
    framing: Framing,
    chunk: Chunk,
    seen: u64,
    wire: u64,
    /// The first bytes of an error response, for the message.
    error_text: Vec<u8>,
}

#[derive(Debug, PartialEq)]
enum Chunk {
    Size { value: u64, extension: bool },
    Data(u64),
    DataEnd,
    Trailer { line: usize },
    Done,
}

impl Body {
    fn new(framing: Framing) -> Self {
        Self {
            framing,
            chunk: Chunk::Size {
                value: 0,
                extension: false,
            },
            seen: 0,
            wire: 0,
            error_text: Vec::new(),
        }
    }

    fn done(&self) -> bool {
        match self.framing {
            Framing::Chunked => self.chunk == Chunk::Done,
            Framing::Length(n) => self.seen >= n,
            Framing::Close => false,
        }
    }

    fn close_delimited(&self) -> bool {
        self.framing == Framing::Close
    }

    fn data(&mut self, data: &[u8], out: &mut StdStream) {
        self.seen += data.len() as u64;
        if self.error_text.len() < 300 {
            let room = 300 - self.error_text.len();
            self.error_text
                .extend_from_slice(&data[..data.len().min(room)]);
        }
        out.feed(data);
    }

    fn feed(&mut self, mut data: &[u8], out: &mut StdStream) -> Result<()> {
        self.wire += data.len() as u64;
        match self.framing {
            Framing::Close => {
                self.data(data, out);
                return Ok(());
            }
            Framing::Length(n) => {
                let rest = usize::try_from(n - self.seen.min(n)).unwrap_or(usize::MAX);
                let take = data.len().min(rest);
                self.data(&data[..take], out);
                return Ok(());
            }
            Framing::Chunked => {}
        }
        while let Some((&b, rest)) = data.split_first() {
            match &mut self.chunk {
                Chunk::Data(remaining) => {
                    let take = data
                        .len()
                        .min(usize::try_from(*remaining).unwrap_or(usize::MAX));
                    *remaining -= take as u64;
                    if *remaining == 0 {
                        self.chunk = Chunk::DataEnd;
                    }
                    let (chunk, rest) = data.split_at(take);
                    self.data(chunk, out);
                    data = rest;
                    continue;
                }
                Chunk::Size { value, extension } => match b {
                    b'\n' if *value == 0 => self.chunk = Chunk::Trailer { line: 0 },
                    b'\n' => self.chunk = Chunk::Data(*value),
                    b'\r' | b' ' | b'\t' => {}
                    b';' => *extension = true,
                    _ if *extension => {}
                    _ => {
                        let digit = char::from(b)
                            .to_digit(16)
                            .ok_or_else(|| anyhow!("bad chunk size byte {b:#04x}"))?;
                        *value = value
                            .checked_mul(16)
                            .map(|v| v + u64::from(digit))
                            .ok_or_else(|| anyhow!("chunk size overflows"))?;
                    }
                },
                Chunk::DataEnd => match b {
                    b'\r' => {}
                    b'\n' => {
                        self.chunk = Chunk::Size {
                            value: 0,
                            extension: false,
                        }
                    }
                    _ => bail!("chunk data longer than its size"),
                },
                Chunk::Trailer { line } => match b {
                    b'\r' => {}
                    b'\n' if *line == 0 => self.chunk = Chunk::Done,
                    b'\n' => *line = 0,
                    _ => *line += 1,
                },
                Chunk::Done => break,
            }
            data = rest;
        }
        Ok(())
    }
}

/// Counts payload bytes of the engine's multiplexed stdout/stderr stream: 8-byte headers
/// (stream, 3 zero bytes, big-endian length) each followed by that many bytes.
#[derive(Default)]
struct StdStream {
    header: [u8; 8],
    header_len: usize,
    remaining: u64,
    payload: u64,
}

impl StdStream {
    fn feed(&mut self, mut data: &[u8]) {
        while !data.is_empty() {
            if self.remaining > 0 {
                let take = data
                    .len()
                    .min(usize::try_from(self.remaining).unwrap_or(usize::MAX));
                self.remaining -= take as u64;
                self.payload += take as u64;
                data = &data[take..];
                continue;
            }
            let take = data.len().min(8 - self.header_len);
            self.header[self.header_len..self.header_len + take].copy_from_slice(&data[..take]);
            self.header_len += take;
            data = &data[take..];
            if self.header_len == 8 {
                let [_, _, _, _, a, b, c, d] = self.header;
                self.remaining = u64::from(u32::from_be_bytes([a, b, c, d]));
                self.header_len = 0;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn multiplexed(lines: &[&[u8]]) -> Vec<u8> {
        let mut stream = Vec::new();
        for payload in lines {
            stream.extend_from_slice(&[1, 0, 0, 0]);
            stream.extend_from_slice(&(payload.len() as u32).to_be_bytes());
            stream.extend_from_slice(payload);
        }
        stream
    }

    fn chunked(body: &[u8], chunk: usize) -> Vec<u8> {
        let mut out = Vec::new();
        for (i, part) in body.chunks(chunk).enumerate() {
            if i % 2 == 0 {
                out.extend_from_slice(format!("{:x}\r\n", part.len()).as_bytes());
            } else {
                out.extend_from_slice(format!("{:X};ext=1\r\n", part.len()).as_bytes());
            }
            out.extend_from_slice(part);
            out.extend_from_slice(b"\r\n");
        }
        out.extend_from_slice(b"0\r\nX-Trailer: 1\r\n\r\n");
        out
    }

    const LINES: [&[u8]; 3] = [b"hello\n", b"", b"a longer line of text\n"];

    #[test]
    fn std_stream_counts_payload_across_read_boundaries() {
        let stream = multiplexed(&LINES);
        for split in 1..stream.len() {
            let mut counter = StdStream::default();
            for part in stream.chunks(split) {
                counter.feed(part);
            }
            assert_eq!(counter.payload, 28, "read size {split}");
        }
    }

    #[test]
    fn chunked_body_decodes_across_read_boundaries() {
        let stream = multiplexed(&LINES);
        let wire = chunked(&stream, 7);
        for split in 1..wire.len() {
            let mut body = Body::new(Framing::Chunked);
            let mut counter = StdStream::default();
            for part in wire.chunks(split) {
                body.feed(part, &mut counter).expect("valid chunked body");
            }
            assert!(body.done(), "read size {split}");
            assert_eq!(body.seen, stream.len() as u64, "read size {split}");
            assert_eq!(counter.payload, 28, "read size {split}");
        }
    }

    #[test]
    fn chunked_body_rejects_garbage_sizes() {
        let mut body = Body::new(Framing::Chunked);
        assert!(body.feed(b"zz\r\n", &mut StdStream::default()).is_err());
    }

    #[test]
    fn head_gives_status_and_framing() {
        let head = b"HTTP/1.1 200 OK\r\nContent-Type: application/vnd.docker.raw-stream\r\nTransfer-Encoding: chunked\r\n\r\n";
        assert_eq!(
            parse_head(head).expect("valid head"),
            (200, Framing::Chunked)
        );
        let head = b"HTTP/1.1 404 Not Found\r\ncontent-length: 12\r\n\r\n";
        assert_eq!(
            parse_head(head).expect("valid head"),
            (404, Framing::Length(12))
        );
    }
}
