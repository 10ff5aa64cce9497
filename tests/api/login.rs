use reqwest::StatusCode;
use serde_json::Value;

use crate::helpers::{HTML_USER, PASSWORD, USER, spawn_app};

fn assert_basic_challenge(response: &reqwest::Response) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response.headers()["www-authenticate"].to_str().unwrap();
    assert!(
        challenge.starts_with(r#"Basic realm="tokengate""#),
        "{challenge}"
    );
}

#[tokio::test]
async fn login_with_right_credentials_returns_a_private_link_page() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/login"))
        .basic_auth(USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::OK);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
    assert_eq!(headers["cache-control"], "no-store");
    assert_eq!(headers["referrer-policy"], "no-referrer");
    let page = response.text().await.unwrap();
    assert!(page.contains(USER));
    let link_start = page
        .find("href=\"/access?token=")
        .expect("relative private link");
    let token = page[link_start + "href=\"/access?token=".len()..]
        .split('"')
        .next()
        .unwrap();
    // The link on the page works.
    let access = app.get(&format!("/access?token={token}")).await;
    assert_eq!(access.status(), StatusCode::OK);
    assert!(page.contains("expires"));
    assert!(!page.contains("http://"), "the link must not name a host");
}

#[tokio::test]
async fn login_with_json_accept_returns_an_oauth_token_response() {
    let app = spawn_app().await;

    let response = app.login_json(USER, PASSWORD).await;

    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(response.headers()["cache-control"], "no-store");
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["token_type"], "Bearer");
    assert_eq!(body["expires_in"], 600);
    assert_eq!(body["access_token"].as_str().unwrap().split('.').count(), 3);
}

#[tokio::test]
async fn login_with_wrong_password_is_rejected_with_a_challenge() {
    let app = spawn_app().await;
    let response = app.login_json(USER, "wrong").await;
    assert_basic_challenge(&response);
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], "invalid_credentials");
}

#[tokio::test]
async fn unknown_user_and_wrong_password_get_the_same_answer() {
    let app = spawn_app().await;
    let wrong_password = app.login_json(USER, "wrong").await;
    let unknown_user = app.login_json("mallory", "wrong").await;
    assert_basic_challenge(&unknown_user);
    assert_eq!(wrong_password.status(), unknown_user.status());
    assert_eq!(
        wrong_password.headers()["www-authenticate"],
        unknown_user.headers()["www-authenticate"]
    );
    assert_eq!(
        wrong_password.text().await.unwrap(),
        unknown_user.text().await.unwrap()
    );
}

#[tokio::test]
async fn login_without_credentials_gets_the_browser_prompt() {
    let app = spawn_app().await;
    let response = app.get("/login").await;
    assert_basic_challenge(&response);
    assert!(
        response.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html")
    );
}

#[tokio::test]
async fn malformed_authorization_headers_are_rejected_with_a_challenge() {
    let app = spawn_app().await;
    for value in [
        "Basic",
        "Basic !!!not-base64",
        "Basic Zm9v",
        "Bearer abc",
        "Digest x",
    ] {
        let response = app
            .client
            .get(app.url("/login"))
            .header("Authorization", value)
            .send()
            .await
            .unwrap();
        assert_basic_challenge(&response);
    }
}

#[tokio::test]
async fn usernames_are_escaped_in_the_failure_and_success_pages() {
    let app = spawn_app().await;
    let response = app
        .client
        .get(app.url("/login"))
        .basic_auth("<script>alert(1)</script>", Some("x"))
        .send()
        .await
        .unwrap();
    assert_basic_challenge(&response);
    assert!(!response.text().await.unwrap().contains("<script>"));

    let response = app
        .client
        .get(app.url("/login"))
        .basic_auth(HTML_USER, Some(PASSWORD))
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::OK);
    let page = response.text().await.unwrap();
    assert!(!page.contains(HTML_USER), "markup echoed unescaped");
    assert!(page.contains("&#60;script&#62;") || page.contains("&lt;script&gt;"));
}
