//! Starts the real app on a random port, with a temporary users file, and
//! gives each test an HTTP client pointed at it.

use std::collections::HashMap;
use std::path::{Path, PathBuf};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::Value;
use tempfile::TempDir;
use tokengate::config::{self, Settings};
use tokengate::reload::Reloader;
use tokengate::startup::Application;

pub use crate::support::{
    HTML_USER, PASSWORD, RunningBinary, SECRET, USER, tokengate_command, users_file_contents,
    write_users_file,
};

pub struct TestApp {
    pub address: String,
    /// The separate `/metrics` listener, when `metrics.listen` is set.
    pub metrics_address: Option<String>,
    pub client: reqwest::Client,
    _dir: TempDir,
}

pub fn repo_config_dir() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

/// Settings as the binary would load them from the repo's config/, plus the
/// test's overrides as `TOKENGATE__*` variables.
pub fn test_settings(dir: &TempDir, overrides: &[(&str, &str)]) -> Settings {
    test_settings_from(&repo_config_dir(), dir, overrides)
}

/// Settings read from another config dir (one a test writes), with the
/// test users file and overrides.
pub fn test_settings_from(
    config_dir: &Path,
    dir: &TempDir,
    overrides: &[(&str, &str)],
) -> Settings {
    let users = write_users_file(dir.path());
    let mut vars: HashMap<String, String> = [
        ("TOKENGATE__SERVER__PORT", "0"),
        ("TOKENGATE__SERVER__WORKERS", "1"),
        ("TOKENGATE__JWT__SECRET", SECRET),
        ("TOKENGATE__USERS__FILE", users.to_str().unwrap()),
    ]
    .into_iter()
    .map(|(k, v)| (k.to_owned(), v.to_owned()))
    .collect();
    for (key, value) in overrides {
        vars.insert((*key).to_owned(), (*value).to_owned());
    }
    config::load(config_dir, &vars).expect("test settings load")
}

pub async fn spawn_app() -> TestApp {
    spawn_app_with(&[]).await
}

pub async fn spawn_app_with(overrides: &[(&str, &str)]) -> TestApp {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings(&dir, overrides);
    spawn_built(&settings, dir).0
}

/// Starts the app with settings from `config_dir`, and returns the handle
/// that reloads it, as SIGHUP does, after the test edits the files.
pub async fn spawn_app_from(config_dir: &Path, overrides: &[(&str, &str)]) -> (TestApp, Reloader) {
    let dir = tempfile::tempdir().unwrap();
    let settings = test_settings_from(config_dir, &dir, overrides);
    spawn_built(&settings, dir)
}

fn spawn_built(settings: &Settings, dir: TempDir) -> (TestApp, Reloader) {
    let app = Application::build(settings).expect("app builds");
    let address = format!("http://127.0.0.1:{}", app.port());
    let metrics_address = app
        .ready_signal()
        .metrics_address
        .map(|address| format!("http://{address}"));
    let reloader = app.reloader();
    tokio::spawn(app.run_until_stopped());
    let app = TestApp {
        address,
        metrics_address,
        client: reqwest::Client::builder()
            .redirect(reqwest::redirect::Policy::none())
            .build()
            .unwrap(),
        _dir: dir,
    };
    (app, reloader)
}

impl TestApp {
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    pub async fn get(&self, path: &str) -> reqwest::Response {
        self.client.get(self.url(path)).send().await.unwrap()
    }

    pub async fn login_json(&self, user: &str, password: &str) -> reqwest::Response {
        self.client
            .get(self.url("/login"))
            .basic_auth(user, Some(password))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
    }

    /// Logs the test user in and returns the minted token.
    pub async fn token(&self) -> String {
        let response = self.login_json(USER, PASSWORD).await;
        assert_eq!(response.status(), StatusCode::OK);
        let body: Value = response.json().await.unwrap();
        body["access_token"].as_str().unwrap().to_owned()
    }

    pub async fn access_with_cookie(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/access"))
            .header("Cookie", format!("tokengate_token={token}"))
            .send()
            .await
            .unwrap()
    }

    pub async fn access_with_bearer(&self, token: &str) -> reqwest::Response {
        self.client
            .get(self.url("/access"))
            .bearer_auth(token)
            .send()
            .await
            .unwrap()
    }
}

/// Signs arbitrary claims and header, to forge the tokens an attacker would.
pub fn sign(header: &Header, claims: &Value, secret: &str) -> String {
    jsonwebtoken::encode(header, claims, &EncodingKey::from_secret(secret.as_bytes())).unwrap()
}

/// A header as tokengate mints it.
pub fn minted_header() -> Header {
    let mut header = Header::new(Algorithm::HS256);
    header.typ = Some("at+jwt".to_owned());
    header
}

/// Claims as tokengate mints them, valid for a minute from now.
pub fn valid_claims() -> Value {
    let now = jsonwebtoken::get_current_timestamp() as i64;
    serde_json::json!({
        "sub": USER, "iat": now, "nbf": now, "exp": now + 60,
        "jti": "test", "iss": "tokengate", "aud": "tokengate",
        "sid": uuid::Uuid::now_v7().to_string(),
    })
}

/// Asserts a 401 with the given error code and a Bearer challenge.
pub async fn assert_token_rejected(response: reqwest::Response, code: &str) {
    assert_eq!(response.status(), StatusCode::UNAUTHORIZED);
    let challenge = response
        .headers()
        .get("www-authenticate")
        .expect("401 carries a challenge")
        .to_str()
        .unwrap()
        .to_owned();
    assert!(
        challenge.starts_with("Bearer realm=\"tokengate\""),
        "{challenge}"
    );
    if code != "token_missing" {
        assert!(challenge.contains("error=\"invalid_token\""), "{challenge}");
    }
    let body: Value = response.json().await.unwrap();
    assert_eq!(body["error"], code, "{body}");
    assert!(body["message"].is_string());
}

/// A key pair generated with the openssl commands the README documents:
/// PKCS#8 private key and SPKI public key, both PEM.
pub struct KeyPair {
    pub private: PathBuf,
    pub public: PathBuf,
}

pub fn generate_key_pair(dir: &Path, name: &str, algorithm: &str) -> KeyPair {
    let private = dir.join(format!("{name}.pem"));
    let public = dir.join(format!("{name}.pub.pem"));
    let generate: &[&str] = match algorithm {
        "RS256" => &["-algorithm", "RSA", "-pkeyopt", "rsa_keygen_bits:2048"],
        "ES256" => &["-algorithm", "EC", "-pkeyopt", "ec_paramgen_curve:P-256"],
        "EdDSA" => &["-algorithm", "ed25519"],
        other => panic!("no key pair for {other}"),
    };
    let run = |args: &[&str]| {
        let output = std::process::Command::new("openssl")
            .args(args)
            .output()
            .expect("openssl is installed (.ci/install-deps)");
        assert!(output.status.success(), "openssl {args:?}: {output:?}");
    };
    let private_arg = private.to_str().unwrap();
    run(&[&["genpkey"], generate, &["-out", private_arg]].concat());
    run(&[
        "pkey",
        "-in",
        private_arg,
        "-pubout",
        "-out",
        public.to_str().unwrap(),
    ]);
    KeyPair { private, public }
}
