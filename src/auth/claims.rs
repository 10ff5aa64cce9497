use serde::{Deserialize, Serialize};

/// The registered claims tokengate mints. Apps with richer tokens can use the
/// extractor with their own claims type instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
    pub aud: String,
}
