use actix_web::HttpResponse;
use actix_web::http::header::{self, HeaderValue};

use super::access::rfc3339;
use crate::auth::{Authenticated, Claims, TokenError};

/// The user a forward-auth check vouches for; oauth2-proxy's header name, so
/// existing nginx `auth_request_set` lines work unchanged.
pub const USER_HEADER: &str = "X-Auth-Request-User";
/// When the token expires, RFC 3339.
pub const EXPIRES_HEADER: &str = "X-Auth-Request-Expires";

/// Forward-auth for nginx `auth_request` and Traefik `ForwardAuth`: 200 with
/// the user for a valid token, the extractor's 401 and Bearer challenge
/// otherwise. Answers any method, since nginx's subrequest keeps the
/// original request's method.
#[utoipa::path(
    method(get, head, post, put, patch, delete),
    path = "/auth/verify",
    tag = "tokens",
    summary = "Forward-auth check (nginx auth_request, Traefik ForwardAuth)",
    security(("bearer" = []), ("cookie" = []), ("query" = [])),
    responses(
        (status = 200, description = "The token is valid; empty body",
            headers(("X-Auth-Request-User" = String, description = "The token's subject"),
                    ("X-Auth-Request-Expires" = String, description = "Expiry, RFC 3339"))),
        (status = 401, description = "No token, or an expired or invalid one",
            headers(("WWW-Authenticate" = String, description = "RFC 6750 Bearer challenge")),
            body = super::Error),
    ),
)]
pub async fn verify(
    Authenticated(claims): Authenticated<Claims>,
) -> Result<HttpResponse, TokenError> {
    // A subject that cannot travel in a header cannot be vouched for.
    let user = HeaderValue::from_str(&claims.sub).map_err(|_| TokenError::Invalid)?;
    Ok(HttpResponse::Ok()
        .insert_header((USER_HEADER, user))
        .insert_header((EXPIRES_HEADER, rfc3339(claims.exp)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .finish())
}
