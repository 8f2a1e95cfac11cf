//! Limits on how slowly a connection may go (slowloris):
//! - a request's head must arrive within `REQUEST_HEAD_TIMEOUT` of its first byte (of the
//!   connection's start, for the first request);
//! - a connection with no request in flight on which nothing moves either way for
//!   `CONNECTION_IDLE_TIMEOUT` is closed (idle keep-alive, or a response the client stops
//!   reading);
//! - a request body that stalls (no byte for `BODY_STALL_TIMEOUT`) or trickles (under
//!   `BODY_BYTES_PER_SEC_MIN` on average once `BODY_RATE_GRACE` has passed) fails, and the
//!   request with it.
//!
//! The connection limits are kept by [`Paced`], around the socket: it reads the connection's
//! [`Requests`] to tell a head being read from a request being worked on. One timer per
//! connection, re-armed only when it fires.

use std::pin::Pin;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::task::{Context, Poll, ready};
use std::time::Duration;

use bytes::Bytes;
use hyper::body::{Frame, Incoming, SizeHint};
use tokio::io::{AsyncRead, AsyncWrite, ReadBuf};
use tokio::time::{Instant, Sleep};

/// How long a request's line and headers may take to arrive.
pub const REQUEST_HEAD_TIMEOUT: Duration = Duration::from_secs(20);

/// How long a connection with no request in flight may go without a byte read or written.
pub const CONNECTION_IDLE_TIMEOUT: Duration = Duration::from_secs(60);

/// How long a request body may go without a byte.
pub const BODY_STALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The slowest a request body may average once `BODY_RATE_GRACE` has passed.
pub const BODY_BYTES_PER_SEC_MIN: u64 = 1024;

/// How long a request body goes before its rate is judged.
pub const BODY_RATE_GRACE: Duration = Duration::from_secs(30);

/// One connection's requests, counted by the guard and read by its I/O.
#[derive(Debug, Default)]
pub struct Requests {
    in_flight: AtomicUsize,
    begun: AtomicU64,
}

impl Requests {
    /// A request's head has been read.
    pub fn begin(&self) {
        self.in_flight.fetch_add(1, Ordering::Relaxed);
        self.begun.fetch_add(1, Ordering::Relaxed);
    }

    /// A request has been answered (or dropped).
    pub fn end(&self) {
        self.in_flight.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A connection's requests, shared.
pub type InFlight = Arc<Requests>;

/// A connection's I/O, closed when a head takes too long or the connection idles.
#[derive(Debug)]
pub struct Paced<S> {
    inner: S,
    requests: InFlight,
    /// The last time a byte moved either way.
    moved: Instant,
    /// When the head being read began, and how many requests had begun then: a head is done
    /// when that count has moved on.
    head: Option<(Instant, u64)>,
    timer: Pin<Box<Sleep>>,
}

impl<S> Paced<S> {
    pub fn new(inner: S, requests: InFlight) -> Paced<S> {
        let now = Instant::now();
        let timer = Box::pin(tokio::time::sleep_until(now + REQUEST_HEAD_TIMEOUT));
        Paced { inner, requests, moved: now, head: Some((now, 0)), timer }
    }

    /// The head being read, if one is: (when it began).
    fn head_started(&mut self, now: Instant) -> Option<Instant> {
        if self.requests.in_flight.load(Ordering::Relaxed) > 0 {
            self.moved = now;
            self.head = None;
            return None;
        }
        let begun = self.requests.begun.load(Ordering::Relaxed);
        match self.head {
            Some((started, at)) if at == begun => Some(started),
            _ => None,
        }
    }

    /// Bytes were read: a head may have begun.
    fn received(&mut self) -> std::io::Result<()> {
        let now = Instant::now();
        self.moved = now;
        let started = match self.head_started(now) {
            Some(started) => started,
            None if self.requests.in_flight.load(Ordering::Relaxed) > 0 => return Ok(()),
            None => {
                self.head = Some((now, self.requests.begun.load(Ordering::Relaxed)));
                now
            }
        };
        if now.duration_since(started) > REQUEST_HEAD_TIMEOUT {
            return Err(std::io::Error::new(std::io::ErrorKind::TimedOut, "the request head took too long"));
        }
        Ok(())
    }

    /// What a write did: bytes written move the connection on; a pending write waits on the
    /// idle timer.
    fn wrote(&mut self, cx: &mut Context<'_>, written: Poll<std::io::Result<usize>>) -> Poll<std::io::Result<usize>> {
        match written {
            Poll::Ready(Ok(written)) => {
                if written > 0 {
                    self.moved = Instant::now();
                }
                Poll::Ready(Ok(written))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.idle(cx).map(Err),
        }
    }

    /// Pending I/O: an error once a head has taken too long or the connection has idled too
    /// long with nothing in flight, else waits for the timer.
    fn idle(&mut self, cx: &mut Context<'_>) -> Poll<std::io::Error> {
        loop {
            let now = Instant::now();
            let head = self.head_started(now).map(|started| started + REQUEST_HEAD_TIMEOUT);
            let idle = self.moved + CONNECTION_IDLE_TIMEOUT;
            let deadline = head.map_or(idle, |head| head.min(idle));
            if now >= deadline {
                let why =
                    if head == Some(deadline) { "the request head took too long" } else { "the connection idled" };
                return Poll::Ready(std::io::Error::new(std::io::ErrorKind::TimedOut, why));
            }
            // A timer due before the deadline fires early and is re-armed here.
            if self.timer.is_elapsed() || self.timer.deadline() > deadline {
                self.timer.as_mut().reset(deadline);
            }
            ready!(self.timer.as_mut().poll(cx));
        }
    }
}

impl<S: AsyncRead + Unpin> AsyncRead for Paced<S> {
    fn poll_read(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &mut ReadBuf<'_>) -> Poll<std::io::Result<()>> {
        let before = buf.filled().len();
        match Pin::new(&mut self.inner).poll_read(cx, buf) {
            Poll::Ready(Ok(())) => {
                if buf.filled().len() > before {
                    self.received()?;
                }
                Poll::Ready(Ok(()))
            }
            Poll::Ready(Err(error)) => Poll::Ready(Err(error)),
            Poll::Pending => self.idle(cx).map(Err),
        }
    }
}

impl<S: AsyncWrite + Unpin> AsyncWrite for Paced<S> {
    fn poll_write(mut self: Pin<&mut Self>, cx: &mut Context<'_>, buf: &[u8]) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write(cx, buf);
        self.wrote(cx, written)
    }

    fn poll_write_vectored(
        mut self: Pin<&mut Self>,
        cx: &mut Context<'_>,
        bufs: &[std::io::IoSlice<'_>],
    ) -> Poll<std::io::Result<usize>> {
        let written = Pin::new(&mut self.inner).poll_write_vectored(cx, bufs);
        self.wrote(cx, written)
    }

    fn is_write_vectored(&self) -> bool {
        self.inner.is_write_vectored()
    }

    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_flush(cx)
    }

    fn poll_shutdown(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<std::io::Result<()>> {
        Pin::new(&mut self.inner).poll_shutdown(cx)
    }
}

/// A request's body, failed when it stalls or trickles. Bodiless requests skip the timer.
#[derive(Debug)]
pub enum RequestBody {
    Plain(Incoming),
    Paced(Box<PacedBody>),
}

/// The timer and counts of a body being paced.
#[derive(Debug)]
pub struct PacedBody {
    inner: Incoming,
    started: Instant,
    received: u64,
    stall: Pin<Box<Sleep>>,
}

impl RequestBody {
    /// `body`, paced unless it is known to be empty.
    pub fn new(body: Incoming) -> RequestBody {
        if hyper::body::Body::is_end_stream(&body) {
            return RequestBody::Plain(body);
        }
        let started = Instant::now();
        let stall = Box::pin(tokio::time::sleep_until(started + BODY_STALL_TIMEOUT));
        RequestBody::Paced(Box::new(PacedBody { inner: body, started, received: 0, stall }))
    }
}

/// Why a body was cut.
#[derive(Debug, thiserror::Error)]
pub enum BodyError {
    #[error("the request body stalled for {0:?}")]
    Stalled(Duration),
    #[error("the request body arrived at under {BODY_BYTES_PER_SEC_MIN} bytes per second")]
    Trickled,
    #[error(transparent)]
    Hyper(#[from] hyper::Error),
}

impl hyper::body::Body for RequestBody {
    type Data = Bytes;
    type Error = BodyError;

    fn poll_frame(self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        match self.get_mut() {
            RequestBody::Plain(body) => Pin::new(body).poll_frame(cx).map_err(BodyError::from),
            RequestBody::Paced(paced) => paced.poll(cx),
        }
    }

    fn is_end_stream(&self) -> bool {
        match self {
            RequestBody::Plain(body) => body.is_end_stream(),
            RequestBody::Paced(paced) => paced.inner.is_end_stream(),
        }
    }

    fn size_hint(&self) -> SizeHint {
        match self {
            RequestBody::Plain(body) => body.size_hint(),
            RequestBody::Paced(paced) => paced.inner.size_hint(),
        }
    }
}

impl PacedBody {
    fn poll(&mut self, cx: &mut Context<'_>) -> Poll<Option<Result<Frame<Bytes>, BodyError>>> {
        use hyper::body::Body;
        match Pin::new(&mut self.inner).poll_frame(cx) {
            Poll::Ready(Some(Ok(frame))) => {
                let now = Instant::now();
                self.received += frame.data_ref().map_or(0, |data| data.len() as u64);
                let elapsed = now.duration_since(self.started);
                let owed = BODY_BYTES_PER_SEC_MIN as f64 * elapsed.as_secs_f64();
                if elapsed > BODY_RATE_GRACE && (self.received as f64) < owed {
                    return Poll::Ready(Some(Err(BodyError::Trickled)));
                }
                self.stall.as_mut().reset(now + BODY_STALL_TIMEOUT);
                Poll::Ready(Some(Ok(frame)))
            }
            Poll::Ready(other) => Poll::Ready(other.map(|r| r.map_err(BodyError::from))),
            Poll::Pending => match self.stall.as_mut().poll(cx) {
                Poll::Ready(()) => Poll::Ready(Some(Err(BodyError::Stalled(BODY_STALL_TIMEOUT)))),
                Poll::Pending => Poll::Pending,
            },
        }
    }
}

impl From<RequestBody> for s3s::Body {
    fn from(body: RequestBody) -> s3s::Body {
        match body {
            RequestBody::Plain(body) => s3s::Body::from(body),
            RequestBody::Paced(_) => s3s::Body::http_body(body),
        }
    }
}
