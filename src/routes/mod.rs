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
