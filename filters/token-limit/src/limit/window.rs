//! A sliding window of sub-buckets that never admits more than its limit in
//! any interval of the window's length.
//!
//! Why not GCRA or a token bucket: a bucket that may burst its whole limit
//! refills while it is being spent, so it admits up to 2x the limit within
//! one window length (a burst at the start, the refill before the end).
//! Why not the two-counter sliding-window approximation: it assumes the
//! previous window's traffic was uniform and over-admits when it was not.
//!
//! The window of length `W` is split into [`BUCKETS`] sub-buckets of
//! `W / BUCKETS`, and the ring keeps `BUCKETS + 1` of them: the current one
//! and enough older ones to cover `W` whatever the phase. Every charge made
//! in `(now - W, now]` is therefore counted, so if each admission checks
//! `counted + cost <= limit`, no interval of length `W` ever holds more than
//! `limit`. The price is conservatism, not error: a charge is forgotten
//! between `W` and `W + W/BUCKETS` after it was made (6 s late for a
//! minute window), never early.

/// Sub-buckets per window: a charge is released at most 10% of the window
/// late.
pub const BUCKETS: u64 = 10;
const SLOTS: usize = BUCKETS as usize + 1;

/// The counters of one window. `counts[0]` is bucket number `head` (time
/// `head * bucket_ms`), `counts[i]` bucket `head - i`.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct Ring {
    head: u64,
    counts: [u64; SLOTS],
}

impl Ring {
    fn bucket_ms(window_ms: u64) -> u64 {
        (window_ms / BUCKETS).max(1)
    }

    /// Moves the ring to `now_ms`, dropping buckets that left the window.
    /// Time never goes backwards for a ring: an older `now` (another
    /// worker's clock a millisecond behind) leaves it as it is.
    pub fn advance(&mut self, window_ms: u64, now_ms: u64) {
        let bucket = now_ms / Self::bucket_ms(window_ms);
        if bucket <= self.head {
            return;
        }
        let shift = bucket - self.head;
        if shift >= SLOTS as u64 {
            self.counts = [0; SLOTS];
        } else {
            self.counts.rotate_right(shift as usize);
            for c in self.counts.iter_mut().take(shift as usize) {
                *c = 0;
            }
        }
        self.head = bucket;
    }

    /// What the window holds (after [`Ring::advance`]).
    pub fn used(&self) -> u64 {
        self.counts.iter().fold(0u64, |a, &c| a.saturating_add(c))
    }

    pub fn is_empty(&self) -> bool {
        self.counts.iter().all(|&c| c == 0)
    }

    /// Adds `amount` to the current bucket.
    pub fn charge(&mut self, amount: u64) {
        if let Some(c) = self.counts.first_mut() {
            *c = c.saturating_add(amount);
        }
    }

    /// Applies a correction to the bucket that held a charge made at
    /// `at_ms`. A credit for a charge already forgotten is dropped (the
    /// window no longer counts it); a debit for one is charged now, so that
    /// no usage escapes.
    pub fn correct(&mut self, window_ms: u64, at_ms: u64, delta: i64) {
        let bucket = at_ms / Self::bucket_ms(window_ms);
        let index = self.head.checked_sub(bucket).filter(|&i| i < SLOTS as u64);
        let slot = match (index, delta >= 0) {
            (Some(i), _) => self.counts.get_mut(i as usize),
            (None, true) => self.counts.first_mut(),
            (None, false) => None,
        };
        if let Some(c) = slot {
            *c = if delta >= 0 {
                c.saturating_add(delta.unsigned_abs())
            } else {
                c.saturating_sub(delta.unsigned_abs())
            };
        }
    }

    /// Milliseconds from `now_ms` until the window holds at most `target`,
    /// or `None` if it already does. Buckets leave the window oldest first,
    /// bucket `b` at time `(b + SLOTS) * bucket_ms`.
    pub fn ms_until_at_most(&self, window_ms: u64, now_ms: u64, target: u64) -> Option<u64> {
        let mut used = self.used();
        if used <= target {
            return None;
        }
        let bucket_ms = Self::bucket_ms(window_ms);
        for (age, &count) in self.counts.iter().enumerate().rev() {
            used = used.saturating_sub(count);
            if used <= target {
                let bucket = self.head.saturating_sub(age as u64);
                let leaves_at = (bucket + SLOTS as u64).saturating_mul(bucket_ms);
                return Some(leaves_at.saturating_sub(now_ms).max(1));
            }
        }
        None
    }

    pub(crate) fn encode(&self, out: &mut Vec<u8>) {
        put_varint(out, self.head);
        for &c in &self.counts {
            put_varint(out, c);
        }
    }

    pub(crate) fn decode(input: &mut &[u8]) -> Option<Ring> {
        let head = take_varint(input)?;
        let mut counts = [0u64; SLOTS];
        for c in counts.iter_mut() {
            *c = take_varint(input)?;
        }
        Some(Ring { head, counts })
    }
}

/// LEB128: counters are mostly small, so most take one or two bytes.
pub(crate) fn put_varint(out: &mut Vec<u8>, mut v: u64) {
    while v >= 0x80 {
        out.push((v as u8) | 0x80);
        v >>= 7;
    }
    out.push(v as u8);
}

pub(crate) fn take_varint(input: &mut &[u8]) -> Option<u64> {
    let mut v = 0u64;
    for shift in (0..64).step_by(7) {
        let (&byte, rest) = input.split_first()?;
        *input = rest;
        v |= u64::from(byte & 0x7f).checked_shl(shift)?;
        if byte & 0x80 == 0 {
            return Some(v);
        }
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    const MIN: u64 = 60_000;

    #[test]
    fn charges_stay_for_the_window_and_at_most_a_bucket_more() {
        let mut r = Ring::default();
        r.advance(MIN, 1_000);
        r.charge(5);
        r.advance(MIN, 1_000 + MIN - 1);
        assert_eq!(r.used(), 5, "still inside the window");
        r.advance(MIN, 1_000 + MIN);
        assert_eq!(r.used(), 5, "released up to one bucket late, never early");
        r.advance(MIN, 1_000 + MIN + MIN / BUCKETS);
        assert_eq!(r.used(), 0);
        assert!(r.is_empty());
    }

    #[test]
    fn time_going_backwards_changes_nothing() {
        let mut r = Ring::default();
        r.advance(MIN, 100_000);
        r.charge(1);
        r.advance(MIN, 50_000);
        assert_eq!(r.used(), 1);
    }

    #[test]
    fn ms_until_release() {
        let mut r = Ring::default();
        r.advance(MIN, 0);
        r.charge(3);
        r.advance(MIN, 30_000);
        r.charge(4);
        // The first charge (bucket 0) leaves at 11 buckets = 66 s.
        assert_eq!(r.ms_until_at_most(MIN, 30_000, 4), Some(36_000));
        assert_eq!(
            r.ms_until_at_most(MIN, 30_000, 0),
            Some(66_000),
            "bucket 5 leaves at 96 s"
        );
        assert_eq!(r.ms_until_at_most(MIN, 30_000, 7), None);
    }

    #[test]
    fn corrections() {
        let mut r = Ring::default();
        r.advance(MIN, 0);
        r.charge(10);
        r.advance(MIN, 20_000);
        r.correct(MIN, 0, -4);
        assert_eq!(r.used(), 6);
        r.correct(MIN, 0, -100);
        assert_eq!(r.used(), 0, "credits floor at zero");
        r.advance(MIN, 200_000);
        r.correct(MIN, 0, 7);
        assert_eq!(r.used(), 7, "a late debit is charged now");
        r.correct(MIN, 0, -7);
        assert_eq!(r.used(), 7, "a credit for a forgotten charge is dropped");
    }

    #[test]
    fn encoding_round_trips() {
        let mut r = Ring::default();
        r.advance(MIN, 123_456_789);
        r.charge(u64::MAX);
        let mut out = Vec::new();
        r.encode(&mut out);
        let mut input = out.as_slice();
        assert_eq!(Ring::decode(&mut input), Some(r));
        assert!(input.is_empty());
        let mut truncated = &out[..out.len() - 1];
        assert_eq!(Ring::decode(&mut truncated), None);
    }
}
