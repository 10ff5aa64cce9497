use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

use crate::http::{BEARER_CHALLENGE, ErrorBody, bearer_challenge};

/// Why a request carried no acceptable token. Every variant but
/// [`Unconfigured`](TokenError::Unconfigured) is a 401 with an RFC 6750
/// `WWW-Authenticate: Bearer` challenge.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum TokenError {
    /// No configured source carried a token.
    #[error("no token was presented")]
    Missing,
    /// The token's `exp` has passed (beyond the leeway).
    #[error("the token has expired")]
    Expired,
    /// Anything else: bad signature, algorithm, kid, `typ`, claims or encoding.
    #[error("the token is not valid")]
    Invalid,
    /// Well signed and unexpired, but its session was ended (logout, revocation).
    #[error("the token's session has ended")]
    Revoked,
    /// The app registered no [`TokenGate`](crate::TokenGate): a 500, logged,
    /// since it is the server's mistake rather than the client's.
    #[error("the token could not be checked")]
    Unconfigured,
}

impl TokenError {
    /// The stable, documented error code in the JSON body.
    pub fn code(self) -> &'static str {
        match self {
            TokenError::Missing => "token_missing",
            TokenError::Expired => "token_expired",
            TokenError::Invalid => "token_invalid",
            TokenError::Revoked => "token_revoked",
            TokenError::Unconfigured => "internal_error",
        }
    }

    /// RFC 6750 3: no error code when no token was sent, `invalid_token` otherwise.
    pub fn challenge(self) -> &'static str {
        match self {
            TokenError::Missing => BEARER_CHALLENGE,
            TokenError::Expired => bearer_challenge!("invalid_token", "The access token expired"),
            TokenError::Invalid | TokenError::Unconfigured => {
                bearer_challenge!("invalid_token", "The access token is invalid")
            }
            TokenError::Revoked => bearer_challenge!("invalid_token", "The session has ended"),
        }
    }
}

impl ResponseError for TokenError {
    fn status_code(&self) -> StatusCode {
        match self {
            TokenError::Unconfigured => StatusCode::INTERNAL_SERVER_ERROR,
            _ => StatusCode::UNAUTHORIZED,
        }
    }

    fn error_response(&self) -> HttpResponse {
        if *self == TokenError::Unconfigured {
            return HttpResponse::InternalServerError()
                .insert_header((header::CACHE_CONTROL, "no-store"))
                .json(ErrorBody::new(self.code(), self.to_string()));
        }
        HttpResponse::Unauthorized()
            .insert_header((header::WWW_AUTHENTICATE, self.challenge()))
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(ErrorBody::new(self.code(), self.to_string()))
    }
}
