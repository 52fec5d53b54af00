//! The ids the gateway gives calls.
//!
//! A record must be keyed on an id the client cannot choose: Envoy keeps a
//! client-sent `x-request-id` unless the listener is an edge
//! (`use_remote_address`) that does not `preserve_external_request_id`, and
//! a filter cannot tell a kept id from one Envoy made. So the audit stage
//! makes its own, whatever the template, and puts it in `x-request-id` for
//! the provider, the access log and the client's response; the id the call
//! arrived with is recorded apart (`client_request_id`).

use std::cell::Cell;
use std::collections::hash_map::RandomState;
use std::hash::BuildHasher;

/// A VM's id source: a random prefix drawn once (std's `RandomState` keys
/// come from the system's random source, WASI `random_get` in Envoy) and a
/// counter, so ids are unique across VMs and restarts without a random
/// draw per call.
#[derive(Debug)]
pub struct RequestIds {
    prefix: u64,
    next: Cell<u64>,
}

impl Default for RequestIds {
    fn default() -> Self {
        RequestIds {
            prefix: RandomState::new().hash_one(0u8),
            next: Cell::new(0),
        }
    }
}

impl RequestIds {
    /// The next id, shaped as a UUID (`8-4-4-4-12` hex digits): the prefix,
    /// then the counter. Written digit by digit: this runs on every call.
    pub fn next(&self) -> String {
        let n = self.next.get();
        self.next.set(n.wrapping_add(1));
        let value = (u128::from(self.prefix) << 64) | u128::from(n);
        let mut id = String::with_capacity(36);
        for digit in 0..32u32 {
            if matches!(digit, 8 | 12 | 16 | 20) {
                id.push('-');
            }
            let nibble = (value >> (124 - 4 * digit)) & 0xf;
            id.extend(char::from_digit(nibble as u32, 16));
        }
        id
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ids_are_uuid_shaped_and_distinct_within_and_across_vms() {
        let (a, b) = (RequestIds::default(), RequestIds::default());
        let first = a.next();
        assert_eq!(first.len(), 36);
        assert_eq!(first.matches('-').count(), 4);
        assert_ne!(first, a.next());
        assert_ne!(first, b.next(), "each VM draws its own prefix");
        let ids = RequestIds {
            prefix: 0x0123_4567_89ab_cdef,
            next: Cell::new(0x2a),
        };
        assert_eq!(ids.next(), "01234567-89ab-cdef-0000-00000000002a");
        assert_eq!(ids.next(), "01234567-89ab-cdef-0000-00000000002b");
    }
}
