use std::time::Duration;

use arc_swap::ArcSwap;
use jsonwebtoken::{Algorithm, EncodingKey, Header};
use secrecy::SecretString;
use serde_json::{Map, Value};
use time::OffsetDateTime;

use super::{AMR_PASSWORD, Claims, Key, KeySet, MFA_TOKEN_TYPE, TOKEN_TYPE, mfa_audience};

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
pub(crate) const REGISTERED_CLAIMS: [&str; 10] = [
    "sub",
    "iat",
    "nbf",
    "exp",
    "jti",
    "iss",
    "aud",
    "roles",
    "amr",
    "auth_time",
];

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

    /// The `kid` new tokens carry, if any (the signing key in force).
    pub fn kid(&self) -> Option<String> {
        self.current.load().header.kid.clone()
    }

    /// Whether one signature takes long enough to keep off an async worker.
    pub fn signs_slowly(&self) -> bool {
        is_slow_to_sign(self.current.load().header.alg)
    }

    /// An access token for a password-only login with no roles.
    pub fn mint(&self, subject: &str) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        self.mint_for(&Subject {
            name: subject,
            roles: &[],
            amr: &[AMR_PASSWORD],
        })
    }

    /// An access token for `subject`, carrying its roles and how it authenticated.
    pub fn mint_for(
        &self,
        subject: &Subject<'_>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        self.mint_with(subject, None)
    }

    /// An access token for `subject` with the app's `extra` claims beside
    /// tokengate's own; an extra claim named like one of those is dropped.
    pub fn mint_with(
        &self,
        subject: &Subject<'_>,
        extra: Option<&Map<String, Value>>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        self.mint_claims(subject, extra, None)
    }

    fn mint_claims(
        &self,
        subject: &Subject<'_>,
        extra: Option<&Map<String, Value>>,
        session: Option<(&str, i64)>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let signer = self.current.load();
        let now = OffsetDateTime::now_utc();
        let mut claims = signer.claims(subject, now, signer.ttl, &signer.audience);
        if let Some((sid, auth_time)) = session {
            claims.sid = Some(sid.to_owned());
            claims.auth_time = Some(auth_time);
        }
        let token = match extra.filter(|extra| !extra.is_empty()) {
            None => jsonwebtoken::encode(&signer.header, &claims, &signer.key)?,
            Some(extra) => {
                let mut all = match serde_json::to_value(&claims)? {
                    Value::Object(registered) => registered,
                    _ => Map::new(),
                };
                for (name, value) in extra {
                    if !REGISTERED_CLAIMS.contains(&name.as_str()) && name != "sid" {
                        all.insert(name.clone(), value.clone());
                    }
                }
                jsonwebtoken::encode(&signer.header, &all, &signer.key)?
            }
        };
        Ok(IssuedToken::new(token, now, signer.ttl))
    }

    /// An access token for `subject` in session `sid`, which started (the
    /// user authenticated) at `auth_time`: refreshes keep the login's time.
    pub fn mint_in_session(
        &self,
        subject: &Subject<'_>,
        sid: &str,
        auth_time: i64,
        extra: Option<&Map<String, Value>>,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        self.mint_claims(subject, extra, Some((sid, auth_time)))
    }

    /// The short-lived `mfa_token` a password step hands out when a code is
    /// still due. Its own `typ` (`mfa+jwt`) and audience (`<aud>:mfa`) mean
    /// no access-token check accepts it, and it carries no roles.
    pub fn mint_mfa(
        &self,
        subject: &str,
        ttl: Duration,
    ) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let signer = self.current.load();
        let now = OffsetDateTime::now_utc();
        let subject = Subject {
            name: subject,
            roles: &[],
            amr: &[AMR_PASSWORD],
        };
        let claims = signer.claims(&subject, now, ttl, &mfa_audience(&signer.audience));
        let mut header = signer.header.clone();
        header.typ = Some(MFA_TOKEN_TYPE.to_owned());
        let token = jsonwebtoken::encode(&header, &claims, &signer.key)?;
        Ok(IssuedToken::new(token, now, ttl))
    }
}

/// Who a token is minted for: the user, their groups and the RFC 8176
/// methods they authenticated with.
pub struct Subject<'a> {
    /// The user name, the token's `sub`.
    pub name: &'a str,
    /// The user's groups, the `roles` claim.
    pub roles: &'a [String],
    /// How the user authenticated, the `amr` claim (RFC 8176).
    pub amr: &'a [&'a str],
}

impl IssuedToken {
    fn new(token: String, now: OffsetDateTime, ttl: Duration) -> Self {
        let expires_at = now + ttl;
        Self {
            token,
            expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
            expires_in: ttl.as_secs(),
        }
    }
}

impl Signer {
    fn claims(
        &self,
        subject: &Subject<'_>,
        now: OffsetDateTime,
        ttl: Duration,
        audience: &str,
    ) -> Claims {
        let now_seconds = now.unix_timestamp();
        Claims {
            sub: subject.name.to_owned(),
            iat: now_seconds,
            nbf: now_seconds,
            exp: (now + ttl).unix_timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.issuer.clone(),
            aud: audience.to_owned(),
            roles: subject.roles.to_vec(),
            amr: subject
                .amr
                .iter()
                .map(|&method| method.to_owned())
                .collect(),
            auth_time: Some(now_seconds),
            sid: None,
        }
    }

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
        let subject = Subject {
            name: "alice",
            roles: &[],
            amr: &[AMR_PASSWORD],
        };
        let minted = issuer.mint_with(&subject, extra.as_object()).unwrap();
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
