//! The error answers of the session endpoints: RFC 6749 5.2 shapes for
//! `/token` and `/revoke`, 503 with `Retry-After` when the store is down.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpResponse, ResponseError};

use crate::http::ErrorBody;
use crate::sessions::{RETRY_AFTER, SessionError};

#[derive(Debug, thiserror::Error)]
pub enum OAuthError {
    #[error("{0}")]
    InvalidRequest(&'static str),
    #[error("only grant_type=refresh_token is supported here")]
    UnsupportedGrantType,
    #[error("the refresh token is unknown, expired, spent or revoked")]
    InvalidGrant,
    /// A cookie-authenticated POST from another site.
    #[error("cross-site requests are refused")]
    CrossSite,
    #[error("the session store is unavailable; retry shortly")]
    Unavailable,
    /// A server-side failure; its cause chain is logged, never shown.
    #[error("the request could not be completed")]
    Internal(#[source] anyhow::Error),
}

/// The RFC 6749 5.2 error body of `/token`, `/logout`, `/revoke` and the
/// operator endpoints (the schema; each answer serializes
/// [`ErrorBody::oauth`]).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub(crate) struct OAuthErrorBody {
    /// `invalid_request`, `invalid_grant`, `unsupported_grant_type`,
    /// `cross_site_request`, `temporarily_unavailable`
    error: String,
    error_description: String,
}

impl OAuthError {
    pub fn code(&self) -> &'static str {
        match self {
            OAuthError::InvalidRequest(_) => "invalid_request",
            OAuthError::UnsupportedGrantType => "unsupported_grant_type",
            OAuthError::InvalidGrant => "invalid_grant",
            OAuthError::CrossSite => "cross_site_request",
            OAuthError::Unavailable => "temporarily_unavailable",
            OAuthError::Internal(_) => "server_error",
        }
    }
}

impl From<SessionError> for OAuthError {
    fn from(error: SessionError) -> Self {
        match error {
            SessionError::InvalidGrant => OAuthError::InvalidGrant,
            SessionError::Unavailable(cause) => {
                log::warn!("{cause}");
                OAuthError::Unavailable
            }
        }
    }
}

impl ResponseError for OAuthError {
    fn status_code(&self) -> StatusCode {
        match self {
            OAuthError::InvalidRequest(_)
            | OAuthError::UnsupportedGrantType
            | OAuthError::InvalidGrant => StatusCode::BAD_REQUEST,
            OAuthError::CrossSite => StatusCode::FORBIDDEN,
            OAuthError::Unavailable => StatusCode::SERVICE_UNAVAILABLE,
            OAuthError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        response
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .insert_header((header::PRAGMA, "no-cache"));
        if let OAuthError::Unavailable = self {
            response.insert_header((header::RETRY_AFTER, RETRY_AFTER.as_secs().to_string()));
        }
        if let OAuthError::Internal(cause) = self {
            log::error!("session request failed: {cause:#}");
        }
        response.json(ErrorBody::oauth(self.code(), self.to_string()))
    }
}

/// The form fields of an `application/x-www-form-urlencoded` body; a field
/// given twice is an `invalid_request` (RFC 6749 3.2).
pub fn form_fields(
    req: &actix_web::HttpRequest,
    body: &[u8],
) -> Result<std::collections::HashMap<String, String>, OAuthError> {
    let is_form = req
        .headers()
        .get(header::CONTENT_TYPE)
        .and_then(|value| value.to_str().ok())
        .is_some_and(|value| {
            value.split(';').next().is_some_and(|mime| {
                mime.trim()
                    .eq_ignore_ascii_case("application/x-www-form-urlencoded")
            })
        });
    if !body.is_empty() && !is_form {
        return Err(OAuthError::InvalidRequest(
            "the body must be application/x-www-form-urlencoded",
        ));
    }
    let mut fields = std::collections::HashMap::new();
    for (name, value) in form_urlencoded::parse(body) {
        if fields
            .insert(name.into_owned(), value.into_owned())
            .is_some()
        {
            return Err(OAuthError::InvalidRequest(
                "a parameter was given more than once",
            ));
        }
    }
    Ok(fields)
}
