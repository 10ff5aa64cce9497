//! `POST /logout`: ends the session of the presented access token, or with
//! `everywhere=true` every session of its user, on every replica; clears
//! the session cookies.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::oauth::{OAuthError, form_fields};
use super::token::cleared_cookies;
use crate::audit::Audit;
use crate::auth::{Claims, TokenError, Verifier};
use crate::csrf;
use crate::pages::{TokenRejectedPage, html_page};
use crate::sessions::SessionService;

/// The `/logout` form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: the handler reads the fields itself.
pub(crate) struct LogoutForm {
    /// `true`: end every session of the user, not only this one.
    everywhere: Option<bool>,
}

#[utoipa::path(
    post,
    path = "/logout",
    tag = "sessions",
    summary = "End this session (or every session of the user) and clear the cookies",
    security(("bearer" = []), ("cookie" = []), ("query" = [])),
    request_body(content = Option<LogoutForm>, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Logged out (also for an already revoked token); the session \
            cookies are cleared", headers(("Set-Cookie" = String, description = "Expired cookies"))),
        (status = 200, description = "A browser form post: the logged-out page", content_type = "text/html",
            body = String),
        (status = 400, description = "`invalid_request`: `everywhere` not `true`/`false`, a field \
            given twice, not a form", content(
                (super::oauth::OAuthErrorBody = "application/json"),
                (String = "text/html"),
            )),
        (status = 401, description = "No token, or an expired or invalid one: `token_missing`, \
            `token_expired` or `token_invalid`",
            headers(("WWW-Authenticate" = String, description = "RFC 6750 Bearer challenge")),
            content((super::Error = "application/json"), (String = "text/html"))),
        (status = 403, description = "Cookie-authenticated and posted from another site \
            (`cross_site_request`)", content(
                (super::oauth::OAuthErrorBody = "application/json"),
                (String = "text/html"),
            )),
        (status = 503, description = "The session store is unavailable (`temporarily_unavailable`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            content(
                (super::oauth::OAuthErrorBody = "application/json"),
                (String = "text/html"),
            )),
    ),
)]
pub async fn logout(
    req: HttpRequest,
    body: Bytes,
    verifier: web::Data<Verifier>,
    sessions: web::Data<SessionService>,
) -> Result<HttpResponse, actix_web::Error> {
    let fields = form_fields(&req, &body)?;
    let everywhere = match fields.get("everywhere").map(String::as_str) {
        None | Some("false") => false,
        Some("true") => true,
        Some(_) => {
            return Err(OAuthError::InvalidRequest("everywhere must be true or false").into());
        }
    };
    if csrf::is_cross_site_cookie_use(&req, &verifier) {
        return Err(OAuthError::CrossSite.into());
    }
    match verifier.authenticate::<Claims>(&req) {
        Ok(claims) => {
            if everywhere {
                sessions.revoke_user(&claims.sub).await
            } else {
                match claims.sid.as_deref() {
                    Some(sid) => sessions.end_session(sid).await,
                    None => Ok(()),
                }
            }
            .map_err(OAuthError::from)?;
            if let Some(audit) = Audit::of(&req) {
                audit.logout(&req, &claims.sub, everywhere);
            }
        }
        // Already over: logging out again is not an error.
        Err(TokenError::Revoked) => {}
        Err(error) => return Err(error.into()),
    }
    let mut response = if super::prefers_html(&req) {
        // A form post from the access page: say so rather than leave a blank 204.
        html_page(HttpResponse::Ok(), &TokenRejectedPage::logged_out(&req))
    } else {
        HttpResponse::NoContent()
            .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
            .finish()
    };
    for cookie in cleared_cookies(&req, &verifier) {
        let _ = response.add_cookie(&cookie);
    }
    Ok(response)
}
