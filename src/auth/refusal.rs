//! Why a token was refused, finer than the three codes clients see: for the
//! `tokengate_token_checks_total` metric and the audit trail, never for the
//! response (which must not help an attacker tune a forgery).

use jsonwebtoken::errors::ErrorKind;

use super::TokenError;

/// The reason a token check failed, as metrics and the audit trail name it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// No token in any configured source.
    Missing,
    /// Not a JWT: bad encoding, bad JSON, a broken `Authorization: Bearer`.
    Malformed,
    /// Longer than the verifier reads.
    TooLarge,
    /// `exp` has passed.
    Expired,
    /// `exp` further ahead than the longest lifetime tokengate mints.
    LifetimeTooLong,
    /// `nbf` in the future.
    NotYetValid,
    /// The signature does not verify with the key the token names.
    InvalidSignature,
    /// The header's `alg` is not the key's.
    WrongAlgorithm,
    /// The `kid` names no configured key (or is absent among several).
    UnknownKey,
    /// `iss` is not `jwt.issuer`.
    WrongIssuer,
    /// `aud` is not `jwt.audience`.
    WrongAudience,
    /// `typ` other than `at+jwt`, or a critical header extension.
    WrongType,
    /// A required claim (`exp`, `nbf`, `iss`, `aud`, `sub`) is absent.
    MissingClaim,
    /// Its session ended (logout, revocation, reuse of a refresh token).
    Revoked,
    /// Anything else (a subject that cannot travel in a header, say).
    Invalid,
}

impl Refusal {
    /// The metric label and audit reason; also listed in `metrics::TOKEN_REASONS`.
    pub fn as_str(self) -> &'static str {
        match self {
            Refusal::Missing => "missing",
            Refusal::Malformed => "malformed",
            Refusal::TooLarge => "too_large",
            Refusal::Expired => "expired",
            Refusal::LifetimeTooLong => "lifetime_too_long",
            Refusal::NotYetValid => "not_yet_valid",
            Refusal::InvalidSignature => "invalid_signature",
            Refusal::WrongAlgorithm => "wrong_algorithm",
            Refusal::UnknownKey => "unknown_key",
            Refusal::WrongIssuer => "wrong_issuer",
            Refusal::WrongAudience => "wrong_audience",
            Refusal::WrongType => "wrong_type",
            Refusal::MissingClaim => "missing_claim",
            Refusal::Revoked => "revoked",
            Refusal::Invalid => "invalid",
        }
    }

    /// What the client is told.
    pub fn error(self) -> TokenError {
        match self {
            Refusal::Missing => TokenError::Missing,
            Refusal::Expired => TokenError::Expired,
            Refusal::Revoked => TokenError::Revoked,
            _ => TokenError::Invalid,
        }
    }

    pub(crate) fn from_jwt_error(kind: &ErrorKind) -> Self {
        match kind {
            ErrorKind::ExpiredSignature => Refusal::Expired,
            ErrorKind::ImmatureSignature => Refusal::NotYetValid,
            ErrorKind::InvalidSignature => Refusal::InvalidSignature,
            ErrorKind::InvalidAlgorithm | ErrorKind::InvalidAlgorithmName => {
                Refusal::WrongAlgorithm
            }
            ErrorKind::InvalidIssuer => Refusal::WrongIssuer,
            ErrorKind::InvalidAudience => Refusal::WrongAudience,
            ErrorKind::InvalidSubject => Refusal::MissingClaim,
            ErrorKind::MissingRequiredClaim(_) => Refusal::MissingClaim,
            ErrorKind::InvalidToken
            | ErrorKind::Base64(_)
            | ErrorKind::Json(_)
            | ErrorKind::Utf8(_) => Refusal::Malformed,
            _ => Refusal::Invalid,
        }
    }
}

impl From<Refusal> for TokenError {
    fn from(refusal: Refusal) -> Self {
        refusal.error()
    }
}

/// A source that is present but unreadable.
impl From<TokenError> for Refusal {
    fn from(error: TokenError) -> Self {
        match error {
            TokenError::Missing => Refusal::Missing,
            TokenError::Expired => Refusal::Expired,
            TokenError::Invalid => Refusal::Malformed,
            TokenError::Revoked => Refusal::Revoked,
            TokenError::Unconfigured => Refusal::Invalid,
        }
    }
}
