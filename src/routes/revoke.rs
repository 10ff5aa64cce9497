//! `POST /revoke` (RFC 7009): `token=` an access or refresh token, with an
//! optional `token_type_hint`; ends that token's session. Unknown, expired
//! and already revoked tokens get the same 200, as 2.2 requires.

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::oauth::{OAuthError, form_fields};
use crate::audit::Audit;
use crate::auth::{Claims, Verifier};
use crate::sessions::SessionService;

/// The `/revoke` form (RFC 7009 2.1).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: the handler reads the fields itself.
pub(crate) struct RevokeForm {
    /// An access or a refresh token.
    token: String,
    /// `access_token` or `refresh_token`: which kind to try first.
    token_type_hint: Option<String>,
}

#[utoipa::path(
    post,
    path = "/revoke",
    tag = "sessions",
    summary = "Revoke a token's session (RFC 7009)",
    request_body(content = RevokeForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 200, description = "Revoked, or unknown, expired or already revoked (RFC 7009 2.2)"),
        (status = 400, description = "`invalid_request`: no `token`, a field given twice, not a form",
            body = super::oauth::OAuthErrorBody),
        (status = 503, description = "The session store is unavailable (`temporarily_unavailable`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            body = super::oauth::OAuthErrorBody),
    ),
)]
pub async fn revoke(
    req: HttpRequest,
    body: Bytes,
    verifier: web::Data<Verifier>,
    sessions: web::Data<SessionService>,
) -> Result<HttpResponse, OAuthError> {
    let fields = form_fields(&req, &body)?;
    let token = fields
        .get("token")
        .filter(|token| !token.is_empty())
        .ok_or(OAuthError::InvalidRequest("token is required"))?;
    // 2.1: the hint only orders the search; both kinds are always tried.
    let refresh_first = fields.get("token_type_hint").map(String::as_str) == Some("refresh_token");
    let session = if refresh_first {
        match sessions.session_of_refresh(token).await? {
            Some(session) => Some(session),
            None => access_session(&verifier, token),
        }
    } else {
        match access_session(&verifier, token) {
            Some(session) => Some(session),
            None => sessions.session_of_refresh(token).await?,
        }
    };
    if let Some((sid, user)) = session {
        sessions.end_session(&sid).await?;
        if let Some(audit) = Audit::of(&req) {
            audit.revoked(&req, Some(&user), "token");
        }
    }
    Ok(HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish())
}

/// The session and user of a valid access token.
fn access_session(verifier: &Verifier, token: &str) -> Option<(String, String)> {
    if token.matches('.').count() != 2 {
        return None;
    }
    let claims = verifier.verify::<Claims>(token).ok()?;
    Some((claims.sid?, claims.sub))
}
