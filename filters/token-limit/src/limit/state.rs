//! The encoding of limiter state in the store.
//!
//! Keys are hashed into a fixed number of slots (`tl/<slot>`), because Envoy
//! never frees a shared-data key's name: per-key store keys would grow
//! without bound with distinct clients. A slot's value is a list of entries
//! `[key hash: 8 bytes][length: varint][state]`; a key's state is
//! `[version 1][ring count]` then per ring `[limit id][head varint]
//! [11 counters varint]`.
//!
//! Size per key: 10 bytes of entry header + 2 + per limit about
//! 1 + 4 (head) + 11 × 1-3 (counters): ~30 bytes for an idle-ish limit,
//! ~50 for a busy token limit. A key with requests and input tokens per
//! minute takes ~70-110 bytes; all six limits ~300.

use super::policy::Limit;
use super::window::{put_varint, take_varint, Ring};

const VERSION: u8 = 1;

/// The rings of one key, by limit id.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct KeyState {
    pub rings: Vec<(u8, Ring)>,
}

impl KeyState {
    /// The ring of `limit`, created empty if the key has none yet (a new key
    /// or a newly configured limit).
    pub fn ring(&mut self, limit: &Limit) -> &mut Ring {
        let id = limit.id();
        let at = match self.rings.iter().position(|(i, _)| *i == id) {
            Some(at) => at,
            None => {
                self.rings.push((id, Ring::default()));
                self.rings.len() - 1
            }
        };
        // `at` is in range: found or just pushed.
        #[allow(clippy::indexing_slicing)]
        &mut self.rings[at].1
    }

    pub fn encode(&self, out: &mut Vec<u8>) {
        out.push(VERSION);
        out.push(self.rings.len() as u8);
        for (id, ring) in &self.rings {
            out.push(*id);
            ring.encode(out);
        }
    }

    /// `None` for state this version cannot read; the caller starts afresh.
    pub fn decode(mut input: &[u8]) -> Option<KeyState> {
        let [version, count, rest @ ..] = input else {
            return None;
        };
        if *version != VERSION {
            return None;
        }
        input = rest;
        let mut rings = Vec::with_capacity(usize::from(*count));
        for _ in 0..*count {
            let (&id, rest) = input.split_first()?;
            input = rest;
            rings.push((id, Ring::decode(&mut input)?));
        }
        Some(KeyState { rings })
    }
}

/// The entries of one slot, kept encoded: a key's state is found by
/// skipping over the others, not decoding them.
pub struct Slot<'a> {
    bytes: &'a [u8],
}

impl<'a> Slot<'a> {
    pub fn new(bytes: &'a [u8]) -> Self {
        Slot { bytes }
    }

    /// (hash, state bytes) of every entry; stops at a malformed tail.
    pub fn entries(&self) -> impl Iterator<Item = (u64, &'a [u8])> {
        let mut input = self.bytes;
        std::iter::from_fn(move || {
            let (hash, rest) = input.split_first_chunk::<8>()?;
            let mut rest = rest;
            let len = usize::try_from(take_varint(&mut rest)?).ok()?;
            let state = rest.get(..len)?;
            input = rest.get(len..)?;
            Some((u64::from_le_bytes(*hash), state))
        })
    }

    pub fn find(&self, hash: u64) -> Option<&'a [u8]> {
        self.entries().find(|(h, _)| *h == hash).map(|(_, s)| s)
    }

    /// The slot with `hash`'s entry replaced by `state` (or removed when
    /// `None`), other entries copied as they are.
    pub fn with(&self, hash: u64, state: Option<&KeyState>) -> Vec<u8> {
        let mut out = Vec::with_capacity(self.bytes.len() + 64);
        for (h, s) in self.entries().filter(|(h, _)| *h != hash) {
            push_entry(&mut out, h, s);
        }
        if let Some(state) = state {
            let mut encoded = Vec::with_capacity(64);
            state.encode(&mut encoded);
            push_entry(&mut out, hash, &encoded);
        }
        out
    }
}

pub fn push_entry(out: &mut Vec<u8>, hash: u64, state: &[u8]) {
    out.extend_from_slice(&hash.to_le_bytes());
    put_varint(out, state.len() as u64);
    out.extend_from_slice(state);
}

/// FNV-1a, 64 bits, with MurmurHash3's finaliser so that similar keys
/// spread over all slots: stable across builds and VMs (std's hasher
/// promises neither), and two of a million keys collide with probability
/// ~3e-8.
pub fn key_hash(key: &str) -> u64 {
    let mut h = key.bytes().fold(0xcbf2_9ce4_8422_2325u64, |h, b| {
        (h ^ u64::from(b)).wrapping_mul(0x0100_0000_01b3)
    });
    h ^= h >> 33;
    h = h.wrapping_mul(0xff51_afd7_ed55_8ccd);
    h ^= h >> 33;
    h = h.wrapping_mul(0xc4ce_b9fe_1a85_ec53);
    h ^ (h >> 33)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::limit::policy::{Measure, MINUTE_MS};

    #[test]
    fn slots_replace_and_remove_entries() {
        let limit = Limit {
            measure: Measure::Requests,
            window_ms: MINUTE_MS,
            max: 5,
        };
        let mut a = KeyState::default();
        a.ring(&limit).charge(3);
        let bytes = Slot::new(&[]).with(1, Some(&a));
        let bytes = Slot::new(&bytes).with(2, Some(&KeyState::default()));
        let slot = Slot::new(&bytes);
        assert_eq!(slot.entries().count(), 2);
        assert_eq!(KeyState::decode(slot.find(1).unwrap()), Some(a));
        let bytes = slot.with(1, None);
        assert_eq!(
            Slot::new(&bytes).entries().map(|e| e.0).collect::<Vec<_>>(),
            vec![2]
        );
        assert_eq!(KeyState::decode(&[9, 0]), None);
        assert_eq!(Slot::new(&[1, 2, 3]).entries().count(), 0);
    }
}
