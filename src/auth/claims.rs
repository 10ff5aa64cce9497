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
    /// The session the token belongs to (OpenID Connect's `sid`); ending the
    /// session refuses every token carrying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}
