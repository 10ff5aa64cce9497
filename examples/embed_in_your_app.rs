//! tokengate inside another actix-web app, mounted under `/auth`: the login
//! page, the private link and the pages' links all stay under the prefix,
//! and the app's own `/me` route takes `Authenticated<Claims>`.
//!
//! `cargo run --example embed_in_your_app` serves on 127.0.0.1:8081 (user
//! `example`, password `example`); `--self-test` serves on a free port,
//! checks itself over HTTP and exits 0 when everything holds (CI runs that).

use actix_web::{App, HttpResponse, HttpServer, web};
use anyhow::{Context, ensure};
use tokengate::{Authenticated, Claims, HtpasswdStore, TokenGate, hash_password};

async fn me(Authenticated(claims): Authenticated<Claims>) -> HttpResponse {
    HttpResponse::Ok().body(format!("hello {}", claims.sub))
}

#[actix_web::main]
async fn main() -> anyhow::Result<()> {
    let self_test = std::env::args().any(|arg| arg == "--self-test");
    let users = format!("example:{}\n", hash_password("example"));
    let gate = TokenGate::builder()
        .secret("example-secret-of-at-least-32-bytes!!")
        .audience("my-app")
        .credential_store(HtpasswdStore::parse(&users)?)
        .build()?;

    let server = HttpServer::new(move || {
        App::new()
            // The routes under /auth; the app data also at the root, for /me.
            .configure(|cfg| gate.configure_data(cfg))
            .service(web::scope("/auth").configure(|cfg| gate.configure(cfg)))
            .route("/me", web::get().to(me))
    })
    .workers(1)
    .bind(("127.0.0.1", if self_test { 0 } else { 8081 }))?;
    let port = server.addrs()[0].port();
    println!("listening on 127.0.0.1:{port}; log in at /auth/login");
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
    let client = reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()?;
    let page = client
        .get(format!("{base}/auth/login"))
        .basic_auth("example", Some("example"))
        .header("Accept", "text/html")
        .send()
        .await?
        .text()
        .await?;
    let link = page
        .split("href=\"")
        .find(|rest| rest.starts_with("/auth/access?token="))
        .and_then(|rest| rest.split('"').next())
        .context("the private link points under /auth")?;
    ensure!(
        page.contains("href=\"/auth/login\""),
        "log-in-again link under /auth"
    );
    let token = link.trim_start_matches("/auth/access?token=");

    let access = client.get(format!("{base}{link}")).send().await?;
    ensure!(access.status() == 200, "/auth/access: {}", access.status());
    let me = client
        .get(format!("{base}/me"))
        .bearer_auth(token)
        .send()
        .await?;
    ensure!(me.status() == 200, "/me with the token: {}", me.status());
    ensure!(me.text().await? == "hello example");
    let anonymous = client.get(format!("{base}/me")).send().await?;
    ensure!(
        anonymous.status() == 401,
        "/me without a token: {}",
        anonymous.status()
    );
    let failed = client
        .get(format!("{base}/auth/login"))
        .basic_auth("example", Some("wrong"))
        .header("Accept", "text/html")
        .send()
        .await?;
    ensure!(failed.status() == 401);
    ensure!(
        failed.text().await?.contains("href=\"/auth/login\""),
        "try-again link under /auth"
    );
    Ok(())
}
