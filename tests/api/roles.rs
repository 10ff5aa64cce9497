//! Roles: the groups file, the `roles` claim, the handler guards and
//! forward-auth's per-location requirements.

use std::time::Duration;

use actix_web::{App, HttpResponse, HttpServer, web};
use base64::Engine as _;
use jsonwebtoken::Algorithm;
use reqwest::StatusCode;
use secrecy::SecretString;
use serde_json::Value;
use tokengate::auth::TokenSource;
use tokengate::auth::{
    AdminGroup, Claims, Operator, RequireMfa, RequireRole, TokenSources, Verifier,
};
use tokengate::reload::ReloadError;
use tokengate::token_error_pages;

use crate::helpers::{HTML_USER, PASSWORD, SECRET, TestApp, USER, spawn_app_from, spawn_app_with};

pub const GROUPS: &str = "# who may do what\nadmins: alice\nreaders: alice bob\nops: carol\n";

/// A groups file in its own folder, kept alive by the returned guard.
pub fn groups_file(contents: &str) -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups");
    std::fs::write(&path, contents).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

/// The payload of a JWT, decoded without verification.
pub fn payload(token: &str) -> Value {
    let part = token.split('.').nth(1).unwrap();
    let bytes = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(part)
        .unwrap();
    serde_json::from_slice(&bytes).unwrap()
}

async fn app_with_groups() -> (TestApp, tempfile::TempDir) {
    let (dir, path) = groups_file(GROUPS);
    let app = spawn_app_with(&[("TOKENGATE__USERS__GROUPS_FILE", &path)]).await;
    (app, dir)
}

async fn token_of(app: &TestApp, user: &str) -> String {
    let response = app.login_json(user, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    body["access_token"].as_str().unwrap().to_owned()
}

#[tokio::test]
async fn tokens_carry_the_users_groups_as_roles_and_omit_an_empty_list() {
    let (app, _groups) = app_with_groups().await;
    let claims = payload(&token_of(&app, USER).await);
    assert_eq!(claims["roles"], serde_json::json!(["admins", "readers"]));
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
    assert_eq!(claims["auth_time"], claims["iat"]);

    // HTML_USER is in no group: no `roles` claim at all.
    let claims = payload(&token_of(&app, HTML_USER).await);
    assert!(claims.get("roles").is_none(), "{claims}");
}

#[tokio::test]
async fn a_bad_groups_file_stops_start_up_naming_the_key_and_line() {
    let (_dir, path) = groups_file("admins: alice\nthis line has no colon\n");
    let mut vars: std::collections::HashMap<String, String> = std::collections::HashMap::new();
    vars.insert("TOKENGATE__USERS__GROUPS_FILE".into(), path.clone());
    vars.insert(
        "TOKENGATE__USERS__FILE".into(),
        crate::helpers::repo_config_dir()
            .join("demo-users.htpasswd")
            .display()
            .to_string(),
    );
    let error =
        tokengate::runtime_config::RuntimeConfig::load(&crate::helpers::repo_config_dir(), &vars)
            .err()
            .expect("a bad groups file is refused");
    assert_eq!(error.key, "users.groups_file", "{error}");
    assert!(error.message.contains("line 2:"), "{error}");
}

#[tokio::test]
async fn a_reload_applies_new_groups_and_a_bad_groups_file_keeps_the_old_ones() {
    let config = tempfile::tempdir().unwrap();
    let (_dir, path) = groups_file("readers: alice\n");
    let (app, reloader) =
        spawn_app_from(config.path(), &[("TOKENGATE__USERS__GROUPS_FILE", &path)]).await;
    assert_eq!(
        payload(&token_of(&app, USER).await)["roles"],
        serde_json::json!(["readers"])
    );

    std::fs::write(&path, "admins: alice\n").unwrap();
    reloader.reload().await.expect("a good groups file reloads");
    assert_eq!(
        payload(&token_of(&app, USER).await)["roles"],
        serde_json::json!(["admins"])
    );

    std::fs::write(&path, "admins: alice\n: nobody\n").unwrap();
    match reloader.reload().await {
        Err(ReloadError::Config(error)) => {
            assert_eq!(error.key, "users.groups_file", "{error}");
            assert!(error.message.contains("line 2:"), "{error}");
        }
        other => panic!("expected a refusal naming users.groups_file, got {other:?}"),
    }
    assert_eq!(
        payload(&token_of(&app, USER).await)["roles"],
        serde_json::json!(["admins"])
    );
}

async fn verify(app: &TestApp, query: &str, token: Option<&str>) -> reqwest::Response {
    let mut request = app.client.get(app.url(&format!("/auth/verify{query}")));
    if let Some(token) = token {
        request = request.bearer_auth(token);
    }
    request.send().await.unwrap()
}

async fn assert_denied(response: reqwest::Response, error: &str, challenge_error: &str) -> Value {
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"tokengate\""),
        "{challenge}"
    );
    assert!(
        challenge.contains(&format!("error=\"{challenge_error}\"")),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
    body
}

#[tokio::test]
async fn forward_auth_checks_every_required_role_and_lists_the_roles_it_vouches_for() {
    let (app, _groups) = app_with_groups().await;
    let token = token_of(&app, USER).await;

    let response = verify(&app, "?role=admins", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["x-auth-request-user"], USER);
    assert_eq!(response.headers()["x-auth-request-roles"], "admins,readers");
    let response = verify(&app, "?role=admins&role=readers", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::OK);

    let response = verify(&app, "?role=admins&role=ops", Some(&token)).await;
    let body = assert_denied(response, "insufficient_role", "insufficient_scope").await;
    assert_eq!(body["required_roles"], serde_json::json!(["admins", "ops"]));

    // No roles at all: refused, and no roles header on a plain check.
    let plain = token_of(&app, HTML_USER).await;
    assert_denied(
        verify(&app, "?role=admins", Some(&plain)).await,
        "insufficient_role",
        "insufficient_scope",
    )
    .await;
    let response = verify(&app, "", Some(&plain)).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("x-auth-request-roles").is_none());

    // No token: still the 401, before any role is looked at.
    let response = verify(&app, "?role=admins", None).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);

    // A misconfigured location is a 400, not a refusal of everyone.
    let response = verify(&app, "?role=", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
    let response = verify(&app, "?mfa=yes", Some(&token)).await;
    assert_eq!(response.status(), StatusCode::BAD_REQUEST);
}

#[tokio::test]
async fn forward_auth_with_mfa_true_refuses_a_password_only_token() {
    let (app, _groups) = app_with_groups().await;
    let token = token_of(&app, USER).await;
    let response = verify(&app, "?mfa=true", Some(&token)).await;
    assert_denied(
        response,
        "insufficient_user_authentication",
        "insufficient_user_authentication",
    )
    .await;
    assert_eq!(
        verify(&app, "?mfa=false", Some(&token)).await.status(),
        StatusCode::OK
    );
}

tokengate::role!(Admins = "admins");

async fn admin_only(RequireRole(claims, _): RequireRole<Admins>) -> HttpResponse {
    HttpResponse::Ok().body(format!("admin {}", claims.sub))
}

async fn operators_only(guard: RequireRole<Operator>) -> HttpResponse {
    HttpResponse::Ok().body(format!("operator {}", guard.sub))
}

async fn with_second_factor(RequireMfa(claims): RequireMfa<Claims>) -> HttpResponse {
    HttpResponse::Ok().body(format!("stepped up {}", claims.sub))
}

/// An app of the user's own, embedding the guards, on a random port: the
/// tokens come from tokengate itself.
fn spawn_embedding_app(admin_group: &str) -> String {
    let secret = SecretString::from(SECRET);
    let verifier = web::Data::new(Verifier::new(
        Algorithm::HS256,
        &secret,
        "tokengate",
        "tokengate",
        Duration::ZERO,
        TokenSources::new(vec![TokenSource::Bearer], "tokengate_token"),
    ));
    let admin_group = web::Data::new(AdminGroup::new(admin_group));
    let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    let server = HttpServer::new(move || {
        App::new()
            .app_data(verifier.clone())
            .app_data(admin_group.clone())
            .service(
                web::scope("")
                    .wrap(token_error_pages())
                    .route("/admin", web::get().to(admin_only))
                    .route("/operator", web::get().to(operators_only))
                    .route("/stepped-up", web::get().to(with_second_factor)),
            )
    })
    .workers(1)
    .listen(listener)
    .unwrap()
    .run();
    tokio::spawn(server);
    format!("http://127.0.0.1:{port}")
}

#[tokio::test]
async fn the_role_guard_runs_the_handler_only_for_the_role() {
    let (app, _groups) = app_with_groups().await;
    let embedding = spawn_embedding_app("ops");
    let admin = token_of(&app, USER).await;
    let nobody = token_of(&app, HTML_USER).await;
    let get = |path: &str, token: Option<&str>| {
        let mut request = app.client.get(format!("{embedding}{path}"));
        if let Some(token) = token {
            request = request.bearer_auth(token);
        }
        request.send()
    };

    let allowed = get("/admin", Some(&admin)).await.unwrap();
    assert_eq!(allowed.status(), StatusCode::OK);
    assert_eq!(allowed.text().await.unwrap(), format!("admin {USER}"));

    let refused = get("/admin", Some(&nobody)).await.unwrap();
    assert_denied(refused, "insufficient_role", "insufficient_scope").await;

    let missing = get("/admin", None).await.unwrap();
    assert_eq!(missing.status(), StatusCode::UNAUTHORIZED);
    let body: Value = missing.json().await.unwrap();
    assert_eq!(body["error"], "token_missing");

    // The operator group comes from configuration: `ops` here, not alice's `admins`.
    let refused = get("/operator", Some(&admin)).await.unwrap();
    assert_denied(refused, "insufficient_role", "insufficient_scope").await;

    // The second-factor guard refuses a password-only token.
    let refused = get("/stepped-up", Some(&admin)).await.unwrap();
    assert_denied(
        refused,
        "insufficient_user_authentication",
        "insufficient_user_authentication",
    )
    .await;
}

#[tokio::test]
async fn browsers_get_a_page_for_a_missing_role_with_the_same_status_and_challenge() {
    let (app, _groups) = app_with_groups().await;
    let embedding = spawn_embedding_app("admins");
    let nobody = token_of(&app, HTML_USER).await;
    let response = app
        .client
        .get(format!("{embedding}/admin"))
        .bearer_auth(&nobody)
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(challenge.contains("insufficient_scope"), "{challenge}");
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("Not allowed"), "{page}");

    // The operator group is alice's group here.
    let admin = token_of(&app, USER).await;
    let response = app
        .client
        .get(format!("{embedding}/operator"))
        .bearer_auth(&admin)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

#[test]
fn sighup_rereads_the_groups_file_and_a_bad_one_keeps_the_old_groups() {
    let (_dir, path) = groups_file("readers: alice\n");
    let binary = crate::helpers::RunningBinary::start(|command| {
        command.env("TOKENGATE__USERS__GROUPS_FILE", &path);
    });
    let client = reqwest::blocking::Client::new();
    let roles = || -> Value {
        let response = client
            .get(binary.url("/login"))
            .basic_auth(USER, Some(PASSWORD))
            .header("Accept", "application/json")
            .send()
            .unwrap();
        let body: Value = response.json().unwrap();
        payload(body["access_token"].as_str().unwrap())["roles"].clone()
    };
    assert_eq!(roles(), serde_json::json!(["readers"]));

    std::fs::write(&path, "admins: alice\nreaders: alice\n").unwrap();
    binary.hangup();
    binary.wait_for_log("2 group(s)", 1);
    assert_eq!(roles(), serde_json::json!(["admins", "readers"]));

    std::fs::write(&path, "admins alice\n").unwrap();
    binary.hangup();
    binary.wait_for_log("reload refused", 1);
    let log = binary.log();
    let refusal = log
        .lines()
        .find(|line| line.contains("reload refused"))
        .unwrap();
    assert!(
        refusal.contains("users.groups_file") && refusal.contains("line 1:"),
        "{refusal}"
    );
    assert_eq!(roles(), serde_json::json!(["admins", "readers"]));
}
