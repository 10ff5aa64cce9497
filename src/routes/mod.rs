//! HTTP endpoints, one file per group.

mod access;
mod bare;
mod health;
mod jwks;
mod login;

pub use access::access;
pub use bare::bare;
pub use health::{Readiness, healthz, readyz};
pub use jwks::jwks;
pub use login::login;

use actix_web::HttpRequest;
use actix_web::HttpResponseBuilder;
use actix_web::http::header::{self, Header as _};

/// Headers for every page that may carry a token or credentials.
pub fn security_headers(response: &mut HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            "default-src 'none'; style-src 'unsafe-inline'; frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        ));
}

/// True when the client ranks JSON above HTML in its `Accept` header.
pub fn prefers_json(req: &HttpRequest) -> bool {
    let Ok(accept) = header::Accept::parse(req) else {
        return false;
    };
    accept
        .ranked()
        .into_iter()
        .find_map(|mime| match (mime.type_(), mime.subtype()) {
            (mime::APPLICATION, mime::JSON) => Some(true),
            (mime::TEXT, mime::HTML) => Some(false),
            _ => None,
        })
        .unwrap_or(false)
}
