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

pub use crate::http::{prefers_html, prefers_json, security_headers};
