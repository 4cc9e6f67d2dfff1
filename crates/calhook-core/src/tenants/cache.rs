//! A bounded per-isolate memo with a time-to-live: what a worker read of a
//! tenant, kept for `TENANT_CACHE_SECONDS` so a warm isolate needs no D1 call.
//! When full it is emptied (the next reads refill it), which bounds memory
//! whatever names a flood of requests tries.

use std::collections::HashMap;

pub struct TtlCache<V> {
    entries: HashMap<String, (u64, V)>,
    max: usize,
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
        }
    }

    pub fn get(&self, key: &str, now_ms: u64, ttl_ms: u64) -> Cached<V> {
        match self.entries.get(key) {
            Some((at, v)) if now_ms.saturating_sub(*at) < ttl_ms => Cached::Fresh(v.clone()),
            Some((_, v)) => Cached::Stale(v.clone()),
            None => Cached::Missing,
        }
    }

    /// Keeps `value` read at `now_ms`; nothing is kept when `ttl_ms` is 0.
    pub fn insert(&mut self, key: &str, now_ms: u64, ttl_ms: u64, value: V) {
        if ttl_ms == 0 {
            return;
        }
        if self.entries.len() >= self.max && !self.entries.contains_key(key) {
            self.entries.clear();
        }
        self.entries.insert(key.to_owned(), (now_ms, value));
    }

    pub fn remove(&mut self, key: &str) {
        self.entries.remove(key);
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
    fn a_zero_ttl_keeps_nothing_and_a_full_cache_starts_over() {
        let mut c = TtlCache::new(2);
        c.insert("a", 0, 0, 1);
        assert!(matches!(c.get("a", 0, 0), Cached::Missing));
        c.insert("a", 0, 9, 1);
        c.insert("b", 0, 9, 2);
        c.insert("a", 1, 9, 3);
        assert!(
            matches!(c.get("b", 1, 9), Cached::Fresh(2)),
            "a refresh does not empty it"
        );
        c.insert("c", 1, 9, 4);
        assert!(matches!(c.get("a", 1, 9), Cached::Missing));
        assert!(matches!(c.get("c", 1, 9), Cached::Fresh(4)));
    }
}
