//! `POST /admin/sessions/revoke`: an operator (a member of
//! `users.admin_group`) ends every session of `user=NAME`, on every replica
//! (issue #13 item 6, issue #14 item 5).

use actix_web::web::Bytes;
use actix_web::{HttpRequest, HttpResponse, web};

use super::oauth::{OAuthError, form_fields};
use crate::audit::Audit;
use crate::auth::{Operator, RequireRole, Verifier, check_username};
use crate::config::TokenSource;
use crate::csrf;
use crate::sessions::SessionService;

pub const REVOKE_USER_PATH: &str = "/admin/sessions/revoke";

pub async fn revoke_user_sessions(
    req: HttpRequest,
    operator: RequireRole<Operator>,
    body: Bytes,
    verifier: web::Data<Verifier>,
    sessions: web::Data<SessionService>,
) -> Result<HttpResponse, OAuthError> {
    // The operator's cookie alone must not let another site end sessions.
    let source = verifier
        .sources()
        .locate(&req)
        .ok()
        .flatten()
        .map(|(s, _)| s);
    if source == Some(TokenSource::Cookie) && !csrf::is_same_origin(&req) {
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
