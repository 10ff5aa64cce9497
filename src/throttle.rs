//! Login throttling: keyed GCRA limiters (governor) per client address, per
//! username *and* address (the strict one), and per username from every
//! address (a looser ceiling), consulted before any password hash runs, so a
//! throttled guess costs the server no hashing work. Keying the strict limit
//! on the address too means guesses at `alice` from elsewhere do not lock
//! alice out from hers (SECURITY.md).
//!
//! This is the in-process throttle of the memory store; with a Redis store
//! the same limits are counted in Redis, across replicas
//! ([`crate::sessions::SharedLimits`]).

use std::hash::BuildHasher;
use std::net::{IpAddr, Ipv6Addr};
use std::num::NonZeroU32;
use std::sync::Mutex;
use std::time::Duration;

use governor::clock::{Clock, DefaultClock, Reference};
use governor::middleware::NoOpMiddleware;
use governor::state::keyed::DashMapStateStore;
use governor::{Quota, RateLimiter};

use crate::config::LimitsSettings;

/// How often idle keys are dropped, bounding memory under random usernames
/// or addresses: a key lives at most this long past its refill time.
pub const CLEANUP_INTERVAL: Duration = Duration::from_secs(10);

type KeyedLimiter<K, C> =
    RateLimiter<K, DashMapStateStore<K>, C, NoOpMiddleware<<C as Clock>::Instant>>;

/// A login attempt refused before its password was checked.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Throttled {
    /// When the next attempt may succeed, rounded up to whole seconds (≥ 1).
    pub retry_after: Duration,
}

/// Login attempt limits per client address and per username (GCRA, governor).
pub struct LoginThrottle<C: Clock = DefaultClock> {
    per_ip: Option<KeyedLimiter<IpAddr, C>>,
    /// Keyed by a keyed hash of the name and address: fixed-size keys
    /// whatever an attacker sends, and no usernames kept in memory.
    per_user: Option<KeyedLimiter<u64, C>>,
    /// Keyed by a keyed hash of the name alone.
    per_user_ceiling: Option<KeyedLimiter<u64, C>>,
    user_hasher: std::hash::RandomState,
    clock: C,
    last_cleanup: Mutex<C::Instant>,
}

impl LoginThrottle<DefaultClock> {
    /// Limits from `[limits]`, on the real clock.
    pub fn new(limits: &LimitsSettings) -> Self {
        Self::with_clock(limits, DefaultClock::default())
    }
}

impl<C: Clock + Clone> LoginThrottle<C> {
    /// Limits on `clock`, for tests.
    pub fn with_clock(limits: &LimitsSettings, clock: C) -> Self {
        Self {
            per_ip: limiter(
                limits.login_per_ip_per_minute,
                limits.login_per_ip_burst,
                &clock,
            ),
            per_user: limiter(
                limits.login_per_user_per_minute,
                limits.login_per_user_burst,
                &clock,
            ),
            per_user_ceiling: limiter(
                limits.login_per_user_ceiling_per_minute,
                limits.login_per_user_ceiling_burst,
                &clock,
            ),
            user_hasher: std::hash::RandomState::new(),
            last_cleanup: Mutex::new(clock.now()),
            clock,
        }
    }

    /// Counts one login attempt. The address is checked first, so a flood
    /// from one client adds no username keys once it is throttled.
    pub fn check(&self, ip: Option<IpAddr>, username: &str) -> Result<(), Throttled> {
        self.clean_up_if_due();
        if let (Some(limiter), Some(ip)) = (&self.per_ip, ip) {
            limiter
                .check_key(&address_key(ip))
                .map_err(|not_until| self.throttled(not_until.wait_time_from(self.clock.now())))?;
        }
        if let Some(limiter) = &self.per_user {
            let key = self.user_hasher.hash_one((username, ip.map(address_key)));
            limiter
                .check_key(&key)
                .map_err(|not_until| self.throttled(not_until.wait_time_from(self.clock.now())))?;
        }
        if let Some(limiter) = &self.per_user_ceiling {
            limiter
                .check_key(&self.user_hasher.hash_one(username))
                .map_err(|not_until| self.throttled(not_until.wait_time_from(self.clock.now())))?;
        }
        Ok(())
    }

    /// Addresses and usernames currently tracked.
    pub fn tracked_keys(&self) -> (usize, usize) {
        (
            self.per_ip.as_ref().map_or(0, |l| l.len()),
            self.per_user.as_ref().map_or(0, |l| l.len()),
        )
    }

    fn throttled(&self, wait: Duration) -> Throttled {
        let seconds = wait.as_secs() + u64::from(wait.subsec_nanos() > 0);
        Throttled {
            retry_after: Duration::from_secs(seconds.max(1)),
        }
    }

    /// Drops keys whose state equals a fresh one. Amortised over requests:
    /// keys are only added by requests, so no timer task is needed.
    fn clean_up_if_due(&self) {
        let now = self.clock.now();
        let Ok(mut last) = self.last_cleanup.try_lock() else {
            return; // another worker is cleaning up
        };
        if Duration::from(now.duration_since(*last)) < CLEANUP_INTERVAL {
            return;
        }
        *last = now;
        drop(last);
        if let Some(limiter) = &self.per_ip {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        for limiter in [&self.per_user, &self.per_user_ceiling]
            .into_iter()
            .flatten()
        {
            limiter.retain_recent();
            limiter.shrink_to_fit();
        }
        let (addresses, users) = self.tracked_keys();
        log::debug!("login throttle tracks {addresses} address(es) and {users} username(s)");
    }
}

/// `per_minute` = 0 disables the limiter.
fn limiter<K, C>(per_minute: u32, burst: u32, clock: &C) -> Option<KeyedLimiter<K, C>>
where
    K: std::hash::Hash + Eq + Clone,
    C: Clock + Clone,
{
    let per_minute = NonZeroU32::new(per_minute)?;
    let burst = NonZeroU32::new(burst).unwrap_or(NonZeroU32::MIN);
    let quota = Quota::per_minute(per_minute).allow_burst(burst);
    Some(RateLimiter::dashmap_with_clock(quota, clock.clone()))
}

/// One IPv6 host usually owns a whole /64, so that is what one client is.
pub fn address_key(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V4(_) => ip,
        IpAddr::V6(v6) => match v6.to_ipv4_mapped() {
            Some(v4) => IpAddr::V4(v4),
            None => {
                let prefix = u128::from(v6) & !((1u128 << 64) - 1);
                IpAddr::V6(Ipv6Addr::from(prefix))
            }
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use governor::clock::FakeRelativeClock;

    fn limits(ip: (u32, u32), user: (u32, u32)) -> LimitsSettings {
        LimitsSettings {
            login_per_ip_per_minute: ip.0,
            login_per_ip_burst: ip.1,
            login_per_user_per_minute: user.0,
            login_per_user_burst: user.1,
            login_per_user_ceiling_per_minute: 0,
            login_per_user_ceiling_burst: 0,
        }
    }

    const CLIENT: Option<IpAddr> = Some(IpAddr::V4(std::net::Ipv4Addr::LOCALHOST));

    #[test]
    fn a_user_is_throttled_after_the_burst_and_told_when_to_retry() {
        let clock = FakeRelativeClock::default();
        let throttle = LoginThrottle::with_clock(&limits((0, 0), (6, 3)), clock.clone());
        for _ in 0..3 {
            assert!(throttle.check(CLIENT, "alice").is_ok());
        }
        let refused = throttle.check(CLIENT, "alice").unwrap_err();
        // 6 a minute: one attempt every 10 s.
        assert_eq!(refused.retry_after, Duration::from_secs(10));
        assert!(
            throttle.check(CLIENT, "bob").is_ok(),
            "other users unaffected"
        );
        clock.advance(Duration::from_secs(10));
        assert!(throttle.check(CLIENT, "alice").is_ok());
    }

    #[test]
    fn an_address_is_throttled_whatever_names_it_tries() {
        let throttle =
            LoginThrottle::with_clock(&limits((60, 2), (0, 0)), FakeRelativeClock::default());
        assert!(throttle.check(CLIENT, "a").is_ok());
        assert!(throttle.check(CLIENT, "b").is_ok());
        assert_eq!(
            throttle.check(CLIENT, "c"),
            Err(Throttled {
                retry_after: Duration::from_secs(1)
            })
        );
        let other = Some("192.0.2.7".parse().unwrap());
        assert!(throttle.check(other, "c").is_ok());
    }

    #[test]
    fn a_throttled_address_adds_no_username_keys() {
        let throttle =
            LoginThrottle::with_clock(&limits((60, 5), (6, 5)), FakeRelativeClock::default());
        for n in 0..1000 {
            let _ = throttle.check(CLIENT, &format!("user{n}"));
        }
        assert_eq!(throttle.tracked_keys(), (1, 5));
    }

    #[test]
    fn idle_keys_are_dropped_so_random_usernames_cannot_grow_memory() {
        let clock = FakeRelativeClock::default();
        let throttle = LoginThrottle::with_clock(&limits((0, 0), (6, 5)), clock.clone());
        for n in 0..10_000 {
            throttle.check(CLIENT, &format!("random-{n}")).unwrap();
        }
        assert_eq!(throttle.tracked_keys().1, 10_000);
        // Past the refill time and the clean-up interval, the next check cleans up.
        clock.advance(Duration::from_secs(60) + CLEANUP_INTERVAL);
        throttle.check(CLIENT, "one-more").unwrap();
        assert_eq!(throttle.tracked_keys().1, 1);
    }

    #[test]
    fn ipv6_clients_are_counted_per_64_prefix() {
        let a: IpAddr = "2001:db8:1:2:aaaa::1".parse().unwrap();
        let b: IpAddr = "2001:db8:1:2:bbbb::2".parse().unwrap();
        let c: IpAddr = "2001:db8:1:3::1".parse().unwrap();
        assert_eq!(address_key(a), address_key(b));
        assert_ne!(address_key(a), address_key(c));
        let mapped: IpAddr = "::ffff:192.0.2.1".parse().unwrap();
        assert_eq!(address_key(mapped), "192.0.2.1".parse::<IpAddr>().unwrap());
    }

    #[test]
    fn guesses_from_elsewhere_do_not_lock_a_user_out_of_her_address() {
        let mut settings = limits((0, 0), (6, 3));
        settings.login_per_user_ceiling_per_minute = 60;
        settings.login_per_user_ceiling_burst = 20;
        let throttle = LoginThrottle::with_clock(&settings, FakeRelativeClock::default());
        let attacker = Some("198.51.100.9".parse().unwrap());
        for _ in 0..3 {
            assert!(throttle.check(attacker, "alice").is_ok());
        }
        assert!(throttle.check(attacker, "alice").is_err());
        assert!(
            throttle.check(CLIENT, "alice").is_ok(),
            "alice still logs in"
        );
        // Spread over many addresses, the per-user ceiling still holds.
        let mut admitted = 0;
        for n in 0..100u8 {
            let address = Some(IpAddr::V4(std::net::Ipv4Addr::new(203, 0, 113, n)));
            admitted += usize::from(throttle.check(address, "bob").is_ok());
        }
        assert_eq!(admitted, 20);
    }

    #[test]
    fn zero_rate_disables_a_limiter() {
        let throttle =
            LoginThrottle::with_clock(&limits((0, 0), (0, 0)), FakeRelativeClock::default());
        for _ in 0..1000 {
            assert!(throttle.check(CLIENT, "alice").is_ok());
        }
        assert_eq!(throttle.tracked_keys(), (0, 0));
    }
}
