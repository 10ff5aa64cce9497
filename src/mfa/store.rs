//! What the second factor must remember between requests: codes already
//! accepted (RFC 6238 5.2: never twice), spent `mfa_token`s, and wrong-code
//! counts. Behind a small trait: this in-process store for one replica, the
//! Redis one ([`RedisMfaStore`](super::RedisMfaStore)) shared by replicas
//! when the sessions store is Redis.

use std::collections::HashMap;
use std::future::Future;
use std::pin::Pin;
use std::sync::Mutex;
use std::time::{Duration, Instant};

/// A boxed future, so the trait stays usable as `dyn MfaStore`.
pub type StoreFuture<'a, T> = Pin<Box<dyn Future<Output = Result<T, MfaStoreError>> + Send + 'a>>;

/// The store could not answer; the login step is refused with a 503, never
/// let through.
#[derive(Debug, thiserror::Error)]
#[error("the second-factor store is unavailable: {0}")]
pub struct MfaStoreError(pub String);

/// Where used one-time codes and wrong-code counts are kept.
pub trait MfaStore: Send + Sync + 'static {
    /// Marks `key` used for `ttl`; true only for the first use within it.
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool>;

    /// Counts one attempt against `key` (kept for `ttl` from the first) and
    /// returns the count, this attempt included.
    fn count_attempt<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, u64>;
}

/// How many entries may accumulate before expired ones are swept.
const SWEEP_EVERY: usize = 1024;

/// One process's memory: correct for a single replica. With several
/// replicas a code could be replayed on another one, so those share a store.
#[derive(Default)]
pub struct MemoryMfaStore {
    entries: Mutex<Entries>,
}

#[derive(Default)]
struct Entries {
    map: HashMap<String, (u64, Instant)>,
    /// Size after the last sweep; the next sweep runs once it grows by `SWEEP_EVERY`.
    swept_at: usize,
}

impl Entries {
    /// Bumps `key`'s count (a fresh entry when absent or expired) and returns it.
    fn bump(&mut self, key: &str, ttl: Duration) -> u64 {
        let now = Instant::now();
        if self.map.len() >= self.swept_at + SWEEP_EVERY {
            self.map.retain(|_, (_, until)| *until > now);
            self.swept_at = self.map.len();
        }
        let entry = self.map.entry(key.to_owned()).or_insert((0, now + ttl));
        if entry.1 <= now {
            *entry = (0, now + ttl);
        }
        entry.0 += 1;
        entry.0
    }
}

impl MemoryMfaStore {
    fn bump(&self, key: &str, ttl: Duration) -> u64 {
        // A poisoned lock only means another request panicked mid-update; the map is still sound.
        let mut entries = self.entries.lock().unwrap_or_else(|e| e.into_inner());
        entries.bump(key, ttl)
    }
}

impl MfaStore for MemoryMfaStore {
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        let count = self.bump(key, ttl);
        Box::pin(std::future::ready(Ok(count == 1)))
    }

    fn count_attempt<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, u64> {
        let count = self.bump(key, ttl);
        Box::pin(std::future::ready(Ok(count)))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn a_key_is_first_used_once_until_it_expires() {
        let store = MemoryMfaStore::default();
        let ttl = Duration::from_millis(50);
        assert!(store.first_use("a", ttl).await.unwrap());
        assert!(!store.first_use("a", ttl).await.unwrap());
        assert!(store.first_use("b", ttl).await.unwrap());
        std::thread::sleep(ttl);
        assert!(store.first_use("a", ttl).await.unwrap());
    }

    #[tokio::test]
    async fn attempts_are_counted_per_key() {
        let store = MemoryMfaStore::default();
        let ttl = Duration::from_secs(60);
        for expected in 1..=3 {
            assert_eq!(store.count_attempt("t", ttl).await.unwrap(), expected);
        }
        assert_eq!(store.count_attempt("u", ttl).await.unwrap(), 1);
    }

    #[test]
    fn expired_entries_are_swept_as_the_map_grows() {
        let mut entries = Entries::default();
        for i in 0..SWEEP_EVERY {
            entries.bump(&i.to_string(), Duration::ZERO);
        }
        entries.bump("live", Duration::from_secs(60));
        assert_eq!(entries.map.len(), 1);
    }
}
