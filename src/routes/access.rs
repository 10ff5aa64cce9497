use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{prefers_html, security_headers};
use crate::auth::TokenSource;
use crate::auth::{Authenticated, Claims, QUERY_PARAMETER, TokenError, Verifier};
use crate::pages::{AccessGrantedPage, ConfirmSignInPage, Expiry, access_page, html_page};
use crate::sessions::SessionService;

use super::token::{TOKEN_PATH, refresh_cookie};
use crate::http::gate_path;

/// How long the cookie outlives its token (plus leeway): long enough that a
/// reload soon after expiry still says "expired" rather than "no token".
/// An expired token is refused anyway, so this grants nothing.
const EXPIRED_NOTICE_SECONDS: i64 = 60;

#[derive(Serialize, utoipa::ToSchema)]
pub(crate) struct AccessGranted<'a> {
    /// Always `valid jwt token`.
    message: &'static str,
    /// The token's subject.
    user: &'a str,
    /// When the token expires, RFC 3339.
    #[schema(format = DateTime)]
    expires_at: String,
}

/// A protected endpoint: the extractor has already checked the token.
#[utoipa::path(
    get,
    path = "/access",
    tag = "tokens",
    summary = "Check a token",
    description = "Answers JSON, or a page for browsers (`Accept` ranking `text/html` above JSON). \
        A browser that arrived by the private link (`?token=`) is redirected here without it, \
        the token moved into an HttpOnly cookie.",
    security(("bearer" = []), ("cookie" = []), ("query" = [])),
    responses(
        (status = 200, description = "The token is valid", content(
            (AccessGranted = "application/json"),
            (String = "text/html"),
        )),
        (status = 303, description = "Browser with a private link: the token moved into a cookie",
            headers(("Location" = String, description = "This address without the token"),
                    ("Set-Cookie" = String, description = "The token, HttpOnly, SameSite=Strict"))),
        (status = 401, description = "No token, or an expired or invalid one: \
            `token_missing`, `token_expired` or `token_invalid`",
            headers(("WWW-Authenticate" = String, description = "RFC 6750 Bearer challenge")),
            content((super::Error = "application/json"), (String = "text/html"))),
    ),
)]
/// Browsers get a page; a browser that arrived by the private link is first
/// sent back here without the token in the address.
pub async fn access(
    req: HttpRequest,
    Authenticated(claims): Authenticated<Claims>,
) -> HttpResponse {
    if !prefers_html(&req) {
        return HttpResponse::Ok()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(AccessGranted {
                message: "valid jwt token",
                user: &claims.sub,
                expires_at: rfc3339(claims.exp),
            });
    }
    // Read here, not extracted: the JSON answer above needs neither.
    let verifier = req
        .app_data::<web::Data<Verifier>>()
        .expect("BUG: the extractor found the Verifier");
    if let Some(mut answer) = move_token_to_cookie(&req, verifier, &claims) {
        // The hand-off also gives the session its refresh cookie, so the page
        // can keep it alive; without the store the link still works to `exp`.
        let handed_off = answer.status() == actix_web::http::StatusCode::SEE_OTHER;
        let sessions = req.app_data::<web::Data<SessionService>>();
        if let (true, Some(sessions), Some(sid)) = (handed_off, sessions, claims.sid.as_deref()) {
            match sessions.attach_refresh(sid, &claims.sub).await {
                Ok(Some(refresh)) => {
                    let _ = answer.add_cookie(&refresh_cookie(&req, &refresh));
                }
                Ok(None) => {}
                Err(error) => log::warn!("hand-off without a refresh cookie: {error}"),
            }
        }
        return answer;
    }
    let login_href = crate::http::login_path(&req);
    let (refresh_href, logout_href) = (gate_path(&req, TOKEN_PATH), gate_path(&req, "/logout"));
    let page = AccessGrantedPage {
        user: &claims.sub,
        login_href: &login_href,
        refresh_href: &refresh_href,
        logout_href: &logout_href,
        expiry: Expiry::at(claims.exp),
    };
    access_page(HttpResponse::Ok(), &page)
}

/// 303 to the same address without `token`, with the (already verified)
/// token moved into an HttpOnly cookie, so it stays out of history,
/// bookmarks and the next page's Referer. `None` when the token did not come
/// from the query, or cookies are not a configured source.
///
/// Against login CSRF, the cookie is only set on a navigation from this
/// site or a direct one (typed, bookmarked, pasted), and never replaces a
/// valid cookie for another user: both get a page asking first, whose link
/// is a same-origin click (with `switch=1` to confirm a switch of user).
fn move_token_to_cookie(
    req: &HttpRequest,
    verifier: &Verifier,
    claims: &Claims,
) -> Option<HttpResponse> {
    let sources = verifier.sources();
    if !sources.includes(TokenSource::Cookie) {
        return None;
    }
    let Ok(Some((TokenSource::Query, token))) = sources.locate(req) else {
        return None;
    };
    let navigation = Navigation::of(req);
    if navigation == Navigation::CrossSite {
        let here = without(req, &[SWITCH_PARAMETER]);
        return Some(confirm(&ConfirmSignInPage {
            heading: "One more step",
            user: &claims.sub,
            current_user: None,
            continue_to: &here,
            login_href: &crate::http::login_path(req),
            access_href: &gate_path(req, "/access"),
        }));
    }
    // A click on the confirmation page; a browser without Fetch Metadata
    // cannot show it is one, and would otherwise be asked forever.
    let confirmed = matches!(navigation, Navigation::SameOrigin | Navigation::Unknown)
        && query_has(req, SWITCH_PARAMETER, "1");
    // Two different token cookies: whoever is signed in now cannot be told,
    // so the switch is asked for as if it were to another user.
    let current = cookie_user(req, verifier);
    let switching = match &current {
        Ok(current) => current
            .as_ref()
            .is_some_and(|current| *current != claims.sub),
        Err(_) => true,
    };
    if switching && !confirmed {
        let switch = format!("{}&{SWITCH_PARAMETER}=1", without(req, &[SWITCH_PARAMETER]));
        return Some(confirm(&ConfirmSignInPage {
            heading: "Switch user?",
            user: &claims.sub,
            current_user: current.ok().flatten().as_deref(),
            continue_to: &switch,
            login_href: &crate::http::login_path(req),
            access_href: &gate_path(req, "/access"),
        }));
    }
    let cookie = access_cookie(req, verifier, token.into_owned(), claims.exp)?;
    let mut response = HttpResponse::SeeOther();
    security_headers(&mut response);
    Some(
        response
            .insert_header((
                header::LOCATION,
                without(req, &[QUERY_PARAMETER, SWITCH_PARAMETER]),
            ))
            .cookie(cookie)
            .finish(),
    )
}

/// The access-token cookie: HttpOnly, SameSite=Strict, kept a little past
/// the token's expiry so a late reload says "expired". Over HTTPS (this
/// listener's, or a trusted proxy's X-Forwarded-Proto) `Secure`, under the
/// `__Host-` name, which needs Secure, Path=/ and no Domain.
pub(super) fn access_cookie(
    req: &HttpRequest,
    verifier: &Verifier,
    token: String,
    exp: i64,
) -> Option<Cookie<'static>> {
    let sources = verifier.sources();
    let until = exp
        .saturating_add(verifier.leeway().as_secs() as i64)
        .saturating_add(EXPIRED_NOTICE_SECONDS);
    let now = OffsetDateTime::now_utc().unix_timestamp();
    Some(
        Cookie::build(sources.cookie_name_for(req).to_owned(), token)
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            .secure(crate::proxy::is_https(req))
            .max_age(time::Duration::seconds((until - now).max(0)))
            .expires(OffsetDateTime::from_unix_timestamp(until).ok()?)
            .finish(),
    )
}

/// The query parameter that confirms a switch of user on the confirmation page.
const SWITCH_PARAMETER: &str = "switch";

/// How the browser came to this request, from Fetch Metadata
/// (`Sec-Fetch-Site`), or `Origin` where a browser sends no such header.
#[derive(Debug, PartialEq, Eq)]
enum Navigation {
    SameOrigin,
    /// Typed, bookmarked, pasted.
    Direct,
    CrossSite,
    /// Neither header: an older browser, or not a browser. Handed off like
    /// a direct navigation, since nothing tells it apart.
    Unknown,
}

impl Navigation {
    fn of(req: &HttpRequest) -> Self {
        let header = |name| req.headers().get(name).and_then(|v| v.to_str().ok());
        match header("sec-fetch-site") {
            Some("same-origin") => Navigation::SameOrigin,
            Some("none") => Navigation::Direct,
            // `same-site` too: a sibling subdomain is another party.
            Some(_) => Navigation::CrossSite,
            None => match header("origin") {
                Some(origin) if !is_own_origin(req, origin) => Navigation::CrossSite,
                Some(_) => Navigation::SameOrigin,
                None => Navigation::Unknown,
            },
        }
    }
}

fn is_own_origin(req: &HttpRequest, origin: &str) -> bool {
    let scheme = if crate::proxy::is_https(req) {
        "https"
    } else {
        "http"
    };
    let host = req
        .headers()
        .get(header::HOST)
        .and_then(|host| host.to_str().ok());
    host.is_some_and(|host| origin == format!("{scheme}://{host}"))
}

/// The user a valid token cookie signs in, if the request carries one;
/// `Err` when it carries two different ones.
fn cookie_user(req: &HttpRequest, verifier: &Verifier) -> Result<Option<String>, TokenError> {
    let Some(value) = verifier.sources().cookie(req)? else {
        return Ok(None);
    };
    Ok(verifier
        .verify::<Claims>(&value)
        .ok()
        .map(|claims| claims.sub))
}

fn query_has(req: &HttpRequest, name: &str, value: &str) -> bool {
    form_urlencoded::parse(req.query_string().as_bytes()).any(|(n, v)| n == name && v == value)
}

fn confirm(page: &ConfirmSignInPage<'_>) -> HttpResponse {
    html_page(HttpResponse::Ok(), page)
}

/// The request's path and query, less the named parameters.
fn without(req: &HttpRequest, names: &[&str]) -> String {
    let rest: Vec<_> = form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(name, _)| !names.contains(&name.as_ref()))
        .collect();
    if rest.is_empty() {
        return req.path().to_owned();
    }
    let query = form_urlencoded::Serializer::new(String::new())
        .extend_pairs(rest)
        .finish();
    format!("{}?{query}", req.path())
}

pub(crate) fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}
