use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::auth::Verifier;

/// `GET /.well-known/jwks.json`: the public keys tokens are verified with, as
/// an RFC 7517 JWK Set. HMAC secrets are never part of it.
pub async fn jwks(verifier: web::Data<Verifier>) -> HttpResponse {
    let (set, max_age) = verifier.jwks();
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", max_age.as_secs()),
        ))
        .json(set)
}
