//! An engine connection read at a pace: once a read has taken all that had arrived, the
//! socket leaves the event loop and is read again a moment later, for everything that
//! came in the meantime, for as long as something does; a rest with nothing in it puts
//! the socket back in the loop to wait.
//!
//! For a log stream. The engine writes its logs a line at a time, and every write into a
//! socket that the event loop watches wakes the thread that watches it, whether or not
//! anything then reads: thousands of wake-ups a second, which is most of what relaying a
//! log costs. Out of the loop, the engine's writes wait in the socket, and the thread
//! wakes once per rest for all of them. A rest is sized to bring about [`GOAL`] bytes,
//! well under what the engine's socket holds of one-line writes (about 30 KB), so that
//! the engine never waits for the agent; it lasts from [`MIN_PACE`] to [`MAX_PACE`],
//! timed by a timerfd, since tokio's timers count whole milliseconds.

use std::io::{self, Read};
use std::os::fd::OwnedFd;
use std::pin::Pin;
use std::task::{ready, Context, Poll};
use std::time::Duration;

use rustix::time::{Itimerspec, TimerfdClockId, TimerfdFlags, TimerfdTimerFlags, Timespec};
use tokio::io::unix::AsyncFd;
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};

/// What a rest should bring in.
const GOAL: usize = 16 * 1024;
/// The shortest rest: a stream faster than [`GOAL`] per this is read this often.
const MIN_PACE: Duration = Duration::from_micros(100);
/// The longest rest: a slow stream (`logs -f`) passes each line on within about this.
const MAX_PACE: Duration = Duration::from_millis(1);
/// The first rest.
const FIRST_PACE: Duration = Duration::from_micros(500);

/// The next rest after one of `rested` in which `arrived` bytes came: halfway from
/// `rested` to what would bring [`GOAL`] at that rate, within the bounds.
fn next_pace(rested: Duration, arrived: usize) -> Duration {
    if arrived == 0 {
        return MAX_PACE;
    }
    let goal = rested.as_nanos() * GOAL as u128 / arrived as u128;
    let goal = Duration::from_nanos(u64::try_from(goal).unwrap_or(u64::MAX));
    ((rested + goal.clamp(MIN_PACE, MAX_PACE)) / 2).clamp(MIN_PACE, MAX_PACE)
}

/// A socket that can leave its runtime's event loop and join it again.
pub trait Rejoin: AsyncRead + AsyncWrite + Unpin + Sized {
    type Std: Read + Unpin;
    fn leave(self) -> io::Result<Self::Std>;
    fn rejoin(std: Self::Std) -> io::Result<Self>;
}

impl Rejoin for tokio::net::UnixStream {
    type Std = std::os::unix::net::UnixStream;
    fn leave(self) -> io::Result<Self::Std> {
        self.into_std()
    }
    fn rejoin(std: Self::Std) -> io::Result<Self> {
        Self::from_std(std)
    }
}

impl Rejoin for tokio::net::TcpStream {
    type Std = std::net::TcpStream;
    fn leave(self) -> io::Result<Self::Std> {
        self.into_std()
    }
    fn rejoin(std: Self::Std) -> io::Result<Self> {
        Self::from_std(std)
    }
}

enum Socket<S: Rejoin> {
    /// In the event loop.
    Watched(S),
    /// Out of it until the rest ends; `whole`: the rest is a whole pace (not a moment
    /// to let a caller with a full buffer come back).
    Resting { std: S::Std, whole: bool },
    /// Failed to leave or rejoin: the error is the next read's.
    Lost(Option<io::Error>),
}

/// `S`, read at a pace. Writes (the request) go out as they come.
pub struct Paced<S: Rejoin> {
    socket: Socket<S>,
    rest: Rest,
    /// The length of a whole rest now.
    pace: Duration,
    /// Read since the last whole rest ended.
    since_rest: usize,
}

/// A one-shot timer of sub-millisecond precision (tokio's has whole milliseconds), reused
/// for every rest.
struct Rest {
    timer: AsyncFd<OwnedFd>,
    armed: bool,
}

impl Rest {
    fn new() -> io::Result<Self> {
        let fd = rustix::time::timerfd_create(
            TimerfdClockId::Monotonic,
            TimerfdFlags::NONBLOCK | TimerfdFlags::CLOEXEC,
        )?;
        // SAFETY: the descriptor is the `OwnedFd` the `AsyncFd` owns; it is closed only
        // when that is dropped, after it has left the event loop.
        #[allow(unsafe_code)]
        let timer = unsafe { AsyncFd::register(fd)? };
        Ok(Self {
            timer,
            armed: false,
        })
    }

    fn set(&mut self, rest: Duration) -> io::Result<()> {
        self.armed = !rest.is_zero();
        if self.armed {
            let value = Timespec {
                tv_sec: rest.as_secs().try_into().unwrap_or(i64::MAX),
                tv_nsec: rest.subsec_nanos().into(),
            };
            let zero = Timespec {
                tv_sec: 0,
                tv_nsec: 0,
            };
            rustix::time::timerfd_settime(
                self.timer.get_ref(),
                TimerfdTimerFlags::empty(),
                &Itimerspec {
                    it_interval: zero,
                    it_value: value,
                },
            )?;
        }
        Ok(())
    }

    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        while self.armed {
            let mut ready = ready!(self.timer.poll_read_ready(cx))?;
            let mut expirations = [0u8; 8];
            match rustix::io::read(self.timer.get_ref(), &mut expirations) {
                // One-shot: not readable again until it is set again.
                Ok(_) => {
                    self.armed = false;
                    ready.clear_ready();
                }
                Err(rustix::io::Errno::AGAIN) => ready.clear_ready(),
                Err(e) => return Poll::Ready(Err(e.into())),
            }
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Rejoin> Paced<S> {
    pub fn new(socket: S) -> io::Result<Self> {
        Ok(Self {
            socket: Socket::Watched(socket),
            rest: Rest::new()?,
            pace: FIRST_PACE,
            since_rest: 0,
        })
    }

    /// Moves the socket from the state it is in to the next.
    fn turn(&mut self, next: impl FnOnce(Socket<S>) -> Socket<S>) {
        self.socket = next(std::mem::replace(&mut self.socket, Socket::Lost(None)));
    }

    /// The socket back in the event loop, whether or not its rest is over.
    fn watched(&mut self) -> io::Result<&mut S> {
        self.turn(|socket| match socket {
            Socket::Resting { std, .. } => {
                S::rejoin(std).map_or_else(|e| Socket::Lost(Some(e)), Socket::Watched)
            }
            other => other,
        });
        match &mut self.socket {
            Socket::Watched(s) => Ok(s),
            Socket::Lost(e) => Err(e.take().unwrap_or_else(|| {
                io::Error::new(io::ErrorKind::NotConnected, "the socket was lost")
            })),
            Socket::Resting { .. } => unreachable!("rejoined above"),
        }
    }

    /// Takes the socket out of the event loop for a whole rest.
    fn start_resting(&mut self) {
        self.turn(|socket| match socket {
            Socket::Watched(s) => s.leave().map_or_else(
                |e| Socket::Lost(Some(e)),
                |std| Socket::Resting { std, whole: true },
            ),
            other => other,
        });
        self.since_rest = 0;
        self.rest_for(self.pace);
    }

    /// All that had come is read: the next rest is sized by how much that was.
    fn drained(&mut self) {
        self.pace = next_pace(self.pace, self.since_rest);
        self.since_rest = 0;
        self.rest_for(self.pace);
    }

    fn rest_for(&mut self, pace: Duration) {
        if let Socket::Resting { whole, .. } = &mut self.socket {
            *whole = !pace.is_zero();
        }
        if let Err(e) = self.rest.set(pace) {
            self.socket = Socket::Lost(Some(e));
        }
    }
}

impl<S: Rejoin> AsyncRead for Paced<S> {
    fn poll_read(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        buf: &mut ReadBuf<'_>,
    ) -> Poll<io::Result<()>> {
        let this = self.get_mut();
        while let Socket::Resting { std, whole } = &mut this.socket {
            ready!(this.rest.poll(cx))?;
            let whole = *whole;
            match std.read(buf.initialize_unfilled()) {
                Ok(0) => return Poll::Ready(Ok(())),
                Ok(read) => {
                    buf.advance(read);
                    this.since_rest += read;
                    if buf.remaining() > 0 {
                        this.drained();
                    } else {
                        // The caller's buffer is full: it comes back for more at once.
                        this.rest_for(Duration::ZERO);
                    }
                    return Poll::Ready(Ok(()));
                }
                // Nothing came in a whole rest: wait in the loop for what comes next.
                Err(e) if e.kind() == io::ErrorKind::WouldBlock && whole => {
                    this.pace = FIRST_PACE;
                    break;
                }
                Err(e) if e.kind() == io::ErrorKind::WouldBlock => this.drained(),
                Err(e) => return Poll::Ready(Err(e)),
            }
        }
        let socket = this.watched()?;
        let before = buf.filled().len();
        ready!(Pin::new(socket).poll_read(cx, buf))?;
        if buf.filled().len() > before && buf.remaining() > 0 {
            this.start_resting();
        }
        Poll::Ready(Ok(()))
    }
}

impl<S: Rejoin> AsyncWrite for Paced<S> {
    fn poll_write(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        data: &[u8],
    ) -> Poll<io::Result<usize>> {
        Pin::new(self.get_mut().watched()?).poll_write(cx, data)
    }

    /// A socket holds nothing back to flush; a resting one stays at rest.
    fn poll_flush(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        match &mut self.get_mut().socket {
            Socket::Watched(s) => Pin::new(s).poll_flush(cx),
            _ => Poll::Ready(Ok(())),
        }
    }

    fn poll_shutdown(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<io::Result<()>> {
        Pin::new(self.get_mut().watched()?).poll_shutdown(cx)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};

    #[test]
    fn a_rest_is_sized_to_bring_the_goal_within_bounds() {
        let us = Duration::from_micros;
        // Twice the goal came: halfway to half the rest.
        assert_eq!(next_pace(us(400), 2 * GOAL), us(300));
        // The goal came: the same rest.
        assert_eq!(next_pace(us(400), GOAL), us(400));
        // A trickle: halfway to the longest rest.
        assert_eq!(next_pace(us(400), 100), us(700));
        assert_eq!(next_pace(MAX_PACE, 1), MAX_PACE);
        // A flood: never below the shortest.
        assert_eq!(next_pace(MIN_PACE, 100 * GOAL), MIN_PACE);
        assert_eq!(next_pace(us(300), 0), MAX_PACE);
    }

    /// Everything written arrives, in order, to the end; a fast stream of small writes
    /// is read in reads of several writes each, not one read per write; a stream that
    /// falls silent still hands over what it wrote; the request goes out while the socket
    /// rests; and the end reads as the end.
    #[tokio::test]
    async fn a_paced_socket_reads_everything_in_few_reads_and_a_quiet_one_still_delivers() {
        let (ours, engine) = std::os::unix::net::UnixStream::pair().unwrap();
        ours.set_nonblocking(true).unwrap();
        let mut paced = Paced::new(tokio::net::UnixStream::from_std(ours).unwrap()).unwrap();

        // 300 writes of 1 KB about 100 µs apart, from a thread of its own, as the engine
        // writes a line at a time.
        let writer = std::thread::spawn(move || {
            let mut engine = engine;
            for i in 0..300u32 {
                engine.write_all(&[(i % 251) as u8; 1024]).unwrap();
                std::thread::sleep(Duration::from_micros(100));
            }
            engine
        });
        let mut got = Vec::new();
        let mut reads = 0;
        let mut chunk = vec![0u8; 256 * 1024];
        while got.len() < 300 * 1024 {
            let n = paced.read(&mut chunk).await.unwrap();
            assert!(n > 0, "the stream ended early");
            got.extend_from_slice(&chunk[..n]);
            reads += 1;
        }
        for (i, block) in got.chunks(1024).enumerate() {
            assert!(
                block.iter().all(|&b| b == (i % 251) as u8),
                "block {i} out of order"
            );
        }
        assert!(
            reads <= 100,
            "{reads} reads for 300 writes: at least three a read expected"
        );

        let mut engine = writer.join().unwrap();
        engine.write_all(b"a last line\n").unwrap();
        let n = tokio::time::timeout(Duration::from_secs(5), paced.read(&mut chunk))
            .await
            .expect("a quiet stream's line arrives")
            .unwrap();
        assert_eq!(&chunk[..n], b"a last line\n");

        paced.write_all(b"ping").await.unwrap();
        let mut four = [0u8; 4];
        std::io::Read::read_exact(&mut engine, &mut four).unwrap();
        assert_eq!(&four, b"ping");
        drop(engine);
        assert_eq!(paced.read(&mut chunk).await.unwrap(), 0);
    }
}
