//! The key set: every key a token may be verified with, the one that signs,
//! and the public half of the asymmetric ones as a JWK Set.

use jsonwebtoken::jwk::{Jwk, JwkSet, PublicKeyUse};
use jsonwebtoken::{Algorithm, AlgorithmFamily, DecodingKey, EncodingKey};
use secrecy::{ExposeSecret, SecretString};

/// The `kid` of the key built from the single-secret form (`jwt.secret`).
pub const DEFAULT_KID: &str = "default";

/// The algorithms a key may be configured with.
pub const SUPPORTED_ALGORITHMS: &[Algorithm] = &[
    Algorithm::HS256,
    Algorithm::HS384,
    Algorithm::HS512,
    Algorithm::RS256,
    Algorithm::ES256,
    Algorithm::EdDSA,
];

/// One key: its id, the one algorithm it is used with, and its halves.
pub struct Key {
    kid: String,
    algorithm: Algorithm,
    /// Absent for verify-only asymmetric keys.
    encoding: Option<EncodingKey>,
    decoding: DecodingKey,
}

impl Key {
    /// An HMAC key from a shared secret.
    pub fn hmac(kid: impl Into<String>, algorithm: Algorithm, secret: &SecretString) -> Self {
        let bytes = secret.expose_secret().as_bytes();
        Self {
            kid: kid.into(),
            algorithm,
            encoding: Some(EncodingKey::from_secret(bytes)),
            decoding: DecodingKey::from_secret(bytes),
        }
    }

    /// An asymmetric key from its parsed halves; `encoding` is absent for a
    /// verify-only key. The caller has checked that the halves match.
    pub(crate) fn asymmetric(
        kid: impl Into<String>,
        algorithm: Algorithm,
        encoding: Option<EncodingKey>,
        decoding: DecodingKey,
    ) -> Self {
        Self {
            kid: kid.into(),
            algorithm,
            encoding,
            decoding,
        }
    }

    pub fn kid(&self) -> &str {
        &self.kid
    }

    pub fn algorithm(&self) -> Algorithm {
        self.algorithm
    }

    pub fn can_sign(&self) -> bool {
        self.encoding.is_some()
    }

    pub(crate) fn encoding(&self) -> Option<&EncodingKey> {
        self.encoding.as_ref()
    }

    pub(crate) fn decoding(&self) -> &DecodingKey {
        &self.decoding
    }

    fn is_public(&self) -> bool {
        self.algorithm.family() != AlgorithmFamily::Hmac
    }

    /// The public JWK (RFC 7517); `None` for HMAC keys, whose secret must never leave.
    pub fn public_jwk(&self) -> Option<Jwk> {
        if !self.is_public() {
            return None;
        }
        let mut jwk = Jwk::from_decoding_key(&self.decoding, Some(self.algorithm)).ok()?;
        jwk.common.key_id = Some(self.kid.clone());
        jwk.common.public_key_use = Some(PublicKeyUse::Signature);
        Some(jwk)
    }
}

/// All configured keys and which one signs. At least one key; the signing
/// key always holds its private half.
pub struct KeySet {
    keys: Vec<Key>,
    signing: usize,
}

impl KeySet {
    /// One HMAC key that signs and verifies: the single-secret form.
    pub fn single(key: Key) -> Self {
        Self {
            keys: vec![key],
            signing: 0,
        }
    }

    /// Several keys, signing with `keys[signing]`, which holds its private
    /// half (the caller checked; see `runtime_config::keys`).
    pub(crate) fn new(keys: Vec<Key>, signing: usize) -> Self {
        debug_assert!(keys[signing].can_sign());
        Self { keys, signing }
    }

    pub fn signing(&self) -> &Key {
        &self.keys[self.signing]
    }

    pub fn keys(&self) -> &[Key] {
        &self.keys
    }

    /// The key a token names. A token without `kid` is accepted only while
    /// there is a single key, so there is nothing to choose between.
    pub fn find(&self, kid: Option<&str>) -> Option<&Key> {
        self.position(kid).map(|index| &self.keys[index])
    }

    pub(crate) fn position(&self, kid: Option<&str>) -> Option<usize> {
        match kid {
            Some(kid) => self.keys.iter().position(|key| key.kid == kid),
            None if self.keys.len() == 1 => Some(0),
            None => None,
        }
    }

    /// The public keys as a JWK Set; HMAC keys are never included.
    pub fn jwks(&self) -> JwkSet {
        JwkSet {
            keys: self.keys.iter().filter_map(Key::public_jwk).collect(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn hmac(kid: &str) -> Key {
        Key::hmac(
            kid,
            Algorithm::HS256,
            &SecretString::from("0123456789abcdef0123456789abcdef"),
        )
    }

    #[test]
    fn a_token_without_kid_matches_only_a_lone_key() {
        let lone = KeySet::single(hmac("a"));
        assert_eq!(lone.find(None).map(Key::kid), Some("a"));
        let two = KeySet {
            keys: vec![hmac("a"), hmac("b")],
            signing: 1,
        };
        assert!(two.find(None).is_none());
        assert_eq!(two.find(Some("b")).map(Key::kid), Some("b"));
        assert!(two.find(Some("c")).is_none());
        assert_eq!(two.signing().kid(), "b");
    }

    #[test]
    fn hmac_keys_are_never_published() {
        assert!(KeySet::single(hmac("a")).jwks().keys.is_empty());
    }
}
