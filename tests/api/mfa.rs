//! The second factor: enrolment, the two-step login (JSON and HTML), code
//! rules (wrong, replayed, skew), the mfa_token's limits, and amr.

use std::os::unix::fs::PermissionsExt;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use reqwest::StatusCode;
use serde_json::Value;
use totp_rs::{Builder, Secret};

use crate::helpers::{
    HTML_USER, PASSWORD, SECRET, TestApp, USER, assert_token_rejected, sign, spawn_app_from,
    spawn_app_with, valid_claims,
};
use crate::roles::{GROUPS, groups_file, payload};

/// 160 bits, base32: alice's second factor in these tests.
const TOTP_SECRET: &str = "JBSWY3DPEHPK3PXPJBSWY3DPEHPK3PXP";

/// An `application/x-www-form-urlencoded` body, as a browser's form sends.
fn form(pairs: &[(&str, &str)]) -> String {
    form_urlencoded::Serializer::new(String::new())
        .extend_pairs(pairs)
        .finish()
}

fn now() -> u64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .unwrap()
        .as_secs()
}

/// The code an authenticator app shows at `unix_time` (RFC 6238: SHA-1, 6 digits, 30 s).
fn code_at(unix_time: u64) -> String {
    Builder::new()
        .with_secret(Secret::try_from_base32(TOTP_SECRET).unwrap())
        .build()
        .unwrap()
        .generate(unix_time)
        .to_string()
}

/// Waits out the last seconds of a step, so a code computed now is still
/// in the same step when the server checks it.
async fn fresh_step() -> u64 {
    while now() % 30 > 25 {
        tokio::time::sleep(Duration::from_millis(500)).await;
    }
    now()
}

struct MfaApp {
    app: TestApp,
    _files: tempfile::TempDir,
    _groups: tempfile::TempDir,
}

/// alice is enrolled (and an admin); HTML_USER is not. The per-user login
/// limit is raised so the tests' many steps are not throttled.
async fn mfa_app(extra: &[(&str, &str)]) -> MfaApp {
    let files = tempfile::tempdir().unwrap();
    let totp = files.path().join("totp");
    std::fs::write(&totp, format!("{USER}:{TOTP_SECRET}\n")).unwrap();
    std::fs::set_permissions(&totp, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (groups, groups_path) = groups_file(GROUPS);
    let mut overrides = vec![
        ("TOKENGATE__USERS__TOTP_FILE", totp.to_str().unwrap()),
        ("TOKENGATE__USERS__GROUPS_FILE", groups_path.as_str()),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "100"),
    ];
    overrides.extend_from_slice(extra);
    let app = spawn_app_with(&overrides).await;
    MfaApp {
        app,
        _files: files,
        _groups: groups,
    }
}

/// The password step for alice: 401 `mfa_required` with the mfa_token.
async fn password_step(app: &TestApp) -> String {
    let response = app.login_json(USER, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.contains("insufficient_user_authentication"),
        "{challenge}"
    );
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "mfa_required", "{body}");
    assert_eq!(body["expires_in"], 300, "{body}");
    assert!(body.get("access_token").is_none(), "{body}");
    body["mfa_token"].as_str().unwrap().to_owned()
}

async fn code_step(app: &TestApp, mfa_token: &str, code: &str) -> reqwest::Response {
    app.client
        .post(app.url("/login/totp"))
        .header("Accept", "application/json")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[("mfa_token", mfa_token), ("code", code)]))
        .send()
        .await
        .unwrap()
}

async fn assert_code_error(response: reqwest::Response, status: StatusCode, error: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], error, "{body}");
}

#[tokio::test]
async fn an_enrolled_user_logs_in_with_password_then_code_and_the_token_says_so() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let mfa_token = password_step(&app).await;

    // The mfa_token opens nothing.
    assert_token_rejected(app.access_with_bearer(&mfa_token).await, "token_invalid").await;
    let verify = app
        .client
        .get(app.url("/auth/verify"))
        .bearer_auth(&mfa_token)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), StatusCode::UNAUTHORIZED);

    let time = fresh_step().await;
    let response = code_step(&app, &mfa_token, &code_at(time)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    let token = body["access_token"].as_str().unwrap().to_owned();
    let claims = payload(&token);
    assert_eq!(claims["amr"], serde_json::json!(["pwd", "otp"]));
    assert_eq!(claims["roles"], serde_json::json!(["admins", "readers"]));
    assert!(claims["auth_time"].as_i64().unwrap() >= time as i64);

    // Forward-auth demanding the second factor and the role admits it.
    let verify = app
        .client
        .get(app.url("/auth/verify?mfa=true&role=admins"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(verify.status(), StatusCode::OK);
    assert_eq!(
        app.access_with_bearer(&token).await.status(),
        StatusCode::OK
    );

    // The spent mfa_token cannot mint a second token, even with the next code.
    let response = code_step(&app, &mfa_token, &code_at(time + 30)).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
}

#[tokio::test]
async fn users_without_a_second_factor_log_in_in_one_step_with_amr_pwd() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let response = app.login_json(HTML_USER, PASSWORD).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let claims = payload(body["access_token"].as_str().unwrap());
    assert_eq!(claims["amr"], serde_json::json!(["pwd"]));
}

#[tokio::test]
async fn a_wrong_password_for_an_enrolled_user_gets_no_mfa_token() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let response = app.login_json(USER, "wrong").await;
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_credentials", "{body}");
    assert!(body.get("mfa_token").is_none());
}

#[tokio::test]
async fn a_wrong_code_is_refused_and_the_right_one_still_works() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let mfa_token = password_step(&app).await;
    let time = fresh_step().await;
    let right = code_at(time);
    let wrong = format!("{:06}", (right.parse::<u32>().unwrap() + 1) % 1_000_000);
    for code in [wrong.as_str(), "12345", "abcdef", ""] {
        let response = code_step(&app, &mfa_token, code).await;
        assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    let response = code_step(&app, &mfa_token, &right).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn a_code_is_accepted_once_per_user() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let time = fresh_step().await;
    let code = code_at(time);
    let first = password_step(&app).await;
    assert_eq!(
        code_step(&app, &first, &code).await.status(),
        StatusCode::OK
    );

    // A fresh login replaying the same code: refused.
    let second = password_step(&app).await;
    let response = code_step(&app, &second, &code).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
}

#[tokio::test]
async fn an_expired_or_foreign_mfa_token_is_refused() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let time = fresh_step().await;
    let code = code_at(time);

    let mut header = crate::helpers::minted_header();
    header.typ = Some("mfa+jwt".to_owned());
    let mut claims = valid_claims();
    claims["aud"] = "tokengate:mfa".into();
    claims["exp"] = (time as i64 - 1).into();
    claims["iat"] = (time as i64 - 301).into();
    claims["nbf"] = (time as i64 - 301).into();
    let expired = sign(&header, &claims, SECRET);
    let response = code_step(&app, &expired, &code).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;

    // The same token, unexpired, passes: only the expiry was wrong.
    claims["exp"] = (time as i64 + 60).into();
    let live = sign(&header, &claims, SECRET);
    assert_eq!(code_step(&app, &live, &code).await.status(), StatusCode::OK);

    // An access token is not an mfa_token.
    let access = app.login_json(HTML_USER, PASSWORD).await;
    let access: Value = access.json().await.unwrap();
    let response = code_step(&app, access["access_token"].as_str().unwrap(), &code).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;

    // A missing field is the client's mistake.
    let response = app
        .client
        .post(app.url("/login/totp"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[("code", code.as_str())]))
        .send()
        .await
        .unwrap();
    assert_code_error(response, StatusCode::BAD_REQUEST, "invalid_request").await;
}

#[tokio::test]
async fn the_configured_skew_admits_the_neighbouring_step_and_no_further() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let time = fresh_step().await;
    let token = password_step(&app).await;
    let response = code_step(&app, &token, &code_at(time - 60)).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    assert_eq!(
        code_step(&app, &token, &code_at(time - 30)).await.status(),
        StatusCode::OK
    );

    let MfaApp { app: strict, .. } = mfa_app(&[("TOKENGATE__MFA__SKEW", "0")]).await;
    let time = fresh_step().await;
    let token = password_step(&strict).await;
    let response = code_step(&strict, &token, &code_at(time - 30)).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    assert_eq!(
        code_step(&strict, &token, &code_at(time)).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn an_mfa_token_allows_only_the_configured_attempts() {
    let MfaApp { app, .. } = mfa_app(&[("TOKENGATE__MFA__MAX_ATTEMPTS", "2")]).await;
    let token = password_step(&app).await;
    for _ in 0..2 {
        let response = code_step(&app, &token, "000000x").await;
        assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    let time = fresh_step().await;
    let response = code_step(&app, &token, &code_at(time)).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
}

#[tokio::test]
async fn code_attempts_count_against_the_login_throttle() {
    let MfaApp { app, .. } = mfa_app(&[
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "2"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_PER_MINUTE", "1"),
    ])
    .await;
    let token = password_step(&app).await;
    let response = code_step(&app, &token, "000000x").await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    let response = code_step(&app, &token, "000000x").await;
    assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
}

#[tokio::test]
async fn browsers_get_a_code_page_that_posts_back_and_then_the_private_link() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let browser = "text/html,application/xhtml+xml,*/*;q=0.8";
    let response = app
        .client
        .get(app.url("/login"))
        .basic_auth(USER, Some(PASSWORD))
        .header("Accept", browser)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let policy = response.headers()["content-security-policy"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(policy.contains("form-action 'self'"), "{policy}");
    let page = response.text().await.unwrap();
    assert!(
        page.contains(r#"<form id="code-form" method="post" action="/login/totp">"#),
        "{page}"
    );
    assert!(!page.contains("private-link"), "no link before the code");
    let mfa_token = page
        .split(r#"name="mfa_token" value=""#)
        .nth(1)
        .and_then(|rest| rest.split('"').next())
        .expect("the form carries the mfa_token")
        .to_owned();

    let post = |code: String, site: &'static str| {
        app.client
            .post(app.url("/login/totp"))
            .header("Accept", browser)
            .header("Sec-Fetch-Site", site)
            .header("Content-Type", "application/x-www-form-urlencoded")
            .body(form(&[("mfa_token", &mfa_token), ("code", &code)]))
            .send()
    };
    let time = fresh_step().await;

    // Posted from another site: refused before the code is looked at.
    let response = post(code_at(time), "cross-site").await.unwrap();
    assert_eq!(response.status(), StatusCode::FORBIDDEN);

    // A wrong code: the page again, saying so.
    let response = post("000000".to_owned(), "same-origin").await.unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="problem""#), "{page}");

    let response = post(code_at(time), "same-origin").await.unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(page.contains(r#"id="private-link""#), "{page}");
}

#[tokio::test]
async fn a_reload_enrols_a_user_and_a_bad_totp_file_keeps_the_old_one() {
    let config = tempfile::tempdir().unwrap();
    let files = tempfile::tempdir().unwrap();
    let totp = files.path().join("totp");
    std::fs::write(&totp, "# nobody yet\n").unwrap();
    std::fs::set_permissions(&totp, std::fs::Permissions::from_mode(0o600)).unwrap();
    let (app, reloader) = spawn_app_from(
        config.path(),
        &[("TOKENGATE__USERS__TOTP_FILE", totp.to_str().unwrap())],
    )
    .await;
    assert_eq!(
        app.login_json(USER, PASSWORD).await.status(),
        StatusCode::OK
    );

    std::fs::write(&totp, format!("{USER}:{TOTP_SECRET}\n")).unwrap();
    reloader.reload().await.expect("a good totp file reloads");
    password_step(&app).await;

    std::fs::write(&totp, format!("{USER}:{TOTP_SECRET}\nbob:not*base32\n")).unwrap();
    let error = reloader.reload().await.unwrap_err().to_string();
    assert!(
        error.contains("users.totp_file") && error.contains("line 2:"),
        "{error}"
    );
    assert!(!error.contains(TOTP_SECRET), "{error}");
    password_step(&app).await;
}

#[test]
fn production_refuses_a_totp_file_others_can_read() {
    let files = tempfile::tempdir().unwrap();
    let totp = files.path().join("totp");
    std::fs::write(&totp, format!("{USER}:{TOTP_SECRET}\n")).unwrap();
    std::fs::set_permissions(&totp, std::fs::Permissions::from_mode(0o644)).unwrap();
    let users = files.path().join("users");
    std::fs::write(&users, crate::helpers::users_file_contents()).unwrap();
    let load = |environment: &str| {
        let vars = [
            ("TOKENGATE_ENV", environment),
            ("TOKENGATE__JWT__SECRET", SECRET),
            ("TOKENGATE__USERS__FILE", users.to_str().unwrap()),
            ("TOKENGATE__USERS__TOTP_FILE", totp.to_str().unwrap()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v.to_owned()))
        .collect();
        tokengate::runtime_config::RuntimeConfig::load(&crate::helpers::repo_config_dir(), &vars)
    };
    let error = load("production")
        .err()
        .expect("production refuses a readable TOTP file");
    assert_eq!(error.key, "users.totp_file", "{error}");
    assert!(error.message.contains("wider than 0600"), "{error}");
    // Development only warns.
    let warnings = load("development").unwrap().warnings;
    assert!(
        warnings
            .iter()
            .any(|warning| warning.contains("wider than 0600")),
        "{warnings:?}"
    );
    std::fs::set_permissions(&totp, std::fs::Permissions::from_mode(0o600)).unwrap();
    assert!(load("production").is_ok());
}

#[test]
fn enrolment_prints_the_file_line_the_uri_and_a_qr_code() {
    let output = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["totp", "enroll", "--user", "alice"])
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    let line = printed
        .lines()
        .find(|line| line.starts_with("alice:"))
        .expect("the users.totp_file line");
    let secret = line.strip_prefix("alice:").unwrap();
    assert_eq!(
        Secret::try_from_base32(secret).unwrap().as_bytes().len(),
        20
    );
    let uri = printed
        .lines()
        .find(|line| line.starts_with("otpauth://totp/"))
        .expect("the otpauth URI");
    assert!(uri.contains(&format!("secret={secret}")), "{uri}");
    assert!(uri.contains("issuer=tokengate"), "{uri}");
    assert!(
        printed.contains('█') || printed.contains('▀'),
        "a QR code: {printed}"
    );
    assert!(printed.contains(&format!("oathtool --totp -b {secret}")));

    // The printed line is a working totp file.
    let parsed = tokengate::mfa::TotpSecrets::parse(line, 1).unwrap();
    assert!(parsed.is_enrolled("alice"));

    let bad = std::process::Command::new(env!("CARGO_BIN_EXE_tokengate"))
        .args(["totp", "enroll", "--user", "a:b"])
        .output()
        .unwrap();
    assert_eq!(bad.status.code(), Some(2));
}

#[tokio::test]
async fn the_code_step_works_when_access_tokens_live_shorter_than_the_mfa_token() {
    let MfaApp { app, .. } = mfa_app(&[("TOKENGATE__JWT__TTL", "5s")]).await;
    let mfa_token = password_step(&app).await;
    let time = fresh_step().await;
    let response = code_step(&app, &mfa_token, &code_at(time)).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["expires_in"], 5);
}

/// The README's walkthrough computes codes with oathtool: they must be the
/// codes tokengate accepts.
#[test]
fn codes_from_oathtool_are_the_codes_tokengate_accepts() {
    let secrets = tokengate::mfa::TotpSecrets::parse(&format!("{USER}:{TOTP_SECRET}"), 0).unwrap();
    for (at, unix_time) in [
        ("2026-01-01 00:00:00 UTC", 1_767_225_600),
        ("2026-06-30 12:34:56 UTC", 1_782_822_896),
    ] {
        let output = std::process::Command::new("oathtool")
            .args(["--totp", "-b", TOTP_SECRET, "--now", at])
            .output()
            .expect("oathtool is installed (.ci/install-deps)");
        assert!(output.status.success(), "{output:?}");
        let code = String::from_utf8(output.stdout).unwrap();
        assert!(
            secrets.check(USER, code.trim(), unix_time).is_some(),
            "{at}: {code}"
        );
        assert_eq!(code.trim(), code_at(unix_time));
    }
}

#[tokio::test]
async fn a_browser_posting_a_spent_mfa_token_is_told_to_log_in_again_without_a_prompt() {
    let MfaApp { app, .. } = mfa_app(&[]).await;
    let mfa_token = password_step(&app).await;
    let time = fresh_step().await;
    assert_eq!(
        code_step(&app, &mfa_token, &code_at(time)).await.status(),
        StatusCode::OK
    );
    let response = app
        .client
        .post(app.url("/login/totp"))
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .header("Sec-Fetch-Site", "same-origin")
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body(form(&[
            ("mfa_token", &mfa_token),
            ("code", &code_at(time + 30)),
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(!challenge.starts_with("Basic"), "{challenge}");
    let page = response.text().await.unwrap();
    assert!(page.contains("Sign-in expired"), "{page}");
    assert!(page.contains(r#"href="/login""#), "{page}");
}

/// Two replicas on one Redis sessions store, so second-factor records are shared.
async fn replicas_on(redis: &crate::redis_server::RedisServer) -> (MfaApp, MfaApp) {
    let url = redis.url();
    let store = [("TOKENGATE__SESSIONS__STORE", url.as_str())];
    (mfa_app(&store).await, mfa_app(&store).await)
}

#[tokio::test]
async fn a_code_accepted_by_one_replica_is_refused_as_replayed_by_another() {
    let redis = crate::redis_server::RedisServer::start();
    let (a, b) = replicas_on(&redis).await;
    let time = fresh_step().await;
    let code = code_at(time);
    let first = password_step(&a.app).await;
    assert_eq!(
        code_step(&a.app, &first, &code).await.status(),
        StatusCode::OK
    );

    let second = password_step(&b.app).await;
    let response = code_step(&b.app, &second, &code).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    // The mfa_token spent on A cannot mint again on B either.
    let replayed = code_step(&b.app, &first, &code_at(time + 30)).await;
    assert_code_error(replayed, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
}

#[tokio::test]
async fn an_mfa_tokens_attempts_are_counted_across_replicas() {
    let redis = crate::redis_server::RedisServer::start();
    let url = redis.url();
    let store = [
        ("TOKENGATE__SESSIONS__STORE", url.as_str()),
        ("TOKENGATE__MFA__MAX_ATTEMPTS", "2"),
    ];
    let (a, b) = (mfa_app(&store).await, mfa_app(&store).await);
    let token = password_step(&a.app).await;
    for app in [&a.app, &b.app] {
        let response = code_step(app, &token, "000000x").await;
        assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_code").await;
    }
    // Each replica saw one wrong code; together they used the token up.
    let time = fresh_step().await;
    let response = code_step(&a.app, &token, &code_at(time)).await;
    assert_code_error(response, StatusCode::UNAUTHORIZED, "invalid_mfa_token").await;
}

#[tokio::test]
async fn with_redis_down_the_code_step_answers_503_and_accepts_nothing() {
    let mut redis = crate::redis_server::RedisServer::start();
    let (a, _b) = replicas_on(&redis).await;
    let token = password_step(&a.app).await;
    redis.stop();
    let time = fresh_step().await;
    let code = code_at(time);
    let response = code_step(&a.app, &token, &code).await;
    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(response.headers().contains_key("retry-after"));
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "unavailable", "{body}");
    assert!(body.get("access_token").is_none(), "{body}");

    // Back (empty, no persistence): the code was never recorded, so it now works once.
    redis.restart();
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    let response = loop {
        let response = code_step(&a.app, &token, &code).await;
        if response.status() != StatusCode::SERVICE_UNAVAILABLE {
            break response;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "Redis never came back"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    };
    assert_eq!(response.status(), StatusCode::OK);
}
