use base64::Engine as _;
use std::time::Duration;

use jsonwebtoken::{Algorithm, Header};
use reqwest::StatusCode;
use serde_json::{Value, json};

use crate::helpers::{
    PASSWORD, SECRET, USER, assert_token_rejected, minted_header, sign, spawn_app, spawn_app_with,
    valid_claims,
};

#[tokio::test]
async fn a_valid_token_in_each_source_is_accepted() {
    let app = spawn_app().await;
    let token = app.token().await;

    let by_query = app.get(&format!("/access?token={token}")).await;
    let by_bearer = app.access_with_bearer(&token).await;
    let by_cookie = app.access_with_cookie(&token).await;

    for response in [by_query, by_bearer, by_cookie] {
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        assert_eq!(body["message"], "valid jwt token");
        assert_eq!(body["user"], USER);
        assert!(body["expires_at"].as_str().unwrap().ends_with('Z'));
    }
}

#[tokio::test]
async fn a_source_that_is_not_configured_is_ignored() {
    let app = spawn_app_with(&[("TOKENGATE__JWT__SOURCES", "bearer")]).await;
    let token = app.token().await;
    let response = app.get(&format!("/access?token={token}")).await;
    assert_token_rejected(response, "token_missing").await;
    assert_eq!(
        app.access_with_bearer(&token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn a_request_without_token_is_told_to_authenticate() {
    let app = spawn_app().await;
    let response = app.get("/access").await;
    assert_eq!(
        response.headers()["www-authenticate"],
        r#"Bearer realm="tokengate""#
    );
    assert_token_rejected(response, "token_missing").await;
}

#[tokio::test]
async fn an_expired_token_is_rejected_as_expired() {
    let app = spawn_app_with(&[("TOKENGATE__JWT__TTL", "1s")]).await;
    let token = app.token().await;
    assert_eq!(
        app.access_with_bearer(&token).await.status(),
        StatusCode::OK
    );

    // exp is whole seconds; past exp + 1 the token is expired with zero leeway.
    tokio::time::sleep(Duration::from_millis(2100)).await;

    assert_token_rejected(app.access_with_bearer(&token).await, "token_expired").await;
}

#[tokio::test]
async fn leeway_extends_acceptance_by_exactly_the_configured_amount() {
    let app = spawn_app_with(&[("TOKENGATE__JWT__LEEWAY", "30s")]).await;
    let mut claims = valid_claims();
    let now = claims["iat"].as_i64().unwrap();
    claims["exp"] = json!(now - 10);
    let within = sign(&minted_header(), &claims, SECRET);
    claims["exp"] = json!(now - 40);
    let beyond = sign(&minted_header(), &claims, SECRET);

    assert_eq!(
        app.access_with_bearer(&within).await.status(),
        StatusCode::OK
    );
    assert_token_rejected(app.access_with_bearer(&beyond).await, "token_expired").await;
}

#[tokio::test]
async fn a_token_with_a_tampered_payload_is_rejected() {
    let app = spawn_app().await;
    let token = app.token().await;
    let parts: Vec<&str> = token.split('.').collect();
    let mut claims = valid_claims();
    claims["sub"] = json!("admin");
    let forged_payload = sign(
        &minted_header(),
        &claims,
        "another-secret-another-secret-00",
    )
    .split('.')
    .nth(1)
    .unwrap()
    .to_owned();
    let tampered = format!("{}.{}.{}", parts[0], forged_payload, parts[2]);
    assert_token_rejected(app.access_with_bearer(&tampered).await, "token_invalid").await;
}

#[tokio::test]
async fn a_token_signed_with_another_secret_is_rejected() {
    let app = spawn_app().await;
    let token = sign(
        &minted_header(),
        &valid_claims(),
        "a-different-secret-0123456789abcdef",
    );
    assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
}

#[tokio::test]
async fn alg_none_and_algorithm_switching_are_rejected() {
    let app = spawn_app().await;
    use base64::Engine as _;
    let b64 = base64::engine::general_purpose::URL_SAFE_NO_PAD;
    let payload = b64.encode(valid_claims().to_string());
    for header in [
        json!({"alg": "none", "typ": "at+jwt"}),
        json!({"alg": "None", "typ": "at+jwt"}),
    ] {
        let unsigned = format!("{}.{payload}.", b64.encode(header.to_string()));
        assert_token_rejected(app.access_with_bearer(&unsigned).await, "token_invalid").await;
    }
    // Same secret, different HMAC algorithm: the algorithm is pinned.
    let mut header = Header::new(Algorithm::HS512);
    header.typ = Some("at+jwt".into());
    let switched = sign(&header, &valid_claims(), SECRET);
    assert_token_rejected(app.access_with_bearer(&switched).await, "token_invalid").await;
}

#[tokio::test]
async fn wrong_issuer_audience_or_type_is_rejected() {
    let app = spawn_app().await;
    for (claim, value) in [("iss", "someone-else"), ("aud", "another-service")] {
        let mut claims = valid_claims();
        claims[claim] = json!(value);
        let token = sign(&minted_header(), &claims, SECRET);
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
    }
    for typ in [None, Some("JWT")] {
        let mut header = minted_header();
        header.typ = typ.map(str::to_owned);
        let token = sign(&header, &valid_claims(), SECRET);
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
    }
    // The control: the same forging path with the right values passes.
    let token = sign(&minted_header(), &valid_claims(), SECRET);
    assert_eq!(
        app.access_with_bearer(&token).await.status(),
        StatusCode::OK
    );
}

#[tokio::test]
async fn missing_required_claims_are_rejected() {
    let app = spawn_app().await;
    for claim in ["exp", "nbf", "iss", "aud", "sub"] {
        let mut claims = valid_claims();
        claims.as_object_mut().unwrap().remove(claim);
        let token = sign(&minted_header(), &claims, SECRET);
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
    }
}

#[tokio::test]
async fn a_not_yet_valid_token_is_rejected() {
    let app = spawn_app().await;
    let mut claims = valid_claims();
    claims["nbf"] = json!(claims["iat"].as_i64().unwrap() + 30);
    let token = sign(&minted_header(), &claims, SECRET);
    assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
}

#[tokio::test]
async fn garbage_tokens_are_rejected_without_server_errors() {
    let app = spawn_app().await;
    let oversized = "a".repeat(5000);
    for garbage in [
        "garbage",
        "a.b.c",
        "...",
        "eyJhbGciOiJIUzI1NiJ9..",
        "%00%ff",
        oversized.as_str(),
    ] {
        let response = app.get(&format!("/access?token={garbage}")).await;
        assert_token_rejected(response, "token_invalid").await;
    }
    let response = app
        .client
        .get(app.url("/access"))
        .header("Authorization", "Bearer ")
        .send()
        .await
        .unwrap();
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
}

#[tokio::test]
async fn auth_scheme_names_are_case_insensitive() {
    // RFC 7235 2.1: `bearer` and `basic` are the same schemes as `Bearer` and `Basic`.
    let app = spawn_app().await;
    let basic = base64::engine::general_purpose::STANDARD.encode(format!("{USER}:{PASSWORD}"));
    for scheme in ["basic", "BASIC"] {
        let login = app
            .client
            .get(app.url("/login"))
            .header("Authorization", format!("{scheme} {basic}"))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap();
        assert_eq!(login.status(), StatusCode::OK, "{scheme}");
    }
    let token = app.token().await;
    for scheme in ["bearer", "BEARER"] {
        let access = app
            .client
            .get(app.url("/access"))
            .header("Authorization", format!("{scheme} {token}"))
            .send()
            .await
            .unwrap();
        assert_eq!(access.status(), StatusCode::OK, "{scheme}");
    }
}

#[tokio::test]
async fn a_signed_token_with_an_empty_or_malformed_sub_is_refused() {
    let app = spawn_app().await;
    for sub in ["", " alice", "alice,admin", "al\u{1}ice", "josé"] {
        let mut claims = valid_claims();
        claims["sub"] = json!(sub);
        let token = sign(&minted_header(), &claims, SECRET);
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
        let verify = app
            .client
            .get(app.url("/auth/verify"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(verify.status(), StatusCode::UNAUTHORIZED, "{sub:?}");
    }
}
