//! A bounded cache of tokens that passed the full check, so a client that
//! sends the same token on every request pays for the signature and claim
//! checks once (issue #16).
//!
//! Safety argument: an entry is keyed by the exact token bytes and lives in
//! the [`Verifier`](super::Verifier)'s current rules, so a hit means these
//! very bytes passed every check against these very keys and rules. The only
//! checks whose answer can change afterwards are re-made on every hit: time
//! (`exp` and `nbf` against the clock, with the same leeway) and revocation
//! (the verifier's hook, consulted after the lookup). Replacing the keys
//! (reload) replaces the rules and with them the cache. Only accepted tokens
//! are cached, so garbage cannot evict real entries for free.

use std::time::Duration;

use quick_cache::Weighter;
use quick_cache::sync::Cache;

use super::Claims;

/// Memory the cache may hold, in bytes of the entries' own data plus
/// `ENTRY_OVERHEAD` each: about 6,500 cached tokens of today's size
/// (a 350-byte token and its claims, about 640 bytes an entry).
pub const CAPACITY_BYTES: u64 = 4 * 1024 * 1024;

/// Bytes an entry costs beyond the token and the claims' strings: the key's
/// and the strings' headers, the claims' fixed fields and the cache's slot,
/// rounded up for the allocator. The claims are held by value: a hit clones
/// them for the handler anyway, and an `Arc`'s count would be written by
/// every core that reads the entry.
const ENTRY_OVERHEAD: u64 = 256;

/// A typical entry, to size the cache's table up front.
const TYPICAL_ENTRY: u64 = 640;

pub(super) struct VerifiedTokens {
    entries: Cache<Box<str>, Claims, EntryWeight>,
    leeway: i64,
}

/// What a lookup found.
#[derive(Debug)]
#[allow(
    clippy::large_enum_variant,
    reason = "returned and matched at once; boxing would allocate on every hit"
)]
pub(super) enum Lookup {
    /// Verified before and still within its validity period.
    Valid(Claims),
    /// Verified before, now expired: the full check would say `Expired`.
    Expired,
    /// Not verified before (or evicted): the full check must run.
    Unknown,
}

#[derive(Clone)]
struct EntryWeight;

impl Weighter<Box<str>, Claims> for EntryWeight {
    fn weight(&self, token: &Box<str>, claims: &Claims) -> u64 {
        entry_bytes(token, claims)
    }
}

fn entry_bytes(token: &str, claims: &Claims) -> u64 {
    let strings = claims.sub.len()
        + claims.jti.len()
        + claims.iss.len()
        + claims.aud.len()
        + claims.sid.as_ref().map_or(0, String::len);
    // Each role and method: its bytes and its `String` header.
    let lists: usize = (claims.roles.iter().chain(&claims.amr))
        .map(|item| item.len() + 24)
        .sum();
    (token.len() + strings + lists) as u64 + ENTRY_OVERHEAD
}

impl VerifiedTokens {
    pub(super) fn new(capacity_bytes: u64, leeway: Duration) -> Self {
        Self {
            entries: Cache::with_weighter(
                (capacity_bytes / TYPICAL_ENTRY).max(1) as usize,
                capacity_bytes,
                EntryWeight,
            ),
            leeway: i64::try_from(leeway.as_secs()).unwrap_or(i64::MAX),
        }
    }

    /// The claims of `token` if it was verified before, judged at `now`
    /// (Unix seconds) exactly as jsonwebtoken judges `exp` and `nbf`.
    pub(super) fn get(&self, token: &str, now: i64) -> Lookup {
        let Some(claims) = self.entries.get(token) else {
            return Lookup::Unknown;
        };
        if claims.exp < now.saturating_sub(self.leeway) {
            self.entries.remove(token);
            return Lookup::Expired;
        }
        // Accepted once, so `nbf` had passed; only a clock stepped back
        // could make it pending again, and then the full check decides.
        if claims.nbf > now.saturating_add(self.leeway) {
            self.entries.remove(token);
            return Lookup::Unknown;
        }
        Lookup::Valid(claims)
    }

    /// Remembers a token the full check accepted.
    pub(super) fn insert(&self, token: &str, claims: Claims) {
        self.entries.insert(token.into(), claims);
    }

    #[cfg(test)]
    pub(super) fn len(&self) -> usize {
        self.entries.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn claims(nbf: i64, exp: i64) -> Claims {
        Claims {
            sub: "alice".into(),
            iat: nbf,
            nbf,
            exp,
            jti: "0123456789abcdef0123456789abcdef".into(),
            iss: "tokengate".into(),
            aud: "tokengate".into(),
            roles: vec!["admins".into()],
            amr: vec!["pwd".into()],
            auth_time: Some(nbf),
            sid: Some("s1".into()),
        }
    }

    #[test]
    fn a_cached_token_expires_with_its_exp_and_is_dropped() {
        let cache = VerifiedTokens::new(CAPACITY_BYTES, Duration::ZERO);
        cache.insert("a.b.c", claims(1_000, 2_000));
        assert!(matches!(cache.get("a.b.c", 1_500), Lookup::Valid(_)));
        assert!(
            matches!(cache.get("a.b.c", 2_000), Lookup::Valid(_)),
            "exp itself is valid"
        );
        assert!(matches!(cache.get("a.b.c", 2_001), Lookup::Expired));
        assert_eq!(cache.len(), 0);
        assert!(matches!(cache.get("a.b.c", 1_500), Lookup::Unknown));
    }

    #[test]
    fn the_leeway_applies_as_in_the_full_check() {
        let cache = VerifiedTokens::new(CAPACITY_BYTES, Duration::from_secs(30));
        cache.insert("a.b.c", claims(1_000, 2_000));
        assert!(matches!(cache.get("a.b.c", 2_030), Lookup::Valid(_)));
        assert!(matches!(cache.get("a.b.c", 2_031), Lookup::Expired));
    }

    #[test]
    fn a_clock_stepped_back_before_nbf_sends_the_token_to_the_full_check() {
        let cache = VerifiedTokens::new(CAPACITY_BYTES, Duration::ZERO);
        cache.insert("a.b.c", claims(1_000, 2_000));
        assert!(matches!(cache.get("a.b.c", 999), Lookup::Unknown));
    }

    #[test]
    fn only_the_exact_token_bytes_hit() {
        let cache = VerifiedTokens::new(CAPACITY_BYTES, Duration::ZERO);
        cache.insert("a.b.c", claims(1_000, 2_000));
        for other in ["a.b.C", "a.b.c ", " a.b.c", "a.b", "a.b.cc", ""] {
            assert!(
                matches!(cache.get(other, 1_500), Lookup::Unknown),
                "{other:?}"
            );
        }
    }

    #[test]
    fn memory_stays_within_the_capacity() {
        let capacity = 64 * 1024;
        let cache = VerifiedTokens::new(capacity, Duration::ZERO);
        let token = |i: usize| format!("{i:0>340}");
        for i in 0..10_000 {
            cache.insert(&token(i), claims(1_000, 2_000));
        }
        let per_entry = entry_bytes(&token(0), &claims(1_000, 2_000));
        let held = cache.len() as u64 * per_entry;
        assert!(held <= capacity, "{} entries, {held} bytes", cache.len());
        assert!(cache.len() > 10, "{} entries", cache.len());
    }
}
