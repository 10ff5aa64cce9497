//! RFC 8725 (JWT Best Current Practices) checks not covered by access.rs;
//! SECURITY.md maps each practice to the test that proves it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{
    SECRET, assert_token_rejected, minted_header, sign, spawn_app, spawn_app_with, valid_claims,
};

#[tokio::test]
async fn critical_header_extensions_are_rejected() {
    let app = spawn_app().await;
    let mut header = minted_header();
    header.crit = Some(vec!["exp".to_owned()]);

    let token = sign(&header, &valid_claims(), SECRET);

    assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
}

#[tokio::test]
async fn key_hints_in_the_header_never_select_the_key() {
    let app = spawn_app().await;
    let attacker_key = "attacker-controlled-key-0123456789abcdef";
    let mut header = minted_header();
    header.jku = Some("https://attacker.example/jwks.json".to_owned());
    header.x5u = Some("https://attacker.example/cert.pem".to_owned());

    let forged = sign(&header, &valid_claims(), attacker_key);
    let genuine = sign(&header, &valid_claims(), SECRET);

    assert_token_rejected(app.access_with_bearer(&forged).await, "token_invalid").await;
    // The URLs are ignored, not trusted: the configured key alone decides.
    assert_eq!(
        app.access_with_bearer(&genuine).await.status(),
        StatusCode::OK
    );
    // A `kid` only picks among configured keys; any other is refused.
    let mut header = minted_header();
    header.kid = Some("../../../../dev/null".to_owned());
    let unknown_kid = sign(&header, &valid_claims(), SECRET);
    assert_token_rejected(app.access_with_bearer(&unknown_kid).await, "token_invalid").await;
}

#[tokio::test]
async fn encrypted_or_otherwise_shaped_tokens_are_rejected() {
    let app = spawn_app().await;
    let jwe_header = URL_SAFE_NO_PAD.encode(json!({"alg": "dir", "enc": "A256GCM"}).to_string());
    let signed = sign(&minted_header(), &valid_claims(), SECRET);
    let (signing_input, signature) = signed.rsplit_once('.').unwrap();
    for token in [
        format!("{jwe_header}..iv.ciphertext.tag"),
        format!("{signed}.extra"),
        signing_input.to_owned(),
        format!("{signing_input}.{signature}="),
    ] {
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
    }
}

#[tokio::test]
async fn compressed_or_encryption_marked_tokens_are_rejected() {
    // RFC 8725 3.6: a signed token that names `zip` or `enc` is refused, even
    // with a valid signature.
    let app = spawn_app().await;
    let mut zipped = minted_header();
    zipped.extras.insert("zip", "DEF");
    let mut encrypted = minted_header();
    encrypted.extras.insert("enc", "A256GCM");
    for header in [zipped, encrypted] {
        let token = sign(&header, &valid_claims(), SECRET);
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
    }
}

#[tokio::test]
async fn tokens_living_longer_than_the_configured_ttl_are_rejected() {
    let app = spawn_app_with(&[("TOKENGATE__JWT__TTL", "10m")]).await;
    let now = jsonwebtoken::get_current_timestamp() as i64;
    for exp in [now + 11 * 60, now + 400 * 24 * 3600, i64::MAX - 1, i64::MAX] {
        let mut claims = valid_claims();
        claims["exp"] = json!(exp);
        let token = sign(&minted_header(), &claims, SECRET);
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
        let verify = app
            .client
            .get(app.url("/auth/verify"))
            .bearer_auth(&token)
            .send()
            .await
            .unwrap();
        assert_eq!(verify.status(), StatusCode::UNAUTHORIZED, "exp {exp}");
    }
    // Within the ttl: still accepted.
    let mut claims = valid_claims();
    claims["exp"] = json!(now + 9 * 60);
    let token = sign(&minted_header(), &claims, SECRET);
    assert_eq!(app.access_with_bearer(&token).await.status(), 200);
}
