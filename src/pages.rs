//! The HTML pages browsers see: compiled askama templates (templates/), their
//! one inline style sheet and one inline script, and the Content-Security-Policy
//! that admits exactly those two by hash.

use actix_web::body::MessageBody;
use actix_web::dev::ServiceResponse;
use actix_web::http::{StatusCode, header};
use actix_web::middleware::{ErrorHandlerResponse, ErrorHandlers};
use actix_web::{HttpRequest, HttpResponse, HttpResponseBuilder};
use askama::Template;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;
use time::macros::format_description;

use crate::auth::{AccessDenied, TokenError};
use crate::http::{login_path, prefers_html, security_headers};

pub use crate::http::{ACCESS_PAGE_POLICY, CODE_ENTRY_POLICY, COUNTDOWN, STYLE};

/// When a token stops working, in the forms the pages show.
pub struct Expiry {
    /// For `<time datetime>`.
    pub rfc3339: String,
    /// The exact time in words, for readers without JavaScript.
    pub text: String,
    /// The countdown's start, counted by the server's clock.
    pub seconds_left: i64,
}

impl Expiry {
    pub fn at(exp: i64) -> Self {
        let at = OffsetDateTime::from_unix_timestamp(exp).unwrap_or(OffsetDateTime::UNIX_EPOCH);
        let now = OffsetDateTime::now_utc().unix_timestamp();
        Self {
            rfc3339: at.format(&Rfc3339).unwrap_or_default(),
            text: at
                .format(format_description!(
                    "[year]-[month]-[day] [hour]:[minute]:[second] UTC"
                ))
                .unwrap_or_default(),
            seconds_left: (exp - now).max(0),
        }
    }
}

#[derive(Template)]
#[template(path = "private_link.html")]
pub struct PrivateLinkPage<'a> {
    pub user: &'a str,
    pub link: &'a str,
    pub login_href: &'a str,
    pub expiry: Expiry,
}

#[derive(Template)]
#[template(path = "access_granted.html")]
pub struct AccessGrantedPage<'a> {
    pub user: &'a str,
    pub login_href: &'a str,
    /// Where the page refreshes its session and logs out: beside `/login`.
    pub refresh_href: &'a str,
    pub logout_href: &'a str,
    pub expiry: Expiry,
}

/// Asked before a private link's token becomes the sign-in cookie, when the
/// link came from another site or names another user than the cookie does
/// (login CSRF: someone else's link must not silently sign you in as them).
#[derive(Template)]
#[template(path = "confirm_sign_in.html")]
pub struct ConfirmSignInPage<'a> {
    pub heading: &'static str,
    /// The link's user.
    pub user: &'a str,
    /// The user the cookie signs in now, when it is another.
    pub current_user: Option<&'a str>,
    /// A same-origin link that confirms.
    pub continue_to: &'a str,
    pub login_href: &'a str,
    /// The access page, to stay signed in as the current user.
    pub access_href: &'a str,
}

#[derive(Template)]
#[template(path = "login_failed.html")]
pub struct LoginFailedPage<'a> {
    pub login_href: &'a str,
}

/// The second step of a login for a user enrolled in TOTP: a form posting
/// the code, with the `mfa_token` in a hidden field, to `/login/totp`.
#[derive(Template)]
#[template(path = "code_entry.html")]
pub struct CodeEntryPage<'a> {
    pub user: &'a str,
    pub mfa_token: &'a str,
    /// Why the last code was refused, if it was.
    pub problem: Option<&'a str>,
    /// The login route; the form posts to its `/totp`.
    pub login_href: &'a str,
}

/// A valid token that may not open this page (403).
#[derive(Template)]
#[template(path = "access_denied.html")]
pub struct AccessDeniedPage {
    heading: &'static str,
    explanation: &'static str,
    action: &'static str,
    login_href: String,
}

impl AccessDeniedPage {
    fn new(denied: &AccessDenied, login_href: String) -> Self {
        let (heading, explanation, action) = match denied {
            AccessDenied::InsufficientRole { .. } => (
                "Not allowed",
                "You are signed in, but your account is not in a group \
                 that may open this page. Ask an administrator if you need it.",
                "Log in as someone else",
            ),
            AccessDenied::InsufficientAuthentication => (
                "A one-time code is needed",
                "This page needs a login with your authenticator app's \
                 one-time code as well as your password.",
                "Log in with a code",
            ),
        };
        Self {
            heading,
            explanation,
            action,
            login_href,
        }
    }
}

#[derive(Template)]
#[template(path = "token_rejected.html")]
pub struct TokenRejectedPage {
    heading: &'static str,
    explanation: &'static str,
    /// Where a same-site click will carry the held-back cookie.
    continue_to: Option<String>,
    login_href: String,
}

impl TokenRejectedPage {
    /// The code step's `mfa_token` is no longer usable: expired, spent, or
    /// out of attempts. Only a fresh login helps.
    pub fn sign_in_expired(req: &HttpRequest) -> Self {
        Self {
            heading: "Sign-in expired",
            explanation: "This sign-in took too long, was already completed, or had too \
                          many wrong codes. Log in again to get a new code prompt.",
            continue_to: None,
            login_href: login_path(req),
        }
    }

    /// The answer to a browser's logout: the session has ended.
    pub fn logged_out(req: &HttpRequest) -> Self {
        Self::new(TokenError::Revoked, login_path(req))
    }

    /// A private link opened from another site's page is 303'd here as part
    /// of a cross-site navigation, so the browser holds the `SameSite=Strict`
    /// cookie back. One click on our own page sends it.
    fn for_request(error: TokenError, req: &HttpRequest) -> Self {
        let cross_site = req
            .headers()
            .get("sec-fetch-site")
            .is_some_and(|site| site == "cross-site");
        let path = req.path();
        let login_href = login_path(req);
        if error != TokenError::Missing || !cross_site || path.starts_with("//") {
            return Self::new(error, login_href);
        }
        let continue_to = match req.query_string() {
            "" => path.to_owned(),
            query => format!("{path}?{query}"),
        };
        Self {
            heading: "One more step",
            explanation: "You came here from another site, so your browser held back \
                          this site's sign-in cookie. Continue to the page to use your link.",
            continue_to: Some(continue_to),
            login_href,
        }
    }

    fn new(error: TokenError, login_href: String) -> Self {
        let (heading, explanation) = match error {
            TokenError::Missing => (
                "No access token",
                "This page needs a private link, and none came with this request. \
                 If you had one, it may have expired. Log in to get a new one.",
            ),
            TokenError::Expired => (
                "This link has expired",
                "Private links work for a short time only, and this one's time is up. \
                 Log in again for a fresh one.",
            ),
            TokenError::Invalid | TokenError::Unconfigured => (
                "This link is not valid",
                "The token in this link is damaged or was not issued by this server. \
                 Log in again for a fresh one.",
            ),
            TokenError::Revoked => (
                "You have logged out",
                "This session has ended (logged out or revoked). Log in again to continue.",
            ),
        };
        Self {
            heading,
            explanation,
            continue_to: None,
            login_href,
        }
    }
}

/// Any other error answer, as a browser sees it: what happened in words,
/// under the answer's own status and headers (`Retry-After`,
/// `WWW-Authenticate`). Built from the status alone, so no internal cause
/// or client input can reach the page.
#[derive(Template)]
#[template(path = "error.html")]
pub struct ErrorPage {
    heading: &'static str,
    explanation: &'static str,
    /// The answer's `Retry-After`, in seconds.
    retry_after: Option<u64>,
    login_href: String,
}

impl ErrorPage {
    fn new(status: StatusCode, retry_after: Option<u64>, login_href: String) -> Self {
        let (heading, explanation) = match status {
            StatusCode::TOO_MANY_REQUESTS => (
                "Too many attempts",
                "There were too many login attempts for this account or from this \
                 address. Wait a little, then try again.",
            ),
            StatusCode::SERVICE_UNAVAILABLE => (
                "Busy: try again shortly",
                "The service cannot take this request right now. Nothing is wrong \
                 with your account; try again in a moment.",
            ),
            StatusCode::UNAUTHORIZED => (
                "Sign-in required",
                "This request needs a valid sign-in. Log in again to continue.",
            ),
            StatusCode::FORBIDDEN => ("Not allowed", "This request was refused."),
            status if status.is_client_error() => (
                "The request was refused",
                "The request could not be used as it was sent.",
            ),
            _ => (
                "Something went wrong",
                "The server could not complete this request. Try again later.",
            ),
        };
        Self {
            heading,
            explanation,
            retry_after,
            login_href,
        }
    }
}

/// Renders `page` into `response`, with the security headers every page gets.
pub fn html_page(mut response: HttpResponseBuilder, page: &impl Template) -> HttpResponse {
    security_headers(&mut response);
    match page.render() {
        Ok(body) => response.content_type("text/html; charset=utf-8").body(body),
        Err(error) => {
            log::error!("a page failed to render: {error}");
            HttpResponse::InternalServerError().finish()
        }
    }
}

/// Renders the access-granted page under [`ACCESS_PAGE_POLICY`].
pub fn access_page(response: HttpResponseBuilder, page: &AccessGrantedPage<'_>) -> HttpResponse {
    let mut response = html_page(response, page);
    if let Ok(policy) = header::HeaderValue::from_str(&ACCESS_PAGE_POLICY) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// Renders `page` under the code-entry page's policy, whose form may post here.
pub fn code_entry_page(response: HttpResponseBuilder, page: &CodeEntryPage<'_>) -> HttpResponse {
    let mut response = html_page(response, page);
    if let Ok(policy) = header::HeaderValue::from_str(&CODE_ENTRY_POLICY) {
        response
            .headers_mut()
            .insert(header::CONTENT_SECURITY_POLICY, policy);
    }
    response
}

/// Middleware for routes guarded by [`Authenticated`](crate::auth::Authenticated)
/// and the role and second-factor guards: a browser gets the token's 401 or
/// the guard's 403 as a page saying what was wrong, with the same status and
/// Bearer challenge; API clients keep the JSON body.
///
/// Every other error answer becomes a page saying what happened in words,
/// with its status and headers (`Retry-After`, `WWW-Authenticate`) kept.
pub fn token_error_pages<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new()
        .handler(StatusCode::UNAUTHORIZED, render_token_error)
        .handler(StatusCode::FORBIDDEN, render_access_denied)
        .default_handler(render_error_page)
}

/// Middleware for the gate's other routes a browser may reach: a browser
/// gets every error answer that is not already a page as an [`ErrorPage`],
/// with the same status and headers; API clients keep the JSON body.
pub(crate) fn error_pages<B: MessageBody + 'static>() -> ErrorHandlers<B> {
    ErrorHandlers::new().default_handler(render_error_page)
}

fn render_error_page<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let already_a_page = response
        .headers()
        .get(header::CONTENT_TYPE)
        .is_some_and(|value| value.as_bytes().starts_with(b"text/html"));
    if already_a_page || !prefers_html(response.request()) {
        return Ok(ErrorHandlerResponse::Response(
            response.map_into_left_body(),
        ));
    }
    let page = error_page(response.request(), response.response());
    Ok(ErrorHandlerResponse::Response(
        response.into_response(page).map_into_right_body(),
    ))
}

/// `answer` as a browser sees it: an [`ErrorPage`] with its status and
/// headers, except the body's type and length.
pub(crate) fn error_page<B>(req: &HttpRequest, answer: &HttpResponse<B>) -> HttpResponse {
    let status = answer.status();
    let mut page = HttpResponse::build(status);
    for (name, value) in answer.headers() {
        if name != header::CONTENT_TYPE && name != header::CONTENT_LENGTH {
            page.append_header((name.clone(), value.clone()));
        }
    }
    if !answer.head().keep_alive() {
        page.force_close();
    }
    let retry_after = answer
        .headers()
        .get(header::RETRY_AFTER)
        .and_then(|value| value.to_str().ok()?.parse().ok());
    html_page(page, &ErrorPage::new(status, retry_after, login_path(req)))
}

fn render_access_denied<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let denied = response
        .response()
        .error()
        .and_then(|error| error.as_error::<AccessDenied>())
        .cloned();
    let Some(denied) = denied.filter(|_| prefers_html(response.request())) else {
        return render_error_page(response);
    };
    let mut page = HttpResponse::Forbidden();
    page.insert_header((header::WWW_AUTHENTICATE, denied.challenge()));
    let login_href = login_path(response.request());
    let page = html_page(page, &AccessDeniedPage::new(&denied, login_href));
    Ok(ErrorHandlerResponse::Response(
        response.into_response(page).map_into_right_body(),
    ))
}

fn render_token_error<B>(
    response: ServiceResponse<B>,
) -> actix_web::Result<ErrorHandlerResponse<B>> {
    let error = response
        .response()
        .error()
        .and_then(|error| error.as_error::<TokenError>())
        .copied();
    let Some(error) = error.filter(|_| prefers_html(response.request())) else {
        return render_error_page(response);
    };
    let mut page = HttpResponse::Unauthorized();
    page.insert_header((header::WWW_AUTHENTICATE, error.challenge()));
    let page = html_page(
        page,
        &TokenRejectedPage::for_request(error, response.request()),
    );
    Ok(ErrorHandlerResponse::Response(
        response.into_response(page).map_into_right_body(),
    ))
}

#[cfg(test)]
mod tests {
    use super::*;

    use crate::http::{CONTENT_SECURITY_POLICY, csp_hash};

    #[test]
    fn the_policy_admits_the_inline_assets_by_hash_only() {
        let policy = CONTENT_SECURITY_POLICY.as_str();
        assert!(policy.contains(&csp_hash(COUNTDOWN)), "{policy}");
        assert!(policy.contains(&csp_hash(STYLE)), "{policy}");
        assert!(!policy.contains("unsafe-inline"), "{policy}");
        assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    }

    #[test]
    fn only_the_access_page_may_call_the_token_endpoint() {
        assert!(!CONTENT_SECURITY_POLICY.contains("connect-src"));
        assert!(ACCESS_PAGE_POLICY.contains("connect-src 'self'"));
        assert!(ACCESS_PAGE_POLICY.contains("form-action 'self'"));
        assert!(!ACCESS_PAGE_POLICY.contains("form-action 'none'"));
    }

    #[test]
    fn only_the_code_entry_page_may_post_a_form() {
        assert!(CONTENT_SECURITY_POLICY.contains("form-action 'none'"));
        assert!(CODE_ENTRY_POLICY.contains("form-action 'self'"));
        assert!(!CODE_ENTRY_POLICY.contains("form-action 'none'"));
    }

    #[test]
    fn pages_inline_exactly_the_hashed_text() {
        let page = PrivateLinkPage {
            user: "u",
            link: "/access?token=t",
            login_href: "/login",
            expiry: Expiry::at(0),
        }
        .render()
        .unwrap();
        assert!(page.contains(&format!("<script>{COUNTDOWN}</script>")));
        assert!(page.contains(&format!("<style>{STYLE}</style>")));
    }

    #[test]
    fn the_expiry_is_stated_in_text() {
        let expiry = Expiry::at(1_795_559_319);
        assert_eq!(expiry.rfc3339, "2026-11-24T22:28:39Z");
        assert_eq!(expiry.text, "2026-11-24 22:28:39 UTC");
    }
}
