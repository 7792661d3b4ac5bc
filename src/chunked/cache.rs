//! Decoded chunks kept for the reads that still need them.

use std::collections::{BTreeMap, HashMap};
use std::hash::Hash;
use std::sync::{Arc, Mutex};

/// A slot for one chunk: empty until its first reader decodes it; the
/// reader holds the slot's lock while it decodes, so concurrent readers of
/// one chunk wait for that decode instead of repeating it.
pub(crate) type Slot<V> = Arc<Mutex<Option<Arc<V>>>>;

/// A byte-weighed cache of decoded chunks with least-recently-used eviction
/// beyond its budget (O(log n) per use), and optional reader counts: a
/// chunk whose count reaches zero is dropped at once. One cache belongs to
/// one walk session, so walks never reset each other.
pub(crate) struct ChunkCache<K, V> {
    slots: HashMap<K, (Slot<V>, u64, usize)>,
    by_use: BTreeMap<u64, K>,
    pending: HashMap<K, usize>,
    tick: u64,
    bytes: usize,
    budget: usize,
    weigh: fn(&V) -> usize,
}

impl<K: Clone + Eq + Hash + Ord, V> ChunkCache<K, V> {
    /// A cache holding at most about `budget` bytes as `weigh` counts them;
    /// `pending` gives the number of reads to come per key.
    pub(crate) fn new(budget: usize, weigh: fn(&V) -> usize, pending: HashMap<K, usize>) -> Self {
        ChunkCache {
            slots: HashMap::new(),
            by_use: BTreeMap::new(),
            pending,
            tick: 0,
            bytes: 0,
            budget,
            weigh,
        }
    }

    /// The slot of `key`, created empty if absent; marks it used.
    pub(crate) fn slot(&mut self, key: &K) -> Slot<V> {
        self.tick += 1;
        let tick = self.tick;
        match self.slots.get_mut(key) {
            Some((slot, used, _)) => {
                self.by_use.remove(used);
                *used = tick;
                self.by_use.insert(tick, key.clone());
                slot.clone()
            }
            None => {
                let slot: Slot<V> = Arc::default();
                self.slots.insert(key.clone(), (slot.clone(), tick, 0));
                self.by_use.insert(tick, key.clone());
                slot
            }
        }
    }

    /// Counts a value just decoded into `key`'s slot against the budget,
    /// evicting the least recently used chunks beyond it (never the last).
    pub(crate) fn admit(&mut self, key: &K, value: &V) {
        let w = (self.weigh)(value);
        if let Some((_, _, weight)) = self.slots.get_mut(key) {
            *weight = w;
            self.bytes = self.bytes.saturating_add(w);
        }
        while self.bytes > self.budget && self.slots.len() > 1 {
            let Some((_, victim)) = self.by_use.pop_first() else {
                break;
            };
            self.forget(&victim);
        }
    }

    /// One read of `key` is done: drops it when no read is left.
    pub(crate) fn read_done(&mut self, key: &K) {
        let left = match self.pending.get_mut(key) {
            Some(n) => {
                *n = n.saturating_sub(1);
                *n
            }
            None => 0,
        };
        if left == 0 {
            self.pending.remove(key);
            self.forget(key);
        }
    }

    /// Drops a slot (a failed decode, or eviction).
    pub(crate) fn forget(&mut self, key: &K) {
        if let Some((_, used, weight)) = self.slots.remove(key) {
            self.by_use.remove(&used);
            self.bytes = self.bytes.saturating_sub(weight);
        }
    }

    /// Bytes held.
    pub(crate) fn bytes(&self) -> usize {
        self.bytes
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[allow(clippy::ptr_arg)] // a weigher is `fn(&V)`, here `V = Vec<u8>`
    fn len(v: &Vec<u8>) -> usize {
        v.len()
    }

    #[test]
    fn evicts_least_recently_used_and_drops_after_last_read() {
        let pending: HashMap<u32, usize> = [(1, 2), (2, 1), (3, 1)].into_iter().collect();
        let mut c = ChunkCache::new(20, len, pending);
        for k in [1u32, 2] {
            let s = c.slot(&k);
            let v = Arc::new(vec![0u8; 10]);
            *s.lock().unwrap() = Some(v.clone());
            c.admit(&k, &v);
        }
        assert_eq!(c.bytes(), 20);
        c.slot(&1); // 1 is now more recent than 2
        let s = c.slot(&3);
        let v = Arc::new(vec![0u8; 10]);
        *s.lock().unwrap() = Some(v.clone());
        c.admit(&3, &v); // over budget: 2 goes
        assert_eq!(c.bytes(), 20);
        assert!(c.slot(&2).lock().unwrap().is_none());
        c.forget(&2);
        c.read_done(&1);
        assert!(
            c.slot(&1).lock().unwrap().is_some(),
            "one read of 1 is left"
        );
        c.read_done(&1);
        assert_eq!(c.bytes(), 10);
        c.read_done(&3);
        assert_eq!(c.bytes(), 0);
    }
}
