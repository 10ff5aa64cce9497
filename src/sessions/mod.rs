//! Sessions that can end: refresh tokens with rotation and reuse detection,
//! logout of one session or all of a user's, and the revocation state every
//! access-token check consults (in memory, never over the network).
//!
//! A session is named by a UUIDv7 `sid` (carried by every access token), so
//! its start time is known wherever the token is checked; ending all of a
//! user's sessions is one per-user epoch: sessions started before it are over.

mod limits;
mod memory;
mod redis;
mod revocations;
mod store;
pub mod tokens;

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Duration;

pub use self::redis::RedisStore;
pub use limits::{LimitError, SharedLimits};
pub use revocations::{Revocations, now_ms, now_seconds, session_start_ms};
use store::Rotation;
pub use store::UserEnding;
pub use store::{SessionRecord, Store, StoreError};

use crate::config::SessionsSettings;

/// How long a client should wait before retrying when the store is down.
pub const RETRY_AFTER: Duration = Duration::from_secs(2);

#[derive(Debug, thiserror::Error)]
pub enum SessionError {
    /// Unknown, expired, spent or revoked refresh token (RFC 6749 `invalid_grant`).
    #[error("the refresh token is not valid")]
    InvalidGrant,
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

/// A refresh token handed to a client.
#[derive(Debug, Clone)]
pub struct IssuedRefresh {
    pub token: String,
    pub expires_in: u64,
}

#[derive(Debug, Clone)]
pub struct Started {
    pub sid: String,
    /// When the user authenticated: the session's start, Unix seconds.
    pub auth_time: i64,
    pub refresh: Option<IssuedRefresh>,
}

#[derive(Debug, Clone)]
pub struct Refreshed {
    pub sid: String,
    pub user: String,
    /// The login's RFC 8176 methods, for the new access token's `amr`.
    pub amr: Vec<String>,
    /// The login's time, for the new access token's `auth_time`.
    pub auth_time: i64,
    pub refresh: IssuedRefresh,
}

/// The session service: one per process, shared by every worker.
pub struct SessionService {
    store: Store,
    revocations: Arc<Revocations>,
    refresh_ttl: Duration,
    max_age: Duration,
    reuse_grace: Duration,
    /// Seconds the longest-lived access token lives (`jwt.ttl` + leeway):
    /// how long a revocation must be remembered. Follows reloads.
    access_lifetime: AtomicU64,
}

impl SessionService {
    /// Opens the configured store; with Redis, starts this replica's feed of
    /// revocations (so call it inside the tokio runtime).
    pub fn new(settings: &SessionsSettings, access_lifetime: Duration) -> Result<Self, StoreError> {
        let memory = settings.store == "memory";
        // The memory store is the whole truth from the start; a Redis feed
        // is synced once it has read the store.
        let revocations = Arc::new(Revocations::new(memory));
        let store = Store::open(&settings.store, Arc::clone(&revocations))?;
        Ok(Self {
            store,
            revocations,
            refresh_ttl: settings.refresh_ttl,
            max_age: settings.max_age,
            reuse_grace: settings.reuse_grace,
            access_lifetime: AtomicU64::new(access_lifetime.as_secs()),
        })
    }

    /// A memory store with the default rules: one process, nothing to run.
    pub fn in_memory() -> Self {
        let settings = SessionsSettings {
            store: "memory".to_owned(),
            refresh_ttl: Duration::from_secs(24 * 60 * 60),
            max_age: Duration::from_secs(7 * 24 * 60 * 60),
            reuse_grace: Duration::from_secs(5),
        };
        Self::new(&settings, Duration::from_secs(24 * 60 * 60))
            .expect("the memory store always opens")
    }

    /// The in-memory state the token check consults.
    pub(crate) fn revocations(&self) -> Arc<Revocations> {
        Arc::clone(&self.revocations)
    }

    /// Login limits shared by every replica, when the store is Redis.
    pub(crate) fn shared_limits(
        &self,
        limits: &crate::config::LimitsSettings,
    ) -> Option<SharedLimits> {
        match &self.store {
            Store::Redis(store) => Some(SharedLimits::new(store.connection(), limits)),
            Store::Memory(_) => None,
        }
    }

    /// The Redis connection every replica shares, when the store is Redis:
    /// the second factor's replay and attempt records live there too.
    pub(crate) fn redis_connection(&self) -> Option<::redis::aio::ConnectionManager> {
        match &self.store {
            Store::Redis(store) => Some(store.connection()),
            Store::Memory(_) => None,
        }
    }

    pub(crate) fn store_kind(&self) -> &'static str {
        self.store.kind()
    }

    /// Whether the revocation state is known to be current.
    pub(crate) fn is_synced(&self) -> bool {
        self.revocations.is_synced()
    }

    pub(crate) fn set_access_lifetime(&self, lifetime: Duration) {
        self.access_lifetime
            .store(lifetime.as_secs(), Ordering::Relaxed);
    }

    /// Starts a session for `user`, with a refresh token when asked for one.
    pub async fn start(
        &self,
        user: &str,
        amr: &[&str],
        with_refresh: bool,
    ) -> Result<Started, SessionError> {
        let sid = uuid::Uuid::now_v7().to_string();
        let auth_time = session_start_ms(&sid).map_or_else(now_seconds, |ms| ms / 1000);
        let now = now_seconds();
        let max_exp = now + self.max_age.as_secs() as i64;
        let exp = (now + self.refresh_ttl.as_secs() as i64).min(max_exp);
        let token = with_refresh.then(tokens::random_secret);
        let record = SessionRecord {
            user: user.to_owned(),
            max_exp,
            exp,
            current: token.as_deref().map(tokens::hash).unwrap_or_default(),
            previous: String::new(),
            rotated_ms: 0,
            key: tokens::random_secret(),
            amr: amr.join(","),
        };
        self.store.create(&sid, &record).await?;
        Ok(Started {
            sid,
            auth_time,
            refresh: token.map(|token| IssuedRefresh {
                token,
                expires_in: (exp - now) as u64,
            }),
        })
    }

    /// Gives a session started without a refresh token its first one (the
    /// browser hand-off); `None` when it already has one or is over.
    pub async fn attach_refresh(
        &self,
        sid: &str,
        user: &str,
    ) -> Result<Option<IssuedRefresh>, SessionError> {
        if !self.revocations.is_live(sid, user) {
            return Ok(None);
        }
        let Some(start_ms) = session_start_ms(sid) else {
            return Ok(None);
        };
        let now = now_seconds();
        let max_exp = start_ms / 1000 + self.max_age.as_secs() as i64;
        let exp = (now + self.refresh_ttl.as_secs() as i64).min(max_exp);
        if exp <= now {
            return Ok(None);
        }
        let token = tokens::random_secret();
        let attached = self
            .store
            .rotate(&Rotation {
                sid,
                expected: "",
                new_hash: &tokens::hash(&token),
                now_ms: now_ms(),
                new_exp: exp,
            })
            .await?;
        Ok(attached.then(|| IssuedRefresh {
            token,
            expires_in: (exp - now) as u64,
        }))
    }

    /// Trades a refresh token for its successor. A token spent longer ago
    /// than the reuse grace ends the whole session (it was copied).
    pub async fn refresh(&self, presented: &str) -> Result<Refreshed, SessionError> {
        if presented.is_empty() || presented.len() > tokens::MAX_REFRESH_TOKEN_BYTES {
            return Err(SessionError::InvalidGrant);
        }
        let hash = tokens::hash(presented);
        // A second look only when another request rotated this token first.
        for _ in 0..2 {
            let found = self
                .store
                .lookup(&hash)
                .await?
                .ok_or(SessionError::InvalidGrant)?;
            let record = &found.record;
            let (now, now_ms) = (now_seconds(), now_ms());
            let epoch = found.epoch_ms.max(self.revocations.epoch_ms(&record.user));
            let started = session_start_ms(&found.sid).ok_or(SessionError::InvalidGrant)?;
            if epoch.is_some_and(|epoch| started <= epoch)
                || !self.revocations.is_live(&found.sid, &record.user)
                || now >= record.max_exp
                || now >= record.exp
            {
                return Err(SessionError::InvalidGrant);
            }
            let next = tokens::successor(&record.key, presented);
            let next_hash = tokens::hash(&next);
            if record.current == hash {
                let exp = (now + self.refresh_ttl.as_secs() as i64).min(record.max_exp);
                if self
                    .store
                    .rotate(&Rotation {
                        sid: &found.sid,
                        expected: &hash,
                        new_hash: &next_hash,
                        now_ms,
                        new_exp: exp,
                    })
                    .await?
                {
                    return Ok(refreshed(found.sid, record, next, exp, now));
                }
                continue;
            }
            let within_grace = now_ms - record.rotated_ms < self.reuse_grace.as_millis() as i64;
            if record.previous == hash && record.current == next_hash && within_grace {
                return Ok(refreshed(found.sid, record, next, record.exp, now));
            }
            log::warn!(
                "a spent refresh token of `{}` was presented again; ending session {}",
                record.user.escape_debug(),
                found.sid
            );
            self.end_session(&found.sid).await?;
            return Err(SessionError::InvalidGrant);
        }
        Err(SessionError::InvalidGrant)
    }

    /// The session a refresh token belongs to and its user, if still known.
    pub async fn session_of_refresh(
        &self,
        presented: &str,
    ) -> Result<Option<(String, String)>, SessionError> {
        if presented.is_empty() || presented.len() > tokens::MAX_REFRESH_TOKEN_BYTES {
            return Ok(None);
        }
        let found = self.store.lookup(&tokens::hash(presented)).await?;
        Ok(found.map(|found| (found.sid, found.record.user)))
    }

    /// Ends one session on every replica: its access tokens are refused and
    /// its refresh tokens are dead. Recorded in the store before it returns.
    pub async fn end_session(&self, sid: &str) -> Result<(), SessionError> {
        let until = now_seconds() + self.access_lifetime() as i64;
        self.store.end_session(sid, until).await?;
        self.revocations.end_session(sid, until);
        Ok(())
    }

    /// Ends every session `user` has, on every replica (logout everywhere,
    /// `tokengate sessions revoke-user`, the admin endpoint).
    pub async fn revoke_user(&self, user: &str) -> Result<(), SessionError> {
        self.end_user(user, None).await.map(drop)
    }

    /// Ends `user`'s sessions because their password changed to the hash
    /// with `fingerprint` (or the user was removed). Each replica reloading
    /// the same file reports the same change; only the first moves the
    /// epoch, so sessions started since under the new password survive.
    pub async fn password_changed(
        &self,
        user: &str,
        fingerprint: &str,
    ) -> Result<bool, SessionError> {
        self.end_user(user, Some(fingerprint)).await
    }

    async fn end_user(&self, user: &str, fingerprint: Option<&str>) -> Result<bool, SessionError> {
        let lifetime = Duration::from_secs(self.access_lifetime());
        let ending = UserEnding::now(user, self.max_age, lifetime, fingerprint);
        let moved = self.store.end_user(&ending).await?;
        if moved {
            self.revocations
                .end_user(user, ending.epoch_ms, ending.until);
        }
        Ok(moved)
    }

    fn access_lifetime(&self) -> u64 {
        self.access_lifetime.load(Ordering::Relaxed)
    }
}

fn refreshed(sid: String, record: &SessionRecord, token: String, exp: i64, now: i64) -> Refreshed {
    Refreshed {
        auth_time: session_start_ms(&sid).map_or(now, |ms| ms / 1000),
        sid,
        user: record.user.clone(),
        amr: record
            .amr
            .split(',')
            .filter(|method| !method.is_empty())
            .map(str::to_owned)
            .collect(),
        refresh: IssuedRefresh {
            token,
            expires_in: (exp - now).max(0) as u64,
        },
    }
}
