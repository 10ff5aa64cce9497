//! The revocation state each replica holds in memory: ended sessions (until
//! their last access token expires) and per-user epochs (sessions started
//! before are over). The token check reads only this, never the network; the
//! Redis store keeps it current through pub/sub and a resync on every
//! (re)connect.

use std::sync::atomic::{AtomicBool, AtomicI64, Ordering};
use std::time::Duration;

use dashmap::DashMap;
use foldhash::fast::RandomState;

use crate::auth::{SessionCheck, TokenError};

/// How often expired entries are dropped, amortised over requests.
const PRUNE_INTERVAL: Duration = Duration::from_secs(10);

#[derive(Default)]
pub struct Revocations {
    /// sid → unix second after which its access tokens are all expired.
    sessions: DashMap<String, i64, RandomState>,
    /// user → (epoch in unix ms, unix second the entry may be forgotten).
    epochs: DashMap<String, (i64, i64), RandomState>,
    /// False while the shared store's feed is down: the state may be stale.
    synced: AtomicBool,
    /// Unix second of the last prune: read on every check, written when due,
    /// so the check path shares the cache line only for reading.
    last_prune: AtomicI64,
}

/// The millisecond a session started, read from its UUIDv7 id.
pub fn session_start_ms(sid: &str) -> Option<i64> {
    let (seconds, nanos) = uuid::Uuid::try_parse(sid).ok()?.get_timestamp()?.to_unix();
    Some(seconds as i64 * 1000 + i64::from(nanos / 1_000_000))
}

impl Revocations {
    pub fn new(synced: bool) -> Self {
        let revocations = Self::default();
        revocations.synced.store(synced, Ordering::Release);
        revocations
    }

    pub fn end_session(&self, sid: &str, until: i64) {
        let mut entry = self.sessions.entry(sid.to_owned()).or_insert(until);
        *entry = (*entry).max(until);
    }

    /// Sessions of `user` started at or before `epoch_ms` are over.
    pub fn end_user(&self, user: &str, epoch_ms: i64, until: i64) {
        let mut entry = self
            .epochs
            .entry(user.to_owned())
            .or_insert((epoch_ms, until));
        *entry = (entry.0.max(epoch_ms), entry.1.max(until));
    }

    pub fn epoch_ms(&self, user: &str) -> Option<i64> {
        self.epochs.get(user).map(|entry| entry.0)
    }

    /// Whether a session is still on as far as this replica knows.
    pub fn is_live(&self, sid: &str, user: &str) -> bool {
        self.prune_if_due();
        if self.sessions.contains_key(sid) {
            return false;
        }
        match (self.epochs.get(user), session_start_ms(sid)) {
            (None, Some(_)) => true,
            (Some(epoch), Some(start)) => start > epoch.0,
            (_, None) => false,
        }
    }

    pub fn is_synced(&self) -> bool {
        self.synced.load(Ordering::Acquire)
    }

    pub fn set_synced(&self, synced: bool) {
        self.synced.store(synced, Ordering::Release);
    }

    fn prune_if_due(&self) {
        let now = now_seconds();
        let last = self.last_prune.load(Ordering::Relaxed);
        // One caller wins the exchange and prunes; the others go on.
        if now - last < PRUNE_INTERVAL.as_secs() as i64
            || self
                .last_prune
                .compare_exchange(last, now, Ordering::Relaxed, Ordering::Relaxed)
                .is_err()
        {
            return;
        }
        self.sessions.retain(|_, until| *until >= now);
        self.epochs.retain(|_, (_, until)| *until >= now);
    }
}

impl SessionCheck for Revocations {
    fn check(&self, sid: Option<&str>, user: &str) -> Result<(), TokenError> {
        match sid {
            Some(sid) if self.is_live(sid, user) => Ok(()),
            _ => Err(TokenError::Revoked),
        }
    }
}

pub fn now_seconds() -> i64 {
    time::OffsetDateTime::now_utc().unix_timestamp()
}

pub fn now_ms() -> i64 {
    (time::OffsetDateTime::now_utc().unix_timestamp_nanos() / 1_000_000) as i64
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sid() -> String {
        uuid::Uuid::now_v7().to_string()
    }

    #[test]
    fn an_ended_session_is_refused_and_others_are_not() {
        let revocations = Revocations::new(true);
        let (a, b) = (sid(), sid());
        revocations.end_session(&a, now_seconds() + 60);
        assert!(!revocations.is_live(&a, "alice"));
        assert!(revocations.is_live(&b, "alice"));
    }

    #[test]
    fn an_epoch_ends_sessions_started_before_it_only() {
        let revocations = Revocations::new(true);
        let before = sid();
        std::thread::sleep(Duration::from_millis(3));
        revocations.end_user("alice", now_ms(), now_seconds() + 60);
        std::thread::sleep(Duration::from_millis(3));
        let after = sid();
        assert!(!revocations.is_live(&before, "alice"));
        assert!(revocations.is_live(&after, "alice"));
        assert!(revocations.is_live(&before, "bob"));
    }

    #[test]
    fn a_token_without_a_session_id_is_refused() {
        let revocations = Revocations::new(true);
        assert_eq!(revocations.check(None, "a"), Err(TokenError::Revoked));
        assert_eq!(
            revocations.check(Some("not-a-uuid"), "a"),
            Err(TokenError::Revoked)
        );
    }
}
