//! Values read from the store and trusted for a short while per process
//! (plans, plugin grants, what a webhook token starts): read on every run start or node execution, and
//! changed rarely. A change made through this process forgets its entry at
//! once; another process's change is seen within the time to live.

use std::collections::HashMap;
use std::hash::Hash;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

/// Entries a cache holds at most.
const MAX_ENTRIES: usize = 4096;

pub struct TtlCache<K, V> {
    ttl: Duration,
    entries: Arc<Mutex<HashMap<K, (Instant, V)>>>,
}

impl<K, V> Clone for TtlCache<K, V> {
    fn clone(&self) -> Self {
        TtlCache { ttl: self.ttl, entries: self.entries.clone() }
    }
}

impl<K: Eq + Hash, V: Clone> TtlCache<K, V> {
    pub fn new(ttl: Duration) -> Self {
        TtlCache { ttl, entries: Arc::default() }
    }

    fn lock(&self) -> MutexGuard<'_, HashMap<K, (Instant, V)>> {
        // Each entry is written whole, so a poisoned map is still consistent.
        self.entries.lock().unwrap_or_else(|poisoned| poisoned.into_inner())
    }

    /// The value if it was stored less than the time to live ago.
    pub fn get(&self, key: &K) -> Option<V> {
        self.lock().get(key).filter(|(at, _)| at.elapsed() < self.ttl).map(|(_, value)| value.clone())
    }

    pub fn insert(&self, key: K, value: V) {
        let mut entries = self.lock();
        // Keys come from tenants' requests (tokens, workflow versions):
        // expired entries go when the map is full, and a map full of fresh
        // ones starts again rather than grow.
        if entries.len() >= MAX_ENTRIES && !entries.contains_key(&key) {
            entries.retain(|_, (at, _)| at.elapsed() < self.ttl);
            if entries.len() >= MAX_ENTRIES {
                entries.clear();
            }
        }
        entries.insert(key, (Instant::now(), value));
    }

    pub fn forget(&self, key: &K) {
        self.lock().remove(key);
    }

    pub fn clear(&self) {
        self.lock().clear();
    }

    /// Forgets every entry whose key `stale` picks.
    pub fn forget_where(&self, stale: impl Fn(&K) -> bool) {
        self.lock().retain(|key, _| !stale(key));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// No clock is raced: a cache whose time to live is an hour keeps what
    /// it was given for the test's length, and one whose time to live is
    /// zero holds nothing fresh.
    #[test]
    fn entries_expire_and_can_be_forgotten() {
        let cache = TtlCache::new(Duration::from_secs(3_600));
        cache.insert("a", 1);
        cache.insert("b", 2);
        assert_eq!(cache.get(&"a"), Some(1));
        cache.forget(&"a");
        assert_eq!(cache.get(&"a"), None);
        assert_eq!(cache.get(&"b"), Some(2), "fresh within the time to live");
        cache.clear();
        assert_eq!(cache.get(&"b"), None);

        let stale = TtlCache::new(Duration::ZERO);
        stale.insert("c", 3);
        assert_eq!(stale.get(&"c"), None, "stale after the time to live");
    }

    #[test]
    fn a_cache_never_holds_more_than_its_bound() {
        let fresh = TtlCache::new(Duration::from_secs(3_600));
        let stale = TtlCache::new(Duration::ZERO);
        for i in 0..3 * MAX_ENTRIES {
            fresh.insert(i, i);
        }
        assert!(fresh.lock().len() <= MAX_ENTRIES);
        for i in 0..=MAX_ENTRIES {
            stale.insert(i, i);
        }
        assert_eq!(stale.lock().len(), 1, "expired entries go first");
        assert_eq!(fresh.get(&(3 * MAX_ENTRIES - 1)), Some(3 * MAX_ENTRIES - 1), "the newest is kept");
    }
}
