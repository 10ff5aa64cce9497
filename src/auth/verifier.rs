use std::any::{Any, TypeId};
use std::ops::Deref;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::HttpRequest;
use arc_swap::{ArcSwap, Guard};
use base64::Engine as _;
use jsonwebtoken::jwk::JwkSet;
use jsonwebtoken::{Algorithm, Validation};
use secrecy::SecretString;
use serde::de::DeserializeOwned;

use super::cache::{self, Lookup, VerifiedTokens};
use super::session_check::check_token;
use super::{
    Claims, Key, KeySet, MAX_MFA_TOKEN_LIFETIME, MFA_TOKEN_TYPE, Refusal, SessionCheck, TOKEN_TYPE,
    TokenError, TokenSources, check_username, mfa_audience,
};

/// Longest token accepted for decoding; anything larger is refused unread.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// The longest lifetime a token may have left unless the app sets its own
/// ([`Verifier::with_max_lifetime`]): the longest `jwt.ttl` allowed.
pub const DEFAULT_MAX_LIFETIME: Duration = Duration::from_secs(24 * 60 * 60);

/// Checks tokens: the key chosen by `kid`, only that key's algorithm, explicit
/// claim rules. Register it as `web::Data<Verifier>` and the
/// [`Authenticated`](super::Authenticated) extractor uses it.
///
/// Keys and rules can be replaced while serving ([`Verifier::replace`]); each
/// request is checked entirely against one set.
///
/// Tokens checked as [`Claims`] (the extractor's default) are remembered in
/// a bounded cache of verified tokens (`auth::cache`), so a repeated
/// token costs a lookup instead of a signature check; the live-session check
/// ([`Verifier::require_live_sessions`]) runs on every request all the same.
pub struct Verifier {
    current: ArcSwap<Rules>,
    /// Seconds; beside the rules since it only shapes the JWK Set's answer.
    jwks_max_age: AtomicU64,
    /// Seconds a token's `exp` may lie beyond now (plus leeway).
    max_lifetime: AtomicU64,
    /// Refuses tokens of ended sessions; installed once by the session service.
    sessions: OnceLock<Arc<dyn SessionCheck>>,
}

struct Rules {
    keys: KeySet,
    /// One per key, in the same order: each pins its key's algorithm.
    validations: Vec<Validation>,
    /// The same, for `mfa_token`s: their own audience.
    mfa_validations: Vec<Validation>,
    sources: TokenSources,
    leeway: Duration,
    /// Built once: the public keys never change without a new `Rules`.
    jwks: JwkSet,
    /// Tokens these very keys and rules accepted; replaced with them.
    verified: VerifiedTokens,
}

/// The token sources in force, held for as long as this guard lives.
pub struct Sources(Guard<Arc<Rules>>);

impl Deref for Sources {
    type Target = TokenSources;

    fn deref(&self) -> &TokenSources {
        &self.0.sources
    }
}

impl Verifier {
    /// A verifier for one HMAC secret; tokens may omit `kid`.
    pub fn new(
        algorithm: Algorithm,
        secret: &SecretString,
        issuer: &str,
        audience: &str,
        leeway: Duration,
        sources: TokenSources,
    ) -> Self {
        let keys = KeySet::single(Key::hmac(super::DEFAULT_KID, algorithm, secret));
        Self::with_keys(keys, issuer, audience, leeway, sources)
    }

    /// A verifier for every key in the set.
    pub fn with_keys(
        keys: KeySet,
        issuer: &str,
        audience: &str,
        leeway: Duration,
        sources: TokenSources,
    ) -> Self {
        let validations = keys
            .keys()
            .iter()
            .map(|key| validation(key.algorithm(), issuer, audience, leeway))
            .collect();
        let mfa_audience = mfa_audience(audience);
        let mfa_validations = keys
            .keys()
            .iter()
            .map(|key| validation(key.algorithm(), issuer, &mfa_audience, leeway))
            .collect();
        Self {
            current: ArcSwap::from_pointee(Rules {
                jwks: keys.jwks(),
                keys,
                validations,
                mfa_validations,
                sources,
                leeway,
                verified: VerifiedTokens::new(cache::CAPACITY_BYTES, leeway),
            }),
            jwks_max_age: AtomicU64::new(0),
            max_lifetime: AtomicU64::new(DEFAULT_MAX_LIFETIME.as_secs()),
            sessions: OnceLock::new(),
        }
    }

    /// Refuses tokens whose `exp` lies further than this (plus leeway) in
    /// the future: no issuer of ours mints them, and an `exp` near `i64::MAX`
    /// broke the expiry header and the cookie hand-off. Set to `jwt.ttl`.
    pub fn with_max_lifetime(self, max_lifetime: Duration) -> Self {
        self.max_lifetime
            .store(max_lifetime.as_secs(), Ordering::Relaxed);
        self
    }

    /// How long clients may cache the JWK Set (`Cache-Control: max-age`).
    pub fn with_jwks_max_age(self, max_age: Duration) -> Self {
        self.jwks_max_age
            .store(max_age.as_secs(), Ordering::Relaxed);
        self
    }

    /// From now on, tokens must also belong to a session `check` says is on.
    /// Only the first call takes effect.
    pub fn require_live_sessions(&self, check: Arc<dyn SessionCheck>) {
        let _ = self.sessions.set(check);
    }

    /// Swaps in another verifier's keys and rules; checks under way finish with the old ones.
    pub fn replace(&self, other: Verifier) {
        self.jwks_max_age
            .store(other.jwks_max_age.into_inner(), Ordering::Relaxed);
        self.max_lifetime
            .store(other.max_lifetime.into_inner(), Ordering::Relaxed);
        self.current.store(other.current.into_inner());
    }

    /// Where this verifier looks for tokens.
    pub fn sources(&self) -> Sources {
        Sources(self.current.load())
    }

    /// The public keys (never an HMAC secret) and how long they may be cached.
    pub fn jwks(&self) -> (JwkSet, Duration) {
        let rules = self.current.load();
        let max_age = Duration::from_secs(self.jwks_max_age.load(Ordering::Relaxed));
        (rules.jwks.clone(), max_age)
    }

    /// Finds the request's token in the configured sources and verifies it:
    /// through the cache when `C` is [`Claims`], in full otherwise.
    pub fn authenticate<C: DeserializeOwned + 'static>(
        &self,
        req: &HttpRequest,
    ) -> Result<C, TokenError> {
        self.check(req).map_err(Refusal::error)
    }

    /// Like [`authenticate`](Self::authenticate), saying exactly why a token
    /// was refused (for metrics and the audit trail, not for the client).
    pub fn check<C: DeserializeOwned + 'static>(&self, req: &HttpRequest) -> Result<C, Refusal> {
        let rules = self.current.load();
        let token = rules.sources.find(req)?.ok_or(Refusal::Missing)?;
        if TypeId::of::<C>() != TypeId::of::<Claims>() {
            let claims = rules.verify(&token, self.max_lifetime())?;
            self.check_session(&token)?;
            return Ok(claims);
        }
        let mut claims = Some(self.check_cached(&rules, &token)?);
        Ok((&mut claims as &mut dyn Any)
            .downcast_mut::<Option<C>>()
            .and_then(Option::take)
            .expect("C is Claims"))
    }

    /// [`verify`](Self::verify) for tokengate's own claims, through the
    /// cache of verified tokens, then the live-session check.
    pub fn verify_claims(&self, token: &str) -> Result<Claims, TokenError> {
        self.check_cached(&self.current.load(), token)
            .map_err(Refusal::error)
    }

    /// A hit means these exact bytes passed the full check against these
    /// rules; `exp`/`nbf` are judged again (the cache), and the lifetime
    /// bound only loosens as time passes, so it needs no second look.
    fn check_cached(&self, rules: &Rules, token: &str) -> Result<Claims, Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::TooLarge);
        }
        let claims = match rules.verified.get(token, unix_now()) {
            Lookup::Valid(claims) => claims,
            Lookup::Expired => return Err(Refusal::Expired),
            Lookup::Unknown => {
                let claims = rules.verify::<Claims>(token, self.max_lifetime())?;
                rules.verified.insert(token, claims.clone());
                claims
            }
        };
        if let Some(sessions) = self.sessions.get() {
            sessions.check(claims.sid.as_deref(), &claims.sub)?;
        }
        Ok(claims)
    }

    fn check_session(&self, token: &str) -> Result<(), TokenError> {
        match self.sessions.get() {
            Some(check) => check_token(check.as_ref(), token),
            None => Ok(()),
        }
    }

    fn max_lifetime(&self) -> Duration {
        Duration::from_secs(self.max_lifetime.load(Ordering::Relaxed))
    }

    /// The clock-skew allowance in force.
    pub fn leeway(&self) -> Duration {
        self.current.load().leeway
    }

    /// Verifies signature, algorithm, `typ` and claims, and returns the
    /// claims: the full check, every time, without the cache. With live
    /// sessions required, also that the token's session is on.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        let claims = self
            .current
            .load()
            .verify(token, self.max_lifetime())
            .map_err(Refusal::error)?;
        self.check_session(token)?;
        Ok(claims)
    }

    /// Verifies an `mfa_token` (its own `typ` and audience; see
    /// [`Issuer::mint_mfa`](super::Issuer::mint_mfa)). Access tokens fail here.
    /// Its lifetime is bounded by `mfa.token_ttl`'s ceiling, not `jwt.ttl`.
    pub fn verify_mfa(&self, token: &str) -> Result<Claims, TokenError> {
        let rules = self.current.load();
        rules
            .verify_as(
                token,
                &rules.mfa_validations,
                MFA_TOKEN_TYPE,
                MAX_MFA_TOKEN_LIFETIME,
            )
            .map_err(Refusal::error)
    }
}

impl Rules {
    fn verify<C: DeserializeOwned>(
        &self,
        token: &str,
        max_lifetime: Duration,
    ) -> Result<C, Refusal> {
        self.verify_as(token, &self.validations, TOKEN_TYPE, max_lifetime)
    }

    fn verify_as<C: DeserializeOwned>(
        &self,
        token: &str,
        validations: &[Validation],
        expected_typ: &str,
        max_lifetime: Duration,
    ) -> Result<C, Refusal> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(Refusal::TooLarge);
        }
        let index = match self.keys.keys() {
            // One key: nothing to choose, so the header is decoded once, by
            // `decode`, whose validation pins that key's algorithm.
            [_] => 0,
            keys => {
                let header = jsonwebtoken::decode_header(token)
                    .map_err(|error| Refusal::from_jwt_error(error.kind()))?;
                let index = self
                    .keys
                    .position(header.kid.as_deref())
                    .ok_or(Refusal::UnknownKey)?;
                // The key decides the algorithm, never the token: an HS256 header
                // on an RSA key's kid is refused before any signature check.
                if header.alg != keys[index].algorithm() {
                    return Err(Refusal::WrongAlgorithm);
                }
                index
            }
        };
        let key = &self.keys.keys()[index];
        let data = jsonwebtoken::decode::<C>(token, key.decoding(), &validations[index])
            .map_err(|error| Refusal::from_jwt_error(error.kind()))?;
        // The kid must name the key that checked it (with one key: none, or its own).
        if self.keys.position(data.header.kid.as_deref()) != Some(index) {
            return Err(Refusal::UnknownKey);
        }
        // RFC 7515 4.1.11: tokengate understands no critical extension.
        // RFC 8725 3.6: no encrypted (`enc`) or compressed (`zip`) tokens.
        if data.header.crit.is_some() || data.header.enc.is_some() || data.header.zip.is_some() {
            return Err(Refusal::WrongType);
        }
        let latest = jsonwebtoken::get_current_timestamp()
            .saturating_add(max_lifetime.as_secs())
            .saturating_add(self.leeway.as_secs());
        // An empty or odd `sub` would travel in X-Auth-Request-User.
        let bounds = bounds(token).ok_or(Refusal::Malformed)?;
        if bounds.exp > latest {
            return Err(Refusal::LifetimeTooLong);
        }
        if check_username(&bounds.sub).is_err() {
            return Err(Refusal::Invalid);
        }
        match data.header.typ.as_deref() {
            Some(typ) if is_expected_type(typ, expected_typ) => Ok(data.claims),
            _ => Err(Refusal::WrongType),
        }
    }
}

/// Seconds since the epoch, as jsonwebtoken reads the clock for `exp`.
fn unix_now() -> i64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0, |since| since.as_secs() as i64)
}

fn validation(algorithm: Algorithm, issuer: &str, audience: &str, leeway: Duration) -> Validation {
    // Spelled out rather than left to library defaults (60 s leeway, nbf off).
    let mut validation = Validation::new(algorithm);
    validation.leeway = leeway.as_secs();
    validation.validate_exp = true;
    validation.validate_nbf = true;
    validation.validate_aud = true;
    validation.set_issuer(&[issuer]);
    validation.set_audience(&[audience]);
    validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
    validation
}

/// The claims every token is held to, whatever the caller's claims type:
/// read again from the payload, for a token whose signature checked out.
#[derive(serde::Deserialize)]
struct Bounds {
    exp: u64,
    sub: String,
}

fn bounds(token: &str) -> Option<Bounds> {
    let payload = token.split('.').nth(1)?;
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .ok()?;
    serde_json::from_slice(&json).ok()
}

/// RFC 7515 4.1.9: `typ` compares case-insensitively, `application/` optional.
fn is_expected_type(typ: &str, expected: &str) -> bool {
    let typ = match typ.split_at_checked(12) {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("application/") => rest,
        _ => typ,
    };
    typ.eq_ignore_ascii_case(expected)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::TokenSource;
    use crate::auth::{Claims, Issuer};

    const SECRET: &str = "0123456789abcdef0123456789abcdef";

    fn pair(ttl: Duration) -> (Issuer, Verifier) {
        let secret = SecretString::from(SECRET);
        let issuer = Issuer::new(Algorithm::HS256, &secret, "iss", "aud", ttl);
        let sources = TokenSources::new(vec![TokenSource::Bearer], "c");
        let verifier = Verifier::new(
            Algorithm::HS256,
            &secret,
            "iss",
            "aud",
            Duration::ZERO,
            sources,
        );
        (issuer, verifier)
    }

    // Without a jsonwebtoken crypto backend feature the first verify panics;
    // this test fails loudly if the feature is ever dropped.
    #[test]
    fn minted_token_verifies_with_the_crypto_backend() {
        let (issuer, verifier) = pair(Duration::from_secs(60));
        let minted = issuer.mint("alice").unwrap();
        let claims: Claims = verifier.verify(&minted.token).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.exp - claims.iat, 60);
        assert_eq!(claims.jti.len(), 32);
    }

    #[test]
    fn every_token_gets_a_fresh_jti() {
        let (issuer, verifier) = pair(Duration::from_secs(60));
        let a: Claims = verifier.verify(&issuer.mint("a").unwrap().token).unwrap();
        let b: Claims = verifier.verify(&issuer.mint("a").unwrap().token).unwrap();
        assert_ne!(a.jti, b.jti);
    }

    #[test]
    fn with_one_key_a_token_naming_another_kid_is_refused() {
        let (issuer, verifier) = pair(Duration::from_secs(60));
        let claims: Claims = verifier.verify(&issuer.mint("a").unwrap().token).unwrap();
        let mut header = jsonwebtoken::Header::new(Algorithm::HS256);
        header.typ = Some(TOKEN_TYPE.to_owned());
        let key = jsonwebtoken::EncodingKey::from_secret(SECRET.as_bytes());
        let unnamed = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert!(verifier.verify::<Claims>(&unnamed).is_ok());
        header.kid = Some("another-key".to_owned());
        let misnamed = jsonwebtoken::encode(&header, &claims, &key).unwrap();
        assert_eq!(
            verifier.verify::<Claims>(&misnamed),
            Err(TokenError::Invalid)
        );
    }

    #[test]
    fn mfa_tokens_and_access_tokens_never_stand_in_for_each_other() {
        let (issuer, verifier) = pair(Duration::from_secs(60));
        let mfa = issuer.mint_mfa("alice", Duration::from_secs(300)).unwrap();
        assert_eq!(
            verifier.verify::<Claims>(&mfa.token),
            Err(TokenError::Invalid)
        );
        let claims = verifier.verify_mfa(&mfa.token).unwrap();
        assert_eq!(claims.sub, "alice");
        assert_eq!(claims.aud, "aud:mfa");
        assert!(claims.roles.is_empty());
        assert_eq!(claims.exp - claims.iat, 300);
        let access = issuer.mint("alice").unwrap();
        assert_eq!(verifier.verify_mfa(&access.token), Err(TokenError::Invalid));
    }

    #[test]
    fn minted_tokens_record_roles_and_the_methods_used() {
        let (issuer, verifier) = pair(Duration::from_secs(60));
        let plain: Claims = verifier.verify(&issuer.mint("a").unwrap().token).unwrap();
        assert_eq!(plain.amr, ["pwd"]);
        assert!(plain.roles.is_empty());
        assert_eq!(plain.auth_time, Some(plain.iat));
        let roles = vec!["admins".to_owned()];
        let subject = crate::auth::Subject {
            name: "a",
            roles: &roles,
            amr: &["pwd", "otp"],
        };
        let token = issuer.mint_for(&subject).unwrap().token;
        let claims: Claims = verifier.verify(&token).unwrap();
        assert_eq!(claims.roles, ["admins"]);
        assert_eq!(claims.amr, ["pwd", "otp"]);
    }

    #[test]
    fn oversized_tokens_are_refused_unread() {
        let (_, verifier) = pair(Duration::from_secs(60));
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(verifier.verify::<Claims>(&huge), Err(TokenError::Invalid));
    }

    #[test]
    fn typ_comparison_follows_rfc_7515() {
        assert!(is_expected_type("at+jwt", TOKEN_TYPE));
        assert!(is_expected_type("AT+JWT", TOKEN_TYPE));
        assert!(is_expected_type("application/at+jwt", TOKEN_TYPE));
        assert!(!is_expected_type("JWT", TOKEN_TYPE));
        assert!(!is_expected_type("application/jwt", TOKEN_TYPE));
        assert!(!is_expected_type("mfa+jwt", TOKEN_TYPE));
    }
}
