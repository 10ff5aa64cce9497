//! Login limits counted in Redis, so every replica shares one budget: the
//! same three GCRA limits as the in-process [`LoginThrottle`]
//! (crate::throttle::LoginThrottle), checked and updated by one Lua script
//! (no read-modify-write race between replicas), on Redis's clock.

use std::net::IpAddr;
use std::time::Duration;

use redis::Script;
use redis::aio::ConnectionManager;
use sha2::{Digest, Sha256};

use super::redis::PREFIX;
use super::store::StoreError;
use crate::config::LimitsSettings;
use crate::throttle::{Throttled, address_key};

/// All limits or none: a refused attempt consumes nothing. Times in µs.
const GCRA: &str = r"
local t = redis.call('TIME')
local now = tonumber(t[1]) * 1000000 + tonumber(t[2])
local worst = 0
local tats = {}
for i = 1, #KEYS do
  local interval = tonumber(ARGV[2 * i - 1])
  local burst = tonumber(ARGV[2 * i])
  local tat = tonumber(redis.call('GET', KEYS[i]) or '0')
  if tat < now then tat = now end
  local allowed_from = tat + interval - burst * interval
  if allowed_from > now and allowed_from - now > worst then worst = allowed_from - now end
  tats[i] = tat + interval
end
if worst > 0 then return worst end
for i = 1, #KEYS do
  redis.call('SET', KEYS[i], string.format('%.0f', tats[i]), 'PX', math.ceil((tats[i] - now) / 1000) + 1)
end
return 0
";

#[derive(Debug, thiserror::Error)]
pub enum LimitError {
    #[error("throttled")]
    Throttled(Throttled),
    #[error(transparent)]
    Unavailable(#[from] StoreError),
}

struct Limit {
    /// Microseconds between attempts at the steady rate.
    interval_us: u64,
    burst: u32,
}

impl Limit {
    fn new(per_minute: u32, burst: u32) -> Option<Self> {
        (per_minute > 0).then(|| Self {
            interval_us: 60_000_000 / u64::from(per_minute),
            burst: burst.max(1),
        })
    }
}

pub struct SharedLimits {
    connection: ConnectionManager,
    script: Script,
    per_ip: Option<Limit>,
    per_user: Option<Limit>,
    per_user_ceiling: Option<Limit>,
}

impl SharedLimits {
    pub fn new(connection: ConnectionManager, limits: &LimitsSettings) -> Self {
        Self {
            connection,
            script: Script::new(GCRA),
            per_ip: Limit::new(limits.login_per_ip_per_minute, limits.login_per_ip_burst),
            per_user: Limit::new(
                limits.login_per_user_per_minute,
                limits.login_per_user_burst,
            ),
            per_user_ceiling: Limit::new(
                limits.login_per_user_ceiling_per_minute,
                limits.login_per_user_ceiling_burst,
            ),
        }
    }

    /// Counts one login attempt on every replica's shared budget.
    pub async fn check(&self, ip: Option<IpAddr>, username: &str) -> Result<(), LimitError> {
        let address = ip.map(address_key);
        let user = digest(username);
        let mut invocation = self.script.prepare_invoke();
        let mut any = false;
        let mut add = |key: String, limit: &Limit| {
            invocation.key(key).arg(limit.interval_us).arg(limit.burst);
            any = true;
        };
        if let (Some(limit), Some(address)) = (&self.per_ip, address) {
            add(format!("{PREFIX}limit:ip:{address}"), limit);
        }
        if let Some(limit) = &self.per_user {
            let key = digest(&format!("{username}\n{address:?}"));
            add(format!("{PREFIX}limit:user-ip:{key}"), limit);
        }
        if let Some(limit) = &self.per_user_ceiling {
            add(format!("{PREFIX}limit:user:{user}"), limit);
        }
        if !any {
            return Ok(());
        }
        let wait_us: u64 = invocation
            .invoke_async(&mut self.connection.clone())
            .await
            .map_err(|error| StoreError::Unavailable(error.to_string()))?;
        if wait_us == 0 {
            return Ok(());
        }
        let seconds = wait_us.div_ceil(1_000_000).max(1);
        Err(LimitError::Throttled(Throttled {
            retry_after: Duration::from_secs(seconds),
        }))
    }
}

/// Keys carry a digest, never a username.
fn digest(value: &str) -> String {
    Sha256::digest(value.as_bytes())[..16]
        .iter()
        .map(|b| format!("{b:02x}"))
        .collect()
}
