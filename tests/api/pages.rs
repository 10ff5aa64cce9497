//! What browsers get: pages, the private link's redirect into a cookie, and
//! HTML token errors that keep the 401 and its challenge.

use reqwest::StatusCode;
use reqwest::header::HeaderMap;
use serde_json::Value;

use crate::helpers::{HTML_USER, PASSWORD, TestApp, USER, spawn_app, spawn_app_with};

const BROWSER_ACCEPT: &str =
    "text/html,application/xhtml+xml,application/xml;q=0.9,image/avif,image/webp,*/*;q=0.8";

async fn open_in_browser(app: &TestApp, path: &str, cookie: Option<&str>) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(path))
        .header("Accept", BROWSER_ACCEPT);
    if let Some(token) = cookie {
        request = request.header("Cookie", format!("tokengate_token={token}"));
    }
    request.send().await.unwrap()
}

fn assert_strict_page_headers(headers: &HeaderMap) {
    let policy = headers["content-security-policy"].to_str().unwrap();
    assert!(policy.starts_with("default-src 'none'"), "{policy}");
    assert!(policy.contains("frame-ancestors 'none'"), "{policy}");
    assert!(policy.contains("script-src 'sha256-"), "{policy}");
    assert!(!policy.contains("unsafe-inline"), "{policy}");
    assert_eq!(headers["x-content-type-options"], "nosniff");
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
}

fn cookie_attributes(set_cookie: &str) -> Vec<String> {
    set_cookie
        .split(';')
        .skip(1)
        .map(|attribute| attribute.trim().to_ascii_lowercase())
        .collect()
}

#[tokio::test]
async fn a_browser_following_the_private_link_is_redirected_without_the_token() {
    let app = spawn_app().await;
    let token = app.token().await;

    let response = open_in_browser(&app, &format!("/access?token={token}&tab=2"), None).await;

    assert_eq!(response.status(), StatusCode::SEE_OTHER);
    assert_eq!(response.headers()["location"], "/access?tab=2");
    assert_strict_page_headers(response.headers());
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(set_cookie.starts_with(&format!("tokengate_token={token};")));
    let attributes = cookie_attributes(set_cookie);
    for expected in ["httponly", "samesite=strict", "path=/"] {
        assert!(attributes.iter().any(|a| a == expected), "{set_cookie}");
    }
    // Plain HTTP here: a Secure cookie would never come back.
    assert!(!attributes.iter().any(|a| a == "secure"), "{set_cookie}");
    let max_age: i64 = attributes
        .iter()
        .find_map(|a| a.strip_prefix("max-age="))
        .expect("the cookie expires")
        .parse()
        .unwrap();
    // The token's 600 s plus the 60 s in which a reload can still say "expired".
    assert!((655..=660).contains(&max_age), "{set_cookie}");
    assert!(attributes.iter().any(|a| a.starts_with("expires=")));
}

#[tokio::test]
async fn the_cookie_is_secure_when_a_trusted_proxy_says_the_request_was_https() {
    let trusting = spawn_app_with(&[("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1")]).await;
    let untrusting = spawn_app().await;
    for (app, secure) in [(&trusting, true), (&untrusting, false)] {
        let token = app.token().await;
        let response = app
            .client
            .get(app.url(&format!("/access?token={token}")))
            .header("Accept", BROWSER_ACCEPT)
            .header("X-Forwarded-Proto", "https")
            .send()
            .await
            .unwrap();
        assert_eq!(response.status(), StatusCode::SEE_OTHER);
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        let attributes = cookie_attributes(set_cookie);
        assert_eq!(
            attributes.iter().any(|a| a == "secure"),
            secure,
            "{set_cookie}"
        );
    }
}

#[tokio::test]
async fn the_cookie_from_the_redirect_opens_the_access_granted_page() {
    let app = spawn_app().await;
    let token = app.token().await;

    let response = open_in_browser(&app, "/access", Some(&token)).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_strict_page_headers(response.headers());
    let page = response.text().await.unwrap();
    assert!(page.contains("Access granted"));
    assert!(page.contains(&format!("<strong id=\"user\">{USER}</strong>")));
    assert!(page.contains("id=\"expires-at\""));
    assert!(!page.contains(&token), "the page must not echo the token");
}

#[tokio::test]
async fn without_a_cookie_source_the_link_opens_the_page_directly() {
    let app = spawn_app_with(&[("TOKENGATE__JWT__SOURCES", "query,bearer")]).await;
    let token = app.token().await;
    let response = open_in_browser(&app, &format!("/access?token={token}"), None).await;
    assert_eq!(response.status(), StatusCode::OK);
    assert!(response.headers().get("set-cookie").is_none());
    assert!(response.text().await.unwrap().contains("Access granted"));
}

#[tokio::test]
async fn api_clients_following_the_link_keep_the_json_answer() {
    let app = spawn_app().await;
    let token = app.token().await;
    for accept in [None, Some("*/*"), Some("application/json")] {
        let mut request = app.client.get(app.url(&format!("/access?token={token}")));
        if let Some(accept) = accept {
            request = request.header("Accept", accept);
        }
        let response = request.send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{accept:?}");
        assert!(response.headers().get("set-cookie").is_none());
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "valid jwt token");
    }
}

#[tokio::test]
async fn browsers_are_told_which_token_problem_it_was_with_a_401_and_a_challenge() {
    let app = spawn_app_with(&[("TOKENGATE__JWT__LEEWAY", "0s")]).await;
    let mut expired_claims = crate::helpers::valid_claims();
    expired_claims["exp"] = serde_json::json!(expired_claims["iat"].as_i64().unwrap() - 10);
    let expired = crate::helpers::sign(
        &crate::helpers::minted_header(),
        &expired_claims,
        crate::helpers::SECRET,
    );
    let cases = [
        (
            "/access".to_owned(),
            None,
            "No access token",
            r#"Bearer realm="tokengate""#,
        ),
        (
            "/access?token=garbage".to_owned(),
            None,
            "This link is not valid",
            "error=\"invalid_token\"",
        ),
        (
            format!("/access?token={expired}"),
            None,
            "This link has expired",
            "The access token expired",
        ),
        (
            "/access".to_owned(),
            Some(expired.as_str()),
            "This link has expired",
            "The access token expired",
        ),
    ];
    for (path, cookie, heading, challenge) in cases {
        let response = open_in_browser(&app, &path, cookie).await;
        assert_eq!(response.status(), StatusCode::UNAUTHORIZED, "{path}");
        assert!(
            response.headers()["www-authenticate"]
                .to_str()
                .unwrap()
                .contains(challenge),
            "{path}"
        );
        assert!(
            response.headers()["content-type"]
                .to_str()
                .unwrap()
                .starts_with("text/html")
        );
        assert_strict_page_headers(response.headers());
        let page = response.text().await.unwrap();
        assert!(
            page.contains(&format!("<h1 id=\"title\">{heading}</h1>")),
            "{path}"
        );
        assert!(page.contains("href=\"/login\""), "{path}");
    }
}

#[tokio::test]
async fn the_private_link_page_states_the_expiry_without_javascript() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/login"))
        .basic_auth(USER, Some(crate::helpers::PASSWORD))
        .header("Accept", BROWSER_ACCEPT)
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    assert_strict_page_headers(response.headers());
    let page = response.text().await.unwrap();
    let time = page
        .split("<time id=\"expires-at\" datetime=\"")
        .nth(1)
        .expect("a machine-readable expiry");
    let (rfc3339, text) = time.split_once("\">").unwrap();
    let text = text.split('<').next().unwrap();
    // 2026-11-24T22:29:09Z is shown as 2026-11-24 22:29:09 UTC.
    assert_eq!(text, rfc3339.replace('T', " ").replace('Z', " UTC"));
    // 600 s, or 599 when minting and rendering straddle a second.
    assert!(
        page.contains("That is 600 seconds after this page was made.")
            || page.contains("That is 599 seconds after this page was made.")
    );
    assert!(page.contains("href=\"/login\""), "a way to log in again");
}

#[tokio::test]
async fn a_cross_site_arrival_without_the_cookie_is_offered_a_same_site_click() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/access"))
        .header("Accept", BROWSER_ACCEPT)
        .header("Sec-Fetch-Site", "cross-site")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="tokengate""#
    );
    let page = response.text().await.unwrap();
    assert!(page.contains("<h1 id=\"title\">One more step</h1>"));
    assert!(page.contains("<a id=\"continue\" class=\"button\" href=\"/access\">"));

    let same_site = open_in_browser(&app, "/access", None).await;
    let page = same_site.text().await.unwrap();
    assert!(page.contains("No access token"));
    assert!(!page.contains("id=\"continue\""));
}

async fn open_link(
    app: &TestApp,
    path: &str,
    cookie: Option<&str>,
    fetch_site: Option<&str>,
) -> reqwest::Response {
    let mut request = app
        .client
        .get(app.url(path))
        .header("Accept", BROWSER_ACCEPT);
    if let Some(cookie) = cookie {
        request = request.header("Cookie", cookie);
    }
    if let Some(site) = fetch_site {
        request = request.header("Sec-Fetch-Site", site);
    }
    request.send().await.unwrap()
}

#[tokio::test]
async fn a_private_link_from_another_site_asks_before_setting_the_cookie() {
    // Login CSRF: a link to `/access?token=<attacker's>` on another site
    // must not sign the victim's browser in as the attacker.
    let app = spawn_app().await;
    let token = app.token().await;
    let path = format!("/access?token={token}");
    for site in ["cross-site", "same-site"] {
        let response = open_link(&app, &path, None, Some(site)).await;
        assert_eq!(response.status(), StatusCode::OK, "{site}");
        assert!(response.headers().get("set-cookie").is_none(), "{site}");
        assert_strict_page_headers(response.headers());
        let page = response.text().await.unwrap();
        assert!(
            page.contains("<h1 id=\"title\">One more step</h1>"),
            "{page}"
        );
        assert!(page.contains(&format!("<strong id=\"user\">{USER}</strong>")));
        assert!(page.contains(&format!("id=\"continue\" class=\"button\" href=\"{path}\"")));
    }
    // An Origin from elsewhere, where a browser sends no Fetch Metadata.
    let response = app
        .client
        .get(app.url(&path))
        .header("Accept", BROWSER_ACCEPT)
        .header("Origin", "https://evil.example")
        .send()
        .await
        .unwrap();
    assert!(response.headers().get("set-cookie").is_none());
    // The click on that page, and a direct navigation, hand off as before.
    for site in ["same-origin", "none"] {
        let response = open_link(&app, &path, None, Some(site)).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{site}");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(set_cookie.starts_with(&format!("tokengate_token={token};")));
    }
}

#[tokio::test]
async fn a_link_for_another_user_never_silently_replaces_the_cookie() {
    let app = spawn_app().await;
    let mine = app.token().await;
    let theirs = {
        let response = app.login_json(HTML_USER, PASSWORD).await;
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    };
    let cookie = format!("tokengate_token={mine}");
    let path = format!("/access?token={theirs}");
    for site in ["same-origin", "none"] {
        let response = open_link(&app, &path, Some(&cookie), Some(site)).await;
        assert_eq!(response.status(), StatusCode::OK, "{site}");
        assert!(response.headers().get("set-cookie").is_none(), "{site}");
        let page = response.text().await.unwrap();
        assert!(page.contains("Switch user?"), "{page}");
        assert!(page.contains(&format!("<strong id=\"current-user\">{USER}</strong>")));
        assert!(
            page.contains(&format!("href=\"{path}&#38;switch=1\"")),
            "{page}"
        );
    }
    // Only a click on that page (same-origin) confirms the switch.
    let confirm = format!("{path}&switch=1");
    for site in ["cross-site", "none"] {
        let response = open_link(&app, &confirm, Some(&cookie), Some(site)).await;
        assert!(response.headers().get("set-cookie").is_none(), "{site}");
    }
    // A click on that page: same-origin, or no Fetch Metadata at all (an
    // older browser, which would otherwise be asked forever).
    for site in [Some("same-origin"), None] {
        let response = open_link(&app, &confirm, Some(&cookie), site).await;
        assert_eq!(response.status(), StatusCode::SEE_OTHER, "{site:?}");
        assert_eq!(response.headers()["location"], "/access");
        let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
        assert!(set_cookie.starts_with(&format!("tokengate_token={theirs};")));
    }
    // A link for the user already signed in just refreshes the cookie.
    let fresh = app.token().await;
    let response = open_link(
        &app,
        &format!("/access?token={fresh}"),
        Some(&cookie),
        Some("none"),
    )
    .await;
    assert_eq!(response.status(), StatusCode::SEE_OTHER);
}

#[tokio::test]
async fn over_https_the_cookie_is_host_prefixed_and_only_that_name_counts() {
    let app = spawn_app_with(&[("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1")]).await;
    let token = app.token().await;
    let response = app
        .client
        .get(app.url(&format!("/access?token={token}")))
        .header("Accept", BROWSER_ACCEPT)
        .header("X-Forwarded-Proto", "https")
        .send()
        .await
        .unwrap();
    let set_cookie = response.headers()["set-cookie"].to_str().unwrap();
    assert!(
        set_cookie.starts_with(&format!("__Host-tokengate_token={token};")),
        "{set_cookie}"
    );
    let attributes = cookie_attributes(set_cookie);
    assert!(attributes.iter().any(|a| a == "secure") && attributes.iter().any(|a| a == "path=/"));
    assert!(!attributes.iter().any(|a| a.starts_with("domain=")));
    let access = |cookie: String| {
        app.client
            .get(app.url("/access"))
            .header("X-Forwarded-Proto", "https")
            .header("Cookie", cookie)
            .send()
    };
    assert_eq!(
        access(format!("__Host-tokengate_token={token}"))
            .await
            .unwrap()
            .status(),
        200
    );
    // A cookie tossed from a sibling subdomain cannot carry the prefix.
    assert_eq!(
        access(format!("tokengate_token={token}"))
            .await
            .unwrap()
            .status(),
        401
    );
    // Two different values under the name: one was planted; neither counts.
    let other = app.token().await;
    let both = format!("__Host-tokengate_token={token}; __Host-tokengate_token={other}");
    assert_eq!(access(both.clone()).await.unwrap().status(), 401);
    // Nor does a private link replace them unasked: who is signed in now
    // cannot be told, so the switch is confirmed first.
    let link = app
        .client
        .get(app.url(&format!("/access?token={token}")))
        .header("Accept", BROWSER_ACCEPT)
        .header("X-Forwarded-Proto", "https")
        .header("Sec-Fetch-Site", "none")
        .header("Cookie", both)
        .send()
        .await
        .unwrap();
    assert_eq!(link.status(), StatusCode::OK);
    assert!(link.headers().get("set-cookie").is_none());
    assert!(link.text().await.unwrap().contains("Switch user?"));
}
