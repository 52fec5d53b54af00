//! The response body type: a queue of writes sent with a delay between them,
//! optionally ending in an error so hyper drops the connection mid-body
//! (that is how the `truncate` fault reaches the client).

use bytes::Bytes;
use http_body::{Body, Frame, SizeHint};
use std::collections::VecDeque;
use std::future::Future;
use std::io;
use std::pin::Pin;
use std::task::{Context, Poll};
use std::time::Duration;
use tokio::time::Sleep;

/// Minimum pause before an abort, so hyper flushes the last write first
/// (it flushes whenever the body is pending).
const FLUSH_BEFORE_ABORT: Duration = Duration::from_millis(20);

pub struct ChunkedBody {
    writes: VecDeque<Bytes>,
    delay: Duration,
    sleep: Option<Pin<Box<Sleep>>>,
    abort_at_end: bool,
    /// Whether the length is known up front (complete bodies).
    exact: bool,
}

impl ChunkedBody {
    /// A complete body in one write; hyper derives `content-length` from it.
    pub fn full(bytes: Bytes) -> Self {
        Self {
            writes: VecDeque::from([bytes]),
            delay: Duration::ZERO,
            sleep: None,
            abort_at_end: false,
            exact: true,
        }
    }

    /// Writes sent one by one with `delay` between them; when `abort_at_end`
    /// the body fails after the last write instead of finishing.
    pub fn writes(writes: Vec<Bytes>, delay: Duration, abort_at_end: bool) -> Self {
        Self {
            writes: writes.into(),
            delay,
            sleep: None,
            abort_at_end,
            exact: false,
        }
    }
}

impl Body for ChunkedBody {
    type Data = Bytes;
    type Error = io::Error;

    fn poll_frame(
        self: Pin<&mut Self>,
        cx: &mut Context<'_>,
    ) -> Poll<Option<Result<Frame<Bytes>, io::Error>>> {
        let this = self.get_mut();
        if let Some(sleep) = this.sleep.as_mut() {
            if sleep.as_mut().poll(cx).is_pending() {
                return Poll::Pending;
            }
            this.sleep = None;
        }
        if let Some(write) = this.writes.pop_front() {
            let pause = if !this.writes.is_empty() {
                this.delay
            } else if this.abort_at_end {
                this.delay.max(FLUSH_BEFORE_ABORT)
            } else {
                Duration::ZERO
            };
            if !pause.is_zero() {
                this.sleep = Some(Box::pin(tokio::time::sleep(pause)));
            }
            return Poll::Ready(Some(Ok(Frame::data(write))));
        }
        if this.abort_at_end {
            this.abort_at_end = false;
            return Poll::Ready(Some(Err(io::Error::new(
                io::ErrorKind::ConnectionAborted,
                "fake fault: truncated response",
            ))));
        }
        Poll::Ready(None)
    }

    fn is_end_stream(&self) -> bool {
        self.writes.is_empty() && !self.abort_at_end && self.sleep.is_none()
    }

    fn size_hint(&self) -> SizeHint {
        if self.exact {
            SizeHint::with_exact(self.writes.iter().map(|w| w.len() as u64).sum())
        } else {
            SizeHint::default()
        }
    }
}
