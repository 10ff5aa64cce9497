//! A credential store of your own: an in-memory map behind a switch that
//! simulates an outage. Unknown users and wrong passwords get the same 401;
//! while the store is down, logins get 503 with `Retry-After`, never a 401.
//!
//! `cargo run --example custom_store` serves on 127.0.0.1:8083 (user
//! `carol`, password `carol`); `--self-test` checks itself.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use actix_web::{App, HttpServer};
use anyhow::ensure;
use tokengate::{CredentialStore, PasswordHash, StoreError, TokenGate, UserRecord, hash_password};

/// Password hashes by name; `down` stands in for a database that went away.
struct MapStore {
    users: HashMap<String, PasswordHash>,
    down: Arc<AtomicBool>,
}

#[tokengate::async_trait]
impl CredentialStore for MapStore {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        if self.down.load(Ordering::Relaxed) {
            return Err(
                StoreError::unavailable("connection refused").retry_after(Duration::from_secs(5))
            );
        }
        Ok(self
            .users
            .get(name)
            .map(|hash| UserRecord::new(name, hash.clone())))
    }
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let self_test = std::env::args().any(|arg| arg == "--self-test");
    let down = Arc::new(AtomicBool::new(false));
    let store = MapStore {
        users: HashMap::from([(
            "carol".to_owned(),
            PasswordHash::parse(&hash_password("carol"))?,
        )]),
        down: down.clone(),
    };
    let gate = TokenGate::builder()
        .secret("example-secret-of-at-least-32-bytes!!")
        .credential_store(store)
        .build()?;

    let server = HttpServer::new(move || App::new().configure(|cfg| gate.configure(cfg)))
        .workers(1)
        .bind(("127.0.0.1", if self_test { 0 } else { 8083 }))?;
    let port = server.addrs()[0].port();
    println!("listening on 127.0.0.1:{port}");
    let server = server.run();
    if !self_test {
        return Ok(server.await?);
    }
    let handle = server.handle();
    actix_web::rt::spawn(server);
    let outcome = check(port, &down).await;
    handle.stop(true).await;
    outcome?;
    println!("self-test passed");
    Ok(())
}

async fn check(port: u16, down: &AtomicBool) -> anyhow::Result<()> {
    let client = reqwest::Client::new();
    let login = |user: &str, password: &str| {
        client
            .get(format!("http://127.0.0.1:{port}/login"))
            .basic_auth(user, Some(password))
            .header("Accept", "application/json")
            .send()
    };
    ensure!(login("carol", "carol").await?.status() == 200);
    ensure!(login("carol", "wrong").await?.status() == 401);
    ensure!(login("nobody", "carol").await?.status() == 401);
    down.store(true, Ordering::Relaxed);
    let outage = login("carol", "carol").await?;
    ensure!(outage.status() == 503, "store down: {}", outage.status());
    ensure!(outage.headers()["retry-after"] == "5");
    Ok(())
}
