//! Using tokengate from another actix-web app: register a `Verifier` as app
//! data and take `Authenticated<YourClaims>` in any handler; plug your own
//! credential store into the login side with `CredentialStore`.
//!
//! Run: `cargo run --example embed_in_your_app`, then
//! `curl -H "Authorization: Bearer $(...)" localhost:8081/me`.

use std::sync::Arc;
use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use serde::Deserialize;
use tokengate::auth::{Authenticated, Issuer, TokenSources, Verifier};
use tokengate::config::TokenSource;
use tokengate::credentials::{CredentialStore, HashingPool};

/// Your own claims type: only the fields you need.
#[derive(Deserialize)]
struct MyClaims {
    sub: String,
    exp: i64,
}

/// A credential store backed by anything: a database, LDAP, a fixed list.
struct SingleUser;

impl CredentialStore for SingleUser {
    fn verify(&self, username: &str, password: &str) -> bool {
        // A real store compares hashes in constant time; see HtpasswdStore.
        username == "example" && password == "example"
    }
}

async fn me(Authenticated(claims): Authenticated<MyClaims>) -> HttpResponse {
    HttpResponse::Ok().body(format!("hello {}, valid until {}", claims.sub, claims.exp))
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let secret = SecretString::from("example-secret-of-at-least-32-bytes!!");
    let (issuer, audience) = ("tokengate", "my-app");
    let verifier = web::Data::new(Verifier::new(
        Algorithm::HS256,
        &secret,
        issuer,
        audience,
        Duration::ZERO,
        TokenSources::new(vec![TokenSource::Bearer], "session"),
    ));

    // Mint a token to try the endpoint with, and check a password the way
    // tokengate's login does: off the async workers.
    let minted = Issuer::new(
        Algorithm::HS256,
        &secret,
        issuer,
        audience,
        Duration::from_secs(300),
    )
    .mint("example")
    .expect("minting works");
    let pool = HashingPool::new(Arc::new(SingleUser), 1);
    let accepted = pool
        .verify("example".into(), "example".into())
        .await
        .expect("pool runs");
    println!("password accepted: {accepted}");
    println!(
        "try: curl -H 'Authorization: Bearer {}' localhost:8081/me",
        minted.token
    );

    HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .route("/me", web::get().to(me))
    })
    .bind(("127.0.0.1", 8081))?
    .run()
    .await
}
