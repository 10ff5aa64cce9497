//! Custom claims both ways: a hook adds the user's groups to every token
//! minted at login, and a handler reads them with `Authenticated<MyClaims>`.
//! tokengate still validates `exp`, `nbf`, `iss`, `aud` and `sub`.
//!
//! `cargo run --example custom_claims` serves on 127.0.0.1:8082 (user
//! `alice`, password `alice`, groups `admins`); `--self-test` checks itself.

use std::collections::HashMap;

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::ensure;
use serde::{Deserialize, Serialize};
use tokengate::{
    Authenticated, CredentialStore, PasswordHash, StoreError, TokenGate, UserRecord, hash_password,
};

/// What the app adds to tokens.
#[derive(Serialize)]
struct GroupClaims {
    groups: Vec<String>,
}

/// What the app reads back: its own claim beside the registered `sub`.
#[derive(Deserialize)]
struct MyClaims {
    sub: String,
    groups: Vec<String>,
}

/// Users with groups, in memory.
struct Users(HashMap<String, UserRecord>);

#[tokengate::async_trait]
impl CredentialStore for Users {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self.0.get(name).cloned())
    }
}

async fn admin(Authenticated(claims): Authenticated<MyClaims>) -> HttpResponse {
    if claims.groups.iter().any(|group| group == "admins") {
        HttpResponse::Ok().body(format!("welcome, admin {}", claims.sub))
    } else {
        HttpResponse::Forbidden().body("admins only")
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let self_test = std::env::args().any(|arg| arg == "--self-test");
    let mut users = HashMap::new();
    for (name, groups) in [("alice", vec!["admins"]), ("bob", vec![])] {
        let hash = PasswordHash::parse(&hash_password(name))?;
        users.insert(
            name.to_owned(),
            UserRecord::new(name, hash).with_groups(groups),
        );
    }
    let gate = TokenGate::builder()
        .secret("example-secret-of-at-least-32-bytes!!")
        .credential_store(Users(users))
        .mint_claims(|user: &UserRecord| GroupClaims {
            groups: user.groups.clone(),
        })
        .build()?;

    let server = HttpServer::new(move || {
        App::new()
            .configure(|cfg| gate.configure(cfg))
            .route("/admin", web::get().to(admin))
    })
    .workers(1)
    .bind(("127.0.0.1", if self_test { 0 } else { 8082 }))?;
    let port = server.addrs()[0].port();
    println!("listening on 127.0.0.1:{port}");
    let server = server.run();
    if !self_test {
        return Ok(server.await?);
    }
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let outcome = check(port).await;
    handle.stop(true).await;
    outcome?;
    println!("self-test passed");
    Ok(())
}

async fn check(port: u16) -> anyhow::Result<()> {
    let base = format!("http://127.0.0.1:{port}");
    let client = reqwest::Client::new();
    let mut statuses = Vec::new();
    for user in ["alice", "bob"] {
        let token: serde_json::Value = client
            .get(format!("{base}/login"))
            .basic_auth(user, Some(user))
            .header("Accept", "application/json")
            .send()
            .await?
            .json()
            .await?;
        let token = token["access_token"].as_str().unwrap_or_default();
        let answer = client
            .get(format!("{base}/admin"))
            .bearer_auth(token)
            .send()
            .await?;
        statuses.push(answer.status().as_u16());
    }
    ensure!(
        statuses == [200, 403],
        "alice admitted, bob refused: {statuses:?}"
    );
    // A token without the app's claim fails to deserialize: refused, not admitted.
    let forged = client
        .get(format!("{base}/admin"))
        .bearer_auth("not.a.token")
        .send()
        .await?;
    ensure!(forged.status() == 401, "garbage token: {}", forged.status());
    Ok(())
}
