//! RFC 6238 one-time codes (SHA-1, 6 digits, 30 s steps) with totp-rs, and
//! the `users.totp_file` of `user:BASE32SECRET` lines.

use std::collections::HashMap;
use std::fmt;
use std::path::Path;

use totp_rs::{Algorithm, Builder, Secret, Totp};

use crate::line_files::LineFileError;

/// RFC 6238's recommended parameters, which every authenticator app supports.
pub const DIGITS: u8 = 6;
/// RFC 6238's default time step.
pub const STEP_SECONDS: u64 = 30;

/// The enrolled users' TOTP generators. `Debug` names users, never secrets.
#[derive(Default, Clone)]
pub struct TotpSecrets {
    by_user: HashMap<String, Totp>,
}

impl TotpSecrets {
    /// Reads and parses a TOTP file; codes may be `skew` steps off.
    pub fn from_file(path: &Path, skew: u8) -> Result<Self, LineFileError> {
        let contents = crate::line_files::read(path)?;
        Self::parse(&contents, skew)
    }

    /// `user:BASE32SECRET` lines, `#` comments; base32 as authenticator apps
    /// show it (case, spaces and `=` padding do not matter).
    pub fn parse(contents: &str, skew: u8) -> Result<Self, LineFileError> {
        let mut by_user = HashMap::new();
        for (number, line) in crate::line_files::entries(contents) {
            // Never quote the line: it holds a secret.
            let line_error = |reason: String| LineFileError::Line {
                line: number,
                reason,
            };
            let (user, encoded) = line
                .split_once(':')
                .ok_or_else(|| line_error("expected `user:BASE32SECRET`".to_owned()))?;
            if user.is_empty() {
                return Err(line_error("empty user name".to_owned()));
            }
            let totp = generator(user, encoded, skew).map_err(line_error)?;
            if by_user.insert(user.to_owned(), totp).is_some() {
                return Err(line_error(format!("user `{user}` appears twice")));
            }
        }
        Ok(Self { by_user })
    }

    /// Whether `user` logs in with a one-time code too.
    pub fn is_enrolled(&self, user: &str) -> bool {
        self.by_user.contains_key(user)
    }

    /// Users enrolled.
    pub fn len(&self) -> usize {
        self.by_user.len()
    }

    /// Whether nobody is enrolled.
    pub fn is_empty(&self) -> bool {
        self.by_user.is_empty()
    }

    /// The time step the code matches at `unix_time` (within the skew), or
    /// `None` for a wrong code or a user who is not enrolled. Comparison is
    /// constant-time (totp-rs).
    pub fn check(&self, user: &str, code: &str, unix_time: u64) -> Option<u64> {
        self.by_user.get(user)?.check(code, unix_time)
    }
}

impl fmt::Debug for TotpSecrets {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TotpSecrets")
            .field("users", &self.by_user.keys().collect::<Vec<_>>())
            .finish()
    }
}

fn generator(user: &str, encoded: &str, skew: u8) -> Result<Totp, String> {
    let normalized: String = encoded
        .chars()
        .filter(|c| !c.is_ascii_whitespace() && *c != '=')
        .map(|c| c.to_ascii_uppercase())
        .collect();
    let secret = Secret::try_from_base32(&normalized)
        .map_err(|_| format!("the secret for `{user}` is not valid base32"))?;
    rfc6238(secret, skew)
        .build()
        .map_err(|error| format!("the secret for `{user}` is unusable: {error}"))
}

/// SHA-1, 6 digits, 30 s: what `oathtool --totp` and authenticator apps assume.
fn rfc6238(secret: Secret, skew: u8) -> Builder {
    Builder::new()
        .with_algorithm(Algorithm::SHA1)
        .with_digits(DIGITS)
        .with_step_duration(STEP_SECONDS)
        .with_skew(u16::from(skew))
        .with_secret(secret)
}

/// A new enrolment: a random 160-bit secret (RFC 4226's recommended length).
pub struct Enrolment {
    /// The user enrolled.
    pub user: String,
    /// The secret, for manual entry.
    pub secret_base32: String,
    /// The `otpauth://` URI an authenticator app scans.
    pub otpauth_uri: String,
}

impl Enrolment {
    /// A new random secret for `user`, labelled with `issuer` in the app.
    pub fn generate(user: &str, issuer: &str) -> Result<Self, String> {
        let secret = Secret::generate();
        let secret_base32 = secret.to_base32();
        let totp = rfc6238(secret, 1)
            .with_account_name(user)
            .with_issuer(Some(issuer))
            .build()
            .map_err(|error| error.to_string())?;
        let otpauth_uri = totp.to_url().map_err(|error| error.to_string())?;
        Ok(Self {
            user: user.to_owned(),
            secret_base32,
            otpauth_uri,
        })
    }

    /// The line to append to `users.totp_file`.
    pub fn file_line(&self) -> String {
        format!("{}:{}", self.user, self.secret_base32)
    }
}

/// Whether the file's permission bits are wider than 0600 (group or others
/// may read it, or anyone may execute it).
pub fn mode_is_too_wide(path: &Path) -> std::io::Result<Option<u32>> {
    use std::os::unix::fs::PermissionsExt;
    let mode = std::fs::metadata(path)?.permissions().mode() & 0o777;
    Ok((mode & !0o600 != 0).then_some(mode))
}

#[cfg(test)]
mod tests {
    use super::*;

    /// RFC 6238 appendix B's SHA-1 key, "12345678901234567890".
    const RFC_SECRET: &str = "GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ";

    #[test]
    fn rfc_6238_test_vectors_check_at_their_times() {
        let secrets = TotpSecrets::parse(&format!("alice:{RFC_SECRET}\n"), 0).unwrap();
        // Appendix B: 94287082 at T=59 (8 digits); the last six are the 6-digit code.
        assert_eq!(secrets.check("alice", "287082", 59), Some(1));
        assert_eq!(
            secrets.check("alice", "081804", 1_111_111_109),
            Some(37_037_036)
        );
        assert_eq!(secrets.check("alice", "287083", 59), None);
        assert_eq!(secrets.check("bob", "287082", 59), None);
    }

    #[test]
    fn skew_admits_exactly_the_neighbouring_steps() {
        let strict = TotpSecrets::parse(&format!("alice:{RFC_SECRET}"), 0).unwrap();
        let lenient = TotpSecrets::parse(&format!("alice:{RFC_SECRET}"), 1).unwrap();
        // 287082 belongs to step 1 (30..60).
        assert_eq!(strict.check("alice", "287082", 60), None);
        assert_eq!(lenient.check("alice", "287082", 60), Some(1));
        assert_eq!(lenient.check("alice", "287082", 0), Some(1));
        assert_eq!(lenient.check("alice", "287082", 90), None);
    }

    #[test]
    fn secrets_are_read_as_apps_show_them_and_bad_lines_are_named() {
        let spaced = "gezd gnbv gy3t qojq gezd gnbv gy3t qojq";
        let secrets = TotpSecrets::parse(&format!("# c\n\nalice:{spaced}\n"), 0).unwrap();
        assert!(secrets.is_enrolled("alice"));
        let error = TotpSecrets::parse("alice:GEZDGNBV\n", 0).unwrap_err();
        assert!(error.to_string().starts_with("line 1: "), "{error}");
        let error = TotpSecrets::parse("# c\nalice:not base32!\n", 0).unwrap_err();
        assert_eq!(
            error.to_string(),
            "line 2: the secret for `alice` is not valid base32"
        );
        let error =
            TotpSecrets::parse(&format!("a:{RFC_SECRET}\na:{RFC_SECRET}\n"), 0).unwrap_err();
        assert!(error.to_string().contains("twice"), "{error}");
        assert!(!format!("{secrets:?}").contains("GEZD"));
    }

    #[test]
    fn an_enrolment_round_trips_through_the_file_format() {
        let enrolment = Enrolment::generate("alice", "tokengate").unwrap();
        assert_eq!(enrolment.secret_base32.len(), 32);
        assert!(
            enrolment
                .otpauth_uri
                .starts_with("otpauth://totp/tokengate:alice?")
        );
        let secrets = TotpSecrets::parse(&enrolment.file_line(), 1).unwrap();
        assert!(secrets.is_enrolled("alice"));
    }
}
