//! RFC 8725 (JWT Best Current Practices) checks not covered by access.rs;
//! SECURITY.md maps each practice to the test that proves it.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use reqwest::StatusCode;
use serde_json::json;

use crate::helpers::{SECRET, assert_token_rejected, minted_header, sign, spawn_app, valid_claims};

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
