//! The shared store the limiter keeps its state in, shaped like proxy-wasm
//! shared data: values with a compare-and-swap version.

use std::collections::HashMap;

/// The value changed since it was read; read again and retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct CasMismatch;

/// Envoy's shared data, or [`MemoryStore`] in tests.
///
/// Semantics follow Envoy (proxy-wasm-cpp-host): `set` with `Some(cas)`
/// fails if the key exists with another version; a missing key is created
/// whatever `cas` says (the ABI has no create-if-absent, so a slot's very
/// first write is the one write that is not compare-and-swap: see
/// `Limiter::init_slots`). An empty value is how a key is removed: Envoy
/// then keeps the key's name, with an empty value.
pub trait Store {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)>;
    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), CasMismatch>;
}

/// An in-memory [`Store`] with Envoy's CAS semantics.
#[derive(Debug, Default, Clone)]
pub struct MemoryStore {
    entries: HashMap<String, (Vec<u8>, u32)>,
    next_cas: u32,
}

impl MemoryStore {
    /// Keys present (Envoy never frees a key's name either).
    pub fn keys(&self) -> usize {
        self.entries.len()
    }

    /// Bytes of all values.
    pub fn value_bytes(&self) -> usize {
        self.entries.values().map(|(v, _)| v.len()).sum()
    }
}

impl Store for MemoryStore {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        self.entries.get(key).cloned()
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), CasMismatch> {
        if let (Some(cas), Some((_, current))) = (cas, self.entries.get(key)) {
            if cas != 0 && cas != *current {
                return Err(CasMismatch);
            }
        }
        self.next_cas = self.next_cas.wrapping_add(1).max(1);
        self.entries
            .insert(key.to_owned(), (value.to_vec(), self.next_cas));
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cas_semantics() {
        let mut s = MemoryStore::default();
        assert_eq!(s.get("k"), None);
        s.set("k", b"a", None).unwrap();
        let (v, cas) = s.get("k").unwrap();
        assert_eq!(v, b"a");
        s.set("k", b"b", Some(cas)).unwrap();
        assert_eq!(s.set("k", b"c", Some(cas)), Err(CasMismatch));
        assert_eq!(s.get("k").unwrap().0, b"b");
    }
}
