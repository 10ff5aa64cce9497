//! The hook through which a [`Verifier`](super::Verifier) refuses tokens of
//! ended sessions. Implemented by the session service's in-memory
//! revocation state, so the check never waits on the network.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use serde::Deserialize;

use super::TokenError;

/// Consulted on every token check; answers from memory, never the network.
pub trait SessionCheck: Send + Sync + 'static {
    /// `Ok` while the session `sid` of `user` is on; a token without `sid`
    /// has no session that could be ended, and is refused.
    fn check(&self, sid: Option<&str>, user: &str) -> Result<(), TokenError>;
}

#[derive(Deserialize)]
struct SessionFields<'a> {
    #[serde(borrow)]
    sid: Option<std::borrow::Cow<'a, str>>,
    #[serde(borrow)]
    sub: std::borrow::Cow<'a, str>,
}

/// Reads `sid` and `sub` from a token whose signature was already checked,
/// whatever claims type the caller deserializes into.
pub(super) fn check_token(check: &dyn SessionCheck, token: &str) -> Result<(), TokenError> {
    let payload = token.split('.').nth(1).ok_or(TokenError::Invalid)?;
    let json = URL_SAFE_NO_PAD
        .decode(payload)
        .map_err(|_| TokenError::Invalid)?;
    let fields: SessionFields = serde_json::from_slice(&json).map_err(|_| TokenError::Invalid)?;
    check.check(fields.sid.as_deref(), &fields.sub)
}
