//! Everything about tokens: the claims we mint, the keys that sign and verify
//! them, and the `FromRequest` extractor that guards handlers.

mod cache;
mod claims;
mod error;
mod extractor;
mod guard;
mod issuer;
mod keys;
mod refusal;
mod session_check;
mod sources;
mod verifier;

/// A token's `sub` follows the user-name syntax of the login side.
pub use crate::credentials::{MAX_USERNAME_BYTES, check_username};
pub use cache::CAPACITY_BYTES as VERIFIED_CACHE_BYTES;
pub use claims::{AMR_OTP, AMR_PASSWORD, AuthorizationClaims, Claims};
pub use error::TokenError;
pub use extractor::Authenticated;
pub use guard::{
    AccessDenied, AdminGroup, Operator, RequireMfa, RequireRole, Role, check_roles,
    check_second_factor,
};
pub use issuer::{IssuedToken, Issuer, Subject};
pub use keys::{DEFAULT_KID, Key, KeySet, SUPPORTED_ALGORITHMS};
pub use refusal::Refusal;
pub use session_check::SessionCheck;
pub use sources::{
    HOST_COOKIE_PREFIX, QUERY_PARAMETER, TokenSource, TokenSources, basic_credentials,
};
pub use verifier::Verifier;

/// The `typ` header tokengate mints and requires (RFC 8725 3.11, RFC 9068).
pub const TOKEN_TYPE: &str = "at+jwt";

/// The `typ` of the short-lived token between the password and the code
/// steps; never accepted where an access token is expected.
pub const MFA_TOKEN_TYPE: &str = "mfa+jwt";

/// The longest `mfa.token_ttl` allowed; `mfa_token`s promising a later
/// expiry are refused.
pub const MAX_MFA_TOKEN_LIFETIME: std::time::Duration = std::time::Duration::from_secs(15 * 60);

/// The audience an `mfa_token` carries: the access tokens' audience with
/// `:mfa` appended, so no access-token check accepts it.
pub fn mfa_audience(audience: &str) -> String {
    format!("{audience}:mfa")
}
