//! Refresh tokens: 256 random bits, base64url. The store only ever sees a
//! SHA-256 of a token; the successor of a token is an HMAC of it under the
//! session's own key, so a duplicate refresh within the grace gets the same
//! successor back without the store holding any token.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use hmac::{Hmac, Mac};
use sha2::{Digest, Sha256};

/// Longest refresh token looked at; ours are 43 characters.
pub const MAX_REFRESH_TOKEN_BYTES: usize = 128;

/// A new random refresh token, or a new session key: 32 bytes, base64url.
pub fn random_secret() -> String {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).expect("the operating system's random source failed");
    URL_SAFE_NO_PAD.encode(bytes)
}

/// What the store keeps for a refresh token: SHA-256, hex.
pub fn hash(token: &str) -> String {
    hex(&Sha256::digest(token.as_bytes()))
}

/// The token that replaces `token` in the session whose key is `session_key`.
pub fn successor(session_key: &str, token: &str) -> String {
    let mut mac = Hmac::<Sha256>::new_from_slice(session_key.as_bytes())
        .expect("HMAC takes a key of any length");
    mac.update(token.as_bytes());
    URL_SAFE_NO_PAD.encode(mac.finalize().into_bytes())
}

fn hex(bytes: &[u8]) -> String {
    bytes.iter().map(|b| format!("{b:02x}")).collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_carry_256_bits_and_differ() {
        let a = random_secret();
        assert_eq!(URL_SAFE_NO_PAD.decode(&a).unwrap().len(), 32);
        assert_ne!(a, random_secret());
    }

    #[test]
    fn successors_are_deterministic_per_key_and_unguessable_without_it() {
        let token = random_secret();
        assert_eq!(successor("k1", &token), successor("k1", &token));
        assert_ne!(successor("k1", &token), successor("k2", &token));
        assert_ne!(successor("k1", &token), token);
        assert_eq!(hash(&token).len(), 64);
    }
}
