//! The library API an app embeds: one `TokenGate`, registered with one call,
//! mountable under any scope, with a pluggable async credential store and
//! custom claims.

use std::sync::atomic::{AtomicU8, Ordering};
use std::sync::{Arc, LazyLock};
use std::time::Duration;

use actix_web::http::StatusCode;
use actix_web::{App, HttpResponse, test, web};
use serde::{Deserialize, Serialize};
use serde_json::Value;
use tokengate::{
    Authenticated, Claims, CredentialStore, HtpasswdStore, PasswordHash, StoreError, TokenGate,
    UserRecord, Verifier,
};

use crate::helpers::{PASSWORD, USER, users_file_contents};

const SECRET: &str = "embedding-test-secret-0123456789abcdef";

static HASH: LazyLock<PasswordHash> = LazyLock::new(|| {
    let line = users_file_contents().lines().next().unwrap();
    PasswordHash::parse(line.split_once(':').unwrap().1).unwrap()
});

fn basic(user: &str, password: &str) -> String {
    use base64::Engine;
    let encoded = base64::engine::general_purpose::STANDARD.encode(format!("{user}:{password}"));
    format!("Basic {encoded}")
}

fn htpasswd_gate() -> TokenGate {
    TokenGate::builder()
        .secret(SECRET)
        .credential_store(HtpasswdStore::parse(users_file_contents()).unwrap())
        .hash_threads(1)
        .build()
        .unwrap()
}

fn login_request(path: &str, accept: &str, password: &str) -> test::TestRequest {
    test::TestRequest::get()
        .uri(path)
        .peer_addr("192.0.2.1:4000".parse().unwrap())
        .insert_header(("Authorization", basic(USER, password)))
        .insert_header(("Accept", accept))
}

/// A store whose backend is down.
struct DownStore;

#[tokengate::async_trait]
impl CredentialStore for DownStore {
    async fn find(&self, _: &str) -> Result<Option<UserRecord>, StoreError> {
        Err(StoreError::unavailable("connection refused").retry_after(Duration::from_millis(2500)))
    }
}

#[actix_web::test]
async fn a_store_outage_is_a_503_with_retry_after_never_a_401() {
    let gate = TokenGate::builder()
        .secret(SECRET)
        .credential_store(DownStore)
        .build()
        .unwrap();
    let app = test::init_service(App::new().configure(|cfg| gate.configure(cfg))).await;
    for accept in ["application/json", "text/html"] {
        let response =
            test::call_service(&app, login_request("/login", accept, PASSWORD).to_request()).await;

        assert_eq!(
            response.status(),
            StatusCode::SERVICE_UNAVAILABLE,
            "{accept}"
        );
        assert_eq!(
            response.headers().get("retry-after").unwrap(),
            "3",
            "rounded up"
        );
        assert!(!response.headers().contains_key("www-authenticate"));
    }
}

#[actix_web::test]
async fn mounted_under_a_scope_its_pages_link_within_the_scope() {
    let gate = htpasswd_gate();
    let app = test::init_service(
        App::new().service(web::scope("/auth").configure(|cfg| gate.configure(cfg))),
    )
    .await;

    let page = test::call_and_read_body(
        &app,
        login_request("/auth/login", "text/html", PASSWORD).to_request(),
    )
    .await;
    let page = String::from_utf8(page.to_vec()).unwrap();
    assert!(page.contains("href=\"/auth/access?token="), "{page}");
    assert!(page.contains("href=\"/auth/login\""), "{page}");

    // The hand-off's refresh cookie goes to the scope's /token, and the
    // access page refreshes and logs out there.
    let link = page
        .split("href=\"")
        .find(|part| part.starts_with("/auth/access?token="))
        .and_then(|part| part.split('"').next())
        .unwrap();
    let hand_off = test::TestRequest::get()
        .uri(link)
        .insert_header(("Accept", "text/html"))
        .to_request();
    let hand_off = test::call_service(&app, hand_off).await;
    assert_eq!(hand_off.status(), StatusCode::SEE_OTHER);
    let cookies: Vec<_> = hand_off.response().cookies().collect();
    let refresh = cookies
        .iter()
        .find(|c| c.name() == "tokengate_refresh")
        .unwrap();
    assert_eq!(refresh.path(), Some("/auth/token"));
    let access = cookies
        .iter()
        .find(|c| c.name() == "tokengate_token")
        .unwrap();
    let access_page = test::TestRequest::get()
        .uri("/auth/access")
        .insert_header(("Accept", "text/html"))
        .cookie(access.clone())
        .to_request();
    let access_page = test::call_and_read_body(&app, access_page).await;
    let access_page = String::from_utf8_lossy(&access_page);
    assert!(
        access_page.contains("data-refresh-url=\"/auth/token\""),
        "{access_page}"
    );
    assert!(
        access_page.contains("action=\"/auth/logout\""),
        "{access_page}"
    );

    let failed = test::call_and_read_body(
        &app,
        login_request("/auth/login", "text/html", "wrong").to_request(),
    )
    .await;
    assert!(String::from_utf8_lossy(&failed).contains("href=\"/auth/login\""));

    let rejected = test::TestRequest::get()
        .uri("/auth/access?token=garbage")
        .insert_header(("Accept", "text/html"))
        .to_request();
    let rejected = test::call_service(&app, rejected).await;
    assert_eq!(rejected.status(), StatusCode::UNAUTHORIZED);
    let body = test::read_body(rejected).await;
    assert!(String::from_utf8_lossy(&body).contains("href=\"/auth/login\""));
}

async fn whoami(Authenticated(claims): Authenticated<Claims>) -> HttpResponse {
    HttpResponse::Ok().body(claims.sub)
}

#[actix_web::test]
async fn a_handler_without_a_registered_gate_answers_500_rather_than_panicking() {
    let app = test::init_service(App::new().route("/me", web::get().to(whoami))).await;
    let request = test::TestRequest::get()
        .uri("/me")
        .insert_header(("Authorization", "Bearer a.b.c"))
        .to_request();

    let response = test::call_service(&app, request).await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}

#[derive(Serialize)]
struct Extra {
    groups: Vec<String>,
    sub: &'static str,
}

#[derive(Deserialize)]
struct WithGroups {
    sub: String,
    groups: Vec<String>,
}

/// Finds the test user, in the `readers` group.
struct GroupStore;

#[tokengate::async_trait]
impl CredentialStore for GroupStore {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok((name == USER).then(|| UserRecord::new(name, HASH.clone()).with_groups(["readers"])))
    }
}

/// A gate whose mint hook adds the user's groups as the app's own claim.
fn gate_minting_groups(store: impl CredentialStore + 'static) -> TokenGate {
    TokenGate::builder()
        .secret(SECRET)
        .credential_store(store)
        .mint_claims(|user: &UserRecord| Extra {
            groups: user.groups.clone(),
            // A registered claim from the app is ignored, never minted.
            sub: "mallory",
        })
        .build()
        .unwrap()
}

#[actix_web::test]
async fn the_mint_hook_adds_claims_that_authenticated_reads_back() {
    let gate = gate_minting_groups(GroupStore);
    let app = test::init_service(App::new().configure(|cfg| gate.configure(cfg)).route(
        "/groups",
        web::get().to(
            |Authenticated(claims): Authenticated<WithGroups>| async move {
                HttpResponse::Ok().body(format!("{} {}", claims.sub, claims.groups.join(",")))
            },
        ),
    ))
    .await;
    let body: Value = test::call_and_read_body_json(
        &app,
        login_request("/login", "application/json", PASSWORD).to_request(),
    )
    .await;
    let token = body["access_token"].as_str().unwrap();

    let answer = test::call_and_read_body(
        &app,
        test::TestRequest::get()
            .uri("/groups")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request(),
    )
    .await;

    assert_eq!(answer, format!("{USER} readers").as_bytes());
}

#[actix_web::test]
async fn registered_claims_are_validated_whatever_the_apps_claims_type() {
    let gate = htpasswd_gate();
    // A token with the app's claim but the wrong audience, signed with the right key.
    let now = jsonwebtoken::get_current_timestamp() as i64;
    let claims = serde_json::json!({
        "sub": USER, "iat": now, "nbf": now, "exp": now + 60, "jti": "x",
        "iss": "tokengate", "aud": "another-app", "groups": ["admins"],
    });
    let token = crate::helpers::sign(&crate::helpers::minted_header(), &claims, SECRET);
    let verifier: web::Data<Verifier> = gate.verifier();

    assert!(verifier.verify::<WithGroups>(&token).is_err());
}

#[actix_web::test]
async fn the_builder_names_what_is_missing_or_wrong() {
    let short = TokenGate::builder()
        .secret("short")
        .credential_store(DownStore)
        .build()
        .err()
        .unwrap();
    assert_eq!(short.key, "secret");
    let no_store = TokenGate::builder().secret(SECRET).build().err().unwrap();
    assert_eq!(no_store.key, "credential_store");
    let long_ttl = TokenGate::builder()
        .secret(SECRET)
        .ttl(Duration::from_secs(2 * 24 * 3600))
        .credential_store(DownStore)
        .build()
        .err()
        .unwrap();
    assert_eq!(long_ttl.key, "ttl");
}

#[derive(Deserialize)]
struct WithRoles {
    groups: Vec<String>,
    #[serde(default)]
    roles: Vec<String>,
}

/// The test user in `readers`, or no such user, or a backend that is down.
struct ChangingStore(Arc<AtomicU8>);

const PRESENT: u8 = 0;
const DOWN: u8 = 1;
const REMOVED: u8 = 2;

#[tokengate::async_trait]
impl CredentialStore for ChangingStore {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        match self.0.load(Ordering::SeqCst) {
            DOWN => Err(StoreError::unavailable("connection refused")),
            REMOVED => Ok(None),
            _ => GroupStore.find(name).await,
        }
    }
}

fn refresh_request(refresh_token: &str) -> test::TestRequest {
    test::TestRequest::post().uri("/token").set_form([
        ("grant_type", "refresh_token"),
        ("refresh_token", refresh_token),
    ])
}

#[actix_web::test]
async fn a_refresh_mints_what_a_login_would_and_asks_the_store_first() {
    let state = Arc::new(AtomicU8::new(PRESENT));
    let gate = gate_minting_groups(ChangingStore(Arc::clone(&state)));
    let app = test::init_service(App::new().configure(|cfg| gate.configure(cfg)).route(
        "/groups",
        web::get().to(
            |Authenticated(claims): Authenticated<WithRoles>| async move {
                HttpResponse::Ok().body(format!("{:?} {:?}", claims.groups, claims.roles))
            },
        ),
    ))
    .await;
    let groups_of = |token: String| {
        test::TestRequest::get()
            .uri("/groups")
            .insert_header(("Authorization", format!("Bearer {token}")))
            .to_request()
    };
    let login: Value = test::call_and_read_body_json(
        &app,
        login_request("/login", "application/json", PASSWORD).to_request(),
    )
    .await;
    let refresh = login["refresh_token"].as_str().unwrap();

    // A store that cannot answer: 503, and the refresh token is not spent.
    state.store(DOWN, Ordering::SeqCst);
    let down = test::call_service(&app, refresh_request(refresh).to_request()).await;
    assert_eq!(down.status(), StatusCode::SERVICE_UNAVAILABLE);
    assert!(down.headers().contains_key("retry-after"));

    state.store(PRESENT, Ordering::SeqCst);
    let refreshed: Value =
        test::call_and_read_body_json(&app, refresh_request(refresh).to_request()).await;
    let access = refreshed["access_token"].as_str().unwrap().to_owned();
    let answer = test::call_and_read_body(&app, groups_of(access.clone())).await;
    assert_eq!(answer, r#"["readers"] ["readers"]"#.as_bytes());

    // A user removed from the store: the grant is refused and the session ends.
    state.store(REMOVED, Ordering::SeqCst);
    let next = refreshed["refresh_token"].as_str().unwrap();
    let removed = test::call_service(&app, refresh_request(next).to_request()).await;
    assert_eq!(removed.status(), StatusCode::BAD_REQUEST);
    let body: Value = test::read_body_json(removed).await;
    assert_eq!(body["error"], "invalid_grant");
    let ended = test::call_service(&app, groups_of(access)).await;
    assert_eq!(ended.status(), StatusCode::UNAUTHORIZED);
}

async fn operators_only(
    guard: tokengate::auth::RequireRole<tokengate::auth::Operator>,
) -> HttpResponse {
    HttpResponse::Ok().body(guard.sub.clone())
}

#[actix_web::test]
async fn an_operator_guard_without_a_registered_gate_answers_500_rather_than_panicking() {
    let gate = htpasswd_gate();
    let mounted = test::init_service(App::new().configure(|cfg| gate.configure(cfg))).await;
    let login: Value = test::call_and_read_body_json(
        &mounted,
        login_request("/login", "application/json", PASSWORD).to_request(),
    )
    .await;
    let token = login["access_token"].as_str().unwrap();
    // The verifier alone, as an app that checks tokens but never mounted the gate.
    let app = test::init_service(
        App::new()
            .app_data(gate.verifier())
            .route("/ops", web::get().to(operators_only)),
    )
    .await;
    let request = test::TestRequest::get()
        .uri("/ops")
        .insert_header(("Authorization", format!("Bearer {token}")))
        .to_request();

    let response = test::call_service(&app, request).await;

    assert_eq!(response.status(), StatusCode::INTERNAL_SERVER_ERROR);
}
