use std::collections::HashMap;
use std::path::Path;

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::Value;
use tokengate::config;
use tokengate::runtime_config::RuntimeConfig;

use crate::helpers::{
    KeyPair, TestApp, assert_token_rejected, generate_key_pair, minted_header, spawn_app_from,
    valid_claims,
};

const HMAC_SECRET: &str = "keys-test-hmac-secret-0123456789abcdef";

/// A `[[jwt.keys]]` entry.
pub fn key_entry(kid: &str, algorithm: &str, fields: &[(&str, &Path)]) -> String {
    let mut entry = format!("[[jwt.keys]]\nkid = \"{kid}\"\nalgorithm = \"{algorithm}\"\n");
    for (name, path) in fields {
        entry.push_str(&format!("{name} = {:?}\n", path.display().to_string()));
    }
    entry
}

pub fn hmac_entry(kid: &str, algorithm: &str, secret: &str) -> String {
    format!("[[jwt.keys]]\nkid = \"{kid}\"\nalgorithm = \"{algorithm}\"\nsecret = \"{secret}\"\n")
}

pub fn pair_entry(kid: &str, algorithm: &str, pair: &KeyPair) -> String {
    key_entry(
        kid,
        algorithm,
        &[
            ("private_key_file", &pair.private),
            ("public_key_file", &pair.public),
        ],
    )
}

/// Writes `default.toml` with these keys, `signing_key` first so the
/// `[jwt]` table is open, then the `[[jwt.keys]]` entries.
pub fn write_keys_config(dir: &Path, signing: &str, extra_jwt: &str, entries: &[String]) {
    let contents = format!(
        "[jwt]\nsigning_key = \"{signing}\"\n{extra_jwt}\n{}",
        entries.join("\n")
    );
    std::fs::write(dir.join("default.toml"), contents).unwrap();
}

fn header_of(token: &str) -> Header {
    jsonwebtoken::decode_header(token).unwrap()
}

async fn app_signing_with(dir: &Path, signing: &str, entries: &[String]) -> TestApp {
    write_keys_config(dir, signing, "", entries);
    spawn_app_from(dir, &[]).await.0
}

#[tokio::test]
async fn every_algorithm_mints_tokens_that_carry_the_kid_and_verify() {
    let dir = tempfile::tempdir().unwrap();
    let mut entries = vec![
        hmac_entry("h256", "HS256", HMAC_SECRET),
        hmac_entry("h384", "HS384", HMAC_SECRET),
        hmac_entry("h512", "HS512", HMAC_SECRET),
    ];
    for (kid, algorithm) in [("rsa", "RS256"), ("ec", "ES256"), ("ed", "EdDSA")] {
        let pair = generate_key_pair(dir.path(), kid, algorithm);
        entries.push(pair_entry(kid, algorithm, &pair));
    }
    for (kid, algorithm) in [
        ("h256", Algorithm::HS256),
        ("h384", Algorithm::HS384),
        ("h512", Algorithm::HS512),
        ("rsa", Algorithm::RS256),
        ("ec", Algorithm::ES256),
        ("ed", Algorithm::EdDSA),
    ] {
        let app = app_signing_with(dir.path(), kid, &entries).await;
        let token = app.token().await;
        let header = header_of(&token);
        assert_eq!(header.kid.as_deref(), Some(kid));
        assert_eq!(header.alg, algorithm);
        assert_eq!(header.typ.as_deref(), Some("at+jwt"));
        let response = app.access_with_bearer(&token).await;
        assert_eq!(response.status(), StatusCode::OK, "{kid}");
    }
}

#[tokio::test]
async fn the_single_secret_form_mints_with_the_default_kid() {
    let dir = tempfile::tempdir().unwrap();
    let (app, _) = spawn_app_from(dir.path(), &[]).await;
    let token = app.token().await;
    let header = header_of(&token);
    assert_eq!(header.kid.as_deref(), Some("default"));
    assert_eq!(header.alg, Algorithm::HS256);
    // Tokens without a kid still pass while there is only one key.
    let forged = crate::helpers::sign(&minted_header(), &valid_claims(), crate::helpers::SECRET);
    let response = app.access_with_bearer(&forged).await;
    assert_eq!(response.status(), StatusCode::OK);
}

#[tokio::test]
async fn jwks_publishes_every_public_key_and_never_an_hmac_secret() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = generate_key_pair(dir.path(), "rsa", "RS256");
    let ec = generate_key_pair(dir.path(), "ec", "ES256");
    let ed = generate_key_pair(dir.path(), "ed", "EdDSA");
    let entries = [
        hmac_entry("shared", "HS256", HMAC_SECRET),
        pair_entry("rsa-1", "RS256", &rsa),
        // Verify-only keys: public half only.
        key_entry("ec-1", "ES256", &[("public_key_file", &ec.public)]),
        key_entry("ed-1", "EdDSA", &[("public_key_file", &ed.public)]),
    ];
    let app = app_signing_with(dir.path(), "rsa-1", &entries).await;

    let response = app.get("/.well-known/jwks.json").await;
    assert_eq!(response.status(), StatusCode::OK);
    assert_eq!(
        response.headers()["cache-control"].to_str().unwrap(),
        "public, max-age=300"
    );
    let text = response.text().await.unwrap();
    assert!(!text.contains(HMAC_SECRET));
    let set: Value = serde_json::from_str(&text).unwrap();
    let keys = set["keys"].as_array().unwrap();
    let by_kid: HashMap<&str, &Value> = keys
        .iter()
        .map(|key| (key["kid"].as_str().unwrap(), key))
        .collect();
    assert_eq!(by_kid.len(), 3, "{set}");
    assert!(!by_kid.contains_key("shared"));
    for (kid, alg, kty) in [
        ("rsa-1", "RS256", "RSA"),
        ("ec-1", "ES256", "EC"),
        ("ed-1", "EdDSA", "OKP"),
    ] {
        let key = by_kid[kid];
        assert_eq!(key["alg"], alg, "{key}");
        assert_eq!(key["kty"], kty, "{key}");
        assert_eq!(key["use"], "sig", "{key}");
        // Private members (RFC 7518 6.2.2, 6.3.2, RFC 8037 2) never appear.
        for private in ["d", "p", "q", "dp", "dq", "qi", "k"] {
            assert!(key.get(private).is_none(), "{kid} leaks `{private}`");
        }
    }
    assert_eq!(by_kid["ec-1"]["crv"], "P-256");
    assert_eq!(by_kid["ed-1"]["crv"], "Ed25519");
}

#[tokio::test]
async fn verification_picks_the_key_by_kid_and_accepts_only_its_algorithm() {
    let dir = tempfile::tempdir().unwrap();
    let rsa = generate_key_pair(dir.path(), "rsa", "RS256");
    let entries = [
        hmac_entry("shared", "HS256", HMAC_SECRET),
        pair_entry("rsa-1", "RS256", &rsa),
    ];
    let app = app_signing_with(dir.path(), "rsa-1", &entries).await;
    let claims = valid_claims();
    let with = |alg: Algorithm, kid: Option<&str>| {
        let mut header = Header::new(alg);
        header.typ = Some("at+jwt".to_owned());
        header.kid = kid.map(str::to_owned);
        header
    };
    let hmac = EncodingKey::from_secret(HMAC_SECRET.as_bytes());
    let rsa_private = EncodingKey::from_rsa_pem(&std::fs::read(&rsa.private).unwrap()).unwrap();
    let public_pem = std::fs::read(&rsa.public).unwrap();

    // Each key works under its own kid and algorithm.
    for token in [
        jsonwebtoken::encode(&with(Algorithm::HS256, Some("shared")), &claims, &hmac).unwrap(),
        jsonwebtoken::encode(
            &with(Algorithm::RS256, Some("rsa-1")),
            &claims,
            &rsa_private,
        )
        .unwrap(),
    ] {
        let response = app.access_with_bearer(&token).await;
        assert_eq!(response.status(), StatusCode::OK);
    }

    let refused = [
        // An unknown kid.
        jsonwebtoken::encode(&with(Algorithm::HS256, Some("other")), &claims, &hmac).unwrap(),
        // No kid while two keys are configured.
        jsonwebtoken::encode(&with(Algorithm::HS256, None), &claims, &hmac).unwrap(),
        jsonwebtoken::encode(&with(Algorithm::RS256, None), &claims, &rsa_private).unwrap(),
        // The right secret, another HMAC algorithm than the key's.
        jsonwebtoken::encode(&with(Algorithm::HS384, Some("shared")), &claims, &hmac).unwrap(),
        // The RSA public key used as an HMAC secret, under the RSA key's kid.
        jsonwebtoken::encode(
            &with(Algorithm::HS256, Some("rsa-1")),
            &claims,
            &EncodingKey::from_secret(&public_pem),
        )
        .unwrap(),
        // A token signed by the RSA key but presented under the HMAC key's kid.
        jsonwebtoken::encode(
            &with(Algorithm::RS256, Some("shared")),
            &claims,
            &rsa_private,
        )
        .unwrap(),
    ];
    for token in refused {
        assert_token_rejected(app.access_with_bearer(&token).await, "token_invalid").await;
    }
}

/// Loads settings from `dir`, expecting a refusal naming `key`.
fn assert_config_refused(dir: &Path, key: &str) {
    let users = dir.join("users");
    std::fs::write(&users, "").unwrap();
    let vars: HashMap<String, String> = [(
        "TOKENGATE__USERS__FILE".to_owned(),
        users.display().to_string(),
    )]
    .into();
    match RuntimeConfig::load(dir, &vars) {
        Ok(_) => panic!("expected a refusal naming {key}"),
        Err(error) => assert_eq!(error.key, key, "{error}"),
    }
}

#[test]
fn invalid_key_lists_are_refused_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    let rsa = generate_key_pair(dir, "rsa", "RS256");
    let ec = generate_key_pair(dir, "ec", "ES256");
    let ed = generate_key_pair(dir, "ed", "EdDSA");
    let missing = dir.join("missing.pem");
    let hmac = hmac_entry("a", "HS256", HMAC_SECRET);
    let cases: Vec<(&str, Vec<String>, &str)> = vec![
        (
            "a",
            vec![
                hmac.clone(),
                key_entry("b", "ES256", &[("public_key_file", &missing)]),
            ],
            "jwt.keys[1].public_key_file",
        ),
        (
            "a",
            vec![
                hmac.clone(),
                key_entry(
                    "b",
                    "ES256",
                    &[
                        ("private_key_file", &ec.private),
                        ("public_key_file", &rsa.public),
                    ],
                ),
            ],
            "jwt.keys[1].public_key_file",
        ),
        (
            "a",
            vec![
                hmac.clone(),
                key_entry(
                    "b",
                    "ES256",
                    &[
                        ("private_key_file", &ec.private),
                        (
                            "public_key_file",
                            &generate_key_pair(dir, "ec2", "ES256").public,
                        ),
                    ],
                ),
            ],
            "jwt.keys[1].public_key_file",
        ),
        (
            "a",
            vec![
                hmac.clone(),
                key_entry("b", "EdDSA", &[("private_key_file", &ec.private)]),
            ],
            "jwt.keys[1].private_key_file",
        ),
        (
            "a",
            vec![
                hmac.clone(),
                key_entry("b", "PS256", &[("public_key_file", &rsa.public)]),
            ],
            "jwt.keys[1].algorithm",
        ),
        (
            "a",
            vec![hmac.clone(), hmac_entry("a", "HS512", HMAC_SECRET)],
            "jwt.keys[1].kid",
        ),
        (
            "a",
            vec![hmac_entry("a", "HS256", "short")],
            "jwt.keys[0].secret",
        ),
        (
            "a",
            vec![key_entry("a", "HS256", &[("public_key_file", &rsa.public)])],
            "jwt.keys[0].public_key_file",
        ),
        (
            "a",
            vec![
                hmac.clone(),
                format!(
                    "{}secret = \"{HMAC_SECRET}\"\n",
                    key_entry("b", "RS256", &[("public_key_file", &rsa.public)])
                ),
            ],
            "jwt.keys[1].secret",
        ),
        ("b", vec![hmac.clone()], "jwt.signing_key"),
        (
            "b",
            vec![
                hmac.clone(),
                key_entry("b", "EdDSA", &[("public_key_file", &ed.public)]),
            ],
            "jwt.signing_key",
        ),
    ];
    for (signing, entries, key) in cases {
        write_keys_config(dir, signing, "", &entries);
        assert_config_refused(dir, key);
    }
}

#[test]
fn key_secrets_are_masked_when_settings_are_printed() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, "").unwrap();
    write_keys_config(
        dir.path(),
        "a",
        "",
        &[hmac_entry("a", "HS256", HMAC_SECRET)],
    );
    let vars: HashMap<String, String> = [
        (
            "TOKENGATE__USERS__FILE".to_owned(),
            users.display().to_string(),
        ),
        (
            "TOKENGATE__JWT__SECRET".to_owned(),
            crate::helpers::SECRET.to_owned(),
        ),
    ]
    .into();
    let settings = config::load(dir.path(), &vars).unwrap();
    for printed in [
        format!("{settings:?}"),
        serde_json::to_string(&settings).unwrap(),
    ] {
        assert!(!printed.contains(HMAC_SECRET), "{printed}");
        assert!(!printed.contains(crate::helpers::SECRET), "{printed}");
    }
}
