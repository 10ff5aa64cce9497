use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{Claims, Key, KeySet, TOKEN_TYPE};

/// Mints tokens for users who passed the login check. The signing key and
/// rules can be replaced while serving ([`Issuer::replace`]); each token is
/// minted entirely with one set.
pub struct Issuer {
    current: ArcSwap<Signer>,
}

struct Signer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// The registered claims tokengate sets itself; an app's extra claims never override them.
pub(crate) const REGISTERED_CLAIMS: [&str; 7] = ["sub", "iat", "nbf", "exp", "jti", "iss", "aud"];

/// A freshly minted token and when it stops being accepted.
pub struct IssuedToken {
    /// The signed JWT.
    pub token: String,
    /// When it expires (`exp`).
    pub expires_at: OffsetDateTime,
    /// Its lifetime in seconds, for the token response's `expires_in`.
    pub expires_in: u64,
}

impl Issuer {
    /// An issuer signing with one HMAC secret, without a `kid`.
    pub fn new(
        algorithm: Algorithm,
        secret: &SecretString,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let key = Key::hmac("", algorithm, secret);
        let mut signer = Signer::new(&key, issuer.into(), audience.into(), ttl);
        signer.header.kid = None;
        Self::from_signer(signer)
    }

    /// An issuer signing with the key set's signing key, naming it in `kid`.
    pub fn with_keys(
        keys: &KeySet,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        Self::from_signer(Signer::new(
            keys.signing(),
            issuer.into(),
            audience.into(),
            ttl,
        ))
    }

    fn from_signer(signer: Signer) -> Self {
        Self {
            current: ArcSwap::from_pointee(signer),
        }
    }

    /// Swaps in another issuer's key and rules; tokens being minted finish with the old ones.
    pub fn replace(&self, other: Issuer) {
        self.current.store(other.current.into_inner());
    }

    /// Whether one signature takes long enough to keep off an async worker.
    pub fn signs_slowly(&self) -> bool {
        is_slow_to_sign(self.current.load().header.alg)
    }

    /// Mints a token for `subject` carrying the registered claims only.
    pub fn mint(&self, subject: &str) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        self.mint_with(subject, None)
    }

    /// Mints a token for `subject` with the app's `extra` claims beside the
    /// registered ones; an extra claim named like a registered one is dropped.
    pub fn mint_with(
        &self,
        subject: &str,
        extra: Option<&Map<String, Value>>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let signer = self.current.load();
        let now = OffsetDateTime::now_utc();
        let expires_at = now + signer.ttl;
        let claims = Claims {
            sub: subject.to_owned(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: signer.issuer.clone(),
            aud: signer.audience.clone(),
        };
        let token = match extra.filter(|extra| !extra.is_empty()) {
            None => jsonwebtoken::encode(&signer.header, &claims, &signer.key)?,
            Some(extra) => {
                let mut all = match serde_json::to_value(&claims)? {
                    Value::Object(registered) => registered,
                    _ => Map::new(),
                };
                for (name, value) in extra {
                    if !REGISTERED_CLAIMS.contains(&name.as_str()) {
                        all.insert(name.clone(), value.clone());
                    }
                }
                jsonwebtoken::encode(&signer.header, &all, &signer.key)?
            }
        };
        Ok(IssuedToken {
            token,
            expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
            expires_in: signer.ttl.as_secs(),
        })
    }
}

impl Signer {
    fn new(key: &Key, issuer: String, audience: String, ttl: Duration) -> Self {
        let mut header = Header::new(key.algorithm());
        header.typ = Some(TOKEN_TYPE.to_owned());
        header.kid = Some(key.kid().to_owned());
        Self {
            key: key
                .encoding()
                .expect("BUG: KeySet guarantees the signing key can sign")
                .clone(),
            header,
            issuer,
            audience,
            ttl,
        }
    }
}

/// RSA signatures take over a millisecond (BENCHMARKS.md); every other
/// algorithm signs in tens of microseconds at most.
fn is_slow_to_sign(algorithm: Algorithm) -> bool {
    use Algorithm::*;
    matches!(algorithm, RS256 | RS384 | RS512 | PS256 | PS384 | PS512)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn only_rsa_keys_sign_off_the_workers() {
        use Algorithm::*;
        for algorithm in [HS256, HS384, HS512, ES256, EdDSA] {
            assert!(!is_slow_to_sign(algorithm), "{algorithm:?}");
        }
        assert!(is_slow_to_sign(RS256));
        let secret = SecretString::from("0123456789abcdef0123456789abcdef");
        let issuer = Issuer::new(HS256, &secret, "iss", "aud", Duration::from_secs(60));
        assert!(!issuer.signs_slowly());
    }

    #[test]
    fn extra_claims_never_override_registered_ones() {
        let secret = SecretString::from("0123456789abcdef0123456789abcdef");
        let issuer = Issuer::new(
            Algorithm::HS256,
            &secret,
            "iss",
            "aud",
            Duration::from_secs(60),
        );
        let extra = serde_json::json!({"sub": "mallory", "exp": 1, "groups": ["admins"]});
        let minted = issuer.mint_with("alice", extra.as_object()).unwrap();
        let payload = minted.token.split('.').nth(1).unwrap();
        use base64::Engine as _;
        let payload = base64::engine::general_purpose::URL_SAFE_NO_PAD
            .decode(payload)
            .unwrap();
        let claims: Value = serde_json::from_slice(&payload).unwrap();
        assert_eq!(claims["sub"], "alice");
        assert_ne!(claims["exp"], 1);
        assert_eq!(claims["groups"], serde_json::json!(["admins"]));
    }
}
