use actix_web::HttpResponse;
use serde::Serialize;
use time::OffsetDateTime;
use time::format_description::well_known::Rfc3339;

use crate::auth::{Authenticated, Claims};

#[derive(Serialize)]
struct AccessGranted<'a> {
    message: &'static str,
    user: &'a str,
    expires_at: String,
}

/// A protected endpoint: the extractor has already checked the token.
pub async fn access(Authenticated(claims): Authenticated<Claims>) -> HttpResponse {
    HttpResponse::Ok()
        .insert_header(("Cache-Control", "no-store"))
        .json(AccessGranted {
            message: "valid jwt token",
            user: &claims.sub,
            expires_at: rfc3339(claims.exp),
        })
}

pub(crate) fn rfc3339(unix_seconds: i64) -> String {
    OffsetDateTime::from_unix_timestamp(unix_seconds)
        .ok()
        .and_then(|at| at.format(&Rfc3339).ok())
        .unwrap_or_default()
}
