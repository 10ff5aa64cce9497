//! `POST /admin/sessions/revoke`: an operator (a member of
//! `users.admin_group`) ends every session of `user=NAME`, on every replica
//! (issue #13 item 6, issue #14 item 5).

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::oauth::{OAuthError, form_fields};
use crate::audit::Audit;
use crate::auth::{Operator, RequireRole, Verifier, check_username};
use crate::csrf;
use crate::sessions::SessionService;

pub const REVOKE_USER_PATH: &str = "/admin/sessions/revoke";

/// The `/admin/sessions/revoke` form.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: the handler reads the fields itself.
pub(crate) struct RevokeUserForm {
    /// The user whose sessions end.
    user: String,
}

/// The two 403 bodies: the guard's (`insufficient_role`, with
/// `required_roles`) and the CSRF check's (RFC 6749 shape).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only.
#[serde(untagged)]
enum Forbidden {
    InsufficientRole(super::Error),
    CrossSite(super::oauth::OAuthErrorBody),
}

#[utoipa::path(
    post,
    path = "/admin/sessions/revoke",
    tag = "sessions",
    summary = "Operators: end every session of a user, on every replica",
    description = "Only for members of `users.admin_group`.",
    security(("bearer" = []), ("cookie" = []), ("query" = [])),
    request_body(content = RevokeUserForm, content_type = "application/x-www-form-urlencoded"),
    responses(
        (status = 204, description = "Every session of the user ended"),
        (status = 400, description = "`invalid_request`: no `user`, not a valid user name, a field \
            given twice, not a form", body = super::oauth::OAuthErrorBody),
        (status = 401, description = "No token, or an expired or invalid one: `token_missing`, \
            `token_expired` or `token_invalid`",
            headers(("WWW-Authenticate" = String, description = "RFC 6750 Bearer challenge")),
            body = super::Error),
        (status = 403, description = "The token lacks the operator group (`insufficient_role`), or \
            cookie-authenticated and posted from another site (`cross_site_request`)",
            headers(("WWW-Authenticate" = String, description = "RFC 6750 `insufficient_scope` challenge, for `insufficient_role`")),
            body = Forbidden),
        (status = 503, description = "The session store is unavailable (`temporarily_unavailable`)",
            headers(("Retry-After" = String, description = "Seconds to wait")),
            body = super::oauth::OAuthErrorBody),
    ),
)]
pub async fn revoke_user_sessions(
    req: HttpRequest,
    operator: RequireRole<Operator>,
    body: Bytes,
    verifier: web::Data<Verifier>,
    sessions: web::Data<SessionService>,
) -> Result<HttpResponse, OAuthError> {
    // The operator's cookie alone must not let another site end sessions.
    if csrf::is_cross_site_cookie_use(&req, &verifier) {
        return Err(OAuthError::CrossSite);
    }
    let fields = form_fields(&req, &body)?;
    let user = fields
        .get("user")
        .ok_or(OAuthError::InvalidRequest("user is required"))?;
    check_username(user)
        .map_err(|_| OAuthError::InvalidRequest("user is not a valid user name"))?;
    sessions.revoke_user(user).await?;
    if let Some(audit) = Audit::of(&req) {
        audit.sessions_revoked_by_operator(&req, &operator.sub, user);
    }
    Ok(HttpResponse::NoContent()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .finish())
}
