//! The cache of verified tokens never accepts what the full check refuses:
//! a cached token still expires, a key rotation (reload) forgets it, the
//! revocation hook is asked on every hit, and over generated tokens the
//! cached answer equals the full check's.

use std::collections::HashSet;
use std::sync::{Arc, LazyLock, Mutex};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use proptest::prelude::*;
use secrecy::SecretString;
use tokengate::auth::TokenSource;
use tokengate::auth::{Claims, Issuer, SessionCheck, TokenError, TokenSources, Verifier};

const SECRET: &str = "cache-test-secret-0123456789abcdef0123";
const OTHER_SECRET: &str = "another-secret-0123456789abcdef012345";

fn verifier(secret: &str) -> Verifier {
    Verifier::new(
        Algorithm::HS256,
        &SecretString::from(secret),
        "tokengate",
        "tokengate",
        Duration::ZERO,
        TokenSources::new(vec![TokenSource::Bearer], "tokengate_token"),
    )
}

fn mint(ttl: Duration) -> String {
    Issuer::new(
        Algorithm::HS256,
        &SecretString::from(SECRET),
        "tokengate",
        "tokengate",
        ttl,
    )
    .mint("alice")
    .unwrap()
    .token
}

fn now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs() as i64
}

#[test]
fn a_cached_token_is_refused_once_it_expires() {
    let verifier = verifier(SECRET);
    let token = mint(Duration::from_secs(1));
    let claims = verifier.verify_claims(&token).expect("fresh token");
    assert!(verifier.verify_claims(&token).is_ok(), "cached hit");
    // Past exp (whole seconds, zero leeway): the hit must say what the
    // full check says.
    while now() <= claims.exp {
        std::thread::sleep(Duration::from_millis(100));
    }
    assert_eq!(verifier.verify_claims(&token), Err(TokenError::Expired));
    assert_eq!(verifier.verify::<Claims>(&token), Err(TokenError::Expired));
    assert_eq!(verifier.verify_claims(&token), Err(TokenError::Expired));
}

#[test]
fn a_key_rotation_forgets_tokens_of_the_old_key() {
    let verifier = verifier(SECRET);
    let token = mint(Duration::from_secs(600));
    assert!(verifier.verify_claims(&token).is_ok());
    assert!(verifier.verify_claims(&token).is_ok(), "cached hit");
    verifier.replace(self::verifier(OTHER_SECRET));
    assert_eq!(verifier.verify_claims(&token), Err(TokenError::Invalid));
    // And back: the token verifies in full again, not from a stale entry.
    verifier.replace(self::verifier(SECRET));
    assert!(verifier.verify_claims(&token).is_ok());
}

/// Users whose sessions ended, as the session service keeps them in memory.
#[derive(Default)]
struct EndedUsers(Mutex<HashSet<String>>);

impl SessionCheck for EndedUsers {
    fn check(&self, _sid: Option<&str>, user: &str) -> Result<(), TokenError> {
        match self.0.lock().unwrap().contains(user) {
            true => Err(TokenError::Revoked),
            false => Ok(()),
        }
    }
}

#[test]
fn the_session_check_is_asked_on_every_cached_hit() {
    let verifier = verifier(SECRET);
    let revoked = Arc::new(EndedUsers::default());
    verifier.require_live_sessions(revoked.clone());
    let token = mint(Duration::from_secs(600));
    let claims = verifier.verify_claims(&token).expect("fresh token");
    assert!(verifier.verify_claims(&token).is_ok(), "cached hit");

    revoked.0.lock().unwrap().insert(claims.sub.clone());
    assert_eq!(verifier.verify_claims(&token), Err(TokenError::Revoked));
    assert_eq!(verifier.verify_claims(&token), Err(TokenError::Revoked));
    // The check survives a reload of the keys.
    verifier.replace(self::verifier(SECRET));
    assert_eq!(verifier.verify_claims(&token), Err(TokenError::Revoked));

    revoked.0.lock().unwrap().clear();
    assert!(verifier.verify_claims(&token).is_ok());
}

/// One verifier for every case, so entries from earlier cases are in its
/// cache when later cases look (as in a long-running service).
static CACHED: LazyLock<Verifier> = LazyLock::new(|| verifier(SECRET));
static FULL: LazyLock<Verifier> = LazyLock::new(|| verifier(SECRET));

#[derive(Debug, Clone)]
enum Change {
    None,
    /// Replace the byte at this position (modulo the length) with this one.
    Byte(usize, u8),
    Truncate(usize),
    Append(u8),
}

fn any_change() -> impl Strategy<Value = Change> {
    prop_oneof![
        2 => Just(Change::None),
        3 => (any::<usize>(), any::<u8>()).prop_map(|(at, byte)| Change::Byte(at, byte)),
        1 => any::<usize>().prop_map(Change::Truncate),
        1 => any::<u8>().prop_map(Change::Append),
    ]
}

/// Tokens near and far from acceptance: our secret or another, the right
/// audience or not, valid for long or expired long ago (never within
/// seconds of the boundary, so the two checks cannot straddle it).
fn any_token() -> impl Strategy<Value = String> {
    (
        prop::bool::weighted(0.8),
        prop::bool::weighted(0.9),
        prop_oneof![3 => 60i64..86_400, 1 => -86_400i64..-60],
        prop_oneof![5 => Just(0i64), 1 => 60i64..3600],
        "[a-z]{1,12}",
        prop_oneof![4 => Just("at+jwt"), 1 => Just("JWT"), 1 => Just("application/at+jwt")],
        any_change(),
    )
        .prop_map(|(our_key, our_aud, ttl, nbf_ahead, sub, typ, change)| {
            let now = now();
            let claims = serde_json::json!({
                "sub": sub, "iat": now, "nbf": now + nbf_ahead, "exp": now + ttl,
                "jti": format!("{sub}-{ttl}"), "iss": "tokengate",
                "aud": if our_aud { "tokengate" } else { "elsewhere" },
            });
            let mut header = Header::new(Algorithm::HS256);
            header.typ = Some(typ.to_owned());
            let secret = if our_key { SECRET } else { OTHER_SECRET };
            let key = EncodingKey::from_secret(secret.as_bytes());
            let mut token = jsonwebtoken::encode(&header, &claims, &key)
                .unwrap()
                .into_bytes();
            match change {
                Change::None => {}
                Change::Byte(at, byte) => {
                    let at = at % token.len();
                    token[at] = byte;
                }
                Change::Truncate(at) => token.truncate(at % token.len()),
                Change::Append(byte) => token.push(byte),
            }
            String::from_utf8_lossy(&token).into_owned()
        })
}

proptest! {
    #[test]
    fn cached_answers_equal_the_full_check(tokens in prop::collection::vec(any_token(), 1..8)) {
        // Each token twice, interleaved with the others: the second look
        // is a cache hit wherever the first was accepted.
        for token in tokens.iter().chain(&tokens) {
            let full = FULL.verify::<Claims>(token);
            let cached = CACHED.verify_claims(token);
            prop_assert_eq!(&cached, &full, "token {:?}", token);
        }
    }
}
