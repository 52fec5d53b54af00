//! Delivery of audit records: one queue shared by every VM of the plugin,
//! drained in batches of JSON lines by whichever VM's timer comes first,
//! each VM with at most one batch in flight, retried with exponential
//! back-off while the collector is down or slow.
//!
//! The queue is Envoy's (a proxy-wasm shared queue), outside the VMs: a VM
//! that fails takes with it only what it held itself, the calls in flight on
//! it and the one batch it had in flight to the collector; every completed
//! call's record is already in the queue, and the reloaded VM (or another
//! worker's) sends it. The VMs poll the queue from their timers rather than
//! wait for `on_queue_ready`, which Envoy calls only in the VM that
//! registered the queue last (one worker's, for every record queued), so
//! every VM drains it and none depends on another being alive.
//!
//! Envoy's queue has no bound, so the VMs keep its size (records and bytes)
//! in shared data: each VM adds what it queued and subtracts what it took
//! when its timer fires or it takes a batch, and drops the oldest records
//! beyond `max_queue` or `max_queue_bytes` (counted as dropped). The bound
//! is therefore kept to within one flush interval's intake. What else can be lost: records still queued when
//! Envoy stops. A record is never sent twice by a healthy collector; a
//! collector that stores a batch but fails to answer gets it again
//! (at-least-once). A failed batch goes back to the end of the queue, so
//! records reach the collector roughly, not strictly, in call order.

/// Longest wait between two attempts while the collector keeps failing.
const MAX_BACKOFF_MS: u64 = 30_000;

/// How often a VM retries its update of the shared size when other VMs
/// keep winning the compare-and-swap; its change then waits for its next one.
const SIZE_ATTEMPTS: usize = 8;

/// Counter changes to report after an operation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub retried: u64,
    pub dropped: u64,
}

/// The queue's size: records and their bytes. A change not yet published
/// is a [`Size`] of signed deltas.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Size {
    pub records: i64,
    pub bytes: i64,
}

impl Size {
    fn of(record: &[u8], sign: i64) -> Size {
        Size {
            records: sign,
            bytes: sign * i64::try_from(record.len()).unwrap_or(i64::MAX),
        }
    }

    fn add(&mut self, other: Size) {
        self.records = self.records.saturating_add(other.records);
        self.bytes = self.bytes.saturating_add(other.bytes);
    }

    fn encode(self) -> [u8; 16] {
        let mut bytes = [0; 16];
        bytes[..8].copy_from_slice(&self.records.to_le_bytes());
        bytes[8..].copy_from_slice(&self.bytes.to_le_bytes());
        bytes
    }

    fn decode(bytes: &[u8]) -> Size {
        let field = |range: std::ops::Range<usize>| {
            bytes
                .get(range)
                .and_then(|b| b.try_into().ok())
                .map_or(0, i64::from_le_bytes)
        };
        Size {
            records: field(0..8),
            bytes: field(8..16),
        }
    }
}

/// What delivery needs of Envoy: the shared queue and a shared value with
/// compare-and-swap (for its size).
pub trait SharedQueue {
    /// Appends a record; false if the host refused it.
    fn push(&mut self, record: &[u8]) -> bool;
    /// Takes the oldest record.
    fn pop(&mut self) -> Option<Vec<u8>>;
    /// The shared size value and its version.
    fn size(&self) -> Option<(Vec<u8>, u32)>;
    /// Writes the size if it is still at version `cas`; false if not.
    fn set_size(&mut self, value: &[u8], cas: Option<u32>) -> bool;
}

/// One VM's side of delivery.
#[derive(Debug)]
pub struct Delivery {
    max_queue: i64,
    max_queue_bytes: i64,
    max_batch: usize,
    /// This VM's change to the queue's size not yet added to the shared one.
    unpublished: Size,
    /// The shared size as this VM last saw it (with its own change).
    seen: Size,
    in_flight: Option<(u32, Vec<Vec<u8>>)>,
    failures: u32,
    next_attempt_ms: u64,
}

impl Delivery {
    pub fn new(max_queue: usize, max_batch: usize, max_queue_bytes: usize) -> Self {
        Delivery {
            max_queue: i64::try_from(max_queue.max(1)).unwrap_or(i64::MAX),
            max_queue_bytes: i64::try_from(max_queue_bytes).unwrap_or(i64::MAX),
            max_batch: max_batch.max(1),
            unpublished: Size::default(),
            seen: Size::default(),
            in_flight: None,
            failures: 0,
            next_attempt_ms: 0,
        }
    }

    /// Queues a record: one host call; the size is published later.
    pub fn push(&mut self, queue: &mut dyn SharedQueue, record: &[u8]) -> Counts {
        if queue.push(record) {
            self.unpublished.add(Size::of(record, 1));
            Counts::default()
        } else {
            Counts {
                dropped: 1,
                ..Counts::default()
            }
        }
    }

    /// Adds this VM's change to the shared size and returns the size. A
    /// size below zero (records queued by a VM that failed before it
    /// published them, then taken by another) counts as zero.
    fn publish(&mut self, queue: &mut dyn SharedQueue) -> Size {
        for _ in 0..SIZE_ATTEMPTS {
            let (current, cas) = queue
                .size()
                .map_or((Size::default(), None), |(bytes, cas)| {
                    (Size::decode(&bytes), Some(cas))
                });
            let mut size = current;
            size.add(self.unpublished);
            size = Size {
                records: size.records.max(0),
                bytes: size.bytes.max(0),
            };
            if size == current || queue.set_size(&size.encode(), cas) {
                self.unpublished = Size::default();
                self.seen = size;
                return size;
            }
        }
        self.seen
    }

    fn take(&mut self, queue: &mut dyn SharedQueue) -> Option<Vec<u8>> {
        let record = queue.pop()?;
        self.unpublished.add(Size::of(&record, -1));
        Some(record)
    }

    /// Whether a whole batch was waiting when this VM last looked: then it
    /// goes at once rather than at the next flush. Sending part-filled
    /// batches back to back instead would, under load, make a collector
    /// request of every few calls.
    pub fn has_full_batch(&self) -> bool {
        usize::try_from(self.seen.records).is_ok_and(|n| n >= self.max_batch)
    }

    /// Drops the oldest records beyond the bound, then takes the body of the
    /// next batch (JSON lines) if one is due: nothing in flight from this VM,
    /// the back-off has passed and records are waiting. The batch stays
    /// with this VM until [`Delivery::sent`] or [`Delivery::failed`].
    pub fn next_batch(
        &mut self,
        queue: &mut dyn SharedQueue,
        now_ms: u64,
    ) -> (Option<Vec<u8>>, Counts) {
        let mut counts = Counts::default();
        let mut size = self.publish(queue);
        while size.records > self.max_queue || size.bytes > self.max_queue_bytes {
            let Some(record) = self.take(queue) else {
                break;
            };
            size.add(Size::of(&record, -1));
            counts.dropped += 1;
        }
        if self.in_flight.is_some() || now_ms < self.next_attempt_ms {
            self.publish(queue);
            return (None, counts);
        }
        let max_batch = self.max_batch;
        let batch: Vec<Vec<u8>> = std::iter::from_fn(|| self.take(queue))
            .take(max_batch)
            .collect();
        self.publish(queue);
        if batch.is_empty() {
            return (None, counts);
        }
        let mut body = Vec::with_capacity(batch.iter().map(|r| r.len() + 1).sum());
        for record in &batch {
            body.extend_from_slice(record);
            body.push(b'\n');
        }
        self.in_flight = Some((0, batch));
        (Some(body), counts)
    }

    /// The batch from [`Delivery::next_batch`] went out as call `token`.
    pub fn dispatched(&mut self, token: u32) {
        if let Some((t, _)) = self.in_flight.as_mut() {
            *t = token;
        }
    }

    /// Whether `token` is this VM's call.
    pub fn owns(&self, token: u32) -> bool {
        self.in_flight.as_ref().is_some_and(|(t, _)| *t == token)
    }

    /// The collector accepted the batch in flight.
    pub fn sent(&mut self) -> Counts {
        self.failures = 0;
        self.next_attempt_ms = 0;
        let sent = self
            .in_flight
            .take()
            .map_or(0, |(_, batch)| batch.len() as u64);
        Counts {
            sent,
            ..Counts::default()
        }
    }

    /// The batch in flight failed (or could not be dispatched): it goes back
    /// to the queue, where it no longer depends on this VM, and this VM's
    /// next attempt waits 1 s, 2 s, 4 s, ... up to 30 s.
    pub fn failed(&mut self, queue: &mut dyn SharedQueue, now_ms: u64) -> Counts {
        let Some((_, batch)) = self.in_flight.take() else {
            return Counts::default();
        };
        let mut counts = Counts {
            retried: batch.len() as u64,
            ..Counts::default()
        };
        for record in &batch {
            counts.dropped += self.push(queue, record).dropped;
        }
        self.publish(queue);
        self.failures = self.failures.saturating_add(1);
        let exponent = self.failures.saturating_sub(1).min(5);
        let backoff = (1000u64 << exponent).min(MAX_BACKOFF_MS);
        self.next_attempt_ms = now_ms.saturating_add(backoff);
        counts
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::VecDeque;

    /// Envoy's side: the queue and the size value, shared by the VMs.
    #[derive(Default)]
    struct Memory {
        queue: VecDeque<Vec<u8>>,
        size: Option<(Vec<u8>, u32)>,
    }

    impl SharedQueue for Memory {
        fn push(&mut self, record: &[u8]) -> bool {
            self.queue.push_back(record.to_vec());
            true
        }
        fn pop(&mut self) -> Option<Vec<u8>> {
            self.queue.pop_front()
        }
        fn size(&self) -> Option<(Vec<u8>, u32)> {
            self.size.clone()
        }
        fn set_size(&mut self, value: &[u8], cas: Option<u32>) -> bool {
            let version = self.size.as_ref().map(|(_, v)| *v);
            if cas.is_some() && cas != version {
                return false;
            }
            self.size = Some((value.to_vec(), version.unwrap_or(0) + 1));
            true
        }
    }

    impl Memory {
        fn shared_size(&self) -> Size {
            self.size
                .as_ref()
                .map_or(Size::default(), |(b, _)| Size::decode(b))
        }
    }

    fn queued(vm: &mut Delivery, memory: &mut Memory, n: usize) {
        for i in 0..n {
            vm.push(memory, format!("{{\"n\":{i}}}").as_bytes());
        }
    }

    #[test]
    fn batches_are_json_lines_one_in_flight_per_vm_and_vms_share_the_queue() {
        let mut memory = Memory::default();
        let (mut a, mut b) = (
            Delivery::new(5, 2, usize::MAX),
            Delivery::new(5, 2, usize::MAX),
        );
        queued(&mut a, &mut memory, 3);
        assert_eq!(
            a.next_batch(&mut memory, 0).0.unwrap(),
            b"{\"n\":0}\n{\"n\":1}\n"
        );
        a.dispatched(7);
        assert!(a.owns(7) && !a.owns(8));
        assert_eq!(
            a.next_batch(&mut memory, 0).0,
            None,
            "one batch in flight per VM"
        );
        assert_eq!(
            b.next_batch(&mut memory, 0).0.unwrap(),
            b"{\"n\":2}\n",
            "another VM takes the rest"
        );
        assert_eq!(
            a.sent(),
            Counts {
                sent: 2,
                ..Counts::default()
            }
        );
        assert_eq!(memory.shared_size(), Size::default());
    }

    #[test]
    fn a_full_batch_is_told_apart_from_a_partial_one() {
        let mut memory = Memory::default();
        let mut vm = Delivery::new(5, 2, usize::MAX);
        queued(&mut vm, &mut memory, 5);
        vm.next_batch(&mut memory, 0);
        assert!(vm.has_full_batch(), "3 left, batches of 2");
        vm.sent();
        vm.next_batch(&mut memory, 0);
        assert!(!vm.has_full_batch(), "1 left");
    }

    #[test]
    fn a_failed_batch_goes_back_to_the_queue_after_a_growing_backoff() {
        let mut memory = Memory::default();
        let mut vm = Delivery::new(5, 2, usize::MAX);
        queued(&mut vm, &mut memory, 2);
        vm.next_batch(&mut memory, 0);
        assert_eq!(vm.failed(&mut memory, 1_000).retried, 2);
        assert_eq!(
            memory.queue.len(),
            2,
            "back in the queue, where another VM may take it"
        );
        assert_eq!(memory.shared_size().records, 2);
        assert_eq!(vm.next_batch(&mut memory, 1_999).0, None, "1 s back-off");
        assert_eq!(
            vm.next_batch(&mut memory, 2_000).0.unwrap(),
            b"{\"n\":0}\n{\"n\":1}\n",
            "same order"
        );
        vm.failed(&mut memory, 2_000);
        assert_eq!(vm.next_batch(&mut memory, 3_999).0, None, "2 s back-off");
        assert!(vm.next_batch(&mut memory, 4_000).0.is_some());
        for _ in 0..10 {
            vm.failed(&mut memory, 0);
            vm.next_attempt_ms = 0;
            vm.next_batch(&mut memory, 0);
        }
        vm.failed(&mut memory, 0);
        assert_eq!(vm.next_attempt_ms, MAX_BACKOFF_MS);
        vm.next_attempt_ms = 0;
        vm.next_batch(&mut memory, 0);
        vm.sent();
        assert_eq!(
            (vm.failures, vm.next_attempt_ms),
            (0, 0),
            "success resets the back-off"
        );
    }

    #[test]
    fn the_queue_is_bounded_in_records_and_bytes_and_drops_the_oldest() {
        let mut memory = Memory::default();
        let mut vm = Delivery::new(3, 2, usize::MAX);
        queued(&mut vm, &mut memory, 5);
        let (body, counts) = vm.next_batch(&mut memory, 0);
        assert_eq!(counts.dropped, 2, "5 queued, 3 kept");
        assert_eq!(body.unwrap(), b"{\"n\":2}\n{\"n\":3}\n");

        let mut memory = Memory::default();
        let mut vm = Delivery::new(100, 2, 10);
        for record in ["aaaa", "bbbb", "cccc"] {
            vm.push(&mut memory, record.as_bytes());
        }
        let (body, counts) = vm.next_batch(&mut memory, 0);
        assert_eq!(counts.dropped, 1, "12 bytes > 10: the oldest goes");
        assert_eq!(body.unwrap(), b"bbbb\ncccc\n");
        assert_eq!(memory.shared_size(), Size::default());
    }

    #[test]
    fn the_records_of_a_failed_vm_are_delivered_by_another() {
        let mut memory = Memory::default();
        let mut failed = Delivery::new(100, 3, usize::MAX);
        queued(&mut failed, &mut memory, 4);
        failed.next_batch(&mut memory, 0);
        queued(&mut failed, &mut memory, 2);
        drop(failed); // its batch in flight (3 records) and unpublished size go with it
        let mut other = Delivery::new(100, 3, usize::MAX);
        let mut delivered = Vec::new();
        while let (Some(body), _) = other.next_batch(&mut memory, 0) {
            delivered.extend(String::from_utf8(body).unwrap().lines().map(str::to_owned));
            other.sent();
        }
        assert_eq!(delivered, ["{\"n\":3}", "{\"n\":0}", "{\"n\":1}"]);
        assert_eq!(
            memory.shared_size(),
            Size::default(),
            "a size below zero counts as zero"
        );
    }

    #[test]
    fn nothing_is_lost_across_failures_within_the_bound() {
        let mut memory = Memory::default();
        let mut vm = Delivery::new(100, 3, usize::MAX);
        for i in 0..10 {
            vm.push(&mut memory, i.to_string().as_bytes());
        }
        let mut delivered = Vec::new();
        let mut now = 0;
        while !memory.queue.is_empty() || vm.in_flight.is_some() {
            now += 1_000;
            let (Some(body), _) = vm.next_batch(&mut memory, now) else {
                continue;
            };
            if now % 3_000 == 0 {
                vm.failed(&mut memory, now);
            } else {
                delivered.extend(String::from_utf8(body).unwrap().lines().map(str::to_owned));
                vm.sent();
            }
        }
        delivered.sort_by_key(|n| n.parse::<u32>().unwrap());
        assert_eq!(
            delivered,
            (0..10).map(|i| i.to_string()).collect::<Vec<_>>()
        );
    }
}
