//! The cleaner's key -> latest offset map (Kafka's `SkimpyOffsetMap`).
//!
//! Keys are not stored, only a 128-bit hash of each (Kafka keeps a 16-byte
//! MD5), so an entry costs [`BYTES_PER_ENTRY`] bytes whatever the key size
//! and `log.cleaner.dedupe.buffer.size` bounds the memory. Two keys with the
//! same 128-bit hash would be taken for one key (the older record dropped):
//! the same, negligible risk Kafka takes.
//!
//! Unlike Kafka's map, which allocates its whole buffer up front, this one
//! starts small and doubles (open addressing, linear probing) up to the
//! slot budget, so a cleaner that only ever sees a few thousand keys never
//! holds 128 MiB.
//!
//! Invariants: `entries <= max_entries()`; slot `i` is empty iff
//! `slots[i].offset == EMPTY`; `latest_offset` is the largest offset put or
//! forced by [`OffsetMap::update_latest_offset`] since the last clear (-1).

use std::hash::{Hash, Hasher};

/// Memory one entry is accounted with: a 16-byte hash and an 8-byte offset.
pub const BYTES_PER_ENTRY: usize = 24;
const EMPTY: i64 = -1;
const INITIAL_SLOTS: usize = 1024;

#[derive(Clone, Copy)]
struct Slot {
    hash: [u64; 2],
    offset: i64,
}

const EMPTY_SLOT: Slot = Slot { hash: [0, 0], offset: EMPTY };

pub struct OffsetMap {
    slots: Vec<Slot>,
    entries: usize,
    /// Most slots the memory budget allows.
    max_slots: usize,
    /// Fraction of slots that may be used (`log.cleaner.io.buffer.load.factor`).
    load_factor: f64,
    latest_offset: i64,
}

/// 128 bits of SipHash-1-3 (two keyed passes of the std hasher, which is
/// deterministic for `DefaultHasher::new()`).
fn hash_key(key: &[u8]) -> [u64; 2] {
    let mut a = std::collections::hash_map::DefaultHasher::new();
    0u8.hash(&mut a);
    key.hash(&mut a);
    let mut b = std::collections::hash_map::DefaultHasher::new();
    1u8.hash(&mut b);
    key.hash(&mut b);
    [a.finish(), b.finish()]
}

impl OffsetMap {
    /// A map that may use up to `memory` bytes, filled to `load_factor`.
    pub fn new(memory: usize, load_factor: f64) -> Self {
        let mut m = OffsetMap { slots: Vec::new(), entries: 0, max_slots: 1, load_factor: 0.9, latest_offset: -1 };
        m.set_budget(memory, load_factor);
        m
    }

    /// Changes the memory budget (a dynamic `log.cleaner.dedupe.buffer.size`);
    /// empties the map.
    pub fn set_budget(&mut self, memory: usize, load_factor: f64) {
        self.max_slots = (memory / BYTES_PER_ENTRY).max(2);
        self.load_factor = if load_factor > 0.0 && load_factor <= 1.0 { load_factor } else { 0.9 };
        self.clear();
        if self.slots.len() > self.max_slots {
            self.slots = Vec::new();
        }
    }

    /// Entries the map accepts before it is full (at least one).
    pub fn max_entries(&self) -> usize {
        ((self.max_slots as f64 * self.load_factor) as usize).clamp(1, self.max_slots - 1)
    }

    pub fn len(&self) -> usize {
        self.entries
    }

    pub fn is_empty(&self) -> bool {
        self.entries == 0
    }

    /// Forgets every entry and the latest offset; keeps the allocation.
    pub fn clear(&mut self) {
        self.slots.iter_mut().for_each(|s| *s = EMPTY_SLOT);
        self.entries = 0;
        self.latest_offset = -1;
    }

    fn position(&self, hash: &[u64; 2]) -> Option<usize> {
        if self.slots.is_empty() {
            return None;
        }
        let len = self.slots.len();
        let mut i = (hash[0] % len as u64) as usize;
        loop {
            let s = &self.slots[i];
            if s.offset == EMPTY {
                return None;
            }
            if s.hash == *hash {
                return Some(i);
            }
            i = (i + 1) % len;
        }
    }

    /// Records `offset` as the latest for `key`. Returns false, changing
    /// nothing, when the key is new and the map is full.
    pub fn put(&mut self, key: &[u8], offset: i64) -> bool {
        let hash = hash_key(key);
        if let Some(i) = self.position(&hash) {
            self.slots[i].offset = offset;
            self.latest_offset = offset;
            return true;
        }
        if self.entries >= self.max_entries() {
            return false;
        }
        // Grow before the table gets too full to probe quickly.
        let limit = (self.slots.len() as f64 * self.load_factor) as usize;
        if self.slots.is_empty() || (self.entries + 1 > limit && self.slots.len() < self.max_slots) {
            self.grow();
        }
        let len = self.slots.len();
        let mut i = (hash[0] % len as u64) as usize;
        while self.slots[i].offset != EMPTY {
            i = (i + 1) % len;
        }
        self.slots[i] = Slot { hash, offset };
        self.entries += 1;
        self.latest_offset = offset;
        true
    }

    fn grow(&mut self) {
        let new_len = (self.slots.len() * 2).clamp(INITIAL_SLOTS.min(self.max_slots), self.max_slots);
        if new_len == self.slots.len() {
            return;
        }
        let old = std::mem::replace(&mut self.slots, vec![EMPTY_SLOT; new_len]);
        for s in old.into_iter().filter(|s| s.offset != EMPTY) {
            let mut i = (s.hash[0] % new_len as u64) as usize;
            while self.slots[i].offset != EMPTY {
                i = (i + 1) % new_len;
            }
            self.slots[i] = s;
        }
    }

    /// The latest offset recorded for `key`, or -1.
    pub fn get(&self, key: &[u8]) -> i64 {
        self.position(&hash_key(key)).map_or(-1, |i| self.slots[i].offset)
    }

    /// The last offset the map covers: records after it were not indexed.
    pub fn latest_offset(&self) -> i64 {
        self.latest_offset
    }

    /// Moves the covered range forward over offsets without keys (gaps,
    /// control batches, the rest of a fully indexed segment).
    pub fn update_latest_offset(&mut self, offset: i64) {
        self.latest_offset = offset;
    }

    /// Fraction of the budget in use (Kafka's buffer utilization).
    pub fn utilization(&self) -> f64 {
        self.entries as f64 / self.max_slots as f64
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn latest_offset_per_key_wins() {
        let mut m = OffsetMap::new(1 << 20, 0.9);
        assert_eq!(m.get(b"a"), -1);
        assert!(m.put(b"a", 1));
        assert!(m.put(b"b", 2));
        assert!(m.put(b"a", 7));
        assert_eq!((m.get(b"a"), m.get(b"b"), m.get(b"c")), (7, 2, -1));
        assert_eq!(m.len(), 2);
        assert_eq!(m.latest_offset(), 7);
        m.update_latest_offset(20);
        assert_eq!(m.latest_offset(), 20);
        m.clear();
        assert_eq!((m.get(b"a"), m.len(), m.latest_offset()), (-1, 0, -1));
    }

    #[test]
    fn grows_then_stops_at_the_memory_budget() {
        // 100 slots, 90 usable.
        let mut m = OffsetMap::new(100 * BYTES_PER_ENTRY, 0.9);
        assert_eq!(m.max_entries(), 90);
        for i in 0..90 {
            assert!(m.put(format!("key-{i}").as_bytes(), i), "entry {i}");
        }
        // Full: a new key is refused, an existing one still updates.
        assert!(!m.put(b"one too many", 1000));
        assert_eq!(m.get(b"one too many"), -1);
        assert_eq!(m.latest_offset(), 89);
        assert!(m.put(b"key-3", 500));
        for i in 0..90 {
            let want = if i == 3 { 500 } else { i };
            assert_eq!(m.get(format!("key-{i}").as_bytes()), want);
        }
        assert!(m.utilization() > 0.89);
    }

    #[test]
    fn many_keys_survive_rehashing() {
        let mut m = OffsetMap::new(128 << 20, 0.9);
        for i in 0..50_000i64 {
            m.put(&i.to_be_bytes(), i * 2);
        }
        for i in 0..50_000i64 {
            m.put(&i.to_be_bytes(), i * 2 + 1);
        }
        assert_eq!(m.len(), 50_000);
        assert!((0..50_000i64).all(|i| m.get(&i.to_be_bytes()) == i * 2 + 1));
        // Memory stays proportional to the keys, not the budget.
        assert!(m.slots.len() < 200_000);
    }
}
