//! HTTP endpoints, one file per group.

mod access;
mod admin;
#[cfg(feature = "bench-routes")]
mod bare;
mod health;
mod jwks;
mod login;
mod logout;
mod oauth;
mod revoke;
mod second_factor;
mod token;
mod verify;

pub use access::access;
pub use admin::{REVOKE_USER_PATH, revoke_user_sessions};
#[cfg(feature = "bench-routes")]
pub use bare::bare;
pub use health::{Readiness, healthz, readyz};
pub use jwks::jwks;
pub(crate) use login::login;
pub use logout::logout;
pub use revoke::revoke;
pub use second_factor::login_totp;
pub use token::{TOKEN_PATH, token};
pub use verify::verify;

pub use crate::http::{prefers_html, prefers_json, security_headers};
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
    token::token,
    logout::logout,
    revoke::revoke,
    admin::revoke_user_sessions,
))]
pub struct Paths;

/// Every JSON error body: a stable, documented `error` code and a sentence.
#[derive(serde::Serialize, utoipa::ToSchema)]
#[allow(dead_code)] // A schema only; the answers serialize `crate::http::ErrorBody`.
pub(crate) struct Error {
    /// `token_missing`, `token_expired`, `token_invalid`, `invalid_credentials`,
    /// `too_many_requests`, `busy`, `uri_too_long`, ...
    error: String,
    message: String,
}
