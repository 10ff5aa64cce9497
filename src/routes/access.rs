use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use super::{prefers_html, security_headers};
use crate::auth::{Authenticated, Claims, QUERY_PARAMETER, Verifier};
use crate::config::TokenSource;
use crate::pages::{AccessGrantedPage, Expiry, html_page};
use crate::sessions::SessionService;

use super::token::refresh_cookie;

/// How long the cookie outlives its token (plus leeway): long enough that a
/// reload soon after expiry still says "expired" rather than "no token".
/// An expired token is refused anyway, so this grants nothing.
const EXPIRED_NOTICE_SECONDS: i64 = 60;

#[derive(Serialize)]
struct AccessGranted<'a> {
    message: &'static str,
    user: &'a str,
    expires_at: String,
}

/// A protected endpoint: the extractor has already checked the token.
/// Browsers get a page; a browser that arrived by the private link is first
/// sent back here without the token in the address.
pub async fn access(
    req: HttpRequest,
    Authenticated(claims): Authenticated<Claims>,
    verifier: web::Data<Verifier>,
    sessions: Option<web::Data<SessionService>>,
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
    if let Some(mut redirect) = move_token_to_cookie(&req, &verifier, claims.exp) {
        // The hand-off also gives the session its refresh cookie, so the page
        // can keep it alive; without the store the link still works to `exp`.
        if let (Some(sessions), Some(sid)) = (sessions, claims.sid.as_deref()) {
            match sessions.attach_refresh(sid, &claims.sub).await {
                Ok(Some(refresh)) => {
                    let _ = redirect.add_cookie(&refresh_cookie(&req, &refresh));
                }
                Ok(None) => {}
                Err(error) => log::warn!("hand-off without a refresh cookie: {error}"),
            }
        }
        return redirect;
    }
    let page = AccessGrantedPage {
        user: &claims.sub,
        expiry: Expiry::at(claims.exp),
    };
    html_page(HttpResponse::Ok(), &page)
}

/// 303 to the same address without `token`, with the (already verified)
/// token moved into an HttpOnly cookie, so it stays out of history,
/// bookmarks and the next page's Referer. `None` when the token did not come
/// from the query, or cookies are not a configured source.
fn move_token_to_cookie(req: &HttpRequest, verifier: &Verifier, exp: i64) -> Option<HttpResponse> {
    let sources = verifier.sources();
    if !sources.includes(TokenSource::Cookie) {
        return None;
    }
    let Ok(Some((TokenSource::Query, token))) = sources.locate(req) else {
        return None;
    };
    let cookie = access_cookie(req, verifier, token.into_owned(), exp)?;
    let mut response = HttpResponse::SeeOther();
    security_headers(&mut response);
    Some(
        response
            .insert_header((header::LOCATION, without_token(req)))
            .cookie(cookie)
            .finish(),
    )
}

/// The access-token cookie: HttpOnly, SameSite=Strict, `Secure` over HTTPS,
/// kept a little past the token's expiry so a late reload says "expired".
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
        Cookie::build(sources.cookie_name().to_owned(), token)
            .http_only(true)
            .same_site(SameSite::Strict)
            .path("/")
            // HTTPS as this listener or a trusted proxy (X-Forwarded-Proto) saw it.
            .secure(crate::proxy::is_https(req))
            .max_age(time::Duration::seconds((until - now).max(0)))
            .expires(OffsetDateTime::from_unix_timestamp(until).ok()?)
            .finish(),
    )
}

/// The request's path and query, less the token parameter.
fn without_token(req: &HttpRequest) -> String {
    let rest: Vec<_> = form_urlencoded::parse(req.query_string().as_bytes())
        .filter(|(name, _)| name != QUERY_PARAMETER)
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
