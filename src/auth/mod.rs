//! Everything about tokens: the claims we mint, the keys that sign and verify
//! them, and the `FromRequest` extractor that guards handlers.

mod claims;
mod error;
mod extractor;
mod issuer;
mod keys;
mod refusal;
mod sources;
mod verifier;

pub use claims::Claims;
pub use error::TokenError;
pub use extractor::Authenticated;
pub use issuer::{IssuedToken, Issuer};
pub use keys::{DEFAULT_KID, Key, KeySet, SUPPORTED_ALGORITHMS, parse_algorithm, read_secret_file};
pub use refusal::Refusal;
pub use sources::{QUERY_PARAMETER, TokenSources, basic_credentials};
pub use verifier::Verifier;

/// The `typ` header tokengate mints and requires (RFC 8725 3.11, RFC 9068).
pub const TOKEN_TYPE: &str = "at+jwt";
