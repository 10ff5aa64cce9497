//! `GET /metrics`: exact counter deltas for a known sequence of requests,
//! the separate listener, and the exposition format (promtool).

use reqwest::StatusCode;

use crate::helpers::{
    PASSWORD, SECRET, TestApp, USER, minted_header, sign, spawn_app, spawn_app_from,
    spawn_app_with, valid_claims,
};
use crate::keys::{key_entry, write_keys_config};

/// The value of one series (name and labels exactly as exposed).
fn sample(exposition: &str, series: &str) -> f64 {
    exposition
        .lines()
        .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
        .unwrap_or_else(|| panic!("no `{series}` in:\n{exposition}"))
        .parse()
        .unwrap()
}

async fn scrape(app: &TestApp) -> String {
    let base = app.metrics_address.as_deref().unwrap_or(&app.address);
    let response = app
        .client
        .get(format!("{base}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let content_type = response.headers()["content-type"]
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        content_type.starts_with("text/plain; version=0.0.4"),
        "{content_type}"
    );
    response.text().await.unwrap()
}

#[tokio::test]
async fn counters_move_by_exactly_the_requests_made() {
    let app = spawn_app().await;
    let token = app.token().await;
    let mut expired = valid_claims();
    expired["exp"] = serde_json::json!(1_000_000_000);
    let expired = sign(&minted_header(), &expired, SECRET);
    let forged = sign(
        &minted_header(),
        &valid_claims(),
        "another-secret-0123456789abcdef0123",
    );
    let before = scrape(&app).await;

    assert_eq!(
        app.login_json(USER, PASSWORD).await.status(),
        StatusCode::OK
    );
    assert_eq!(
        app.login_json(USER, "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.access_with_bearer(&token).await.status(),
        StatusCode::OK
    );
    assert_eq!(app.get("/access").await.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        app.access_with_bearer(&expired).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.access_with_bearer(&forged).await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/auth/verify?x=1").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.get("/no-such-route").await.status(),
        StatusCode::NOT_FOUND
    );
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    let after = scrape(&app).await;

    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    for (series, expected) in [
        (
            r#"tokengate_http_requests_total{route="/login",status="2xx"}"#,
            1.0,
        ),
        (
            r#"tokengate_http_requests_total{route="/login",status="4xx"}"#,
            1.0,
        ),
        (
            r#"tokengate_http_requests_total{route="/access",status="2xx"}"#,
            1.0,
        ),
        (
            r#"tokengate_http_requests_total{route="/access",status="4xx"}"#,
            3.0,
        ),
        (
            r#"tokengate_http_requests_total{route="/auth/verify",status="4xx"}"#,
            1.0,
        ),
        (
            r#"tokengate_http_requests_total{route="unmatched",status="4xx"}"#,
            1.0,
        ),
        (
            r#"tokengate_http_requests_total{route="/healthz",status="2xx"}"#,
            1.0,
        ),
        // The first scrape is counted once it has been answered.
        (
            r#"tokengate_http_requests_total{route="/metrics",status="2xx"}"#,
            1.0,
        ),
        (
            r#"tokengate_token_checks_total{outcome="accepted",reason="valid"}"#,
            1.0,
        ),
        (
            r#"tokengate_token_checks_total{outcome="refused",reason="missing"}"#,
            2.0,
        ),
        (
            r#"tokengate_token_checks_total{outcome="refused",reason="expired"}"#,
            1.0,
        ),
        (
            r#"tokengate_token_checks_total{outcome="refused",reason="invalid_signature"}"#,
            1.0,
        ),
        (
            r#"tokengate_token_checks_total{outcome="refused",reason="malformed"}"#,
            0.0,
        ),
        // Timed: one check in 16 on each worker, starting with its first;
        // the five checks above ran on this app's one fresh worker.
        ("tokengate_token_check_duration_seconds_count", 1.0),
        (r#"tokengate_logins_total{outcome="success"}"#, 1.0),
        (
            r#"tokengate_logins_total{outcome="invalid_credentials"}"#,
            1.0,
        ),
        (r#"tokengate_logins_total{outcome="throttled"}"#, 0.0),
        ("tokengate_password_check_duration_seconds_count", 2.0),
        ("tokengate_password_check_wait_seconds_count", 2.0),
        ("tokengate_login_duration_seconds_count", 2.0),
    ] {
        assert_eq!(delta(series), expected, "{series}");
    }
    assert_eq!(sample(&after, "tokengate_password_check_queue_depth"), 0.0);
    assert!(sample(&after, "tokengate_password_check_queue_capacity") >= 64.0);
    assert_eq!(
        sample(&after, r#"tokengate_signing_key_info{kid="default"}"#),
        1.0
    );
    assert!(after.contains(&format!(
        "tokengate_build_info{{version=\"{}\",commit=\"",
        env!("CARGO_PKG_VERSION")
    )));
}

#[tokio::test]
async fn throttled_logins_are_counted_as_such() {
    let app = spawn_app_with(&[
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "1"),
    ])
    .await;
    let before = scrape(&app).await;
    assert_eq!(
        app.login_json(USER, "wrong").await.status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        app.login_json(USER, PASSWORD).await.status(),
        StatusCode::TOO_MANY_REQUESTS
    );
    let after = scrape(&app).await;
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(delta(r#"tokengate_logins_total{outcome="throttled"}"#), 1.0);
    assert_eq!(
        delta(r#"tokengate_logins_total{outcome="invalid_credentials"}"#),
        1.0
    );
    // The throttled attempt never reached a password check.
    assert_eq!(
        delta("tokengate_password_check_duration_seconds_count"),
        1.0
    );
}

#[tokio::test]
async fn reloads_are_counted_and_stamped() {
    let (app, reloader) = spawn_app_from(&crate::helpers::repo_config_dir(), &[]).await;
    let before = scrape(&app).await;
    std::thread::sleep(std::time::Duration::from_millis(20));
    reloader.reload().await.unwrap();
    let after = scrape(&app).await;
    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        delta(r#"tokengate_config_reloads_total{outcome="success"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"tokengate_config_reloads_total{outcome="failure"}"#),
        0.0
    );
    assert!(delta("tokengate_config_last_good_timestamp_seconds") > 0.0);
}

#[tokio::test]
async fn metrics_listen_moves_metrics_off_the_main_port() {
    let app = spawn_app_with(&[("TOKENGATE__METRICS__LISTEN", "127.0.0.1:0")]).await;
    assert!(app.metrics_address.is_some());
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let exposition = scrape(&app).await;
    assert_eq!(
        sample(
            &exposition,
            r#"tokengate_http_requests_total{route="unmatched",status="4xx"}"#
        ),
        1.0
    );
}

#[tokio::test]
async fn the_exposition_passes_promtool() {
    let app = spawn_app().await;
    app.token().await;
    app.get("/access").await;
    let exposition = scrape(&app).await;
    let mut promtool = std::process::Command::new("promtool")
        .args(["check", "metrics"])
        .stdin(std::process::Stdio::piped())
        .stdout(std::process::Stdio::piped())
        .stderr(std::process::Stdio::piped())
        .spawn()
        .expect("promtool is installed (Debian's prometheus package, .ci/install-deps)");
    use std::io::Write;
    promtool
        .stdin
        .take()
        .unwrap()
        .write_all(exposition.as_bytes())
        .unwrap();
    let output = promtool.wait_with_output().unwrap();
    assert!(
        output.status.success(),
        "promtool: {}{}\n{exposition}",
        String::from_utf8_lossy(&output.stdout),
        String::from_utf8_lossy(&output.stderr)
    );
}

/// Two HMAC keys in a config dir the test rewrites; `signing` signs.
fn two_key_config(dir: &std::path::Path, signing: &str, extra_jwt: &str) {
    let mut entries = Vec::new();
    for kid in ["hmac-a", "hmac-b"] {
        let secret = dir.join(format!("{kid}.secret"));
        std::fs::write(&secret, format!("{kid}-secret-0123456789abcdef0123456789")).unwrap();
        entries.push(key_entry(kid, "HS256", &[("secret_file", &secret)]));
    }
    write_keys_config(dir, signing, extra_jwt, &entries);
}

#[tokio::test]
async fn the_signing_key_in_force_and_refused_reloads_are_exposed() {
    let dir = tempfile::tempdir().unwrap();
    two_key_config(dir.path(), "hmac-a", "");
    let (app, reloader) = spawn_app_from(dir.path(), &[]).await;
    let before = scrape(&app).await;
    assert_eq!(
        sample(&before, r#"tokengate_signing_key_info{kid="hmac-a"}"#),
        1.0
    );

    two_key_config(dir.path(), "hmac-b", "");
    reloader.reload().await.unwrap();
    two_key_config(dir.path(), "hmac-a", "ttl = \"2days\"");
    assert!(reloader.reload().await.is_err());
    let after = scrape(&app).await;

    let delta = |series: &str| sample(&after, series) - sample(&before, series);
    assert_eq!(
        delta(r#"tokengate_config_reloads_total{outcome="success"}"#),
        1.0
    );
    assert_eq!(
        delta(r#"tokengate_config_reloads_total{outcome="failure"}"#),
        1.0
    );
    assert_eq!(
        sample(&after, r#"tokengate_signing_key_info{kid="hmac-b"}"#),
        1.0
    );
    assert!(!after.contains(r#"kid="hmac-a""#), "{after}");
}

#[tokio::test]
async fn metrics_can_be_switched_off() {
    let app = spawn_app_with(&[("TOKENGATE__METRICS__ENABLED", "false")]).await;
    assert_eq!(app.get("/metrics").await.status(), StatusCode::NOT_FOUND);
    let token = app.token().await;
    assert_eq!(
        app.access_with_bearer(&token).await.status(),
        StatusCode::OK
    );
}

/// Every `tokengate_...` identifier in `text`.
fn metric_names(text: &str) -> std::collections::BTreeSet<&str> {
    text.match_indices("tokengate_")
        .map(|(start, _)| {
            let rest = &text[start..];
            let end = rest
                .find(|c: char| !(c.is_ascii_lowercase() || c.is_ascii_digit() || c == '_'))
                .unwrap_or(rest.len());
            &rest[..end]
        })
        .collect()
}

#[tokio::test]
async fn the_dashboard_and_the_alert_rules_query_only_series_that_are_exposed() {
    let (app, reloader) = spawn_app_from(&crate::helpers::repo_config_dir(), &[]).await;
    // One of each kind of request, so every labelled family has a series.
    assert_eq!(app.login_json(USER, PASSWORD).await.status(), 200);
    assert_eq!(app.login_json(USER, "wrong").await.status(), 401);
    assert_eq!(app.access_with_bearer("a.b.c").await.status(), 401);
    reloader.reload().await.unwrap();
    let exposition = scrape(&app).await;
    let exposed: std::collections::BTreeSet<&str> = exposition
        .lines()
        .filter_map(|line| match line.strip_prefix("# TYPE ") {
            Some(declared) => declared.split(' ').next(),
            None => line.split(['{', ' ']).next(),
        })
        .collect();

    let root = std::path::Path::new(env!("CARGO_MANIFEST_DIR"));
    for file in [
        "deploy/grafana/tokengate-dashboard.json",
        "deploy/prometheus/tokengate-alerts.yml",
    ] {
        let text = std::fs::read_to_string(root.join(file)).unwrap();
        let queried = metric_names(&text);
        assert!(queried.len() >= 5, "{file}: {queried:?}");
        for name in queried {
            assert!(
                exposed.contains(name),
                "{file} queries `{name}`, which /metrics does not expose:\n{exposition}"
            );
        }
    }
}
