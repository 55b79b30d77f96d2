//! A small bounded cache with approximate-LRU eviction, shared by the executable and md5 caches.

use std::collections::HashMap;
use std::hash::Hash;

/// A map holding at most `capacity` entries. Every hit stamps the entry with a tick; when an
/// insert overflows the map, the oldest eighth of the entries is evicted in one pass, so
/// eviction costs O(1) amortized per insert and the recently used entries survive.
#[derive(Debug)]
pub(crate) struct Bounded<K, V> {
    map: HashMap<K, (V, u64)>,
    capacity: usize,
    tick: u64,
    evicted: u64,
}

impl<K: Hash + Eq + Clone, V> Bounded<K, V> {
    pub(crate) fn new(capacity: usize) -> Self {
        Bounded {
            map: HashMap::new(),
            capacity: capacity.max(1),
            tick: 0,
            evicted: 0,
        }
    }

    pub(crate) fn get(&mut self, key: &K) -> Option<&V> {
        self.tick += 1;
        let tick = self.tick;
        self.map.get_mut(key).map(|(v, t)| {
            *t = tick;
            &*v
        })
    }

    pub(crate) fn insert(&mut self, key: K, value: V) {
        self.tick += 1;
        self.map.insert(key, (value, self.tick));
        if self.map.len() > self.capacity {
            self.evict();
        }
    }

    fn evict(&mut self) {
        let drop = (self.capacity / 8).max(1) + (self.map.len() - self.capacity - 1);
        let mut ticks: Vec<u64> = self.map.values().map(|(_, t)| *t).collect();
        let (_, cut, _) = ticks.select_nth_unstable(drop - 1);
        let cut = *cut;
        let before = self.map.len();
        self.map.retain(|_, (_, t)| *t > cut);
        self.evicted += (before - self.map.len()) as u64;
    }

    pub(crate) fn remove(&mut self, key: &K) -> Option<V> {
        self.map.remove(key).map(|(value, _)| value)
    }

    pub(crate) fn len(&self) -> usize {
        self.map.len()
    }

    pub(crate) fn evicted(&self) -> u64 {
        self.evicted
    }

    pub(crate) fn clear(&mut self) {
        self.map.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn bounded_and_keeps_recent() {
        let mut c = Bounded::new(16);
        for i in 0..16 {
            c.insert(i, i);
        }
        // Touch 0 so it is the most recent.
        assert_eq!(c.get(&0), Some(&0));
        c.insert(100, 100);
        assert!(c.len() <= 16);
        assert_eq!(c.get(&0), Some(&0));
        assert_eq!(c.get(&100), Some(&100));
        assert_eq!(c.get(&1), None, "oldest evicted");
        assert!(c.evicted() >= 1);
        for i in 200..1000 {
            c.insert(i, i);
        }
        assert!(c.len() <= 16);
    }
}
