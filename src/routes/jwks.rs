use actix_web::http::header;
use actix_web::{HttpResponse, web};

use crate::auth::Verifier;

/// RFC 7517 JWK Set: `{"keys": [JWK, ...]}`; each key has `kty`, `kid`,
/// `alg`, `use` and its public parameters.
#[derive(utoipa::ToSchema)]
#[allow(dead_code)] // A schema only: the handler serializes jsonwebtoken's JwkSet.
pub struct JwkSet {
    keys: Vec<Jwk>,
}

/// One public key (RFC 7517 4).
#[derive(utoipa::ToSchema)]
#[allow(dead_code)]
pub struct Jwk {
    kty: String,
    kid: String,
    alg: String,
    #[schema(rename = "use")]
    use_: String,
}

/// `GET /.well-known/jwks.json`: the public keys tokens are verified with, as
/// an RFC 7517 JWK Set. HMAC secrets are never part of it.
#[utoipa::path(
    get,
    path = "/.well-known/jwks.json",
    tag = "keys",
    summary = "The public verification keys (RFC 7517 JWK Set)",
    responses(
        (status = 200, description = "Public keys; HMAC secrets are never published",
            headers(("Cache-Control" = String, description = "public, max-age=jwt.jwks_max_age")),
            body = JwkSet),
    ),
)]
pub async fn jwks(verifier: web::Data<Verifier>) -> HttpResponse {
    let (set, max_age) = verifier.jwks();
    HttpResponse::Ok()
        .insert_header((
            header::CACHE_CONTROL,
            format!("public, max-age={}", max_age.as_secs()),
        ))
        .json(set)
}
