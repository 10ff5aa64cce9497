//! HTTP endpoints, one file per group.

mod access;
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
pub use bare::bare;
pub use health::{Readiness, healthz, readyz};
pub use jwks::jwks;
pub(crate) use login::login;
pub use logout::logout;
pub use oauth::OAuthError;
pub use revoke::revoke;
pub use second_factor::{CodeError, login_totp};
pub use token::{REFRESH_COOKIE, TOKEN_PATH, TokenResponse, token};
pub use verify::{EXPIRES_HEADER, ROLES_HEADER, USER_HEADER, verify};

pub use crate::http::{prefers_html, prefers_json, security_headers};
