//! A bounded per-isolate memo with a time-to-live: what a worker read of a
//! tenant, kept for `TENANT_CACHE_SECONDS` so a warm isolate needs no D1 call.
//! When full, the least recently used entry makes room, which bounds memory
//! whatever names a flood of requests tries. The receiver keeps known tenants
//! and refused slugs in two of these, so a flood of made-up slugs can only
//! evict other made-up slugs, never the known tenants whose stale copies
//! serve while D1 is down.

use std::collections::HashMap;

struct Entry<V> {
    read_at: u64,
    /// A use counter, for least-recently-used eviction.
    used: u64,
    value: V,
}

pub struct TtlCache<V> {
    entries: HashMap<String, Entry<V>>,
    max: usize,
    uses: u64,
}

/// What the cache holds for a key.
pub enum Cached<V> {
    /// Read less than the TTL ago.
    Fresh(V),
    /// Older: to be read again, but usable if that read fails.
    Stale(V),
    Missing,
}

impl<V: Clone> TtlCache<V> {
    pub fn new(max: usize) -> Self {
        Self {
            entries: HashMap::new(),
            max: max.max(1),
            uses: 0,
        }
    }

    pub fn get(&mut self, key: &str, now_ms: u64, ttl_ms: u64) -> Cached<V> {
        self.uses += 1;
        match self.entries.get_mut(key) {
            Some(e) => {
                e.used = self.uses;
                if now_ms.saturating_sub(e.read_at) < ttl_ms {
                    Cached::Fresh(e.value.clone())
                } else {
                    Cached::Stale(e.value.clone())
                }
            }
            None => Cached::Missing,
        }
    }

    /// Keeps `value` read at `now_ms`; nothing is kept when `ttl_ms` is 0.
    pub fn insert(&mut self, key: &str, now_ms: u64, ttl_ms: u64, value: V) {
        if ttl_ms == 0 {
            return;
        }
        if self.entries.len() >= self.max && !self.entries.contains_key(key) {
            let oldest = self
                .entries
                .iter()
                .min_by_key(|(_, e)| e.used)
                .map(|(k, _)| k.clone());
            if let Some(k) = oldest {
                self.entries.remove(&k);
            }
        }
        self.uses += 1;
        self.entries.insert(
            key.to_owned(),
            Entry {
                read_at: now_ms,
                used: self.uses,
                value,
            },
        );
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
    }

    pub fn clear(&mut self) {
        self.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_entry_is_fresh_within_its_ttl_then_stale() {
        let mut c = TtlCache::new(10);
        c.insert("acme", 1_000, 500, 1);
        assert!(matches!(c.get("acme", 1_499, 500), Cached::Fresh(1)));
        assert!(matches!(c.get("acme", 1_500, 500), Cached::Stale(1)));
        assert!(matches!(c.get("globex", 1_000, 500), Cached::Missing));
        c.remove("acme");
        assert!(matches!(c.get("acme", 1_000, 500), Cached::Missing));
    }

    #[test]
    fn a_zero_ttl_keeps_nothing() {
        let mut c = TtlCache::new(2);
        c.insert("a", 0, 0, 1);
        assert!(matches!(c.get("a", 0, 0), Cached::Missing));
    }

    #[test]
    fn a_full_cache_evicts_the_least_recently_used_entry_only() {
        let mut c = TtlCache::new(2);
        c.insert("a", 0, 9, 1);
        c.insert("b", 0, 9, 2);
        assert!(matches!(c.get("a", 1, 9), Cached::Fresh(1)));
        c.insert("c", 1, 9, 3);
        assert!(
            matches!(c.get("b", 1, 9), Cached::Missing),
            "b was least used"
        );
        assert!(matches!(c.get("a", 1, 9), Cached::Fresh(1)));
        assert!(matches!(c.get("c", 1, 9), Cached::Fresh(3)));
        c.insert("a", 2, 9, 4);
        assert!(
            matches!(c.get("c", 2, 9), Cached::Fresh(3)),
            "a refresh evicts nothing"
        );
    }

    #[test]
    fn a_flood_of_new_keys_keeps_at_most_max_and_never_grows() {
        let mut c = TtlCache::new(100);
        for i in 0..10_000 {
            c.insert(&format!("slug{i}"), i, 1_000, ());
        }
        assert_eq!(c.entries.len(), 100);
    }
}
