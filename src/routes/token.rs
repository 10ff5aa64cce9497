//! `POST /token`: the refresh grant (RFC 6749 6), answered in the 5.1 shape.
//! The refresh token comes from the form, or for the browser flow from the
//! refresh cookie, whose `Path` is this endpoint alone.

use actix_web::cookie::{Cookie, SameSite};
use actix_web::http::header;
use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};
use serde::Serialize;

use super::access::access_cookie;
use super::login::{Grants, mint};
use super::oauth::{OAuthError, form_fields};
use crate::auth::{AMR_OTP, AMR_PASSWORD, Issuer, Verifier};
use crate::credentials::Login;
use crate::csrf;
use crate::http::{ConflictingCookies, cookie_value, gate_path};
use crate::sessions::{IssuedRefresh, SessionService};

/// The refresh cookie's name over plain HTTP, and the path it is sent to
/// (beside `/login`, wherever the gate is mounted).
pub const REFRESH_COOKIE: &str = "tokengate_refresh";
pub const TOKEN_PATH: &str = "/token";
/// Its name over HTTPS: browsers accept a `__Secure-` cookie only with
/// `Secure` from a secure origin, so a plain-HTTP sibling cannot plant one.
/// Not `__Host-`: that needs `Path=/`, and this cookie goes to `/token` alone.
pub const SECURE_REFRESH_COOKIE: &str = "__Secure-tokengate_refresh";

/// The refresh cookie's name for this request; only that name is read.
fn refresh_cookie_name(req: &HttpRequest) -> &'static str {
    match crate::proxy::is_https(req) {
        true => SECURE_REFRESH_COOKIE,
        false => REFRESH_COOKIE,
    }
}

/// RFC 6749 5.1, plus the refresh token's own lifetime.
#[derive(Serialize, utoipa::ToSchema)]
pub struct TokenResponse {
    #[serde(skip_serializing_if = "Option::is_none")]
    pub access_token: Option<String>,
    pub token_type: &'static str,
    pub expires_in: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub refresh_token: Option<String>,
    pub refresh_expires_in: u64,
}

/// The `/token` form (RFC 6749 6).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: the handler reads the fields itself.
pub(crate) struct RefreshForm {
    /// Only `refresh_token`.
    grant_type: String,
    /// Absent: the `tokengate_refresh` cookie (browser flow).
    refresh_token: Option<String>,
}

#[utoipa::path(
    post,
    path = "/token",
    tag = "sessions",
    summary = "Refresh grant: a new access token and refresh token (RFC 6749 6)",
    description = "The refresh token comes from the form or, for browsers, from the \
        `tokengate_refresh` cookie (`__Secure-tokengate_refresh` over HTTPS; two different values \
        are an `invalid_request`); from the cookie both new tokens travel in HttpOnly cookies \
        and the body carries neither.",
    request_body(content = RefreshForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "The new pair; the presented refresh token is spent",
            body = TokenResponse),
        (status = 400, description = "`invalid_request` (missing field, field given twice, not a \
            form), `unsupported_grant_type`, or `invalid_grant` (unknown, expired, spent or \
            revoked refresh token)", body = super::oauth::OAuthErrorBody),
        (status = 403, description = "Cookie-authenticated and posted from another site \
            (`cross_site_request`)", body = super::oauth::OAuthErrorBody),
        (status = 503, description = "The session store is unavailable (`temporarily_unavailable`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            body = super::oauth::OAuthErrorBody),
    ),
)]
pub async fn token(
    req: HttpRequest,
    body: Bytes,
    sessions: web::Data<SessionService>,
    issuer: web::Data<Issuer>,
    verifier: web::Data<Verifier>,
    login: web::Data<Login>,
) -> Result<HttpResponse, OAuthError> {
    let mut fields = form_fields(&req, &body)?;
    match fields.get("grant_type").map(String::as_str) {
        None => return Err(OAuthError::InvalidRequest("grant_type is required")),
        Some("refresh_token") => {}
        Some(_) => return Err(OAuthError::UnsupportedGrantType),
    }
    let (presented, from_cookie) = match fields.remove("refresh_token") {
        Some(token) => (token, false),
        None => match cookie_value(&req, refresh_cookie_name(&req)) {
            Ok(Some(value)) => (value.to_owned(), true),
            Ok(None) => return Err(OAuthError::InvalidRequest("refresh_token is required")),
            Err(ConflictingCookies) => {
                return Err(OAuthError::InvalidRequest(
                    "two different refresh cookies were sent",
                ));
            }
        },
    };
    if from_cookie && !csrf::is_same_origin(&req) {
        return Err(OAuthError::CrossSite);
    }
    // The user as the store has them now, looked up before the token is
    // spent, so a store that cannot answer leaves it usable for a retry.
    let Some((sid, name)) = sessions.session_of_refresh(&presented).await? else {
        return Err(OAuthError::InvalidGrant);
    };
    let user = match login.store().find(&name).await {
        Ok(Some(user)) => user,
        Ok(None) => {
            // Removed from the store: the session ends with them.
            sessions.end_session(&sid).await?;
            return Err(OAuthError::InvalidGrant);
        }
        Err(error) => {
            log::warn!("refresh refused: {error}");
            return Err(OAuthError::Unavailable);
        }
    };
    // Roles and the app's claims as they are now: a change of groups takes
    // effect at the next refresh. The login's methods and time stay.
    let grants = Grants::of(&req, &login, &user).map_err(OAuthError::Internal)?;
    let refreshed = sessions.refresh(&presented).await?;
    let amr: &'static [&'static str] = if refreshed.amr.iter().any(|m| m == AMR_OTP) {
        &[AMR_PASSWORD, AMR_OTP]
    } else {
        &[AMR_PASSWORD]
    };
    let issued = mint(
        issuer.into_inner(),
        refreshed.user.clone(),
        grants,
        amr,
        refreshed.sid.clone(),
        refreshed.auth_time,
    )
    .await
    .map_err(|error| OAuthError::Internal(error.into()))?;
    let mut response = HttpResponse::Ok();
    super::security_headers(&mut response);
    response.insert_header((header::PRAGMA, "no-cache"));
    if !from_cookie {
        return Ok(response.json(TokenResponse {
            access_token: Some(issued.token),
            token_type: "Bearer",
            expires_in: issued.expires_in,
            refresh_token: Some(refreshed.refresh.token),
            refresh_expires_in: refreshed.refresh.expires_in,
        }));
    }
    // The browser flow: the tokens travel in HttpOnly cookies only, never
    // in a body the page's script could read.
    let exp = issued.expires_at.unix_timestamp();
    if let Some(cookie) = access_cookie(&req, &verifier, issued.token, exp) {
        response.cookie(cookie);
    }
    response.cookie(refresh_cookie(&req, &refreshed.refresh));
    Ok(response.json(TokenResponse {
        access_token: None,
        token_type: "Bearer",
        expires_in: issued.expires_in,
        refresh_token: None,
        refresh_expires_in: refreshed.refresh.expires_in,
    }))
}

/// HttpOnly, SameSite=Strict, sent only to `/token`; over HTTPS `Secure`
/// under the `__Secure-` name.
pub fn refresh_cookie(req: &HttpRequest, refresh: &IssuedRefresh) -> Cookie<'static> {
    Cookie::build(refresh_cookie_name(req), refresh.token.clone())
        .http_only(true)
        .same_site(SameSite::Strict)
        .path(gate_path(req, TOKEN_PATH))
        .secure(crate::proxy::is_https(req))
        .max_age(time::Duration::seconds(refresh.expires_in as i64))
        .finish()
}

/// Expired copies of both session cookies under this request's names,
/// which make the browser drop them (a prefixed cookie's removal must
/// itself be `Secure`, or the browser ignores it).
pub fn cleared_cookies(req: &HttpRequest, verifier: &Verifier) -> [Cookie<'static>; 2] {
    let https = crate::proxy::is_https(req);
    let mut access = Cookie::build(verifier.sources().cookie_name_for(req).to_owned(), "")
        .path("/")
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .finish();
    access.make_removal();
    let mut refresh = Cookie::build(refresh_cookie_name(req), "")
        .path(gate_path(req, TOKEN_PATH))
        .http_only(true)
        .same_site(SameSite::Strict)
        .secure(https)
        .finish();
    refresh.make_removal();
    [access, refresh]
}
