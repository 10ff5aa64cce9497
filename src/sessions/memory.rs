//! The in-process store (`sessions.store = "memory"`): one replica only.
//! Revocations live in the service's [`Revocations`](super::Revocations),
//! which for this store is the whole truth.

use std::collections::HashMap;
use std::sync::Mutex;

use super::revocations::now_seconds;
use super::store::{Found, Rotation, SessionRecord};

#[derive(Default)]
pub struct MemoryStore {
    inner: Mutex<Inner>,
}

#[derive(Default)]
struct Inner {
    sessions: HashMap<String, SessionRecord>,
    /// Refresh-token hash → (sid, expiry): current tokens and spent markers.
    tokens: HashMap<String, (String, i64)>,
    last_prune: i64,
}

impl MemoryStore {
    pub fn create(&self, sid: &str, record: &SessionRecord) {
        let mut inner = self.lock();
        inner.prune();
        if !record.current.is_empty() {
            inner
                .tokens
                .insert(record.current.clone(), (sid.to_owned(), record.exp));
        }
        inner.sessions.insert(sid.to_owned(), record.clone());
    }

    pub fn lookup(&self, refresh_hash: &str) -> Option<Found> {
        let inner = self.lock();
        let now = now_seconds();
        let (sid, exp) = inner.tokens.get(refresh_hash)?;
        let record = inner.sessions.get(sid)?;
        if *exp < now || record.exp < now {
            return None;
        }
        Some(Found {
            sid: sid.clone(),
            record: record.clone(),
            epoch_ms: None,
        })
    }

    pub fn rotate(&self, rotation: &Rotation<'_>) -> bool {
        let &Rotation {
            sid,
            expected,
            new_hash,
            now_ms,
            new_exp,
        } = rotation;
        let mut inner = self.lock();
        let Some(record) = inner.sessions.get_mut(sid) else {
            return false;
        };
        if record.current != expected {
            return false;
        }
        record.previous = std::mem::replace(&mut record.current, new_hash.to_owned());
        record.rotated_ms = now_ms;
        record.exp = new_exp;
        inner
            .tokens
            .insert(new_hash.to_owned(), (sid.to_owned(), new_exp));
        true
    }

    pub fn end_session(&self, sid: &str) {
        self.lock().sessions.remove(sid);
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
    }
}

impl Inner {
    /// Drops expired records, at most every ten seconds.
    fn prune(&mut self) {
        let now = now_seconds();
        if now - self.last_prune < 10 {
            return;
        }
        self.last_prune = now;
        self.sessions.retain(|_, record| record.exp >= now);
        self.tokens.retain(|_, (_, exp)| *exp >= now);
    }
}
