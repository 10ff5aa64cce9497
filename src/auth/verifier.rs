use jsonwebtoken::errors::ErrorKind;
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use secrecy::{ExposeSecret, SecretString};
use serde::de::DeserializeOwned;
use std::time::Duration;

use super::{TOKEN_TYPE, TokenError, TokenSources};

/// Longest token accepted for decoding; anything larger is refused unread.
pub const MAX_TOKEN_BYTES: usize = 4096;

/// Checks tokens: one pinned algorithm, one key, explicit claim rules.
/// Register it as `web::Data<Verifier>` and the [`Authenticated`](super::Authenticated)
/// extractor uses it.
pub struct Verifier {
    key: DecodingKey,
    validation: Validation,
    sources: TokenSources,
}

impl Verifier {
    pub fn new(
        algorithm: Algorithm,
        secret: &SecretString,
        issuer: &str,
        audience: &str,
        leeway: Duration,
        sources: TokenSources,
    ) -> Self {
        // Spelled out rather than left to library defaults (60 s leeway, nbf off).
        let mut validation = Validation::new(algorithm);
        validation.leeway = leeway.as_secs();
        validation.validate_exp = true;
        validation.validate_nbf = true;
        validation.validate_aud = true;
        validation.set_issuer(&[issuer]);
        validation.set_audience(&[audience]);
        validation.set_required_spec_claims(&["exp", "nbf", "iss", "aud", "sub"]);
        Self {
            key: DecodingKey::from_secret(secret.expose_secret().as_bytes()),
            validation,
            sources,
        }
    }

    pub fn sources(&self) -> &TokenSources {
        &self.sources
    }

    pub fn leeway(&self) -> Duration {
        Duration::from_secs(self.validation.leeway)
    }

    /// Verifies signature, algorithm, `typ` and claims, and returns the claims.
    pub fn verify<C: DeserializeOwned>(&self, token: &str) -> Result<C, TokenError> {
        if token.len() > MAX_TOKEN_BYTES {
            return Err(TokenError::Invalid);
        }
        let data =
            jsonwebtoken::decode::<C>(token, &self.key, &self.validation).map_err(|error| {
                match error.kind() {
                    ErrorKind::ExpiredSignature => TokenError::Expired,
                    _ => TokenError::Invalid,
                }
            })?;
        // RFC 7515 4.1.11: tokengate understands no critical extension.
        if data.header.crit.is_some() {
            return Err(TokenError::Invalid);
        }
        match data.header.typ.as_deref() {
            Some(typ) if is_expected_type(typ) => Ok(data.claims),
            _ => Err(TokenError::Invalid),
        }
    }
}

/// RFC 7515 4.1.9: `typ` compares case-insensitively, `application/` optional.
fn is_expected_type(typ: &str) -> bool {
    let typ = match typ.split_at_checked(12) {
        Some((prefix, rest)) if prefix.eq_ignore_ascii_case("application/") => rest,
        _ => typ,
    };
    typ.eq_ignore_ascii_case(TOKEN_TYPE)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::auth::{Claims, Issuer};
    use crate::config::TokenSource;

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
    fn oversized_tokens_are_refused_unread() {
        let (_, verifier) = pair(Duration::from_secs(60));
        let huge = "a".repeat(MAX_TOKEN_BYTES + 1);
        assert_eq!(verifier.verify::<Claims>(&huge), Err(TokenError::Invalid));
    }

    #[test]
    fn typ_comparison_follows_rfc_7515() {
        assert!(is_expected_type("at+jwt"));
        assert!(is_expected_type("AT+JWT"));
        assert!(is_expected_type("application/at+jwt"));
        assert!(!is_expected_type("JWT"));
        assert!(!is_expected_type("application/jwt"));
    }
}
