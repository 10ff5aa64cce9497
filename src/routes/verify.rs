use std::cell::RefCell;

use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderName, HeaderValue};

use super::access::rfc3339;
use crate::auth::{Authenticated, Claims, TokenError};

/// The user a forward-auth check vouches for; oauth2-proxy's header name, so
/// existing nginx `auth_request_set` lines work unchanged.
pub const USER_HEADER: &str = "X-Auth-Request-User";
/// When the token expires, RFC 3339.
pub const EXPIRES_HEADER: &str = "X-Auth-Request-Expires";

// The same names, parsed once: this route answers every protected request
// behind nginx, so nothing on it is parsed or formatted that need not be.
static USER: HeaderName = HeaderName::from_static("x-auth-request-user");
static EXPIRES: HeaderName = HeaderName::from_static("x-auth-request-expires");
static NO_STORE: HeaderValue = HeaderValue::from_static("no-store");

thread_local! {
    /// The expiry this worker formatted last. A client repeats its token,
    /// and tokens minted in the same second share an expiry, so most
    /// answers reuse the header value instead of formatting a date.
    static LAST_EXPIRY: RefCell<Option<(i64, HeaderValue)>> = const { RefCell::new(None) };
}

/// Forward-auth for nginx `auth_request` and Traefik `ForwardAuth`: 200 with
/// the user for a valid token, the extractor's 401 and Bearer challenge
/// otherwise. Answers any method, since nginx's subrequest keeps the
/// original request's method.
pub async fn verify(
    Authenticated(claims): Authenticated<Claims>,
) -> Result<HttpResponse, TokenError> {
    // A subject that cannot travel in a header cannot be vouched for.
    let user = HeaderValue::from_str(&claims.sub).map_err(|_| TokenError::Invalid)?;
    Ok(HttpResponse::Ok()
        .insert_header((USER.clone(), user))
        .insert_header((EXPIRES.clone(), expires_header(claims.exp)))
        .insert_header((header::CACHE_CONTROL, NO_STORE.clone()))
        .finish())
}

fn expires_header(exp: i64) -> HeaderValue {
    LAST_EXPIRY.with_borrow_mut(|last| match last {
        Some((at, value)) if *at == exp => value.clone(),
        _ => {
            let value = HeaderValue::try_from(rfc3339(exp)).unwrap_or(HeaderValue::from_static(""));
            *last = Some((exp, value.clone()));
            value
        }
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_reused_expiry_header_is_the_formatted_one() {
        for exp in [1_700_000_000, 1_700_000_000, 1_700_000_001, 1_700_000_000] {
            assert_eq!(expires_header(exp), rfc3339(exp).as_str());
        }
    }

    #[test]
    fn the_parsed_names_are_the_documented_ones() {
        assert!(USER.as_str().eq_ignore_ascii_case(USER_HEADER));
        assert!(EXPIRES.as_str().eq_ignore_ascii_case(EXPIRES_HEADER));
    }
}
