use std::cell::RefCell;

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use super::access::rfc3339;
use crate::auth::{Authenticated, Claims, TokenError, check_roles, check_second_factor};
use crate::http::ErrorBody;

// oauth2-proxy's header names, so existing nginx `auth_request_set` lines
// work unchanged. Parsed once: this route answers every protected request
// behind nginx, so nothing on it is parsed or formatted that need not be.
/// The user a forward-auth check vouches for.
static USER: HeaderName = HeaderName::from_static("x-auth-request-user");
/// When the token expires, RFC 3339.
static EXPIRES: HeaderName = HeaderName::from_static("x-auth-request-expires");
/// The token's roles, comma-separated; absent when it has none.
const ROLES_HEADER: &str = "X-Auth-Request-Roles";
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
///
/// Per-location requirements ride in the query: `?role=admins` (repeatable,
/// all must be held) and `?mfa=true` (the login used a one-time code); a
/// valid token failing one gets [`AccessDenied`](crate::auth::AccessDenied)'s 403. Roles are checked
/// first: a second factor would not help a user who lacks the role.
#[utoipa::path(
    method(get, head, post, put, patch, delete),
    path = "/auth/verify",
    tag = "tokens",
    summary = "Forward-auth check (nginx auth_request, Traefik ForwardAuth)",
    security(("bearer" = []), ("cookie" = []), ("query" = [])),
    params(
        ("role" = Option<Vec<String>>, Query, description = "Roles the token must all hold (repeatable)"),
        ("mfa" = Option<bool>, Query, description = "`true`: the login must have used a one-time code"),
    ),
    responses(
        (status = 200, description = "The token is valid; empty body",
            headers(("X-Auth-Request-User" = String, description = "The token's subject"),
                    ("X-Auth-Request-Expires" = String, description = "Expiry, RFC 3339"),
                    ("X-Auth-Request-Roles" = String, description = "The token's roles, comma-separated"))),
        (status = 400, description = "A malformed `role` or `mfa` parameter (`invalid_request`)",
            body = super::Error),
        (status = 401, description = "No token, or an expired or invalid one",
            headers(("WWW-Authenticate" = String, description = "RFC 6750 Bearer challenge")),
            body = super::Error),
        (status = 403, description = "A valid token lacking a role (`insufficient_role`) or the \
            second factor (`insufficient_user_authentication`)",
            headers(("WWW-Authenticate" = String, description = "RFC 6750 / RFC 9470 challenge")),
            body = super::Error),
    ),
)]
pub async fn verify(
    req: HttpRequest,
    Authenticated(claims): Authenticated<Claims>,
) -> Result<HttpResponse, actix_web::Error> {
    let requirements = Requirements::parse(req.query_string())?;
    check_roles(&claims, &requirements.roles)?;
    if requirements.mfa {
        check_second_factor(&claims)?;
    }
    // A subject that cannot travel in a header cannot be vouched for.
    let user = HeaderValue::from_str(&claims.sub).map_err(|_| TokenError::Invalid)?;
    let mut response = HttpResponse::Ok();
    response
        .insert_header((USER.clone(), user))
        .insert_header((EXPIRES.clone(), expires_header(claims.exp)))
        .insert_header((header::CACHE_CONTROL, NO_STORE.clone()));
    if !claims.roles.is_empty() {
        let roles =
            HeaderValue::from_str(&claims.roles.join(",")).map_err(|_| TokenError::Invalid)?;
        response.insert_header((ROLES_HEADER, roles));
    }
    Ok(response.finish())
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

/// What a location demands beyond a valid token.
#[derive(Debug, Default, PartialEq, Eq)]
struct Requirements {
    roles: Vec<String>,
    mfa: bool,
}

impl Requirements {
    /// Other parameters (the private link's `token`) are left alone.
    fn parse(query: &str) -> Result<Self, BadRequirement> {
        let mut requirements = Requirements::default();
        for (name, value) in form_urlencoded::parse(query.as_bytes()) {
            match &*name {
                "role" if value.is_empty() => {
                    return Err(BadRequirement("`role` must name a group".to_owned()));
                }
                "role" => requirements.roles.push(value.into_owned()),
                "mfa" => {
                    requirements.mfa = match &*value {
                        "true" => true,
                        "false" => false,
                        _ => {
                            return Err(BadRequirement(
                                "`mfa` must be `true` or `false`".to_owned(),
                            ));
                        }
                    }
                }
                _ => {}
            }
        }
        Ok(requirements)
    }
}

/// A malformed requirement is the proxy configuration's mistake: 400, so it
/// shows up at once rather than as a refusal of every user.
#[derive(Debug, thiserror::Error)]
#[error("{0}")]
struct BadRequirement(String);

impl ResponseError for BadRequirement {
    fn status_code(&self) -> StatusCode {
        StatusCode::BAD_REQUEST
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::BadRequest()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(ErrorBody::new("invalid_request", self.0.as_str()))
    }
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
    fn requirements_repeat_roles_and_read_mfa() {
        let parsed = Requirements::parse("role=admins&token=x&role=ops&mfa=true").unwrap();
        assert_eq!(parsed.roles, ["admins", "ops"]);
        assert!(parsed.mfa);
        assert_eq!(Requirements::parse("").unwrap(), Requirements::default());
        assert!(!Requirements::parse("mfa=false").unwrap().mfa);
        assert!(Requirements::parse("mfa=yes").is_err());
        assert!(Requirements::parse("role=").is_err());
        assert_eq!(Requirements::parse("role=a%20b").unwrap().roles, ["a b"]);
    }
}
