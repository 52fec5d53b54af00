//! The request body limit, decided by the filter as the body arrives.
//!
//! Envoy refuses a body that overflows its buffer at once: it answers 413,
//! stops reading and closes the connection with the rest of the upload
//! unread, and the kernel then resets it. A client that sends its whole body
//! before it reads (Python's `http.client` and `urllib`, the `openai` and
//! `anthropic` SDKs) gets that reset and never the 413. So Envoy's own limits
//! sit above [`MAX_REQUEST_BODY`] and the filter enforces it: a body that
//! crosses it is discarded as it arrives, never kept, and refused when it
//! ends, when the client is reading.

/// The largest request body the gateway accepts. In the shipped
/// configurations Envoy's buffer filter allows three times this: what is
/// kept plus the read that crosses it (a read is at most the listener's
/// 32 MiB buffer limit).
pub const MAX_REQUEST_BODY: usize = 32 * 1024 * 1024;

/// The most of an over-limit body the filter reads and discards: past it,
/// the filter stops waiting for the end and refuses the body at once (with
/// Envoy's reset). Bounds the time and bandwidth a refused upload can take.
pub const MAX_READ: usize = 256 * 1024 * 1024;

/// What to do with the request body Envoy holds now.
#[derive(Debug, PartialEq, Eq)]
pub enum Intake {
    /// Within the limit: keep it.
    Keep,
    /// Over the limit: drop what Envoy holds and read on.
    Discard,
    /// Over the limit and ended (or read up to [`MAX_READ`]): refuse it now.
    Refuse,
}

/// One request's body against the limit.
#[derive(Debug, Default)]
pub struct BodyLimit {
    /// Body bytes received so far.
    seen: usize,
}

impl BodyLimit {
    /// `received` more bytes of the body arrived; `end_of_stream` if they
    /// are its last.
    pub fn intake(&mut self, received: usize, end_of_stream: bool) -> Intake {
        self.seen = self.seen.saturating_add(received);
        if self.seen <= MAX_REQUEST_BODY {
            Intake::Keep
        } else if end_of_stream || self.seen > MAX_READ {
            Intake::Refuse
        } else {
            Intake::Discard
        }
    }

    /// Whether the body crossed the limit (its end, e.g. trailers, is then
    /// refused).
    pub fn exceeded(&self) -> bool {
        self.seen > MAX_REQUEST_BODY
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_body_up_to_the_limit_is_kept() {
        let mut limit = BodyLimit::default();
        assert_eq!(limit.intake(1024, false), Intake::Keep);
        assert_eq!(limit.intake(MAX_REQUEST_BODY - 1024, true), Intake::Keep);
        assert!(!limit.exceeded());
    }

    #[test]
    fn a_body_over_the_limit_is_discarded_to_its_end_then_refused() {
        let mut limit = BodyLimit::default();
        assert_eq!(limit.intake(MAX_REQUEST_BODY, false), Intake::Keep);
        assert_eq!(limit.intake(1, false), Intake::Discard);
        assert!(limit.exceeded());
        assert_eq!(limit.intake(4096, false), Intake::Discard);
        assert_eq!(limit.intake(0, true), Intake::Refuse);
    }

    #[test]
    fn a_body_crossing_the_limit_in_its_last_piece_is_refused_at_once() {
        let mut limit = BodyLimit::default();
        assert_eq!(limit.intake(MAX_REQUEST_BODY + 1, true), Intake::Refuse);
    }

    #[test]
    fn an_endless_body_is_refused_once_read_up_to_the_cap() {
        let mut limit = BodyLimit::default();
        assert_eq!(limit.intake(MAX_READ, false), Intake::Discard);
        assert_eq!(limit.intake(1, false), Intake::Refuse);
    }
}
