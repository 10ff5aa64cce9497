//! Errors of the login boundary that become HTTP answers. Token errors live
//! with the extractor in [`crate::auth::TokenError`].

use actix_web::http::{StatusCode, header};

use crate::credentials::{PoolError, StoreError};
use actix_web::{HttpResponse, ResponseError};

use crate::http::{ErrorBody, security_headers};
use crate::pages::{LoginFailedPage, html_page};

/// The Basic challenge that makes a browser show its login prompt. Written
/// out: actix-web-httpauth's `basic::Basic` has no RFC 7617 2.1 `charset`.
pub const BASIC_CHALLENGE: &str = r#"Basic realm="tokengate", charset="UTF-8""#;

#[derive(Debug, thiserror::Error)]
pub enum LoginError {
    /// Missing, malformed or wrong credentials, or an unknown user: one answer for all.
    #[error("valid credentials are required")]
    InvalidCredentials {
        wants_json: bool,
        /// Where the page's "try again" link points.
        login_href: String,
    },
    /// The credential store could not answer: not the client's fault, and
    /// not a wrong password either.
    #[error("the login service is temporarily unavailable; retry shortly")]
    StoreUnavailable(#[source] StoreError),
    /// The password-check queue is full: shed load rather than queue without bound.
    #[error("too many logins are being checked; retry shortly")]
    Busy,
    /// Too many attempts from this address or for this username.
    #[error("too many login attempts; retry in {} s", retry_after.as_secs())]
    Throttled { retry_after: std::time::Duration },
    /// The session store is unreachable: no session can be started.
    #[error("logins are unavailable for a moment; retry shortly")]
    Unavailable,
    /// A server-side failure; its cause chain is logged, never shown.
    #[error("the login could not be completed")]
    Internal(#[source] anyhow::Error),
}

impl LoginError {
    /// The outcome's name in `tokengate_logins_total` and the audit trail.
    pub fn outcome(&self) -> &'static str {
        match self {
            LoginError::InvalidCredentials { .. } => "invalid_credentials",
            LoginError::Busy => "busy",
            LoginError::StoreUnavailable(_) | LoginError::Unavailable => "unavailable",
            LoginError::Throttled { .. } => "throttled",
            LoginError::Internal(_) => "error",
        }
    }
}

impl ResponseError for LoginError {
    fn status_code(&self) -> StatusCode {
        match self {
            LoginError::InvalidCredentials { .. } => StatusCode::UNAUTHORIZED,
            LoginError::Busy | LoginError::Unavailable | LoginError::StoreUnavailable(_) => {
                StatusCode::SERVICE_UNAVAILABLE
            }
            LoginError::Throttled { .. } => StatusCode::TOO_MANY_REQUESTS,
            LoginError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }

    /// JSON for every client but one: a failed login's page for a client
    /// that did not ask for JSON (the browser shows its prompt again).
    /// Browsers get every other answer as a page from
    /// [`crate::pages::error_pages`], which keeps this status and headers.
    fn error_response(&self) -> HttpResponse {
        let mut response = HttpResponse::build(self.status_code());
        security_headers(&mut response);
        let code = match self {
            LoginError::InvalidCredentials {
                wants_json,
                login_href,
            } => {
                response.insert_header((header::WWW_AUTHENTICATE, BASIC_CHALLENGE));
                if !*wants_json {
                    return html_page(response, &LoginFailedPage { login_href });
                }
                "invalid_credentials"
            }
            LoginError::Busy => {
                response.insert_header((header::RETRY_AFTER, "1"));
                "busy"
            }
            LoginError::StoreUnavailable(error) => {
                log::error!(
                    "credential store unavailable: {error}: {}",
                    cause_chain(error)
                );
                response
                    .insert_header((header::RETRY_AFTER, error.retry_after_seconds().to_string()));
                "store_unavailable"
            }
            LoginError::Throttled { retry_after } => {
                response.insert_header((header::RETRY_AFTER, retry_after.as_secs().to_string()));
                "too_many_requests"
            }
            LoginError::Unavailable => {
                response.insert_header((
                    header::RETRY_AFTER,
                    crate::sessions::RETRY_AFTER.as_secs().to_string(),
                ));
                "temporarily_unavailable"
            }
            LoginError::Internal(cause) => {
                log::error!("login failed: {cause:#}");
                "internal_error"
            }
        };
        response.json(ErrorBody::new(code, self.to_string()))
    }
}

impl From<PoolError> for LoginError {
    fn from(error: PoolError) -> Self {
        match error {
            PoolError::Busy => LoginError::Busy,
            PoolError::Aborted => LoginError::Internal(error.into()),
        }
    }
}

/// The error's causes, innermost last, for the log.
fn cause_chain(error: &dyn std::error::Error) -> String {
    let mut causes = Vec::new();
    let mut next = error.source();
    while let Some(cause) = next {
        causes.push(cause.to_string());
        next = cause.source();
    }
    causes.join(": ")
}
