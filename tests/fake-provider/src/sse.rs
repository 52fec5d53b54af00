//! Server-sent-event framing and the deterministic splitting of a stream into
//! TCP writes.
//!
//! Real providers do not write one event per packet: a write can hold several
//! events and an event can straddle two writes, cut in the middle of its
//! `data:` line. Stream parsers in the filters must cope with both, so every
//! stream from this server contains at least one of each (when it has at least
//! three events). The cut points come from a PRNG seeded by the request body
//! hash: the same request is always cut the same way, which keeps failures
//! reproducible.

use bytes::Bytes;
use serde_json::Value;
use std::collections::BTreeSet;

/// `data: {json}\n\n` (OpenAI and Gemini style).
pub fn data(value: &Value) -> Bytes {
    Bytes::from(format!("data: {value}\n\n"))
}

/// `event: name\ndata: {json}\n\n` (Anthropic and Responses API style).
pub fn named(event: &str, value: &Value) -> Bytes {
    Bytes::from(format!("event: {event}\ndata: {value}\n\n"))
}

/// OpenAI's end-of-stream sentinel.
pub fn done() -> Bytes {
    Bytes::from_static(b"data: [DONE]\n\n")
}

/// The split seed of a request: the first 8 bytes of its body's SHA-256.
pub fn seed(body_sha256: &[u8; 32]) -> u64 {
    let mut first = [0u8; 8];
    first.copy_from_slice(&body_sha256[..8]);
    u64::from_le_bytes(first)
}

/// SplitMix64: tiny, well-distributed, and needs no dependency.
struct SplitMix64(u64);

impl SplitMix64 {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn below(&mut self, bound: usize) -> usize {
        (self.next() % bound as u64) as usize
    }
}

/// A cut strictly inside an event: inside the payload of its first `data:`
/// line when it has one, else in its middle. `None` for events too short.
fn cut_inside(event: &[u8], rng: &mut SplitMix64) -> Option<usize> {
    const PREFIX: &[u8] = b"data: ";
    if let Some(start) = event.windows(PREFIX.len()).position(|w| w == PREFIX) {
        let payload_start = start + PREFIX.len();
        let payload_len = event[payload_start..]
            .iter()
            .position(|&b| b == b'\n')
            .unwrap_or(event.len() - payload_start);
        if payload_len >= 2 {
            return Some(payload_start + 1 + rng.below(payload_len - 1));
        }
    }
    (event.len() >= 2).then_some(event.len() / 2)
}

/// Splits the concatenation of `events` into writes. Concatenating the writes
/// gives back exactly the concatenated events. With `n >= 2` events the last
/// two share one write; with `n >= 3` one early event (the second, or the
/// first when `n == 3`) is cut in two; other cuts are pseudo-random.
pub fn split_writes(events: &[Bytes], seed: u64) -> Vec<Bytes> {
    let n = events.len();
    let mut rng = SplitMix64(seed);
    let forced_split = match n {
        0..=2 => None,
        3 => Some(0),
        _ => Some(1),
    };
    let mut cuts = BTreeSet::new();
    let mut offset = 0;
    for (i, event) in events.iter().enumerate() {
        let in_joined_tail = n >= 2 && i >= n - 2;
        if forced_split == Some(i) || (!in_joined_tail && rng.below(3) == 0) {
            if let Some(inside) = cut_inside(event, &mut rng) {
                cuts.insert(offset + inside);
            }
        }
        offset += event.len();
        let keep_with_next = n >= 2 && i == n - 2;
        if i + 1 < n && !keep_with_next && rng.below(3) != 0 {
            cuts.insert(offset);
        }
    }
    let all = Bytes::from(events.concat());
    let mut writes = Vec::with_capacity(cuts.len() + 1);
    let mut start = 0;
    for cut in cuts.into_iter().chain(std::iter::once(all.len())) {
        if cut > start {
            writes.push(all.slice(start..cut));
            start = cut;
        }
    }
    writes
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn events(count: usize) -> Vec<Bytes> {
        let mut out: Vec<Bytes> = (0..count)
            .map(|i| data(&json!({"index": i, "delta": {"content": "some words here"}})))
            .collect();
        out.push(done());
        out
    }

    /// (event index ranges split by a write boundary, max complete events in one write)
    fn shape(events: &[Bytes], writes: &[Bytes]) -> (usize, usize) {
        let mut bounds = Vec::new();
        let mut pos = 0;
        for e in events {
            bounds.push((pos, pos + e.len()));
            pos += e.len();
        }
        let mut cuts = Vec::new();
        let mut pos = 0;
        for w in writes {
            cuts.push((pos, pos + w.len()));
            pos += w.len();
        }
        let split = bounds
            .iter()
            .filter(|(s, e)| cuts.iter().any(|(_, c)| c > s && c < e))
            .count();
        let most = cuts
            .iter()
            .map(|(ws, we)| bounds.iter().filter(|(s, e)| s >= ws && e <= we).count())
            .max()
            .unwrap_or(0);
        (split, most)
    }

    #[test]
    fn concatenation_is_byte_identical_and_shapes_are_guaranteed() {
        for count in 2..12 {
            for seed in 0..200u64 {
                let evs = events(count);
                let writes = split_writes(&evs, seed);
                assert_eq!(writes.concat(), evs.concat(), "count {count} seed {seed}");
                assert!(writes.iter().all(|w| !w.is_empty()));
                let (split, most) = shape(&evs, &writes);
                assert!(split >= 1, "no split event: count {count} seed {seed}");
                assert!(most >= 2, "no multi-event write: count {count} seed {seed}");
            }
        }
    }

    #[test]
    fn split_happens_inside_a_data_line() {
        let evs = events(5);
        let writes = split_writes(&evs, 7);
        // Some write ends neither at an event boundary nor right after "data: ".
        let boundary_ends: Vec<usize> = evs
            .iter()
            .scan(0, |p, e| {
                *p += e.len();
                Some(*p)
            })
            .collect();
        let mut pos = 0;
        let mut inside = false;
        for w in &writes {
            pos += w.len();
            if !boundary_ends.contains(&pos) {
                let all = evs.concat();
                let line_start = all[..pos]
                    .iter()
                    .rposition(|&b| b == b'\n')
                    .map_or(0, |p| p + 1);
                assert!(all[line_start..].starts_with(b"data: "));
                assert!(pos > line_start + 6);
                inside = true;
            }
        }
        assert!(inside);
    }

    #[test]
    fn same_seed_same_writes() {
        let evs = events(6);
        assert_eq!(split_writes(&evs, 42), split_writes(&evs, 42));
        assert_eq!(split_writes(&[], 1), Vec::<Bytes>::new());
    }
}
