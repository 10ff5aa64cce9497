use serde::{Deserialize, Serialize};

/// RFC 8176 authentication method references tokengate records in `amr`.
pub const AMR_PASSWORD: &str = "pwd";
pub const AMR_OTP: &str = "otp";

/// The claims tokengate mints. Apps with richer tokens can use the extractor
/// with their own claims type instead.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Claims {
    pub sub: String,
    pub iat: i64,
    pub nbf: i64,
    pub exp: i64,
    pub jti: String,
    pub iss: String,
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
}

/// What the role and second-factor guards read from a token; implement it
/// for your own claims type to use them with it.
pub trait AuthorizationClaims {
    /// The groups the token grants.
    fn roles(&self) -> &[String];
    /// The RFC 8176 authentication methods the token records.
    fn amr(&self) -> &[String];

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

/// Longest user name (and `sub`) accepted.
pub const MAX_USERNAME_BYTES: usize = 128;

/// The one user-name syntax, for the users file, `hash-password` and every
/// token's `sub`: 1 to 128 printable ASCII characters, without spaces or
/// `:` (the users file's separator), `,` (a header list separator), `"` or
/// `\`. The name travels in `X-Auth-Request-User`, where leading or trailing
/// spaces would be trimmed and a comma would read as two values, so another
/// user could appear.
pub fn check_username(name: &str) -> Result<(), &'static str> {
    if name.is_empty() || name.len() > MAX_USERNAME_BYTES {
        return Err("must be 1 to 128 characters");
    }
    let allowed = |b: u8| b.is_ascii_graphic() && !matches!(b, b':' | b',' | b'"' | b'\\');
    if !name.bytes().all(allowed) {
        return Err(
            "may hold printable ASCII only, without spaces, control characters, `:`, `,`, `\"` or `\\`",
        );
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn user_names_that_could_read_as_another_user_are_refused() {
        for good in [
            "alice",
            "a.b-c_d@example.org",
            "<script>alert(1)</script>",
            "x",
        ] {
            assert_eq!(check_username(good), Ok(()), "{good}");
        }
        let long = "a".repeat(MAX_USERNAME_BYTES + 1);
        for bad in [
            "",
            " alice",
            "alice ",
            "al ice",
            "alice,admin",
            "alice:x",
            "al\tice",
            "al\nice",
            "\u{7f}",
            "josé",
            "alice\"",
            "a\\b",
            long.as_str(),
        ] {
            assert!(check_username(bad).is_err(), "{bad:?}");
        }
    }
}
