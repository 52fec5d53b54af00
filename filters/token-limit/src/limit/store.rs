//! The shared store the limiter keeps its state in, shaped like proxy-wasm
//! shared data: values with a compare-and-swap version.

use std::cell::{Cell, RefCell};
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

/// A [`Store`] that keeps the reads made while [`KeptReads::keep`] is on
/// and answers the next read of the same key from them, once, without
/// asking the inner store again. An admission at several levels peeks the
/// other levels' state before it counts (the count needs every level's
/// headroom), then admits at each: the admission starts from the peeked
/// read instead of reading the slot again. A kept read that went stale
/// costs nothing extra: its compare-and-swap write fails and the
/// admission's retry reads afresh. A write forgets the key's kept read.
pub struct KeptReads<S> {
    inner: S,
    keep: Cell<bool>,
    /// Each kept key with its value and version.
    kept: RefCell<Vec<(String, Read)>>,
}

/// A value and its compare-and-swap version, as [`Store::get`] returns them.
type Read = (Vec<u8>, u32);

impl<S: Store> KeptReads<S> {
    pub fn new(inner: S) -> Self {
        KeptReads {
            inner,
            keep: Cell::new(false),
            kept: RefCell::default(),
        }
    }

    /// Whether reads from now on are kept.
    pub fn keep(&self, on: bool) {
        self.keep.set(on);
    }

    pub fn inner(&mut self) -> &mut S {
        &mut self.inner
    }

    pub fn into_inner(self) -> S {
        self.inner
    }
}

impl<S: Store> Store for KeptReads<S> {
    fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
        let mut kept = self.kept.borrow_mut();
        if let Some(i) = kept.iter().position(|(k, _)| k == key) {
            return Some(kept.swap_remove(i).1);
        }
        let read = self.inner.get(key);
        if let (true, Some(value)) = (self.keep.get(), &read) {
            kept.push((key.to_owned(), value.clone()));
        }
        read
    }

    fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), CasMismatch> {
        self.kept.get_mut().retain(|(k, _)| k != key);
        self.inner.set(key, value, cas)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Counts the reads that reach the store.
    struct Counting(MemoryStore, Cell<usize>);

    impl Store for Counting {
        fn get(&self, key: &str) -> Option<(Vec<u8>, u32)> {
            self.1.set(self.1.get() + 1);
            self.0.get(key)
        }
        fn set(&mut self, key: &str, value: &[u8], cas: Option<u32>) -> Result<(), CasMismatch> {
            self.0.set(key, value, cas)
        }
    }

    #[test]
    fn a_kept_read_answers_the_next_read_once() {
        let mut inner = Counting(MemoryStore::default(), Cell::new(0));
        inner.set("k", b"a", None).unwrap();
        let store = KeptReads::new(inner);
        store.get("k");
        store.get("k");
        assert_eq!(store.inner.1.get(), 2, "nothing is kept unless asked");
        store.keep(true);
        let peeked = store.get("k");
        store.keep(false);
        assert_eq!(store.get("k"), peeked);
        assert_eq!(store.inner.1.get(), 3, "the kept read answered");
        store.get("k");
        assert_eq!(store.inner.1.get(), 4, "once");
    }

    #[test]
    fn a_stale_kept_read_fails_its_write_and_a_write_forgets_it() {
        let mut store = KeptReads::new(MemoryStore::default());
        store.set("k", b"a", None).unwrap();
        store.keep(true);
        let (_, stale) = store.get("k").unwrap();
        store.keep(false);
        // Another worker writes in between.
        let (_, cas) = store.inner.get("k").unwrap();
        store.inner.set("k", b"b", Some(cas)).unwrap();
        let (value, cas) = store.get("k").unwrap();
        assert_eq!((value.as_slice(), cas), (b"a".as_slice(), stale));
        assert_eq!(store.set("k", b"c", Some(cas)), Err(CasMismatch));
        assert_eq!(store.get("k").unwrap().0, b"b", "read afresh");

        store.keep(true);
        store.get("k");
        store.keep(false);
        let (_, cas) = store.inner.get("k").unwrap();
        store.set("k", b"d", Some(cas)).unwrap();
        assert_eq!(
            store.get("k").unwrap().0,
            b"d",
            "the write forgot the kept read"
        );
    }

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
