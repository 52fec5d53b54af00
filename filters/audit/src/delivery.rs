//! Delivery of audit records: a bounded queue per VM, drained in batches of
//! JSON lines, one batch in flight at a time, retried with exponential
//! back-off while the collector is down or slow.
//!
//! What can be lost, and when: records still queued when Envoy stops (at
//! most one flush interval's worth plus any backlog of a collector outage),
//! and the oldest records once the queue bound (`max_queue` records or
//! `max_queue_bytes`) is reached during a long outage (each one counted as
//! dropped). A VM that fails loses its queue with it. A record is never sent twice by a
//! healthy collector; a collector that stores a batch but fails to answer
//! gets it again (at-least-once).

use std::collections::VecDeque;

/// Longest wait between two attempts while the collector keeps failing.
const MAX_BACKOFF_MS: u64 = 30_000;

/// Counter changes to report after an operation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub retried: u64,
    pub dropped: u64,
}

/// The records of one VM waiting for the collector.
#[derive(Debug)]
pub struct Outbox {
    queue: VecDeque<String>,
    /// Bytes of the records in `queue`.
    queued_bytes: usize,
    max_queue: usize,
    max_queue_bytes: usize,
    max_batch: usize,
    in_flight: Option<(u32, Vec<String>)>,
    failures: u32,
    next_attempt_ms: u64,
}

impl Outbox {
    pub fn new(max_queue: usize, max_batch: usize, max_queue_bytes: usize) -> Self {
        Outbox {
            queue: VecDeque::new(),
            queued_bytes: 0,
            max_queue: max_queue.max(1),
            max_queue_bytes,
            max_batch: max_batch.max(1),
            in_flight: None,
            failures: 0,
            next_attempt_ms: 0,
        }
    }

    /// Queues a record; when the queue is full (in records or in bytes)
    /// the oldest records go.
    pub fn push(&mut self, record: String) -> Counts {
        self.queued_bytes += record.len();
        self.queue.push_back(record);
        self.trim()
    }

    fn trim(&mut self) -> Counts {
        let mut counts = Counts::default();
        while self.queue.len() > self.max_queue || (self.queued_bytes > self.max_queue_bytes && !self.queue.is_empty()) {
            if let Some(record) = self.queue.pop_front() {
                self.queued_bytes -= record.len();
            }
            counts.dropped += 1;
        }
        counts
    }

    /// Bytes of the records waiting (the batch in flight excluded).
    pub fn queued_bytes(&self) -> usize {
        self.queued_bytes
    }

    pub fn queued(&self) -> usize {
        self.queue.len()
    }

    /// Whether a whole batch is waiting: then it goes at once rather than at
    /// the next flush. Sending part-filled batches back to back instead
    /// would, under load, make a collector request of every few calls.
    pub fn has_full_batch(&self) -> bool {
        self.queue.len() >= self.max_batch
    }

    /// The body of the next batch (JSON lines) if one is due: nothing in
    /// flight, the back-off has passed and records are waiting. The batch
    /// stays owned by the outbox until [`Outbox::sent`] or [`Outbox::failed`].
    pub fn next_batch(&mut self, now_ms: u64) -> Option<Vec<u8>> {
        if self.in_flight.is_some() || now_ms < self.next_attempt_ms || self.queue.is_empty() {
            return None;
        }
        let n = self.max_batch.min(self.queue.len());
        let batch: Vec<String> = self.queue.drain(..n).collect();
        self.queued_bytes -= batch.iter().map(String::len).sum::<usize>();
        let mut body = Vec::with_capacity(batch.iter().map(|r| r.len() + 1).sum());
        for record in &batch {
            body.extend_from_slice(record.as_bytes());
            body.push(b'\n');
        }
        self.in_flight = Some((0, batch));
        Some(body)
    }

    /// The batch from [`Outbox::next_batch`] went out as call `token`.
    pub fn dispatched(&mut self, token: u32) {
        if let Some((t, _)) = self.in_flight.as_mut() {
            *t = token;
        }
    }

    /// Whether `token` is this outbox's call.
    pub fn owns(&self, token: u32) -> bool {
        self.in_flight.as_ref().is_some_and(|(t, _)| *t == token)
    }

    /// The collector accepted the batch in flight.
    pub fn sent(&mut self) -> Counts {
        self.failures = 0;
        self.next_attempt_ms = 0;
        let sent = self.in_flight.take().map_or(0, |(_, batch)| batch.len() as u64);
        Counts { sent, ..Counts::default() }
    }

    /// The batch in flight failed (or could not be dispatched): it goes back
    /// to the front of the queue and the next attempt waits 1 s, 2 s, 4 s,
    /// ... up to 30 s.
    pub fn failed(&mut self, now_ms: u64) -> Counts {
        let Some((_, batch)) = self.in_flight.take() else { return Counts::default() };
        let retried = batch.len() as u64;
        for record in batch.into_iter().rev() {
            self.queued_bytes += record.len();
            self.queue.push_front(record);
        }
        self.failures = self.failures.saturating_add(1);
        let exponent = self.failures.saturating_sub(1).min(5);
        let backoff = (1000u64 << exponent).min(MAX_BACKOFF_MS);
        self.next_attempt_ms = now_ms.saturating_add(backoff);
        Counts { retried, ..self.trim() }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn outbox() -> Outbox {
        let mut outbox = Outbox::new(5, 2, usize::MAX);
        for i in 0..3 {
            outbox.push(format!("{{\"n\":{i}}}"));
        }
        outbox
    }

    #[test]
    fn batches_are_json_lines_one_in_flight_at_a_time() {
        let mut o = outbox();
        assert_eq!(o.next_batch(0).unwrap(), b"{\"n\":0}\n{\"n\":1}\n");
        o.dispatched(7);
        assert!(o.owns(7) && !o.owns(8));
        assert_eq!(o.next_batch(0), None, "one batch in flight");
        assert_eq!(o.sent(), Counts { sent: 2, ..Counts::default() });
        assert_eq!(o.next_batch(0).unwrap(), b"{\"n\":2}\n");
    }

    #[test]
    fn a_full_batch_is_told_apart_from_a_partial_one() {
        let mut o = outbox();
        assert!(o.has_full_batch(), "3 queued, batches of 2");
        o.next_batch(0);
        assert!(!o.has_full_batch(), "1 left");
    }

    #[test]
    fn a_failed_batch_comes_back_first_after_a_growing_backoff() {
        let mut o = outbox();
        o.next_batch(0);
        assert_eq!(o.failed(1_000).retried, 2);
        assert_eq!(o.next_batch(1_999), None, "1 s back-off");
        assert_eq!(o.next_batch(2_000).unwrap(), b"{\"n\":0}\n{\"n\":1}\n", "same order");
        o.failed(2_000);
        assert_eq!(o.next_batch(3_999), None, "2 s back-off");
        assert!(o.next_batch(4_000).is_some());
        for _ in 0..10 {
            o.failed(0);
            o.next_attempt_ms = 0;
            o.next_batch(0);
        }
        o.failed(0);
        assert_eq!(o.next_attempt_ms, MAX_BACKOFF_MS);
        o.next_attempt_ms = 0;
        o.next_batch(0);
        o.sent();
        assert_eq!((o.failures, o.next_attempt_ms), (0, 0), "success resets the back-off");
    }

    #[test]
    fn the_queue_is_bounded_and_drops_the_oldest() {
        let mut o = outbox();
        assert_eq!(o.push("a".into()).dropped, 0);
        assert_eq!(o.push("b".into()).dropped, 0);
        assert_eq!(o.push("c".into()).dropped, 1);
        assert_eq!(o.queued(), 5);
        assert_eq!(o.next_batch(0).unwrap(), b"{\"n\":1}\n{\"n\":2}\n");
    }

    #[test]
    fn the_queue_is_bounded_in_bytes_and_drops_the_oldest() {
        let mut o = Outbox::new(100, 2, 10);
        assert_eq!(o.push("aaaa".into()).dropped, 0);
        assert_eq!(o.push("bbbb".into()).dropped, 0);
        assert_eq!(o.push("cccc".into()).dropped, 1, "12 bytes > 10: the oldest goes");
        assert_eq!((o.queued(), o.queued_bytes()), (2, 8));
        assert_eq!(o.push("x".repeat(20)).dropped, 3, "a record over the bound takes the queue and itself");
        assert_eq!((o.queued(), o.queued_bytes()), (0, 0));
        o.push("dddd".into());
        o.push("eeee".into());
        assert_eq!(o.next_batch(0).unwrap(), b"dddd\neeee\n");
        assert_eq!(o.queued_bytes(), 0, "the batch in flight is not queued");
        o.push("ffff".into());
        assert_eq!(o.failed(0), Counts { retried: 2, dropped: 1, ..Counts::default() }, "a failed batch comes back within the bound");
        assert_eq!((o.queued(), o.queued_bytes()), (2, 8));
    }

    #[test]
    fn nothing_is_lost_across_failures_within_the_bound() {
        let mut o = Outbox::new(100, 3, usize::MAX);
        for i in 0..10 {
            o.push(i.to_string());
        }
        let mut delivered = Vec::new();
        let mut now = 0;
        while o.queued() > 0 || o.in_flight.is_some() {
            now += 1_000;
            let Some(body) = o.next_batch(now) else { continue };
            if now % 3_000 == 0 {
                o.failed(now);
            } else {
                delivered.extend(String::from_utf8(body).unwrap().lines().map(str::to_owned));
                o.sent();
            }
        }
        assert_eq!(delivered, (0..10).map(|i| i.to_string()).collect::<Vec<_>>());
    }
}
