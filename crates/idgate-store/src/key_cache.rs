//! Recently authenticated API keys, by the keyed hash of their secret.
//!
//! Why: every integrator request authenticates, and the lookup was the most expensive step of a
//! session read after the read itself. A key changes rarely (rename, rescope, disable, delete),
//! so a store answers from here for [`KeyCache::TTL_MS`] after reading the key, measured by the
//! injected clock (`Store::use_clock`).
//!
//! Freshness: a change made through this store drops the whole cache before the change returns,
//! so on this node a disabled or deleted key is refused by the next request. A change made by
//! another node (PostgreSQL) or another process (the CLI on the same SQLite file) is seen within
//! `TTL_MS`. A lookup that read the database before a change but finishes after it does not put its
//! outdated copy back (the generation check in [`KeyCache::insert`]).
//!
//! Only keys that exist are cached, so unknown secrets cannot fill it; it holds at most
//! [`KeyCache::CAPACITY`] entries and starts over when full.

use std::collections::HashMap;
use std::sync::{Arc, RwLock};

use idgate_core::{ApiKey, ApiKeyHash, Clock, SystemClock, Timestamp};

pub(crate) struct KeyCache {
    inner: RwLock<Inner>,
    /// Ages the entries: the server's injected clock (tests drive it), the host's by default.
    clock: RwLock<Arc<dyn Clock>>,
}

impl Default for KeyCache {
    fn default() -> Self {
        Self {
            inner: RwLock::default(),
            clock: RwLock::new(Arc::new(SystemClock)),
        }
    }
}

impl std::fmt::Debug for KeyCache {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("KeyCache").finish_non_exhaustive()
    }
}

#[derive(Debug, Default)]
struct Inner {
    /// Bumped by every [`KeyCache::clear`].
    generation: u64,
    /// Each key with the instant it was read.
    entries: HashMap<ApiKeyHash, (ApiKey, Timestamp)>,
}

/// The cache's state when a database read started; see [`KeyCache::insert`].
#[derive(Debug, Clone, Copy)]
pub(crate) struct Generation(u64);

impl KeyCache {
    /// How long (ms) another node's change to a key may go unseen here.
    pub(crate) const TTL_MS: i64 = 1_000;
    /// Far above the keys one deployment uses within a second.
    const CAPACITY: usize = 10_000;

    /// Ages the entries by `clock` from now on.
    pub(crate) fn use_clock(&self, clock: Arc<dyn Clock>) {
        *self.clock.write().unwrap_or_else(|e| e.into_inner()) = clock;
    }

    fn now(&self) -> Timestamp {
        self.clock.read().unwrap_or_else(|e| e.into_inner()).now()
    }

    /// The cached key, if read less than `TTL_MS` ago (a clock that went back reads it again).
    pub(crate) fn get(&self, hash: &ApiKeyHash) -> Option<ApiKey> {
        let now = self.now().unix_ms();
        let inner = self.inner.read().unwrap_or_else(|e| e.into_inner());
        inner
            .entries
            .get(hash)
            .filter(|(_, read_at)| (0..Self::TTL_MS).contains(&(now - read_at.unix_ms())))
            .map(|(key, _)| key.clone())
    }

    /// Taken before reading a key from the database, passed to [`KeyCache::insert`] after.
    pub(crate) fn generation(&self) -> Generation {
        Generation(
            self.inner
                .read()
                .unwrap_or_else(|e| e.into_inner())
                .generation,
        )
    }

    /// Remembers `key`, unless the cache was cleared since `read_started` (the read may predate
    /// the change that cleared it).
    pub(crate) fn insert(&self, read_started: Generation, hash: ApiKeyHash, key: ApiKey) {
        let now = self.now();
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        if inner.generation != read_started.0 {
            return;
        }
        if inner.entries.len() >= Self::CAPACITY && !inner.entries.contains_key(&hash) {
            inner.entries.clear();
        }
        inner.entries.insert(hash, (key, now));
    }

    /// Forgets one key, found gone from the database; other cached keys stay valid.
    pub(crate) fn remove(&self, hash: &ApiKeyHash) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.entries.remove(hash);
    }

    /// Forgets every key; called after any change to a key commits.
    pub(crate) fn clear(&self) {
        let mut inner = self.inner.write().unwrap_or_else(|e| e.into_inner());
        inner.generation = inner.generation.wrapping_add(1);
        inner.entries.clear();
    }
}

#[cfg(test)]
mod tests {
    use idgate_core::{Environment, OrgId, Scopes, Timestamp};

    use super::*;

    fn key() -> ApiKey {
        let at = Timestamp::from_unix_ms(1_750_000_000_000).unwrap();
        ApiKey::generate(
            &OrgId::generate(),
            "ci",
            Environment::Live,
            Scopes::all(),
            at,
        )
        .unwrap()
        .0
    }

    fn hash(s: &str) -> ApiKeyHash {
        ApiKeyHash::from_stored(s.into())
    }

    #[test]
    fn a_key_read_before_a_clear_is_not_put_back() {
        let cache = KeyCache::default();
        let started = cache.generation();
        cache.clear();
        cache.insert(started, hash("a"), key());
        assert_eq!(cache.get(&hash("a")), None);
    }

    #[test]
    fn a_key_read_after_the_last_clear_is_served_until_the_next() {
        let cache = KeyCache::default();
        let k = key();
        cache.insert(cache.generation(), hash("a"), k.clone());
        assert_eq!(cache.get(&hash("a")), Some(k));
        assert_eq!(cache.get(&hash("b")), None);
        cache.clear();
        assert_eq!(cache.get(&hash("a")), None);
    }

    /// A fixed instant the test moves by hand.
    struct Manual(std::sync::atomic::AtomicI64);

    impl Clock for Manual {
        fn now(&self) -> Timestamp {
            Timestamp::from_unix_ms(self.0.load(std::sync::atomic::Ordering::SeqCst)).unwrap()
        }
    }

    #[test]
    fn a_key_is_served_for_the_ttl_of_the_injected_clock() {
        let clock = Arc::new(Manual(1_750_000_000_000.into()));
        let cache = KeyCache::default();
        cache.use_clock(clock.clone());
        let k = key();
        cache.insert(cache.generation(), hash("a"), k.clone());
        clock
            .0
            .fetch_add(KeyCache::TTL_MS - 1, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(cache.get(&hash("a")), Some(k));
        clock.0.fetch_add(1, std::sync::atomic::Ordering::SeqCst);
        assert_eq!(cache.get(&hash("a")), None);
    }

    #[test]
    fn a_full_cache_starts_over_instead_of_growing() {
        let cache = KeyCache::default();
        for i in 0..KeyCache::CAPACITY {
            cache.insert(cache.generation(), hash(&i.to_string()), key());
        }
        cache.insert(cache.generation(), hash("one more"), key());
        let inner = cache.inner.read().unwrap();
        assert_eq!(inner.entries.len(), 1);
        assert!(inner.entries.contains_key(&hash("one more")));
    }
}
