//! The one user-name syntax, shared by the users file, `hash-password` and
//! the token check (a token's `sub` is a user name).

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
