//! The second-factor store shared by every replica, used when
//! `sessions.store = "redis://…"`: a code accepted on one replica is refused
//! as replayed on every other, and an `mfa_token`'s wrong codes are counted
//! once for all of them.
//!
//! It runs on the sessions store's `ConnectionManager` (the `redis` crate),
//! so a replica keeps one multiplexed connection and one reconnect policy;
//! a command that fails or times out is an [`MfaStoreError`] (the code step
//! answers 503), never an accepted code.
//!
//! Keys, each with an expiry: `tokengate:mfa:code:{user}:{step}`,
//! `tokengate:mfa:spent:{jti}`, `tokengate:mfa:attempts:{jti}`.

use std::time::Duration;

use redis::aio::ConnectionManager;
use redis::{Script, SetExpiry, SetOptions};

use super::store::{MfaStore, MfaStoreError, StoreFuture};

const PREFIX: &str = "tokengate:mfa:";

/// One attempt more; the expiry is set by the first, so the count lives as
/// long as the `mfa_token` it belongs to. One script: no count without an expiry.
const COUNT_ATTEMPT: &str = r"
local n = redis.call('INCR', KEYS[1])
if n == 1 then redis.call('PEXPIRE', KEYS[1], ARGV[1]) end
return n
";

/// Replay records and attempt counts in Redis, shared by every replica.
pub struct RedisMfaStore {
    connection: ConnectionManager,
    count_attempt: Script,
}

impl RedisMfaStore {
    /// A store on an open connection.
    pub fn new(connection: ConnectionManager) -> Self {
        Self {
            connection,
            count_attempt: Script::new(COUNT_ATTEMPT),
        }
    }
}

fn unavailable(error: redis::RedisError) -> MfaStoreError {
    MfaStoreError(error.to_string())
}

/// Redis refuses a zero expiry; a millisecond is as good as gone.
fn millis(ttl: Duration) -> u64 {
    u64::try_from(ttl.as_millis()).unwrap_or(u64::MAX).max(1)
}

impl MfaStore for RedisMfaStore {
    fn first_use<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, bool> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            let options = SetOptions::default()
                .conditional_set(redis::ExistenceCheck::NX)
                .with_expiration(SetExpiry::PX(millis(ttl)));
            // `SET … NX` answers OK when it set the key, nil when it existed.
            let set: Option<String> = redis::cmd("SET")
                .arg(format!("{PREFIX}{key}"))
                .arg(1)
                .arg(options)
                .query_async(&mut connection)
                .await
                .map_err(unavailable)?;
            Ok(set.is_some())
        })
    }

    fn count_attempt<'a>(&'a self, key: &'a str, ttl: Duration) -> StoreFuture<'a, u64> {
        Box::pin(async move {
            let mut connection = self.connection.clone();
            self.count_attempt
                .key(format!("{PREFIX}{key}"))
                .arg(millis(ttl))
                .invoke_async(&mut connection)
                .await
                .map_err(unavailable)
        })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn expiries_are_whole_positive_milliseconds() {
        assert_eq!(millis(Duration::ZERO), 1);
        assert_eq!(millis(Duration::from_secs(90)), 90_000);
        assert_eq!(millis(Duration::MAX), u64::MAX);
    }
}
