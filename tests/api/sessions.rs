//! Sessions: refresh rotation, reuse detection and its grace, logout (one
//! session and everywhere), RFC 7009 revocation, password changes, the
//! browser cookies and CSRF check. Each scenario runs against the memory
//! store and against a real redis-server the test starts; the Redis-only
//! tests cover replicas sharing one store, expiry of every record, and
//! Redis going down and coming back.

use std::path::Path;
use std::time::{Duration, Instant};

use ::redis::AsyncCommands as _;
use reqwest::StatusCode;
use serde_json::Value;
use tokengate::credentials::hash_password;
use tokengate::reload::Reloader;

use crate::helpers::{
    PASSWORD, TestApp, USER, assert_token_rejected, spawn_app_from, tokengate_command,
    users_file_contents,
};
use crate::redis_server::RedisServer;

use crate::helpers::HTML_USER as OTHER_USER;

/// One store to run a scenario against; a Redis one owns its server.
struct Backend {
    redis: Option<RedisServer>,
}

impl Backend {
    fn memory() -> Self {
        Self { redis: None }
    }

    fn redis() -> Self {
        Self {
            redis: Some(RedisServer::start()),
        }
    }

    /// A replica on this store, with its own config dir and users file.
    async fn spawn(&self, overrides: &[(&str, &str)]) -> Replica {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        std::fs::write(&users, users_file_contents()).unwrap();
        let store = self
            .redis
            .as_ref()
            .map_or_else(|| "memory".to_owned(), RedisServer::url);
        let mut all = vec![
            ("TOKENGATE__USERS__FILE", users.to_str().unwrap()),
            ("TOKENGATE__SESSIONS__STORE", store.as_str()),
        ];
        all.extend_from_slice(overrides);
        let (app, reloader) = spawn_app_from(dir.path(), &all).await;
        let replica = Replica { app, reloader, dir };
        replica.wait_until_synced().await;
        replica
    }
}

struct Replica {
    app: TestApp,
    reloader: Reloader,
    dir: tempfile::TempDir,
}

/// A JSON login's answer.
struct Login {
    access: String,
    refresh: String,
}

impl Replica {
    async fn wait_until_synced(&self) {
        let deadline = Instant::now() + Duration::from_secs(10);
        loop {
            let body: Value = self.app.get("/readyz").await.json().await.unwrap();
            if body["sessions"]["synced"] == true {
                return;
            }
            assert!(Instant::now() < deadline, "the store never synced: {body}");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn login_as(&self, user: &str) -> Login {
        let response = self.app.login_json(user, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["token_type"], "Bearer");
        assert!(body["refresh_expires_in"].as_u64().unwrap() > 0, "{body}");
        Login {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn login(&self) -> Login {
        self.login_as(USER).await
    }

    async fn post_form(&self, path: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url(path))
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn refresh(&self, token: &str) -> reqwest::Response {
        self.post_form(
            "/token",
            &[("grant_type", "refresh_token"), ("refresh_token", token)],
        )
        .await
    }

    /// A successful refresh: the new pair.
    async fn refreshed(&self, token: &str) -> Login {
        let response = self.refresh(token).await;
        assert_eq!(response.status(), StatusCode::OK);
        assert_eq!(response.headers()["cache-control"], "no-store");
        let body: Value = response.json().await.unwrap();
        Login {
            access: body["access_token"].as_str().unwrap().to_owned(),
            refresh: body["refresh_token"].as_str().unwrap().to_owned(),
        }
    }

    async fn logout(&self, access: &str, form: &[(&str, &str)]) -> reqwest::Response {
        self.app
            .client
            .post(self.app.url("/logout"))
            .bearer_auth(access)
            .form(form)
            .send()
            .await
            .unwrap()
    }

    async fn access_status(&self, access: &str) -> StatusCode {
        self.app.access_with_bearer(access).await.status()
    }

    /// The session `login` belongs to has ended here: its access token is
    /// refused and its refresh token is an `invalid_grant`.
    async fn assert_ended(&self, login: &Login) {
        assert_eq!(
            self.access_status(&login.access).await,
            StatusCode::UNAUTHORIZED
        );
        assert_oauth_error(
            self.refresh(&login.refresh).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }

    /// Waits (bounded) until this replica refuses `access`: revocations
    /// reach other replicas asynchronously.
    async fn eventually_refuses(&self, access: &str) {
        let deadline = Instant::now() + Duration::from_secs(5);
        while self.access_status(access).await != StatusCode::UNAUTHORIZED {
            assert!(Instant::now() < deadline, "the revocation never arrived");
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
}

async fn assert_oauth_error(response: reqwest::Response, status: StatusCode, code: &str) {
    assert_eq!(response.status(), status);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["error_description"].is_string());
}

fn claims_of(token: &str) -> Value {
    use base64::Engine as _;
    let payload = token.split('.').nth(1).unwrap();
    let json = base64::engine::general_purpose::URL_SAFE_NO_PAD
        .decode(payload)
        .unwrap();
    serde_json::from_slice(&json).unwrap()
}

// ---- scenarios, run against both stores ----

async fn login_answers_a_refresh_token_and_every_access_token_carries_the_sid(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let login = replica.login().await;
    assert!(login.refresh.len() >= 43, "256 bits, base64url");
    let sid = claims_of(&login.access)["sid"].as_str().unwrap().to_owned();
    assert_eq!(replica.access_status(&login.access).await, StatusCode::OK);

    let next = replica.refreshed(&login.refresh).await;
    assert_ne!(next.refresh, login.refresh);
    assert_eq!(claims_of(&next.access)["sid"], sid.as_str());
    assert_eq!(replica.access_status(&next.access).await, StatusCode::OK);
}

async fn a_spent_refresh_token_after_the_grace_ends_the_whole_session(backend: Backend) {
    let replica = backend
        .spawn(&[("TOKENGATE__SESSIONS__REUSE_GRACE", "0s")])
        .await;
    let other = replica.login().await;
    let login = replica.login().await;
    let next = replica.refreshed(&login.refresh).await;

    // The old token again: theft. The session ends, the successor too.
    assert_oauth_error(
        replica.refresh(&login.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_oauth_error(
        replica.refresh(&next.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_token_rejected(
        replica.app.access_with_bearer(&next.access).await,
        "token_revoked",
    )
    .await;
    assert_token_rejected(
        replica.app.access_with_bearer(&login.access).await,
        "token_revoked",
    )
    .await;
    // Another session of the same user is untouched.
    assert_eq!(replica.access_status(&other.access).await, StatusCode::OK);
    replica.refreshed(&other.refresh).await;
}

async fn a_duplicate_refresh_within_the_grace_gets_the_same_successor(backend: Backend) {
    let replica = backend
        .spawn(&[("TOKENGATE__SESSIONS__REUSE_GRACE", "30s")])
        .await;
    let login = replica.login().await;
    let first = replica.refreshed(&login.refresh).await;
    let second = replica.refreshed(&login.refresh).await;
    assert_eq!(first.refresh, second.refresh);
    assert_eq!(replica.access_status(&first.access).await, StatusCode::OK);
    assert_eq!(replica.access_status(&second.access).await, StatusCode::OK);
    // The chain goes on from the shared successor.
    replica.refreshed(&first.refresh).await;
}

async fn logout_ends_the_session_and_clears_the_cookies(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let other = replica.login().await;
    let login = replica.login().await;
    let response = replica.logout(&login.access, &[]).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<String> = response
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("tokengate_token=;") && c.contains("Max-Age=0")),
        "{cleared:?}"
    );
    assert!(
        cleared
            .iter()
            .any(|c| c.starts_with("tokengate_refresh=;") && c.contains("Path=/token")),
        "{cleared:?}"
    );
    assert_token_rejected(
        replica.app.access_with_bearer(&login.access).await,
        "token_revoked",
    )
    .await;
    assert_oauth_error(
        replica.refresh(&login.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(replica.access_status(&other.access).await, StatusCode::OK);
    // Logging out again is harmless; without a token it is a 401.
    assert_eq!(
        replica.logout(&login.access, &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    let anonymous = replica.post_form("/logout", &[]).await;
    assert_eq!(anonymous.status(), StatusCode::UNAUTHORIZED);
}

async fn logout_everywhere_ends_every_session_of_that_user_only(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let first = replica.login().await;
    let second = replica.login().await;
    let bystander = replica.login_as(OTHER_USER).await;
    let response = replica
        .logout(&second.access, &[("everywhere", "true")])
        .await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for login in [&first, &second] {
        replica.assert_ended(login).await;
    }
    assert_eq!(
        replica.access_status(&bystander.access).await,
        StatusCode::OK
    );
    // A login after the logout starts a session that works.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let fresh = replica.login().await;
    assert_eq!(replica.access_status(&fresh.access).await, StatusCode::OK);
    replica.refreshed(&fresh.refresh).await;
    let bad = replica
        .logout(&fresh.access, &[("everywhere", "maybe")])
        .await;
    assert_oauth_error(bad, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn revoke_ends_the_session_of_an_access_or_a_refresh_token(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let by_access = replica.login().await;
    let by_refresh = replica.login().await;
    let response = replica
        .post_form("/revoke", &[("token", &by_access.access)])
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    replica.assert_ended(&by_access).await;

    let response = replica
        .post_form(
            "/revoke",
            &[
                ("token", &by_refresh.refresh),
                ("token_type_hint", "refresh_token"),
            ],
        )
        .await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        replica.access_status(&by_refresh.access).await,
        StatusCode::UNAUTHORIZED
    );

    // RFC 7009 2.2: unknown tokens get the same 200; a missing one is a 400.
    let unknown = replica.post_form("/revoke", &[("token", "nonsense")]).await;
    assert_eq!(unknown.status(), StatusCode::OK);
    let missing = replica.post_form("/revoke", &[]).await;
    assert_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn the_token_endpoint_answers_rfc_6749_errors(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let cases: [(&[(&str, &str)], &str); 5] = [
        (&[], "invalid_request"),
        (&[("grant_type", "password")], "unsupported_grant_type"),
        (&[("grant_type", "refresh_token")], "invalid_request"),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", "unknown"),
            ],
            "invalid_grant",
        ),
        (
            &[
                ("grant_type", "refresh_token"),
                ("refresh_token", &"x".repeat(500)),
            ],
            "invalid_grant",
        ),
    ];
    for (form, code) in cases {
        let response = replica.post_form("/token", form).await;
        assert_oauth_error(response, StatusCode::BAD_REQUEST, code).await;
    }
    let twice = replica
        .app
        .client
        .post(replica.app.url("/token"))
        .header("Content-Type", "application/x-www-form-urlencoded")
        .body("grant_type=refresh_token&grant_type=refresh_token&refresh_token=a")
        .send()
        .await
        .unwrap();
    assert_oauth_error(twice, StatusCode::BAD_REQUEST, "invalid_request").await;
    let json = replica
        .app
        .client
        .post(replica.app.url("/token"))
        .json(&serde_json::json!({"grant_type": "refresh_token"}))
        .send()
        .await
        .unwrap();
    assert_oauth_error(json, StatusCode::BAD_REQUEST, "invalid_request").await;
}

async fn an_expired_refresh_token_is_refused(backend: Backend) {
    let replica = backend
        .spawn(&[
            ("TOKENGATE__SESSIONS__REFRESH_TTL", "1s"),
            ("TOKENGATE__SESSIONS__MAX_AGE", "1s"),
        ])
        .await;
    let login = replica.login().await;
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_oauth_error(
        replica.refresh(&login.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

async fn a_changed_password_ends_the_users_sessions_on_reload(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let changed = replica.login().await;
    let bystander = replica.login_as(OTHER_USER).await;
    let users = replica.dir.path().join("users");
    let new_password = "a brand new password";
    let rewritten = users_file_contents()
        .lines()
        .map(|line| {
            if line.starts_with(&format!("{USER}:")) {
                format!("{USER}:{}", hash_password(new_password))
            } else {
                line.to_owned()
            }
        })
        .collect::<Vec<_>>()
        .join("\n");
    write(&users, &rewritten);
    replica.reloader.reload().await.expect("reload succeeds");

    replica.assert_ended(&changed).await;
    assert_eq!(
        replica.access_status(&bystander.access).await,
        StatusCode::OK
    );
    // The new password starts a session that a further reload (nothing
    // changed) leaves alone.
    tokio::time::sleep(Duration::from_millis(5)).await;
    let response = replica.app.login_json(USER, new_password).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    let fresh = body["access_token"].as_str().unwrap().to_owned();
    replica.reloader.reload().await.expect("reload succeeds");
    assert_eq!(replica.access_status(&fresh).await, StatusCode::OK);
}

async fn a_user_removed_on_reload_loses_every_session(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let removed = replica.login_as(OTHER_USER).await;
    let bystander = replica.login().await;
    let without: Vec<&str> = users_file_contents()
        .lines()
        .filter(|line| !line.starts_with(&format!("{OTHER_USER}:")))
        .collect();
    write(&replica.dir.path().join("users"), &without.join("\n"));
    replica.reloader.reload().await.expect("reload succeeds");

    replica.assert_ended(&removed).await;
    assert_eq!(
        replica.access_status(&bystander.access).await,
        StatusCode::OK
    );
}

async fn a_session_ends_at_max_age_however_often_it_refreshes(backend: Backend) {
    let replica = backend
        .spawn(&[
            ("TOKENGATE__SESSIONS__REFRESH_TTL", "3s"),
            ("TOKENGATE__SESSIONS__MAX_AGE", "3s"),
        ])
        .await;
    let login = replica.login().await;
    tokio::time::sleep(Duration::from_millis(1200)).await;
    let response = replica.refresh(&login.refresh).await;
    assert_eq!(response.status(), StatusCode::OK);
    let body: Value = response.json().await.unwrap();
    // A fresh refresh token would live refresh_ttl (3 s); this one only
    // until the session's end.
    let lives = body["refresh_expires_in"].as_u64().unwrap();
    assert!((1..3).contains(&lives), "{body}");
    let successor = body["refresh_token"].as_str().unwrap().to_owned();
    tokio::time::sleep(Duration::from_millis(2100)).await;
    assert_oauth_error(
        replica.refresh(&successor).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

async fn cookie_authenticated_posts_from_other_sites_are_refused(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let login = replica.login().await;
    let cookie = format!("tokengate_token={}", login.access);
    let cross_site = replica
        .app
        .client
        .post(replica.app.url("/logout"))
        .header("Cookie", &cookie)
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_oauth_error(cross_site, StatusCode::FORBIDDEN, "cross_site_request").await;
    assert_eq!(replica.access_status(&login.access).await, StatusCode::OK);

    let same_origin = replica
        .app
        .client
        .post(replica.app.url("/logout"))
        .header("Cookie", &cookie)
        .header("Sec-Fetch-Site", "same-origin")
        .send()
        .await
        .unwrap();
    assert_eq!(same_origin.status(), StatusCode::NO_CONTENT);
    assert_eq!(
        replica.access_status(&login.access).await,
        StatusCode::UNAUTHORIZED
    );
}

/// A browser login over `proto` (`http`, or `https` as a trusted proxy
/// says): the private-link page and the cookies its hand-off sets.
async fn browser_hand_off(replica: &Replica, proto: &str) -> (String, Vec<String>) {
    let page = replica
        .app
        .client
        .get(replica.app.url("/login"))
        .basic_auth(USER, Some(PASSWORD))
        .header("Accept", "text/html")
        .header("X-Forwarded-Proto", proto)
        .send()
        .await
        .unwrap();
    assert!(
        page.headers().get("set-cookie").is_none(),
        "the login page sets no cookie"
    );
    let html = page.text().await.unwrap();
    let link = html
        .split("href=\"")
        .find(|part| part.starts_with("/access?token="))
        .and_then(|part| part.split('"').next())
        .unwrap()
        .to_owned();
    let hand_off = replica
        .app
        .client
        .get(replica.app.url(&link))
        .header("Accept", "text/html")
        .header("X-Forwarded-Proto", proto)
        .send()
        .await
        .unwrap();
    assert_eq!(hand_off.status(), StatusCode::SEE_OTHER);
    let cookies = hand_off
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    (html, cookies)
}

async fn the_browser_hand_off_sets_a_refresh_cookie_for_the_token_endpoint_only(backend: Backend) {
    let replica = backend.spawn(&[]).await;
    let (html, cookies) = browser_hand_off(&replica, "http").await;
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("tokengate_refresh="))
        .expect("a refresh cookie");
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/token"] {
        assert!(refresh.contains(attribute), "{refresh}");
    }
    let value = refresh
        .trim_start_matches("tokengate_refresh=")
        .split(';')
        .next()
        .unwrap();
    assert!(
        !html.contains(value),
        "the refresh token never sits in a page"
    );

    // The page's script posts with the cookie alone and gets new cookies.
    let refreshed = replica
        .app
        .client
        .post(replica.app.url("/token"))
        .header("Cookie", format!("tokengate_refresh={value}"))
        .header("Sec-Fetch-Site", "same-origin")
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let set: Vec<String> = refreshed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap().to_owned())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("tokengate_token=")),
        "{set:?}"
    );
    assert!(
        set.iter().any(|c| c.starts_with("tokengate_refresh=")),
        "{set:?}"
    );
    let body: Value = refreshed.json().await.unwrap();
    assert!(body.get("access_token").is_none(), "cookies only: {body}");
    assert!(body["expires_in"].as_u64().unwrap() > 0);

    // From another site, the cookie alone is refused.
    let cross = replica
        .app
        .client
        .post(replica.app.url("/token"))
        .header("Cookie", format!("tokengate_refresh={value}"))
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("grant_type", "refresh_token")])
        .send()
        .await
        .unwrap();
    assert_oauth_error(cross, StatusCode::FORBIDDEN, "cross_site_request").await;
}

/// A groups file making [`OTHER_USER`] (not [`USER`]) the operator group
/// `admins`, kept alive by the returned guard; and the env override naming it.
fn operators_file() -> (tempfile::TempDir, String) {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("groups");
    std::fs::write(&path, format!("admins: {OTHER_USER}\n")).unwrap();
    let path = path.to_str().unwrap().to_owned();
    (dir, path)
}

async fn admin_revoke(replica: &Replica, access: Option<&str>, user: &str) -> reqwest::Response {
    let request = replica
        .app
        .client
        .post(replica.app.url("/admin/sessions/revoke"))
        .form(&[("user", user)]);
    let request = match access {
        Some(token) => request.bearer_auth(token),
        None => request,
    };
    request.send().await.unwrap()
}

async fn an_operator_ends_every_session_of_a_user(backend: Backend) {
    let (_groups, groups) = operators_file();
    let replica = backend
        .spawn(&[("TOKENGATE__USERS__GROUPS_FILE", groups.as_str())])
        .await;
    let admin = replica.login_as(OTHER_USER).await;
    let first = replica.login().await;
    let second = replica.login().await;

    // Not an operator, or no token at all: refused, nothing ends.
    let response = admin_revoke(&replica, Some(&first.access), USER).await;
    assert_eq!(response.status(), StatusCode::FORBIDDEN);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "insufficient_role", "{body}");
    assert_token_rejected(admin_revoke(&replica, None, USER).await, "token_missing").await;
    assert_eq!(replica.access_status(&first.access).await, StatusCode::OK);
    // A bad or missing user name is the client's mistake.
    for bad in ["", "bad:name"] {
        assert_oauth_error(
            admin_revoke(&replica, Some(&admin.access), bad).await,
            StatusCode::BAD_REQUEST,
            "invalid_request",
        )
        .await;
    }
    let missing = replica
        .app
        .client
        .post(replica.app.url("/admin/sessions/revoke"))
        .bearer_auth(&admin.access)
        .send()
        .await
        .unwrap();
    assert_oauth_error(missing, StatusCode::BAD_REQUEST, "invalid_request").await;
    // The operator's cookie, posted from another site: refused, nothing ends.
    let cross_site = replica
        .app
        .client
        .post(replica.app.url("/admin/sessions/revoke"))
        .header("Cookie", format!("tokengate_token={}", admin.access))
        .header("Origin", "https://evil.example")
        .header("Sec-Fetch-Site", "cross-site")
        .form(&[("user", USER)])
        .send()
        .await
        .unwrap();
    assert_oauth_error(cross_site, StatusCode::FORBIDDEN, "cross_site_request").await;
    assert_eq!(replica.access_status(&first.access).await, StatusCode::OK);

    let response = admin_revoke(&replica, Some(&admin.access), USER).await;
    assert_eq!(response.status(), StatusCode::NO_CONTENT);
    for login in [&first, &second] {
        assert_token_rejected(
            replica.app.access_with_bearer(&login.access).await,
            "token_revoked",
        )
        .await;
        assert_oauth_error(
            replica.refresh(&login.refresh).await,
            StatusCode::BAD_REQUEST,
            "invalid_grant",
        )
        .await;
    }
    // The operator's own session is untouched.
    assert_eq!(replica.access_status(&admin.access).await, StatusCode::OK);
}

fn write(path: &Path, contents: &str) {
    std::fs::write(path, format!("{contents}\n")).unwrap();
}

#[tokio::test]
async fn over_https_the_refresh_cookie_is_secure_prefixed_and_only_that_name_counts() {
    let replica = Backend::memory()
        .spawn(&[("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1")])
        .await;
    let (_, cookies) = browser_hand_off(&replica, "https").await;
    let refresh = cookies
        .iter()
        .find(|c| c.starts_with("__Secure-tokengate_refresh="))
        .unwrap_or_else(|| panic!("a __Secure- refresh cookie: {cookies:?}"));
    assert!(
        refresh.contains("Secure") && refresh.contains("Path=/token"),
        "{refresh}"
    );
    let value = refresh
        .trim_start_matches("__Secure-tokengate_refresh=")
        .split(';')
        .next()
        .unwrap();
    let refresh_with = |cookie: String| {
        replica
            .app
            .client
            .post(replica.app.url("/token"))
            .header("X-Forwarded-Proto", "https")
            .header("Sec-Fetch-Site", "same-origin")
            .header("Cookie", cookie)
            .form(&[("grant_type", "refresh_token")])
            .send()
    };

    // Under the plain name (planted over HTTP, say) it is not read at all.
    let plain = refresh_with(format!("tokengate_refresh={value}"))
        .await
        .unwrap();
    assert_oauth_error(plain, StatusCode::BAD_REQUEST, "invalid_request").await;
    // Two different values: one was planted; neither is believed.
    let both = format!("__Secure-tokengate_refresh={value}; __Secure-tokengate_refresh=planted");
    let both = refresh_with(both).await.unwrap();
    assert_oauth_error(both, StatusCode::BAD_REQUEST, "invalid_request").await;

    let refreshed = refresh_with(format!("__Secure-tokengate_refresh={value}"))
        .await
        .unwrap();
    assert_eq!(refreshed.status(), StatusCode::OK);
    let set: Vec<&str> = refreshed
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    assert!(
        set.iter().any(|c| c.starts_with("__Host-tokengate_token=")),
        "{set:?}"
    );
    assert!(
        set.iter()
            .any(|c| c.starts_with("__Secure-tokengate_refresh=")),
        "{set:?}"
    );

    // Logout drops the cookies under the names the browser holds them by;
    // a prefixed cookie's removal must itself be Secure.
    let access = set
        .iter()
        .find_map(|c| c.strip_prefix("__Host-tokengate_token="))
        .and_then(|c| c.split(';').next())
        .unwrap();
    let logout = replica
        .app
        .client
        .post(replica.app.url("/logout"))
        .header("X-Forwarded-Proto", "https")
        .header("Sec-Fetch-Site", "same-origin")
        .header("Cookie", format!("__Host-tokengate_token={access}"))
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), StatusCode::NO_CONTENT);
    let cleared: Vec<&str> = logout
        .headers()
        .get_all("set-cookie")
        .iter()
        .map(|value| value.to_str().unwrap())
        .collect();
    for name in ["__Host-tokengate_token=;", "__Secure-tokengate_refresh=;"] {
        assert!(
            cleared
                .iter()
                .any(|c| c.starts_with(name) && c.contains("Secure") && c.contains("Max-Age=0")),
            "{name} {cleared:?}"
        );
    }
}

macro_rules! on_both_stores {
    ($($scenario:ident),* $(,)?) => {
        mod memory_store {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Backend::memory()).await;
                }
            )*
        }
        mod redis_store {
            $(
                #[tokio::test]
                async fn $scenario() {
                    super::$scenario(super::Backend::redis()).await;
                }
            )*
        }
    };
}

on_both_stores!(
    login_answers_a_refresh_token_and_every_access_token_carries_the_sid,
    a_spent_refresh_token_after_the_grace_ends_the_whole_session,
    a_duplicate_refresh_within_the_grace_gets_the_same_successor,
    logout_ends_the_session_and_clears_the_cookies,
    logout_everywhere_ends_every_session_of_that_user_only,
    revoke_ends_the_session_of_an_access_or_a_refresh_token,
    the_token_endpoint_answers_rfc_6749_errors,
    an_expired_refresh_token_is_refused,
    a_changed_password_ends_the_users_sessions_on_reload,
    a_user_removed_on_reload_loses_every_session,
    a_session_ends_at_max_age_however_often_it_refreshes,
    cookie_authenticated_posts_from_other_sites_are_refused,
    the_browser_hand_off_sets_a_refresh_cookie_for_the_token_endpoint_only,
    an_operator_ends_every_session_of_a_user,
);

// ---- Redis only: replicas, expiry of records, faults ----

#[tokio::test]
async fn the_cli_ends_a_users_sessions_on_every_replica_through_redis() {
    let backend = Backend::redis();
    let (a, b) = (backend.spawn(&[]).await, backend.spawn(&[]).await);
    let ended = a.login().await;
    let bystander = b.login_as(OTHER_USER).await;
    let store = backend.redis.as_ref().unwrap().url();
    let dir = tempfile::tempdir().unwrap();
    let revoke = |store: &str| {
        tokengate_command(&dir)
            .args(["sessions", "revoke-user", USER])
            .env("TOKENGATE__SESSIONS__STORE", store)
            .output()
            .unwrap()
    };

    let output = revoke(&store);
    assert!(output.status.success(), "{output:?}");
    assert!(String::from_utf8_lossy(&output.stdout).contains("ended every session of `alice`"));
    for replica in [&a, &b] {
        replica.eventually_refuses(&ended.access).await;
    }
    b.assert_ended(&ended).await;
    assert_eq!(b.access_status(&bystander.access).await, StatusCode::OK);

    // A store it cannot reach, or none at all: 69 (EX_UNAVAILABLE), said so.
    for store in ["redis://127.0.0.1:1/0", "memory"] {
        let output = revoke(store);
        assert_eq!(output.status.code(), Some(69), "{store}: {output:?}");
        assert!(!output.stderr.is_empty());
    }
}

#[tokio::test]
async fn a_logout_on_one_replica_is_refused_by_the_others() {
    let backend = Backend::redis();
    let a = backend.spawn(&[]).await;
    let b = backend.spawn(&[]).await;
    let login = a.login().await;
    let everywhere = a.login().await;
    assert_eq!(b.access_status(&login.access).await, StatusCode::OK);
    assert_eq!(
        a.logout(&login.access, &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    b.eventually_refuses(&login.access).await;
    assert_oauth_error(
        b.refresh(&login.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    assert_eq!(b.access_status(&everywhere.access).await, StatusCode::OK);
    assert_eq!(
        b.logout(&everywhere.access, &[("everywhere", "true")])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    a.eventually_refuses(&everywhere.access).await;
}

#[tokio::test]
async fn reuse_on_another_replica_ends_the_session_everywhere() {
    let backend = Backend::redis();
    let a = backend
        .spawn(&[("TOKENGATE__SESSIONS__REUSE_GRACE", "0s")])
        .await;
    let b = backend
        .spawn(&[("TOKENGATE__SESSIONS__REUSE_GRACE", "0s")])
        .await;
    let login = a.login().await;
    let next = a.refreshed(&login.refresh).await;
    assert_oauth_error(
        b.refresh(&login.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
    a.eventually_refuses(&next.access).await;
    assert_oauth_error(
        a.refresh(&next.refresh).await,
        StatusCode::BAD_REQUEST,
        "invalid_grant",
    )
    .await;
}

#[tokio::test]
async fn a_replica_started_later_reads_the_revocations_made_before() {
    let backend = Backend::redis();
    let a = backend.spawn(&[]).await;
    let ended = a.login().await;
    let everywhere = a.login_as(OTHER_USER).await;
    assert_eq!(
        a.logout(&ended.access, &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        a.logout(&everywhere.access, &[("everywhere", "true")])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    let late = backend.spawn(&[]).await;
    assert_eq!(
        late.access_status(&ended.access).await,
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        late.access_status(&everywhere.access).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn every_stored_record_expires() {
    let backend = Backend::redis();
    let replica = backend
        .spawn(&[
            ("TOKENGATE__SESSIONS__REFRESH_TTL", "1h"),
            ("TOKENGATE__SESSIONS__MAX_AGE", "2h"),
            ("TOKENGATE__JWT__TTL", "10m"),
        ])
        .await;
    let login = replica.login().await;
    let next = replica.refreshed(&login.refresh).await;
    let other = replica.login().await;
    assert_eq!(
        replica.logout(&other.access, &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    let third = replica.login_as(OTHER_USER).await;
    assert_eq!(
        replica
            .logout(&third.access, &[("everywhere", "true")])
            .await
            .status(),
        StatusCode::NO_CONTENT
    );
    drop(next);

    let redis = backend.redis.as_ref().unwrap();
    let mut connection = redis.connection().await;
    let keys: Vec<String> = connection.keys("*").await.unwrap();
    let mut kinds = std::collections::BTreeSet::new();
    for key in &keys {
        let ttl: i64 = connection.pttl(key).await.unwrap();
        let kind = key.split(':').nth(1).unwrap().to_owned();
        let bound = match kind.as_str() {
            "session" | "refresh" => 3600,
            "revoked" => 600,
            "epoch" => 2 * 3600 + 600,
            // GCRA state: at most burst × interval ahead (100 s by default).
            "limit" => 120,
            other => panic!("unexpected record {other}"),
        };
        assert!(
            ttl > 0 && ttl <= bound * 1000,
            "{key} has TTL {ttl} ms, bound {bound} s"
        );
        // No raw token is ever a key or a value.
        assert!(!key.contains(&login.refresh));
        kinds.insert(kind);
    }
    let expected: std::collections::BTreeSet<String> =
        ["session", "refresh", "revoked", "epoch", "limit"]
            .map(String::from)
            .into();
    assert_eq!(kinds, expected);
}

#[tokio::test]
async fn with_redis_down_tokens_still_verify_and_store_operations_answer_503() {
    let mut backend = Backend::redis();
    let (_groups, groups) = operators_file();
    let replica = backend
        .spawn(&[("TOKENGATE__USERS__GROUPS_FILE", groups.as_str())])
        .await;
    let admin = replica.login_as(OTHER_USER).await;
    let revoked = replica.login().await;
    let live = replica.login().await;
    assert_eq!(
        replica.logout(&revoked.access, &[]).await.status(),
        StatusCode::NO_CONTENT
    );

    backend.redis.as_mut().unwrap().stop();
    // Checks go on against the state known so far.
    assert_eq!(replica.access_status(&live.access).await, StatusCode::OK);
    assert_eq!(
        replica.access_status(&revoked.access).await,
        StatusCode::UNAUTHORIZED
    );
    for response in [
        replica.refresh(&live.refresh).await,
        replica.logout(&live.access, &[]).await,
        replica
            .post_form("/revoke", &[("token", &live.refresh)])
            .await,
        admin_revoke(&replica, Some(&admin.access), USER).await,
        replica.app.login_json(USER, PASSWORD).await,
    ] {
        assert_eq!(response.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(response.headers().contains_key("retry-after"));
    }
    // The failed logout did not pretend: the token still works.
    assert_eq!(replica.access_status(&live.access).await, StatusCode::OK);
    let deadline = Instant::now() + Duration::from_secs(5);
    loop {
        let body: Value = replica.app.get("/readyz").await.json().await.unwrap();
        if body["sessions"]["synced"] == false {
            break;
        }
        assert!(
            Instant::now() < deadline,
            "readiness never reported the outage"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    // Back (empty: no persistence): the replica resyncs and works again.
    backend.redis.as_mut().unwrap().restart();
    replica.wait_until_synced().await;
    let fresh = replica.login().await;
    replica.refreshed(&fresh.refresh).await;
    assert_eq!(
        replica.logout(&live.access, &[]).await.status(),
        StatusCode::NO_CONTENT
    );
    assert_eq!(
        replica.access_status(&live.access).await,
        StatusCode::UNAUTHORIZED
    );
}

#[tokio::test]
async fn login_limits_are_shared_by_replicas_and_do_not_lock_a_user_out_of_her_address() {
    let backend = Backend::redis();
    let limits = [
        ("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "2"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_CEILING_PER_MINUTE", "1"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_CEILING_BURST", "4"),
    ];
    let a = backend.spawn(&limits).await;
    let b = backend.spawn(&limits).await;
    let attempt = |replica: &Replica, from: &str, password: &str| {
        replica
            .app
            .client
            .get(replica.app.url("/login"))
            .basic_auth(USER, Some(password))
            .header("Accept", "application/json")
            .header("X-Forwarded-For", from)
            .send()
    };
    let attacker = "198.51.100.7";
    assert_eq!(
        attempt(&a, attacker, "guess").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    assert_eq!(
        attempt(&b, attacker, "guess").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    // The third guess is refused whichever replica it reaches.
    for replica in [&a, &b] {
        let refused = attempt(replica, attacker, "guess").await.unwrap();
        assert_eq!(refused.status(), StatusCode::TOO_MANY_REQUESTS);
        assert!(refused.headers().contains_key("retry-after"));
    }
    // Alice, from her own address, still gets in.
    let alice = attempt(&b, "192.0.2.10", PASSWORD).await.unwrap();
    assert_eq!(alice.status(), StatusCode::OK);
    // The per-user ceiling (4) counts every address on every replica.
    assert_eq!(
        attempt(&a, "192.0.2.11", "guess").await.unwrap().status(),
        StatusCode::UNAUTHORIZED
    );
    let capped = attempt(&b, "192.0.2.12", "guess").await.unwrap();
    assert_eq!(capped.status(), StatusCode::TOO_MANY_REQUESTS);
}
