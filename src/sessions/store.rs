//! The session store: one enum over the two backends, so the service and
//! the routes never care which one is configured.

use std::sync::Arc;
use std::time::Duration;

use super::memory::MemoryStore;
use super::redis::RedisStore;
use super::revocations::{Revocations, now_ms, now_seconds};

/// What the store keeps per session (never a token, only token hashes).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SessionRecord {
    pub user: String,
    /// Unix second the session ends whatever happens (`sessions.max_age`).
    pub max_exp: i64,
    /// Unix second the current refresh token expires.
    pub exp: i64,
    /// SHA-256 of the current refresh token; empty before one is handed out.
    pub current: String,
    /// SHA-256 of the token it replaced, answered again within the grace.
    pub previous: String,
    /// Unix ms of the last rotation.
    pub rotated_ms: i64,
    /// HMAC key deriving each refresh token's successor.
    pub key: String,
    /// How the user authenticated (RFC 8176 methods, comma-separated), so
    /// refreshed tokens keep the login's `amr`.
    pub amr: String,
}

/// A refresh token's session, as the store found it.
#[derive(Debug, Clone)]
/// A refresh-token rotation: `new_hash` becomes the session's refresh
/// token if `expected` still is (`""`: the session has none yet).
pub struct Rotation<'a> {
    pub sid: &'a str,
    pub expected: &'a str,
    pub new_hash: &'a str,
    pub now_ms: i64,
    /// The new refresh token's expiry, seconds since the epoch.
    pub new_exp: i64,
}

/// Every session of `user` started up to `epoch_ms` is over. With
/// `fingerprint` (of a changed password), only the first replica to report
/// that fingerprint moves the epoch.
pub struct UserEnding<'a> {
    pub user: &'a str,
    pub epoch_ms: i64,
    /// Until when the epoch must be remembered, seconds since the epoch.
    pub until: i64,
    pub fingerprint: Option<&'a str>,
}

impl<'a> UserEnding<'a> {
    /// Ends, as of now, every session `user` has started, remembered as long
    /// as one of them could still be refreshed and its last access token
    /// accepted (`sessions.max_age` plus the access-token lifetime).
    pub fn now(
        user: &'a str,
        max_age: Duration,
        access_lifetime: Duration,
        fingerprint: Option<&'a str>,
    ) -> Self {
        Self {
            user,
            epoch_ms: now_ms(),
            until: now_seconds() + (max_age + access_lifetime).as_secs() as i64,
            fingerprint,
        }
    }
}

pub struct Found {
    pub sid: String,
    pub record: SessionRecord,
    /// The user's epoch in the store (unix ms), if any.
    pub epoch_ms: Option<i64>,
}

#[derive(Debug, thiserror::Error)]
pub enum StoreError {
    /// The store could not be reached or did not answer in time.
    #[error("the session store is unavailable: {0}")]
    Unavailable(String),
}

pub enum Store {
    Memory(MemoryStore),
    // Boxed: one store per process, and the enum stays small.
    Redis(Box<RedisStore>),
}

impl Store {
    /// "memory" or a `redis://` / `rediss://` address (validated by config).
    pub fn open(address: &str, revocations: Arc<Revocations>) -> Result<Self, StoreError> {
        if address == "memory" {
            return Ok(Store::Memory(MemoryStore::default()));
        }
        RedisStore::open(address, revocations).map(|store| Store::Redis(Box::new(store)))
    }

    pub fn kind(&self) -> &'static str {
        match self {
            Store::Memory(_) => "memory",
            Store::Redis(_) => "redis",
        }
    }

    /// Stores a new session, with its first refresh token when `record.current` is set.
    pub async fn create(&self, sid: &str, record: &SessionRecord) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                store.create(sid, record);
                Ok(())
            }
            Store::Redis(store) => store.create(sid, record).await,
        }
    }

    pub async fn lookup(&self, refresh_hash: &str) -> Result<Option<Found>, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.lookup(refresh_hash)),
            Store::Redis(store) => store.lookup(refresh_hash).await,
        }
    }

    /// Applies `rotation`; false when another request rotated first or the
    /// session is gone.
    pub async fn rotate(&self, rotation: &Rotation<'_>) -> Result<bool, StoreError> {
        match self {
            Store::Memory(store) => Ok(store.rotate(rotation)),
            Store::Redis(store) => store.rotate(rotation).await,
        }
    }

    /// Forgets the session and records its revocation until `until` (unix s).
    pub async fn end_session(&self, sid: &str, until: i64) -> Result<(), StoreError> {
        match self {
            Store::Memory(store) => {
                store.end_session(sid);
                Ok(())
            }
            Store::Redis(store) => store.end_session(sid, until).await,
        }
    }

    /// Records `ending`; returns whether the user's epoch moved.
    pub async fn end_user(&self, ending: &UserEnding<'_>) -> Result<bool, StoreError> {
        match self {
            Store::Memory(_) => Ok(true),
            Store::Redis(store) => store.end_user(ending).await,
        }
    }
}
