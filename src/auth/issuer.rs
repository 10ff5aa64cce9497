use std::time::Duration;

use jsonwebtoken::{EncodingKey, Header};
use secrecy::{ExposeSecret, SecretString};
use time::OffsetDateTime;

use super::{Claims, TOKEN_TYPE};

/// Mints tokens for users who passed the login check.
pub struct Issuer {
    key: EncodingKey,
    header: Header,
    issuer: String,
    audience: String,
    ttl: Duration,
}

/// A freshly minted token and when it stops being accepted.
pub struct IssuedToken {
    pub token: String,
    pub expires_at: OffsetDateTime,
    pub expires_in: u64,
}

impl Issuer {
    pub fn new(
        algorithm: jsonwebtoken::Algorithm,
        secret: &SecretString,
        issuer: impl Into<String>,
        audience: impl Into<String>,
        ttl: Duration,
    ) -> Self {
        let mut header = Header::new(algorithm);
        header.typ = Some(TOKEN_TYPE.to_owned());
        Self {
            key: EncodingKey::from_secret(secret.expose_secret().as_bytes()),
            header,
            issuer: issuer.into(),
            audience: audience.into(),
            ttl,
        }
    }

    pub fn ttl(&self) -> Duration {
        self.ttl
    }

    pub fn mint(&self, subject: &str) -> Result<IssuedToken, jsonwebtoken::errors::Error> {
        let now = OffsetDateTime::now_utc();
        let expires_at = now + self.ttl;
        let claims = Claims {
            sub: subject.to_owned(),
            iat: now.unix_timestamp(),
            nbf: now.unix_timestamp(),
            exp: expires_at.unix_timestamp(),
            jti: uuid::Uuid::new_v4().simple().to_string(),
            iss: self.issuer.clone(),
            aud: self.audience.clone(),
        };
        let token = jsonwebtoken::encode(&self.header, &claims, &self.key)?;
        Ok(IssuedToken {
            token,
            expires_at: expires_at.replace_nanosecond(0).unwrap_or(expires_at),
            expires_in: self.ttl.as_secs(),
        })
    }
}
