use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};

use actix_web::http::{StatusCode, header};
use actix_web::{App, test};
use reqwest::StatusCode as ReqwestStatus;
use serde_json::Value;
use tokengate::{
    CredentialStore, LimitsSettings, PasswordHash, StoreError, TokenGate, UserRecord, hash_password,
};

use crate::helpers::{PASSWORD, USER, spawn_app_with};

/// A store that counts how many lookups (each followed by a hash) it was asked for.
#[derive(Default)]
struct CountingStore {
    checks: AtomicUsize,
}

#[tokengate::async_trait]
impl CredentialStore for CountingStore {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        self.checks.fetch_add(1, Ordering::SeqCst);
        let hash = PasswordHash::parse(&hash_password(PASSWORD)).unwrap();
        Ok((name == USER).then(|| UserRecord::new(name, hash)))
    }
}

fn limits(ip: (u32, u32), user: (u32, u32)) -> LimitsSettings {
    LimitsSettings {
        login_per_ip_per_minute: ip.0,
        login_per_ip_burst: ip.1,
        login_per_user_per_minute: user.0,
        login_per_user_burst: user.1,
        login_per_user_ceiling_per_minute: 0,
        login_per_user_ceiling_burst: 0,
    }
}

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

#[actix_web::test]
async fn a_throttled_wrong_password_costs_no_hash() {
    let store = Arc::new(CountingStore::default());
    let gate = TokenGate::builder()
        .secret("0123456789abcdef0123456789abcdef")
        .credential_store(store.clone())
        .hash_threads(1)
        .login_limits(limits((0, 0), (1, 3)))
        .build()
        .unwrap();
    let app = test::init_service(App::new().configure(|cfg| gate.configure(cfg))).await;
    let attempt = || {
        test::TestRequest::get()
            .uri("/login")
            .peer_addr("192.0.2.1:4000".parse().unwrap())
            .insert_header(("Authorization", basic(USER, "wrong")))
            .insert_header(("Accept", "application/json"))
            .to_request()
    };

    for _ in 0..3 {
        let response = test::call_service(&app, attempt()).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    }
    assert_eq!(store.checks.load(Ordering::SeqCst), 3);
    for _ in 0..20 {
        let response = test::call_service(&app, attempt()).await;
        assert_eq!(response.status(), StatusCode::TOO_MANY_REQUESTS);
    }

    assert_eq!(
        store.checks.load(Ordering::SeqCst),
        3,
        "throttled attempts must not reach the password check"
    );
}

#[tokio::test]
async fn too_many_attempts_for_one_user_get_429_with_retry_after() {
    let app = spawn_app_with(&[
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_PER_MINUTE", "0"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "2"),
    ])
    .await;
    for _ in 0..2 {
        assert_eq!(
            app.login_json(USER, "wrong").await.status(),
            ReqwestStatus::UNAUTHORIZED
        );
    }

    let throttled = app.login_json(USER, "wrong").await;

    assert_eq!(throttled.status(), ReqwestStatus::TOO_MANY_REQUESTS);
    let retry_after: u64 = throttled.headers()["retry-after"]
        .to_str()
        .unwrap()
        .parse()
        .unwrap();
    assert!((1..=60).contains(&retry_after), "{retry_after}");
    assert_eq!(throttled.headers()["cache-control"], "no-store");
    let body: Value = throttled.json().await.unwrap();
    assert_eq!(body["error"], "too_many_requests");
    // The right password is refused too while throttled: that is the point.
    assert_eq!(
        app.login_json(USER, PASSWORD).await.status(),
        ReqwestStatus::TOO_MANY_REQUESTS
    );
    // Another account is not affected by the throttled one.
    assert_eq!(
        app.login_json("someone-else", "x").await.status(),
        ReqwestStatus::UNAUTHORIZED
    );
}

#[tokio::test]
async fn one_address_trying_many_usernames_is_throttled() {
    let app = spawn_app_with(&[
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_BURST", "3"),
    ])
    .await;
    for n in 0..3 {
        let response = app.login_json(&format!("user{n}"), "guess").await;
        assert_eq!(response.status(), ReqwestStatus::UNAUTHORIZED);
    }

    let response = app.login_json("user-next", "guess").await;

    assert_eq!(response.status(), ReqwestStatus::TOO_MANY_REQUESTS);
    assert!(response.headers().contains_key("retry-after"));
}

#[tokio::test]
async fn requests_without_credentials_do_not_count_against_the_limit() {
    let app = spawn_app_with(&[
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_BURST", "1"),
    ])
    .await;
    // A browser's first visit carries no credentials; it only gets the prompt.
    for _ in 0..5 {
        assert_eq!(
            app.get("/login").await.status(),
            ReqwestStatus::UNAUTHORIZED
        );
    }

    assert_eq!(
        app.login_json(USER, PASSWORD).await.status(),
        ReqwestStatus::OK
    );
}

#[tokio::test]
async fn a_throttled_browser_gets_a_429_page_with_retry_after() {
    let app = spawn_app_with(&[
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "1"),
    ])
    .await;
    let attempt = || {
        app.client
            .get(app.url("/login"))
            .header("Accept", BROWSER_ACCEPT)
            .basic_auth(USER, Some("wrong"))
            .send()
    };
    assert_eq!(
        attempt().await.unwrap().status(),
        ReqwestStatus::UNAUTHORIZED
    );

    let response = attempt().await.unwrap();

    assert_eq!(response.status(), ReqwestStatus::TOO_MANY_REQUESTS);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    let retry_after: u64 = headers["retry-after"].to_str().unwrap().parse().unwrap();
    assert_eq!(headers["cache-control"], "no-store");
    assert!(headers.contains_key("content-security-policy"));
    let page = response.text().await.unwrap();
    assert!(page.contains("Too many attempts"), "{page}");
    assert!(
        page.contains(&format!(r#"<span id="retry-seconds">{retry_after}</span>"#)),
        "{page}"
    );
    assert!(!page.contains("<script"), "{page}");
}

/// What a browser sends on a navigation.
const BROWSER_ACCEPT: &str = "text/html,application/xhtml+xml,application/xml;q=0.9,*/*;q=0.8";

/// A user whose every password check takes long (argon2id, 40 passes), so a
/// burst of logins fills the check queue; the hash itself is never matched.
struct SlowHashStore;

#[tokengate::async_trait]
impl CredentialStore for SlowHashStore {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        let hash = PasswordHash::parse(
            "$argon2id$v=19$m=19456,t=40,p=1$c29tZXNhbHRzb21lc2FsdA$\
             AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA",
        )
        .unwrap();
        Ok((name == USER).then(|| UserRecord::new(name, hash)))
    }
}

/// Logs in `USER` until the password-check queue is full, and returns the
/// first answer that came back: the refused one. The checks still queued are
/// abandoned with their requests, so the pool skips them.
async fn login_until_busy(accept: &str) -> actix_web::dev::ServiceResponse {
    use futures_util::StreamExt as _;
    let gate = TokenGate::builder()
        .secret("0123456789abcdef0123456789abcdef")
        .credential_store(SlowHashStore)
        .hash_threads(1)
        .login_limits(limits((0, 0), (0, 0)))
        .build()
        .unwrap();
    let app = test::init_service(App::new().configure(|cfg| gate.configure(cfg))).await;
    // Two checks running, 64 queued (`hash_threads(1)`), and some to spare.
    let mut logins: futures_util::stream::FuturesUnordered<_> = (0..80)
        .map(|_| {
            let request = test::TestRequest::get()
                .uri("/login")
                .peer_addr("192.0.2.1:4000".parse().unwrap())
                .insert_header(("Authorization", basic(USER, "wrong")))
                .insert_header(("Accept", accept))
                .to_request();
            test::call_service(&app, request)
        })
        .collect();
    logins.next().await.unwrap()
}

#[actix_web::test]
async fn a_busy_password_check_queue_gives_a_browser_a_503_page_with_retry_after() {
    let response = login_until_busy(BROWSER_ACCEPT).await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    let headers = response.headers().clone();
    assert!(
        headers
            .get(header::CONTENT_TYPE)
            .unwrap()
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    assert_eq!(headers.get(header::RETRY_AFTER).unwrap(), "1");
    assert_eq!(headers.get(header::CACHE_CONTROL).unwrap(), "no-store");
    let page = String::from_utf8(test::read_body(response).await.to_vec()).unwrap();
    assert!(page.contains("Busy: try again shortly"), "{page}");
}

#[actix_web::test]
async fn a_busy_password_check_queue_gives_an_api_client_the_busy_json() {
    let response = login_until_busy("application/json").await;

    assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert_eq!(response.headers().get(header::RETRY_AFTER).unwrap(), "1");
    let body: Value = test::read_body_json(response).await;
    assert_eq!(
        body,
        serde_json::json!({
            "error": "busy",
            "message": "too many logins are being checked; retry shortly",
        })
    );
}
