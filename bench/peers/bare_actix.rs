//! The ceiling for `bench/peers.py`: actix-web 4 with no middleware, a static
//! JSON route and a route that verifies an HS256 Bearer token with
//! jsonwebtoken (pinned algorithm, issuer, audience), nothing else.
//!
//! `cargo run --release --example bare_actix -- PORT SECRET`

use actix_web::{App, HttpRequest, HttpResponse, HttpServer, web};
use jsonwebtoken::{Algorithm, DecodingKey, Validation};
use serde::Deserialize;

#[derive(Deserialize)]
struct Claims {
    sub: String,
}

struct Checker {
    key: DecodingKey,
    validation: Validation,
}

async fn static_json() -> HttpResponse {
    HttpResponse::Ok()
        .content_type("application/json")
        .body(r#"{"message":"ok"}"#)
}

async fn verify(req: HttpRequest, checker: web::Data<Checker>) -> HttpResponse {
    let token = req
        .headers()
        .get("authorization")
        .and_then(|value| value.to_str().ok())
        .and_then(|value| value.strip_prefix("Bearer "));
    match token
        .map(|token| jsonwebtoken::decode::<Claims>(token, &checker.key, &checker.validation))
    {
        Some(Ok(data)) => HttpResponse::Ok().json(serde_json::json!({ "user": data.claims.sub })),
        _ => HttpResponse::Unauthorized().finish(),
    }
}

#[actix_web::main]
async fn main() -> std::io::Result<()> {
    let mut args = std::env::args().skip(1);
    let (Some(port), Some(secret)) = (args.next(), args.next()) else {
        eprintln!("usage: bare_actix PORT SECRET");
        std::process::exit(2);
    };
    let port: u16 = port.parse().expect("PORT must be a port number");
    let mut validation = Validation::new(Algorithm::HS256);
    validation.leeway = 0;
    validation.set_issuer(&["tokengate"]);
    validation.set_audience(&["tokengate"]);
    let checker = web::Data::new(Checker {
        key: DecodingKey::from_secret(secret.as_bytes()),
        validation,
    });
    HttpServer::new(move || {
        App::new()
            .app_data(checker.clone())
            .route("/static", web::get().to(static_json))
            .route("/verify", web::get().to(verify))
    })
    .bind(("127.0.0.1", port))?
    .run()
    .await
}
