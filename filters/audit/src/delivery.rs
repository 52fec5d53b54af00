//! Delivery of audit records: each VM writes its completed calls' records
//! into a ring of slots it leases in Envoy's shared data, outside the VMs;
//! every VM's timer drains every ring in batches of JSON lines, each VM with
//! at most one batch in flight, retried with exponential back-off while the
//! collector is down or slow.
//!
//! Writing a record is one shared-data write, on the calling worker alone.
//! Envoy's shared queue, the obvious alternative, posts a callback to the
//! worker that registered the queue and enters its VM for every item, so
//! under load every record wakes that one worker; measured through Envoy
//! the two cost the same CPU a call within the noise (docs/benchmarks.md,
//! "What the hardening costs"), and the rings keep their bounds exactly.
//!
//! A VM that fails takes with it only what it held itself: the calls in
//! flight on it and the one batch it had in flight to the collector. Every
//! completed call's record is already in shared data, and any other VM (or
//! the reloaded one) sends it.
//!
//! The layout, under the collector's prefix `P`:
//!
//! - `P rings`: the ring table, [`ENTRY`] bytes a ring: the nonce of the VM
//!   that leased it and the time (ms) its lease runs out, which the VM moves
//!   on at every tick;
//! - `P r<n> head`: the sequence number of ring `n`'s oldest record not yet
//!   taken;
//! - `P r<n> s<i>`: slot `i` of ring `n`, `i` the sequence number modulo
//!   `max_queue`: the record's sequence number (8 bytes) then the record;
//!   empty once taken.
//!
//! A ring has one writer, the VM that leased it, which keeps the ring's tail
//! to itself. Readers take records from the head with a compare-and-swap
//! on `head`, so each record goes to one reader; a reader reads slots from
//! the head while each holds the sequence number expected there. A VM
//! leases a ring at its first record: one whose lease has run out (its VM
//! failed, or a new configuration replaced it) or a new one, so the number
//! of rings stays near the number of VMs alive at once. A VM that finds its
//! ring leased by another (it stopped ticking for longer than the lease)
//! leases another.
//!
//! Bounds: each ring holds at most `max_queue` records and `max_queue_bytes`
//! bytes; beyond, its writer drops the oldest (counted as dropped). What
//! else can be lost: records still waiting when Envoy stops. A record is
//! never sent twice by a healthy collector; a collector that stores a batch
//! but fails to answer gets it again (at-least-once). A failed batch goes
//! back into the ring of the VM that sent it, so records reach the
//! collector roughly, not strictly, in call order.

use std::collections::VecDeque;

/// Longest wait between two attempts while the collector keeps failing.
const MAX_BACKOFF_MS: u64 = 30_000;

/// How often a VM retries a compare-and-swap that other VMs keep winning.
const CAS_ATTEMPTS: usize = 8;

/// The most rings a collector's records use: far above the VMs of one
/// plugin alive at once (one a worker, the main thread's), with room for
/// the ones a reload or a configuration update leaves until their leases
/// run out.
const MAX_RINGS: usize = 1024;

/// Bytes of a ring's entry in the ring table: nonce and lease expiry.
const ENTRY: usize = 16;

/// Bytes before the record in a slot: its sequence number.
const SEQ: usize = 8;

/// The shortest lease: far longer than any tick period, so that only a VM
/// that stopped ticking loses its ring.
const MIN_LEASE_MS: u64 = 60_000;

/// Counter changes to report after an operation.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct Counts {
    pub sent: u64,
    pub retried: u64,
    pub dropped: u64,
}

/// What delivery needs of Envoy: shared data with compare-and-swap, as
/// Envoy has it: a key not yet set is written whatever the version given.
pub trait SharedData {
    /// A value and its version.
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    /// Writes `value` if the key is still at version `cas` (or `None`);
    /// false if not.
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool;
}

/// The shared-data keys of one collector's rings.
#[derive(Debug)]
struct Keys {
    prefix: String,
    /// Slots a ring: `max_queue`.
    capacity: u64,
}

impl Keys {
    fn table(&self) -> String {
        format!("{} rings", self.prefix)
    }

    fn head(&self, ring: usize) -> String {
        format!("{} r{ring} head", self.prefix)
    }

    fn slot(&self, ring: usize, seq: u64) -> String {
        format!("{} r{ring} s{}", self.prefix, seq % self.capacity)
    }

    /// A ring's head and its version; none before the ring was leased.
    fn read_head(&self, data: &dyn SharedData, ring: usize) -> Option<(u64, u32)> {
        let (bytes, cas) = data.get(&self.head(ring))?;
        Some((number(&bytes, 0)?, cas))
    }
}

/// The `u64` at `at` in `bytes`, little-endian.
fn number(bytes: &[u8], at: usize) -> Option<u64> {
    let end = at.checked_add(8)?;
    Some(u64::from_le_bytes(bytes.get(at..end)?.try_into().ok()?))
}

/// A ring's entry in the table: its VM's nonce and when its lease runs out.
fn entry(table: &[u8], ring: usize) -> Option<(u64, u64)> {
    let at = ring.checked_mul(ENTRY)?;
    Some((number(table, at)?, number(table, at + 8)?))
}

fn set_entry(table: &mut Vec<u8>, ring: usize, nonce: u64, expires_ms: u64) {
    let at = ring * ENTRY;
    if table.len() < at + ENTRY {
        table.resize(at + ENTRY, 0);
    }
    let mut bytes = [0; ENTRY];
    bytes[..8].copy_from_slice(&nonce.to_le_bytes());
    bytes[8..].copy_from_slice(&expires_ms.to_le_bytes());
    if let Some(entry) = table.get_mut(at..at + ENTRY) {
        entry.copy_from_slice(&bytes);
    }
}

/// The ring this VM writes: its tail, and what it knows of the records
/// still in it.
#[derive(Debug)]
struct Ring {
    index: usize,
    /// The next record's sequence number.
    tail: u64,
    /// The head as this VM last saw it; `sizes` holds the size in shared
    /// data of each record from there to the tail.
    head: u64,
    sizes: VecDeque<u64>,
    bytes: u64,
    /// When this VM last renewed its lease.
    renewed_ms: u64,
}

impl Ring {
    /// Forgets the records before `head`: readers took them. A head past
    /// the tail (which only a ring taken over while readers drained it
    /// could show) moves the tail with it, so that no record is written
    /// where readers no longer look.
    fn forget_below(&mut self, head: u64) {
        while self.head < head {
            let Some(size) = self.sizes.pop_front() else {
                break;
            };
            self.bytes -= size;
            self.head += 1;
        }
        if self.head < head {
            self.head = head;
            self.tail = self.tail.max(head);
        }
    }

    /// Whether a record of `size` bytes fits beside the ones still in it.
    fn fits(&self, size: u64, capacity: u64, max_bytes: u64) -> bool {
        (self.sizes.len() as u64) < capacity && self.bytes.saturating_add(size) <= max_bytes
    }
}

/// One VM's side of delivery.
#[derive(Debug)]
pub struct Delivery {
    keys: Keys,
    max_bytes: u64,
    max_batch: usize,
    lease_ms: u64,
    /// Tells this VM's lease from another's.
    nonce: u64,
    ring: Option<Ring>,
    /// The ring the next batch starts with, so that each gets its turn.
    next_ring: usize,
    /// Whether the last batch stopped full, with more records waiting.
    full: bool,
    in_flight: Option<(u32, Vec<Vec<u8>>)>,
    failures: u32,
    next_attempt_ms: u64,
}

/// A collector's delivery settings.
#[derive(Debug, Clone)]
pub struct Settings {
    /// Names the collector's rings: VMs that deliver to the same collector
    /// with the same `max_queue` share them.
    pub prefix: String,
    pub max_queue: usize,
    pub max_queue_bytes: usize,
    pub max_batch: usize,
    pub flush_interval_ms: u64,
}

impl Delivery {
    /// `nonce` tells this VM's leases from every other's (random).
    pub fn new(settings: Settings, nonce: u64) -> Self {
        Delivery {
            keys: Keys {
                prefix: settings.prefix,
                capacity: settings.max_queue.max(1) as u64,
            },
            max_bytes: settings.max_queue_bytes as u64,
            max_batch: settings.max_batch.max(1),
            lease_ms: settings
                .flush_interval_ms
                .saturating_mul(10)
                .max(MIN_LEASE_MS),
            nonce,
            ring: None,
            next_ring: 0,
            full: false,
            in_flight: None,
            failures: 0,
            next_attempt_ms: 0,
        }
    }

    /// Creates the ring table if no VM did: when Envoy loads the
    /// configuration, before any call, so that VMs leasing rings later
    /// update it only by compare-and-swap (Envoy cannot create a key
    /// conditionally).
    pub fn start(&self, data: &mut dyn SharedData) {
        let table = self.keys.table();
        if data.get(&table).is_none() {
            data.set(&table, &[], None);
        }
    }

    /// Writes a record into this VM's ring, leasing one first if it has
    /// none; drops the ring's oldest records if it is full.
    pub fn push(&mut self, data: &mut dyn SharedData, record: &[u8], now_ms: u64) -> Counts {
        let mut counts = Counts::default();
        // A VM whose ticks stopped for most of a lease (a stalled worker, a
        // jump of the clock) checks that the ring is still its own before
        // writing into it, so that two VMs never write one ring.
        if self
            .ring
            .as_ref()
            .is_some_and(|r| now_ms.saturating_sub(r.renewed_ms) > self.lease_ms / 2)
        {
            self.renew(data, now_ms);
        }
        if self.ring.is_none() {
            self.ring = self.lease(data, now_ms);
        }
        let size = (SEQ + record.len()) as u64;
        let Some(ring) = self.ring.as_mut() else {
            counts.dropped = 1;
            return counts;
        };
        if !ring.fits(size, self.keys.capacity, self.max_bytes) {
            counts.dropped = make_room(data, &self.keys, ring, size, self.max_bytes);
            if !ring.fits(size, self.keys.capacity, self.max_bytes) {
                counts.dropped += 1;
                return counts;
            }
        }
        let mut value = Vec::with_capacity(SEQ + record.len());
        value.extend_from_slice(&ring.tail.to_le_bytes());
        value.extend_from_slice(record);
        if !data.set(&self.keys.slot(ring.index, ring.tail), &value, None) {
            counts.dropped += 1;
            return counts;
        }
        ring.tail += 1;
        ring.sizes.push_back(size);
        ring.bytes += size;
        counts
    }

    /// Leases a ring whose lease ran out, or a new one, and takes over the
    /// records its last writer left in it.
    fn lease(&mut self, data: &mut dyn SharedData, now_ms: u64) -> Option<Ring> {
        let key = self.keys.table();
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut table, cas)) = data.get(&key) else {
                self.start(data);
                continue;
            };
            let rings = table.len() / ENTRY;
            let expired =
                (0..rings).find(|&n| entry(&table, n).is_some_and(|(_, until)| now_ms > until));
            let index = match expired {
                Some(n) => n,
                None if rings < MAX_RINGS => rings,
                None => return None,
            };
            table.truncate(rings * ENTRY);
            set_entry(
                &mut table,
                index,
                self.nonce,
                now_ms.saturating_add(self.lease_ms),
            );
            if data.set(&key, &table, Some(cas)) {
                // A new ring's head is created by the VM that won it alone;
                // readers skip a ring without one.
                if data.get(&self.keys.head(index)).is_none() {
                    data.set(&self.keys.head(index), &0u64.to_le_bytes(), None);
                }
                return Some(self.take_over(data, index, now_ms));
            }
        }
        None
    }

    /// This VM's view of ring `index`: from its head, the records still in
    /// it, up to the first slot that does not hold the next one. Readers
    /// may take records while the scan runs: a slot they emptied ends the
    /// scan early, but they moved the head past it first, so the scan starts
    /// again from the head until the head it reads after a scan is not past
    /// the tail that scan found. Each new scan starts further on, so it
    /// ends.
    fn take_over(&self, data: &dyn SharedData, index: usize, now_ms: u64) -> Ring {
        let mut head = self.keys.read_head(data, index).map_or(0, |(h, _)| h);
        loop {
            let mut ring = Ring {
                index,
                tail: head,
                head,
                sizes: VecDeque::new(),
                bytes: 0,
                renewed_ms: now_ms,
            };
            while (ring.sizes.len() as u64) < self.keys.capacity {
                let Some((value, _)) = data.get(&self.keys.slot(index, ring.tail)) else {
                    break;
                };
                if number(&value, 0) != Some(ring.tail) {
                    break;
                }
                ring.sizes.push_back(value.len() as u64);
                ring.bytes += value.len() as u64;
                ring.tail += 1;
            }
            let now = self.keys.read_head(data, index).map_or(0, |(h, _)| h);
            if now <= ring.tail {
                ring.forget_below(now);
                return ring;
            }
            head = now;
        }
    }

    /// At every tick: renews this VM's lease (or gives up a ring another VM
    /// leased meanwhile) and learns how far readers have taken its ring.
    pub fn tick(&mut self, data: &mut dyn SharedData, now_ms: u64) {
        if let Some(ring) = self.ring.as_mut() {
            if let Some((head, _)) = self.keys.read_head(data, ring.index) {
                ring.forget_below(head);
            }
        }
        self.renew(data, now_ms);
    }

    /// Moves this VM's lease on. Gives the ring up only when its entry no
    /// longer holds this VM's nonce (another VM leased it after this one
    /// stopped renewing, or the table is gone): then the next record leases
    /// a ring anew. Losing every compare-and-swap to other VMs' renewals
    /// keeps the ring; the next tick tries again.
    fn renew(&mut self, data: &mut dyn SharedData, now_ms: u64) {
        let Some(ring) = self.ring.as_mut() else {
            return;
        };
        let key = self.keys.table();
        for _ in 0..CAS_ATTEMPTS {
            let Some((mut table, cas)) = data.get(&key) else {
                break;
            };
            if entry(&table, ring.index).map(|(nonce, _)| nonce) != Some(self.nonce) {
                break;
            }
            set_entry(
                &mut table,
                ring.index,
                self.nonce,
                now_ms.saturating_add(self.lease_ms),
            );
            if data.set(&key, &table, Some(cas)) {
                ring.renewed_ms = now_ms;
                return;
            }
        }
        let still_ours = data
            .get(&key)
            .and_then(|(table, _)| entry(&table, ring.index))
            .is_some_and(|(nonce, _)| nonce == self.nonce);
        if !still_ours {
            self.ring = None;
        }
    }

    /// Whether the last batch was full (`max_batch` records), so more may
    /// be waiting: the next one goes as soon as it is delivered, rather
    /// than at the next tick. A part-filled batch ends the run: sending
    /// part-filled batches back to back would, under load, make a collector
    /// request of every few calls.
    pub fn has_full_batch(&self) -> bool {
        self.full
    }

    /// Takes the body of the next batch (JSON lines) if one is due: nothing
    /// in flight from this VM, the back-off has passed and records are
    /// waiting in any ring. The batch stays with this VM until
    /// [`Delivery::sent`] or [`Delivery::failed`].
    pub fn next_batch(&mut self, data: &mut dyn SharedData, now_ms: u64) -> Option<Vec<u8>> {
        if self.in_flight.is_some() || now_ms < self.next_attempt_ms {
            return None;
        }
        let rings = data
            .get(&self.keys.table())
            .map_or(0, |(table, _)| table.len() / ENTRY);
        let mut batch = Vec::new();
        self.full = false;
        for k in 0..rings {
            let index = (self.next_ring + k) % rings;
            self.take(data, index, &mut batch);
            if batch.len() >= self.max_batch {
                self.full = true;
                break;
            }
        }
        self.next_ring = (self.next_ring + 1) % rings.max(1);
        if batch.is_empty() {
            return None;
        }
        let mut body = Vec::with_capacity(batch.iter().map(|r| r.len() + 1).sum());
        for record in &batch {
            body.extend_from_slice(record);
            body.push(b'\n');
        }
        self.in_flight = Some((0, batch));
        Some(body)
    }

    /// Takes records from ring `index`'s head into `batch`, up to
    /// `max_batch` in all.
    fn take(&mut self, data: &mut dyn SharedData, index: usize, batch: &mut Vec<Vec<u8>>) {
        for _ in 0..CAS_ATTEMPTS {
            let Some((head, cas)) = self.keys.read_head(data, index) else {
                return;
            };
            let mut taken = Vec::new();
            let mut seq = head;
            while batch.len() + taken.len() < self.max_batch {
                let Some((value, version)) = data.get(&self.keys.slot(index, seq)) else {
                    break;
                };
                if number(&value, 0) != Some(seq) {
                    break;
                }
                taken.push((value, version));
                seq += 1;
            }
            if taken.is_empty() {
                return;
            }
            // Another reader moved the head first: read again from there.
            if !data.set(&self.keys.head(index), &seq.to_le_bytes(), Some(cas)) {
                continue;
            }
            for (n, (mut value, version)) in (head..).zip(taken) {
                // Unless the writer has already reused the slot.
                data.set(&self.keys.slot(index, n), &[], Some(version));
                value.drain(..SEQ);
                batch.push(value);
            }
            if let Some(ring) = self.ring.as_mut().filter(|r| r.index == index) {
                ring.forget_below(seq);
            }
            return;
        }
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
    /// into this VM's ring, where it no longer depends on this VM, and this
    /// VM's next attempt waits 1 s, 2 s, 4 s, ... up to 30 s.
    pub fn failed(&mut self, data: &mut dyn SharedData, now_ms: u64) -> Counts {
        let Some((_, batch)) = self.in_flight.take() else {
            return Counts::default();
        };
        let mut counts = Counts {
            retried: batch.len() as u64,
            ..Counts::default()
        };
        for record in &batch {
            counts.dropped += self.push(data, record, now_ms).dropped;
        }
        self.full = false;
        self.failures = self.failures.saturating_add(1);
        let exponent = self.failures.saturating_sub(1).min(5);
        let backoff = (1000u64 << exponent).min(MAX_BACKOFF_MS);
        self.next_attempt_ms = now_ms.saturating_add(backoff);
        counts
    }
}

/// Drops `ring`'s oldest records until one of `size` bytes fits, moving the
/// head past them; returns how many it dropped.
fn make_room(
    data: &mut dyn SharedData,
    keys: &Keys,
    ring: &mut Ring,
    size: u64,
    max_bytes: u64,
) -> u64 {
    if size > max_bytes {
        return 0;
    }
    for _ in 0..CAS_ATTEMPTS {
        let Some((head, cas)) = keys.read_head(data, ring.index) else {
            return 0;
        };
        ring.forget_below(head);
        let (mut records, mut bytes) = (ring.sizes.len() as u64, ring.bytes);
        let mut drop = 0u64;
        for &oldest in &ring.sizes {
            if records < keys.capacity && bytes.saturating_add(size) <= max_bytes {
                break;
            }
            records -= 1;
            bytes -= oldest;
            drop += 1;
        }
        if drop == 0 {
            return 0;
        }
        let new_head = head + drop;
        if data.set(&keys.head(ring.index), &new_head.to_le_bytes(), Some(cas)) {
            for seq in head..new_head {
                data.set(&keys.slot(ring.index, seq), &[], None);
            }
            ring.forget_below(new_head);
            return drop;
        }
    }
    0
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    /// Envoy's shared data, shared by the VMs: one version counter for every
    /// key, and a key not yet set written whatever the version given.
    #[derive(Default)]
    struct Memory {
        values: HashMap<String, (Vec<u8>, u32)>,
        version: u32,
    }

    impl SharedData for Memory {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            self.values.get(key).cloned()
        }
        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
            if let (Some(cas), Some((_, current))) = (cas.filter(|c| *c != 0), self.values.get(key))
            {
                if cas != *current {
                    return false;
                }
            }
            self.version += 1;
            self.values
                .insert(key.to_owned(), (value.to_vec(), self.version));
            true
        }
    }

    impl Memory {
        /// The records waiting in every ring.
        fn waiting(&self) -> usize {
            self.values
                .iter()
                .filter(|(k, (v, _))| k.contains(" s") && !v.is_empty())
                .count()
        }
    }

    fn vm(max_queue: usize, max_batch: usize, max_queue_bytes: usize, nonce: u64) -> Delivery {
        let settings = Settings {
            prefix: "audit c /r".to_owned(),
            max_queue,
            max_queue_bytes,
            max_batch,
            flush_interval_ms: 1_000,
        };
        Delivery::new(settings, nonce)
    }

    fn queued(vm: &mut Delivery, memory: &mut Memory, n: usize) {
        for i in 0..n {
            vm.push(memory, format!("{{\"n\":{i}}}").as_bytes(), 0);
        }
    }

    fn lines(body: Option<Vec<u8>>) -> Vec<String> {
        String::from_utf8(body.expect("a batch"))
            .unwrap()
            .lines()
            .map(str::to_owned)
            .collect()
    }

    #[test]
    fn batches_are_json_lines_one_in_flight_per_vm_and_vms_read_every_ring() {
        let mut memory = Memory::default();
        let (mut a, mut b) = (vm(5, 2, usize::MAX, 1), vm(5, 2, usize::MAX, 2));
        a.start(&mut memory);
        queued(&mut a, &mut memory, 3);
        assert_eq!(
            a.next_batch(&mut memory, 0).unwrap(),
            b"{\"n\":0}\n{\"n\":1}\n"
        );
        a.dispatched(7);
        assert!(a.owns(7) && !a.owns(8));
        assert_eq!(
            a.next_batch(&mut memory, 0),
            None,
            "one batch in flight per VM"
        );
        assert_eq!(
            b.next_batch(&mut memory, 0).unwrap(),
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
        assert_eq!(memory.waiting(), 0, "taken slots are emptied");
        queued(&mut b, &mut memory, 1);
        assert_eq!(
            (
                a.ring.as_ref().unwrap().index,
                b.ring.as_ref().unwrap().index
            ),
            (0, 1),
            "a ring each"
        );
        assert_eq!(lines(a.next_batch(&mut memory, 0)), ["{\"n\":0}"]);
    }

    #[test]
    fn a_full_batch_is_told_apart_from_a_partial_one() {
        let mut memory = Memory::default();
        let mut vm = vm(5, 2, usize::MAX, 1);
        queued(&mut vm, &mut memory, 5);
        vm.next_batch(&mut memory, 0);
        assert!(vm.has_full_batch(), "3 left, batches of 2");
        vm.sent();
        vm.next_batch(&mut memory, 0);
        assert!(vm.has_full_batch(), "1 left");
        vm.sent();
        vm.next_batch(&mut memory, 0);
        assert!(!vm.has_full_batch(), "none left");
    }

    #[test]
    fn a_failed_batch_goes_back_to_the_ring_after_a_growing_backoff() {
        let mut memory = Memory::default();
        let mut vm = vm(5, 2, usize::MAX, 1);
        queued(&mut vm, &mut memory, 2);
        vm.next_batch(&mut memory, 0);
        assert_eq!(memory.waiting(), 0);
        assert_eq!(vm.failed(&mut memory, 1_000).retried, 2);
        assert_eq!(
            memory.waiting(),
            2,
            "back in shared data, where another VM may take it"
        );
        assert_eq!(vm.next_batch(&mut memory, 1_999), None, "1 s back-off");
        assert_eq!(
            vm.next_batch(&mut memory, 2_000).unwrap(),
            b"{\"n\":0}\n{\"n\":1}\n",
            "same order"
        );
        vm.failed(&mut memory, 2_000);
        assert_eq!(vm.next_batch(&mut memory, 3_999), None, "2 s back-off");
        assert!(vm.next_batch(&mut memory, 4_000).is_some());
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
    fn a_ring_is_bounded_in_records_and_bytes_and_drops_the_oldest() {
        let mut memory = Memory::default();
        let mut vm1 = vm(3, 2, usize::MAX, 1);
        let dropped: u64 = (0..5)
            .map(|i| {
                vm1.push(&mut memory, format!("{{\"n\":{i}}}").as_bytes(), 0)
                    .dropped
            })
            .sum();
        assert_eq!(dropped, 2, "5 written, 3 kept");
        assert_eq!(memory.waiting(), 3);
        assert_eq!(
            lines(vm1.next_batch(&mut memory, 0)),
            ["{\"n\":2}", "{\"n\":3}"]
        );

        let mut memory = Memory::default();
        let mut vm2 = vm(100, 5, 2 * (SEQ + 4) + 3, 1);
        let dropped: u64 = ["aaaa", "bbbb", "cccc"]
            .iter()
            .map(|r| vm2.push(&mut memory, r.as_bytes(), 0).dropped)
            .sum();
        assert_eq!(dropped, 1, "three of 12 bytes > 27: the oldest goes");
        assert_eq!(lines(vm2.next_batch(&mut memory, 0)), ["bbbb", "cccc"]);
        assert_eq!(memory.waiting(), 0);
        let mut vm3 = vm(100, 5, 10, 1);
        assert_eq!(
            vm3.push(&mut memory, b"longer than ten", 0).dropped,
            1,
            "a record larger than the bound"
        );
    }

    #[test]
    fn slots_are_reused_once_taken() {
        let mut memory = Memory::default();
        let mut vm = vm(3, 2, usize::MAX, 1);
        let mut delivered = Vec::new();
        for i in 0..20 {
            assert_eq!(vm.push(&mut memory, i.to_string().as_bytes(), 0).dropped, 0);
            if i % 2 == 1 {
                delivered.extend(lines(vm.next_batch(&mut memory, 0)));
                vm.sent();
            }
        }
        assert_eq!(
            delivered,
            (0..20).map(|i| i.to_string()).collect::<Vec<_>>()
        );
        let slots = memory.values.keys().filter(|k| k.contains(" s")).count();
        assert_eq!(slots, 3, "max_queue slots, written round");
    }

    #[test]
    fn the_records_of_a_failed_vm_are_delivered_and_its_ring_leased_again() {
        let mut memory = Memory::default();
        let mut failed = vm(100, 3, usize::MAX, 1);
        failed.start(&mut memory);
        queued(&mut failed, &mut memory, 4);
        failed.next_batch(&mut memory, 0);
        for i in 4..6 {
            failed.push(&mut memory, format!("{{\"n\":{i}}}").as_bytes(), 0);
        }
        drop(failed); // its batch in flight (3 records) goes with it
        let mut other = vm(100, 3, usize::MAX, 2);
        let mut delivered = Vec::new();
        while let Some(body) = other.next_batch(&mut memory, 0) {
            delivered.extend(lines(Some(body)));
            other.sent();
        }
        assert_eq!(delivered, ["{\"n\":3}", "{\"n\":4}", "{\"n\":5}"]);

        // Within the lease, a new VM leases a new ring; after it, the old.
        let mut reloaded = vm(100, 3, usize::MAX, 3);
        reloaded.push(&mut memory, b"r", 1_000);
        assert_eq!(reloaded.ring.as_ref().unwrap().index, 1);
        let mut late = vm(100, 3, usize::MAX, 4);
        late.push(&mut memory, b"l", MIN_LEASE_MS + 1);
        let ring = late.ring.as_ref().unwrap();
        assert_eq!((ring.index, ring.tail), (0, 7), "ring 0 from where it was");
        assert_eq!(
            lines(late.next_batch(&mut memory, 0)),
            ["l", "r"],
            "every ring read"
        );
    }

    /// Shared data in which other workers act at chosen moments: `hook`
    /// runs before every read (`None`) and write (`Some(cas)`) of a key, may
    /// change the data first, and refuses the write when it answers false.
    struct Racing<F: Fn(&str, Option<Option<u32>>, &mut Memory) -> bool> {
        memory: std::cell::RefCell<Memory>,
        hook: F,
    }

    impl<F: Fn(&str, Option<Option<u32>>, &mut Memory) -> bool> Racing<F> {
        fn new(memory: Memory, hook: F) -> Self {
            Racing {
                memory: std::cell::RefCell::new(memory),
                hook,
            }
        }
    }

    impl<F: Fn(&str, Option<Option<u32>>, &mut Memory) -> bool> SharedData for Racing<F> {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            (self.hook)(key, None, &mut self.memory.borrow_mut());
            self.memory.borrow().get(key)
        }
        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> bool {
            (self.hook)(key, Some(cas), &mut self.memory.borrow_mut())
                && self.memory.borrow_mut().set(key, value, cas)
        }
    }

    #[test]
    fn a_ring_taken_over_while_readers_drain_it_loses_nothing() {
        let mut memory = Memory::default();
        queued(&mut vm(100, 10, usize::MAX, 1), &mut memory, 4);
        // A reader on another worker takes the first two records just
        // before the scan's second slot read.
        let slot_reads = std::cell::Cell::new(0);
        let raced = Racing::new(memory, |key, write, memory| {
            if write.is_none() && key.contains(" s") {
                slot_reads.set(slot_reads.get() + 1);
                if slot_reads.get() == 2 {
                    let taken = vm(100, 2, usize::MAX, 9).next_batch(memory, 0);
                    assert_eq!(lines(taken).len(), 2);
                }
            }
            true
        });
        // The scan reads slot 0, then finds slot 1 emptied by the reader,
        // which moved the head to 2 first: it scans again from there.
        let later = vm(100, 10, usize::MAX, 2);
        let ring = later.take_over(&raced, 0, 0);
        assert_eq!((ring.head, ring.tail), (2, 4));
    }

    #[test]
    fn a_head_past_the_tail_moves_the_tail() {
        let mut ring = Ring {
            index: 0,
            tail: 1,
            head: 0,
            sizes: VecDeque::from([8]),
            bytes: 8,
            renewed_ms: 0,
        };
        ring.forget_below(3);
        assert_eq!((ring.head, ring.tail, ring.bytes), (3, 3, 0));
    }

    /// A VM that wrote "a" and stopped renewing its lease, and the VM that
    /// leased its ring once the lease ran out and wrote "b".
    fn stalled_and_successor(memory: &mut Memory) -> (Delivery, Delivery) {
        let mut stalled = vm(100, 10, usize::MAX, 1);
        stalled.push(memory, b"a", 0);
        let mut other = vm(100, 10, usize::MAX, 2);
        other.push(memory, b"b", MIN_LEASE_MS + 1);
        assert_eq!(other.ring.as_ref().unwrap().index, 0, "expired: leased");
        (stalled, other)
    }

    #[test]
    fn a_stalled_vm_checks_its_lease_before_writing() {
        let mut memory = Memory::default();
        let (mut stalled, mut other) = stalled_and_successor(&mut memory);
        // No tick in between: the stalled VM's next record finds out.
        stalled.push(&mut memory, b"c", MIN_LEASE_MS + 2);
        assert_eq!(stalled.ring.as_ref().unwrap().index, 1, "a ring of its own");
        other.push(&mut memory, b"d", MIN_LEASE_MS + 3);
        assert_eq!(
            lines(other.next_batch(&mut memory, MIN_LEASE_MS + 4)),
            ["a", "b", "d", "c"]
        );
    }

    #[test]
    fn a_lease_renewal_that_loses_every_race_keeps_the_ring() {
        let mut memory = Memory::default();
        let mut vm = vm(100, 10, usize::MAX, 1);
        vm.push(&mut memory, b"a", 0);
        // Every compare-and-swap of the ring table loses.
        let mut contended = Racing::new(memory, |key, write, _| {
            !(key.ends_with(" rings") && matches!(write, Some(Some(_))))
        });
        vm.tick(&mut contended, 1_000);
        assert!(vm.ring.is_some(), "still its own; the next tick retries");
    }

    #[test]
    fn a_record_larger_than_the_bound_drops_only_itself() {
        let mut memory = Memory::default();
        let mut vm = vm(100, 10, 2 * (SEQ + 1), 1);
        vm.push(&mut memory, b"a", 0);
        assert_eq!(vm.push(&mut memory, &[b'x'; 100], 0).dropped, 1);
        assert_eq!(lines(vm.next_batch(&mut memory, 0)), ["a"]);
    }

    #[test]
    fn a_vm_whose_ring_was_leased_by_another_leases_a_new_one() {
        let mut memory = Memory::default();
        let (mut stalled, mut other) = stalled_and_successor(&mut memory);
        stalled.tick(&mut memory, MIN_LEASE_MS + 2);
        assert!(stalled.ring.is_none(), "its ring is another's now");
        stalled.push(&mut memory, b"c", MIN_LEASE_MS + 3);
        assert_eq!(stalled.ring.as_ref().unwrap().index, 1);
        other.tick(&mut memory, MIN_LEASE_MS + 4);
        assert_eq!(other.ring.as_ref().unwrap().index, 0, "renewed");
        assert_eq!(lines(other.next_batch(&mut memory, 0)), ["a", "b", "c"]);
    }

    #[test]
    fn two_readers_never_take_the_same_record() {
        let mut memory = Memory::default();
        queued(&mut vm(100, 10, usize::MAX, 1), &mut memory, 6);
        // Another reader takes the two oldest records between this reader's
        // read of the head and its compare-and-swap.
        let raced_once = std::cell::Cell::new(false);
        let mut raced = Racing::new(memory, |key, write, memory| {
            if !raced_once.get() && key.ends_with(" head") && matches!(write, Some(Some(_))) {
                raced_once.set(true);
                let head = number(&memory.get(key).unwrap().0, 0).unwrap();
                memory.set(key, &(head + 2).to_le_bytes(), None);
            }
            true
        });
        let mut reader = vm(100, 10, usize::MAX, 2);
        assert_eq!(
            lines(reader.next_batch(&mut raced, 0)),
            ["{\"n\":2}", "{\"n\":3}", "{\"n\":4}", "{\"n\":5}"],
            "the two the other reader took are not taken again"
        );
    }

    #[test]
    fn nothing_is_lost_across_failures_within_the_bound() {
        let mut memory = Memory::default();
        let mut vm = vm(100, 3, usize::MAX, 1);
        for i in 0..10 {
            vm.push(&mut memory, i.to_string().as_bytes(), 0);
        }
        let mut delivered = Vec::new();
        let mut now = 0;
        while memory.waiting() > 0 || vm.in_flight.is_some() {
            now += 1_000;
            vm.tick(&mut memory, now);
            let Some(body) = vm.next_batch(&mut memory, now) else {
                continue;
            };
            if now % 3_000 == 0 {
                vm.failed(&mut memory, now);
            } else {
                delivered.extend(lines(Some(body)));
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
