use serde::{Deserialize, Serialize};

/// RFC 8176 authentication method references tokengate records in `amr`.
pub const AMR_PASSWORD: &str = "pwd";
/// The `amr` value (RFC 8176) a token carries once a one-time code was checked.
pub const AMR_OTP: &str = "otp";

/// The claims tokengate mints. Apps with richer tokens can use the extractor
/// with their own claims type instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    /// Subject: the user name.
    pub sub: String,
    /// Issued at, seconds since the epoch.
    pub iat: i64,
    /// Not before, seconds since the epoch.
    pub nbf: i64,
    /// Expiry, seconds since the epoch.
    pub exp: i64,
    /// Token id, unique per token.
    pub jti: String,
    /// Issuer (`jwt.issuer`).
    pub iss: String,
    /// Audience (`jwt.audience`).
    pub aud: String,
    /// The user's groups (`users.groups_file`); omitted when there are none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub roles: Vec<String>,
    /// How the user authenticated (RFC 8176): `["pwd"]` or `["pwd", "otp"]`.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub amr: Vec<String>,
    /// When the user authenticated (OpenID Connect Core 2), Unix seconds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub auth_time: Option<i64>,
    /// The session the token belongs to (OpenID Connect's `sid`); ending the
    /// session refuses every token carrying it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sid: Option<String>,
}

/// What the role and second-factor guards read from a token; implement it
/// for your own claims type to use them with it.
pub trait AuthorizationClaims {
    /// The groups the token grants.
    fn roles(&self) -> &[String];
    /// The RFC 8176 authentication methods the token records.
    fn amr(&self) -> &[String];

    /// Whether the token carries `role` in its `roles` claim.
    fn has_role(&self, role: &str) -> bool {
        self.roles().iter().any(|held| held == role)
    }

    /// Whether a one-time code was part of the login.
    fn used_second_factor(&self) -> bool {
        self.amr().iter().any(|method| method == AMR_OTP)
    }
}

impl AuthorizationClaims for Claims {
    fn roles(&self) -> &[String] {
        &self.roles
    }

    fn amr(&self) -> &[String] {
        &self.amr
    }
}
