//! The Redis store (`sessions.store = "redis://…"`), shared by every replica.
//!
//! Client: the `redis` crate (redis-rs, the maintained Rust client) with its
//! tokio `ConnectionManager`, which multiplexes one connection for all
//! workers and reconnects on its own. Every change that must be atomic is one
//! Lua script. Revocations are also published on one channel; each replica's
//! [feed](run_feed) applies them to its in-memory [`Revocations`] and reads
//! the whole revocation state again on every (re)connect.
//!
//! Keys (each with an expiry, so nothing outlives the tokens it concerns):
//! - `tokengate:session:{sid}` hash: user, max_exp, exp, cur, prev, rotated_ms, key, amr;
//!   expires with the current refresh token.
//! - `tokengate:refresh:{sha256}` → sid: a refresh token, current or spent;
//!   expires with that token.
//! - `tokengate:revoked:{sid}`: until the session's last access token expires.
//! - `tokengate:epoch:{user}` → unix ms: until every session started before it is over.
//! - `tokengate:password:{user}` → fingerprint of the password hash that set the epoch.

use std::sync::Arc;
use std::time::Duration;

use futures_util::StreamExt as _;
use redis::aio::{ConnectionManager, ConnectionManagerConfig};
use redis::{Client, Script};

use super::revocations::{Revocations, now_seconds};
use super::store::{Found, Rotation, SessionRecord, StoreError, UserEnding};

pub const PREFIX: &str = "tokengate:";
pub const CHANNEL: &str = "tokengate:revocations";

/// How long one command may take before the request answers 503.
const RESPONSE_TIMEOUT: Duration = Duration::from_millis(500);
/// How often the feed checks that Redis still answers.
const FEED_PING_INTERVAL: Duration = Duration::from_secs(1);
/// Wait between reconnection attempts of the feed.
const FEED_RETRY: Duration = Duration::from_millis(250);

const LOOKUP: &str = r"
local sid = redis.call('GET', KEYS[1])
if not sid then return false end
local f = redis.call('HMGET', ARGV[1] .. 'session:' .. sid,
  'user', 'max_exp', 'exp', 'cur', 'prev', 'rotated_ms', 'key', 'amr')
if not f[1] then return false end
local epoch = redis.call('GET', ARGV[1] .. 'epoch:' .. f[1]) or ''
return {sid, epoch, f[1], f[2], f[3], f[4] or '', f[5] or '', f[6] or '0', f[7] or '', f[8] or ''}
";

const ROTATE: &str = r"
if redis.call('HGET', KEYS[1], 'cur') ~= ARGV[1] then return 0 end
redis.call('HSET', KEYS[1], 'cur', ARGV[2], 'prev', ARGV[1], 'rotated_ms', ARGV[3], 'exp', ARGV[4])
redis.call('EXPIREAT', KEYS[1], ARGV[4])
redis.call('SET', KEYS[2], ARGV[5], 'EXAT', ARGV[4])
return 1
";

const END_SESSION: &str = r"
redis.call('DEL', KEYS[1])
local till = tonumber(ARGV[1])
local held = redis.call('EXPIRETIME', KEYS[2])
if held > till then till = held end
redis.call('SET', KEYS[2], '1', 'EXAT', till)
redis.call('PUBLISH', ARGV[2], 's ' .. string.format('%d', till) .. ' ' .. ARGV[3])
return 1
";

const END_USER: &str = r"
if ARGV[5] ~= '' then
  if redis.call('GET', KEYS[2]) == ARGV[5] then return 0 end
  redis.call('SET', KEYS[2], ARGV[5], 'EXAT', ARGV[2])
end
local epoch = tonumber(ARGV[1])
local held = tonumber(redis.call('GET', KEYS[1]) or '0')
if held > epoch then epoch = held end
local till = tonumber(ARGV[2])
local held_until = redis.call('EXPIRETIME', KEYS[1])
if held_until > till then till = held_until end
local e = string.format('%.0f', epoch)
redis.call('SET', KEYS[1], e, 'EXAT', till)
redis.call('PUBLISH', ARGV[3], 'u ' .. string.format('%d', till) .. ' ' .. e .. ' ' .. ARGV[4])
return 1
";

pub struct RedisStore {
    client: Client,
    connection: ConnectionManager,
    lookup: Script,
    rotate: Script,
    end_session: Script,
    end_user: Script,
}

fn unavailable(error: redis::RedisError) -> StoreError {
    StoreError::Unavailable(error.to_string())
}

fn key(kind: &str, id: &str) -> String {
    format!("{PREFIX}{kind}:{id}")
}

impl RedisStore {
    /// Connects lazily: the service starts while Redis is down (token checks
    /// work, store operations answer 503) and the feed keeps trying. Spawns
    /// the feed when `revocations` is given (the CLI needs none).
    pub fn open(address: &str, revocations: Arc<Revocations>) -> Result<Self, StoreError> {
        let store = Self::connect(address)?;
        tokio::spawn(run_feed(
            store.client.clone(),
            store.connection.clone(),
            revocations,
        ));
        Ok(store)
    }

    /// A store without the feed (the CLI).
    pub fn connect(address: &str) -> Result<Self, StoreError> {
        let client = Client::open(address).map_err(unavailable)?;
        let config = ConnectionManagerConfig::new()
            .set_connection_timeout(Some(RESPONSE_TIMEOUT))
            .set_response_timeout(Some(RESPONSE_TIMEOUT))
            .set_number_of_retries(1)
            .set_max_delay(Duration::from_millis(500));
        let connection =
            ConnectionManager::new_lazy_with_config(client.clone(), config).map_err(unavailable)?;
        Ok(Self {
            client,
            connection,
            lookup: Script::new(LOOKUP),
            rotate: Script::new(ROTATE),
            end_session: Script::new(END_SESSION),
            end_user: Script::new(END_USER),
        })
    }

    pub fn connection(&self) -> ConnectionManager {
        self.connection.clone()
    }

    pub async fn create(&self, sid: &str, record: &SessionRecord) -> Result<(), StoreError> {
        let session = key("session", sid);
        let mut pipe = redis::pipe();
        pipe.atomic()
            .hset_multiple(
                &session,
                &[
                    ("user", record.user.as_str()),
                    ("max_exp", &record.max_exp.to_string()),
                    ("exp", &record.exp.to_string()),
                    ("cur", &record.current),
                    ("prev", ""),
                    ("rotated_ms", "0"),
                    ("key", &record.key),
                    ("amr", &record.amr),
                ],
            )
            .ignore()
            .expire_at(&session, record.exp)
            .ignore();
        if !record.current.is_empty() {
            pipe.cmd("SET")
                .arg(key("refresh", &record.current))
                .arg(sid)
                .arg("EXAT")
                .arg(record.exp)
                .ignore();
        }
        pipe.query_async::<()>(&mut self.connection.clone())
            .await
            .map_err(unavailable)
    }

    pub async fn lookup(&self, refresh_hash: &str) -> Result<Option<Found>, StoreError> {
        let found: Option<Vec<String>> = self
            .lookup
            .key(key("refresh", refresh_hash))
            .arg(PREFIX)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        let Some(fields) = found else {
            return Ok(None);
        };
        let [
            sid,
            epoch,
            user,
            max_exp,
            exp,
            current,
            previous,
            rotated_ms,
            key,
            amr,
        ] = <[String; 10]>::try_from(fields)
            .map_err(|_| StoreError::Unavailable("malformed session record".into()))?;
        let number = |value: &str| value.parse::<i64>().unwrap_or(0);
        Ok(Some(Found {
            record: SessionRecord {
                user,
                max_exp: number(&max_exp),
                exp: number(&exp),
                current,
                previous,
                rotated_ms: number(&rotated_ms),
                key,
                amr,
            },
            sid,
            epoch_ms: epoch.parse().ok(),
        }))
    }

    pub async fn rotate(&self, rotation: &Rotation<'_>) -> Result<bool, StoreError> {
        let rotated: i64 = self
            .rotate
            .key(key("session", rotation.sid))
            .key(key("refresh", rotation.new_hash))
            .arg(rotation.expected)
            .arg(rotation.new_hash)
            .arg(rotation.now_ms)
            .arg(rotation.new_exp)
            .arg(rotation.sid)
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(rotated == 1)
    }

    pub async fn end_session(&self, sid: &str, until: i64) -> Result<(), StoreError> {
        self.end_session
            .key(key("session", sid))
            .key(key("revoked", sid))
            .arg(until)
            .arg(CHANNEL)
            .arg(sid)
            .invoke_async::<i64>(&mut self.connection.clone())
            .await
            .map(drop)
            .map_err(unavailable)
    }

    pub async fn end_user(&self, ending: &UserEnding<'_>) -> Result<bool, StoreError> {
        let moved: i64 = self
            .end_user
            .key(key("epoch", ending.user))
            .key(key("password", ending.user))
            .arg(ending.epoch_ms)
            .arg(ending.until)
            .arg(CHANNEL)
            .arg(ending.user)
            .arg(ending.fingerprint.unwrap_or(""))
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(unavailable)?;
        Ok(moved == 1)
    }
}

async fn scan(
    connection: &mut ConnectionManager,
    pattern: &str,
) -> Result<Vec<String>, StoreError> {
    let mut cursor: u64 = 0;
    let mut keys = Vec::new();
    loop {
        let (next, batch): (u64, Vec<String>) = redis::cmd("SCAN")
            .arg(cursor)
            .arg("MATCH")
            .arg(pattern)
            .arg("COUNT")
            .arg(1000)
            .query_async(connection)
            .await
            .map_err(unavailable)?;
        keys.extend(batch);
        if next == 0 {
            return Ok(keys);
        }
        cursor = next;
    }
}

/// Applies one published revocation: `s UNTIL SID` or `u UNTIL EPOCH_MS USER`.
fn apply(revocations: &Revocations, message: &str) {
    let mut parts = message.splitn(4, ' ');
    match (parts.next(), parts.next().and_then(|u| u.parse().ok())) {
        (Some("s"), Some(until)) => {
            if let Some(sid) = parts.next() {
                revocations.end_session(sid, until);
            }
        }
        (Some("u"), Some(until)) => {
            let epoch = parts.next().and_then(|e| e.parse().ok());
            if let (Some(epoch), Some(user)) = (epoch, parts.next()) {
                revocations.end_user(user, epoch, until);
            }
        }
        _ => log::warn!("ignored a malformed revocation message"),
    }
}

/// Records read per round trip at resync: one round trip per record took a
/// replica 100 s to resync a million ended sessions (BENCHMARKS.md, Scaling).
const RESYNC_BATCH: usize = 1000;

/// Reads every revocation and epoch in the store into `revocations`.
pub async fn resync(
    connection: &mut ConnectionManager,
    revocations: &Revocations,
) -> Result<(usize, usize), StoreError> {
    // -1 (no expiry) never happens for our keys; keep such an entry a day.
    let or_a_day = |until: i64| {
        if until > 0 {
            until
        } else {
            now_seconds() + 86_400
        }
    };
    let revoked = scan(connection, &key("revoked", "*")).await?;
    for names in revoked.chunks(RESYNC_BATCH) {
        let mut pipe = redis::pipe();
        for name in names {
            pipe.cmd("EXPIRETIME").arg(name);
        }
        let untils: Vec<i64> = pipe.query_async(connection).await.map_err(unavailable)?;
        for (name, until) in names.iter().zip(untils) {
            if let Some(sid) = name.strip_prefix(&key("revoked", "")) {
                revocations.end_session(sid, or_a_day(until));
            }
        }
    }
    let epochs = scan(connection, &key("epoch", "*")).await?;
    for names in epochs.chunks(RESYNC_BATCH) {
        let (mut values, mut expiries) = (redis::pipe(), redis::pipe());
        for name in names {
            values.get(name);
            expiries.cmd("EXPIRETIME").arg(name);
        }
        let found: Vec<Option<i64>> = values.query_async(connection).await.map_err(unavailable)?;
        let untils: Vec<i64> = expiries
            .query_async(connection)
            .await
            .map_err(unavailable)?;
        for ((name, epoch), until) in names.iter().zip(found).zip(untils) {
            if let (Some(epoch), Some(user)) = (epoch, name.strip_prefix(&key("epoch", ""))) {
                revocations.end_user(user, epoch, or_a_day(until));
            }
        }
    }
    Ok((revoked.len(), epochs.len()))
}

/// The replica's feed: subscribe, then resync (so nothing published in
/// between is missed), then apply messages until the connection drops or
/// Redis stops answering; mark the state unsynced and start over.
async fn run_feed(
    client: Client,
    mut connection: ConnectionManager,
    revocations: Arc<Revocations>,
) {
    let mut warned = false;
    loop {
        let outcome = follow(&client, &mut connection, &revocations).await;
        if revocations.is_synced() {
            warned = false;
        }
        revocations.set_synced(false);
        if !warned {
            let cause = match outcome {
                Ok(()) => "the connection closed".to_owned(),
                Err(error) => error.to_string(),
            };
            log::warn!(
                "session store feed lost ({cause}); token checks go on with the revocations \
                 known so far, and store operations answer 503 until it is back"
            );
            warned = true;
        }
        tokio::time::sleep(FEED_RETRY).await;
    }
}

async fn follow(
    client: &Client,
    connection: &mut ConnectionManager,
    revocations: &Revocations,
) -> Result<(), StoreError> {
    let mut pubsub = tokio::time::timeout(RESPONSE_TIMEOUT, client.get_async_pubsub())
        .await
        .map_err(|_| StoreError::Unavailable("connection timed out".into()))?
        .map_err(unavailable)?;
    pubsub.subscribe(CHANNEL).await.map_err(unavailable)?;
    let (revoked, epochs) = resync(connection, revocations).await?;
    revocations.set_synced(true);
    log::info!(
        "session store connected; resynced {revoked} ended session(s) and {epochs} user epoch(s)"
    );
    let mut messages = pubsub.into_on_message();
    let mut ping = tokio::time::interval(FEED_PING_INTERVAL);
    loop {
        tokio::select! {
            message = messages.next() => {
                let Some(message) = message else { return Ok(()) };
                match message.get_payload::<String>() {
                    Ok(payload) => apply(revocations, &payload),
                    Err(error) => log::warn!("unreadable revocation message: {error}"),
                }
            }
            _ = ping.tick() => {
                redis::cmd("PING")
                    .query_async::<()>(connection)
                    .await
                    .map_err(unavailable)?;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn published_messages_update_the_state() {
        let revocations = Revocations::new(true);
        let sid = uuid::Uuid::now_v7().to_string();
        apply(&revocations, &format!("s {} {sid}", now_seconds() + 60));
        assert!(!revocations.is_live(&sid, "alice"));
        apply(
            &revocations,
            &format!("u {} 99999999999999 alice smith", now_seconds() + 60),
        );
        assert_eq!(revocations.epoch_ms("alice smith"), Some(99999999999999));
        apply(&revocations, "garbage");
    }
}
