//! HTTP endpoints, one file per group.

mod access;
mod bare;
mod health;
mod jwks;
mod login;
mod second_factor;
mod verify;

pub use access::access;
pub use bare::bare;
pub use health::{Readiness, healthz, readyz};
pub use jwks::jwks;
pub(crate) use login::login;
pub use second_factor::{CodeError, login_totp};
pub use verify::{EXPIRES_HEADER, ROLES_HEADER, USER_HEADER, verify};

/// The routes' part of the OpenAPI document: every handler annotated with
/// `#[utoipa::path]` is listed here (a new endpoint adds its line), and
/// [`crate::openapi`] adds the security schemes and shared headers.
#[derive(utoipa::OpenApi)]
#[openapi(paths(
    login::login,
    second_factor::login_totp,
    access::access,
    verify::verify,
    health::healthz,
    health::readyz,
    jwks::jwks,
))]
pub struct Paths;

/// Every JSON error body: a stable, documented `error` code and a sentence.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // A schema only; each boundary serializes its own.
pub(crate) struct Error {
    /// `token_missing`, `token_expired`, `token_invalid`, `invalid_credentials`,
    /// `too_many_requests`, `busy`, `uri_too_long`, ...
    error: String,
    message: String,
}

use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;
use actix_web::http::header::{self, Header as _};

/// Headers for every page that may carry a token or credentials.
pub fn security_headers(response: &mut HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            crate::pages::CONTENT_SECURITY_POLICY.as_str(),
        ));
}

/// True when the client ranks JSON above HTML in its `Accept` header.
pub fn prefers_json(req: &HttpRequest) -> bool {
    preferred_of_json_and_html(req) == Some(Preferred::Json)
}

/// True when the client names HTML and ranks it above JSON: a browser.
/// No `Accept`, or `*/*` (curl), is not a browser.
pub fn prefers_html(req: &HttpRequest) -> bool {
    preferred_of_json_and_html(req) == Some(Preferred::Html)
}

#[derive(PartialEq)]
enum Preferred {
    Json,
    Html,
}

fn preferred_of_json_and_html(req: &HttpRequest) -> Option<Preferred> {
    header::Accept::parse(req)
        .ok()?
        .ranked()
        .into_iter()
        .find_map(|mime| match (mime.type_(), mime.subtype()) {
            (mime::APPLICATION, mime::JSON) => Some(Preferred::Json),
            (mime::TEXT, mime::HTML) => Some(Preferred::Html),
            _ => None,
        })
}
