use reqwest::StatusCode;

use crate::helpers::{
    RunningBinary, assert_token_rejected, minted_header, sign, spawn_app, spawn_app_with,
    tokengate_command, valid_claims,
};

#[tokio::test]
async fn every_response_names_the_replica_that_served_it() {
    let app = spawn_app_with(&[("TOKENGATE__SERVER__INSTANCE_ID", "replica-7")]).await;
    for path in ["/healthz", "/access", "/no-such-page"] {
        let response = app.get(path).await;
        assert_eq!(response.headers()["x-instance-id"], "replica-7", "{path}");
    }
}

#[tokio::test]
async fn verify_vouches_for_a_valid_token_with_the_user_and_expiry() {
    let app = spawn_app().await;
    let token = app.token().await;
    let response = app
        .client
        .get(app.url("/auth/verify"))
        .bearer_auth(&token)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["x-auth-request-user"],
        crate::helpers::USER
    );
    let expires = response.headers()["x-auth-request-expires"]
        .to_str()
        .unwrap();
    assert!(expires.ends_with('Z') && expires.contains('T'), "{expires}");
    assert_eq!(response.headers()["cache-control"], "no-store");
    assert!(response.bytes().await.unwrap().is_empty());
}

#[tokio::test]
async fn verify_reads_every_configured_source_and_answers_any_method() {
    let app = spawn_app().await;
    let token = app.token().await;
    // nginx's auth_request subrequest keeps the original request's method.
    let by_cookie = app
        .client
        .post(app.url("/auth/verify"))
        .header("Cookie", format!("tokengate_token={token}"))
        .send()
        .await
        .unwrap();
    assert_eq!(by_cookie.status(), StatusCode::OK);
    let by_query = app.get(&format!("/auth/verify?token={token}")).await;
    assert_eq!(by_query.status(), StatusCode::OK);
}

#[tokio::test]
async fn verify_rejects_a_missing_or_bad_token_with_a_bearer_challenge() {
    let app = spawn_app().await;
    assert_token_rejected(app.get("/auth/verify").await, "token_missing").await;
    let forged = sign(
        &minted_header(),
        &valid_claims(),
        "another-secret-0123456789abcdefgh",
    );
    let response = app
        .client
        .get(app.url("/auth/verify"))
        .bearer_auth(forged)
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("x-auth-request-user").is_none());
    assert_token_rejected(response, "token_invalid").await;
}

async fn probe_with_forwarded_for(binary: &RunningBinary, agent: &str) {
    let response = reqwest::Client::new()
        .get(binary.url("/healthz"))
        .header("X-Forwarded-For", "203.0.113.50, 198.51.100.9")
        .header("User-Agent", agent)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
}

fn log_line(log: &str, agent: &str) -> String {
    log.lines()
        .find(|line| line.contains(agent))
        .unwrap_or_else(|| panic!("no access-log line for {agent}:\n{log}"))
        .to_owned()
}

#[tokio::test]
async fn the_access_log_believes_forwarded_for_only_from_a_trusted_proxy() {
    let mut trusting = RunningBinary::start(|command| {
        command.env("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1");
    });
    probe_with_forwarded_for(&trusting, "probe-trusted").await;
    trusting.terminate();
    let line = log_line(&trusting.log(), "probe-trusted");
    // The hop nearest the trusted proxy, not the one the client could forge.
    assert!(line.contains("198.51.100.9 \"GET /healthz"), "{line}");

    let mut direct = RunningBinary::start(|_| {});
    probe_with_forwarded_for(&direct, "probe-direct").await;
    direct.terminate();
    let line = log_line(&direct.log(), "probe-direct");
    assert!(line.contains("127.0.0.1 \"GET /healthz"), "{line}");
    assert!(!line.contains("198.51.100.9"), "{line}");
}

#[tokio::test]
async fn healthcheck_exits_0_while_the_server_answers_and_1_when_it_is_gone() {
    let mut binary = RunningBinary::start(|_| {});
    let port = binary.address.rsplit(':').next().unwrap().to_owned();
    let dir = tempfile::tempdir().unwrap();
    let check = |port: &str| {
        tokengate_command(&dir)
            .args(["healthcheck", "--timeout", "2s"])
            .env("TOKENGATE__SERVER__PORT", port)
            .output()
            .unwrap()
    };
    let healthy = check(&port);
    assert!(healthy.status.success(), "{healthy:?}");

    binary.terminate();
    let gone = check(&port);
    assert_eq!(gone.status.code(), Some(1), "{gone:?}");
    assert!(String::from_utf8_lossy(&gone.stderr).contains("unreachable"));
}

#[tokio::test]
async fn behind_a_trusted_proxy_login_attempts_are_counted_per_forwarded_client() {
    let app = spawn_app_with(&[
        ("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_BURST", "2"),
    ])
    .await;
    let attempt = |client: &'static str, user: String| {
        app.client
            .get(app.url("/login"))
            .basic_auth(user, Some("guess"))
            .header("Accept", "application/json")
            .header("X-Forwarded-For", client)
            .send()
    };
    for n in 0..2 {
        let response = attempt("198.51.100.1", format!("user{n}")).await.unwrap();
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    let throttled = attempt("198.51.100.1", "user-next".into()).await.unwrap();
    assert_eq!(throttled.status(), StatusCode::TOO_MANY_REQUESTS);

    // Another client behind the same proxy has its own budget.
    let other = attempt("198.51.100.2", "user-other".into()).await.unwrap();
    assert_eq!(other.status(), StatusCode::UNAUTHORIZED);
}
