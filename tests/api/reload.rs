use std::path::Path;
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use jsonwebtoken::{Algorithm, EncodingKey, Header};
use reqwest::StatusCode;
use serde_json::Value;
use tokengate::credentials::hash_password;
use tokengate::reload::ReloadError;

use crate::helpers::{
    PASSWORD, RunningBinary, TestApp, USER, assert_token_rejected, generate_key_pair,
    spawn_app_from, users_file_contents, valid_claims,
};
use crate::keys::{key_entry, pair_entry, write_keys_config};

const NEW_USER: &str = "bob";
const NEW_PASSWORD: &str = "a new account, added while serving";

async fn expires_in(app: &TestApp, user: &str, password: &str) -> Option<u64> {
    let response = app.login_json(user, password).await;
    if response.status() != StatusCode::OK {
        return None;
    }
    let body: Value = response.json().await.unwrap();
    body["expires_in"].as_u64()
}

/// A config dir with `[jwt] ttl = ...` and a users file the test can edit.
fn config_with_ttl(dir: &Path, ttl: &str) {
    std::fs::write(
        dir.join("default.toml"),
        format!("[jwt]\nttl = \"{ttl}\"\n"),
    )
    .unwrap();
}

#[tokio::test]
async fn a_reload_applies_the_new_ttl_and_users_without_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, users_file_contents()).unwrap();
    config_with_ttl(dir.path(), "42s");
    let (app, reloader) = spawn_app_from(
        dir.path(),
        &[("TOKENGATE__USERS__FILE", users.to_str().unwrap())],
    )
    .await;
    assert_eq!(expires_in(&app, USER, PASSWORD).await, Some(42));
    assert_eq!(expires_in(&app, NEW_USER, NEW_PASSWORD).await, None);

    config_with_ttl(dir.path(), "43s");
    let line = format!("{NEW_USER}:{}\n", hash_password(NEW_PASSWORD));
    std::fs::write(&users, format!("{}{line}", users_file_contents())).unwrap();
    let took = reloader.reload().await.expect("reload succeeds");
    eprintln!("reload took {took:?}");

    assert_eq!(expires_in(&app, USER, PASSWORD).await, Some(43));
    assert_eq!(expires_in(&app, NEW_USER, NEW_PASSWORD).await, Some(43));
}

#[tokio::test]
async fn an_invalid_reload_keeps_the_running_configuration_and_names_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let pair = generate_key_pair(dir.path(), "ec", "ES256");
    let entry = pair_entry("ec-1", "ES256", &pair);
    write_keys_config(
        dir.path(),
        "ec-1",
        "ttl = \"42s\"",
        std::slice::from_ref(&entry),
    );
    let (app, reloader) = spawn_app_from(dir.path(), &[]).await;
    let token = app.token().await;

    write_keys_config(dir.path(), "ec-1", "ttl = \"2days\"", &[entry]);
    match reloader.reload().await {
        Err(ReloadError::Config(error)) => assert_eq!(error.key, "jwt.ttl", "{error}"),
        other => panic!("expected a refusal naming jwt.ttl, got {other:?}"),
    }
    let missing = dir.path().join("missing.pem");
    let broken = key_entry("ec-1", "ES256", &[("private_key_file", &missing)]);
    write_keys_config(dir.path(), "ec-1", "", &[broken]);
    match reloader.reload().await {
        Err(ReloadError::Config(error)) => {
            assert_eq!(error.key, "jwt.keys[0].private_key_file", "{error}")
        }
        other => panic!("expected a refusal naming the key file, got {other:?}"),
    }

    assert_eq!(expires_in(&app, USER, PASSWORD).await, Some(42));
    let response = app.access_with_bearer(&token).await;
    assert_eq!(response.status(), StatusCode::OK);
}

/// Logs in and uses the token, over and over, recording every failure and
/// the `kid` of every token, until stopped.
struct ClientLoop {
    stop: Arc<AtomicBool>,
    rounds: Arc<AtomicUsize>,
    task: tokio::task::JoinHandle<(Vec<String>, Vec<String>)>,
}

impl ClientLoop {
    fn start(app: &TestApp) -> Self {
        let stop = Arc::new(AtomicBool::new(false));
        let rounds = Arc::new(AtomicUsize::new(0));
        let (client, login, access) = (app.client.clone(), app.url("/login"), app.url("/access"));
        let (stop_flag, counter) = (stop.clone(), rounds.clone());
        let task = tokio::spawn(async move {
            let (mut failures, mut kids) = (Vec::new(), Vec::new());
            while !stop_flag.load(Ordering::Acquire) {
                let response = client
                    .get(&login)
                    .basic_auth(USER, Some(PASSWORD))
                    .header("Accept", "application/json")
                    .send()
                    .await;
                let token = match response {
                    Ok(response) if response.status() == StatusCode::OK => {
                        let body: Value = response.json().await.unwrap();
                        body["access_token"].as_str().unwrap().to_owned()
                    }
                    other => {
                        failures.push(format!("login: {other:?}"));
                        continue;
                    }
                };
                let kid = jsonwebtoken::decode_header(&token).unwrap().kid.unwrap();
                match client.get(&access).bearer_auth(&token).send().await {
                    Ok(response) if response.status() == StatusCode::OK => {}
                    other => failures.push(format!("access with {kid}: {other:?}")),
                }
                if kids.last() != Some(&kid) {
                    kids.push(kid);
                }
                counter.fetch_add(1, Ordering::AcqRel);
            }
            (failures, kids)
        });
        Self { stop, rounds, task }
    }

    /// Waits until the loop has made a few more rounds under the current config.
    async fn make_progress(&self) {
        let target = self.rounds.load(Ordering::Acquire) + 3;
        let deadline = Instant::now() + Duration::from_secs(30);
        while self.rounds.load(Ordering::Acquire) < target {
            assert!(Instant::now() < deadline, "the client loop stalled");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    async fn finish(self) -> (usize, Vec<String>, Vec<String>) {
        self.stop.store(true, Ordering::Release);
        let (failures, kids) = self.task.await.unwrap();
        (self.rounds.load(Ordering::Acquire), failures, kids)
    }
}

async fn published_kids(app: &TestApp) -> Vec<String> {
    let set: Value = app
        .get("/.well-known/jwks.json")
        .await
        .json()
        .await
        .unwrap();
    let mut kids: Vec<String> = set["keys"]
        .as_array()
        .unwrap()
        .iter()
        .map(|key| key["kid"].as_str().unwrap().to_owned())
        .collect();
    kids.sort();
    kids
}

fn kid_of(token: &str) -> String {
    jsonwebtoken::decode_header(token).unwrap().kid.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_documented_rotation_procedure_never_fails_a_request() {
    let dir = tempfile::tempdir().unwrap();
    let old = generate_key_pair(dir.path(), "old", "ES256");
    let new = generate_key_pair(dir.path(), "new", "EdDSA");
    let old_entry = pair_entry("2026-01", "ES256", &old);
    let new_entry = pair_entry("2026-02", "EdDSA", &new);
    // A short lifetime, so the old key's tokens expire within the test.
    let ttl = "ttl = \"8s\"";
    write_keys_config(dir.path(), "2026-01", ttl, std::slice::from_ref(&old_entry));
    // The client loop logs in as fast as it can; throttling is not under test.
    let no_login_limits = [
        ("TOKENGATE__LIMITS__LOGIN_PER_IP_PER_MINUTE", "0"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_PER_MINUTE", "0"),
        ("TOKENGATE__LIMITS__LOGIN_PER_USER_CEILING_PER_MINUTE", "0"),
    ];
    let (app, reloader) = spawn_app_from(dir.path(), &no_login_limits).await;
    let client = ClientLoop::start(&app);
    client.make_progress().await;

    // 1. Add the new key, verify-only, and reload: published, not yet signing.
    write_keys_config(
        dir.path(),
        "2026-01",
        ttl,
        &[old_entry.clone(), new_entry.clone()],
    );
    let took = reloader.reload().await.expect("step 1 reloads");
    eprintln!("rotation step 1: reload took {took:?}");
    assert_eq!(published_kids(&app).await, ["2026-01", "2026-02"]);
    client.make_progress().await;
    let old_token = app.token().await;
    assert_eq!(kid_of(&old_token), "2026-01");

    // 2. Sign with the new key: old tokens still pass until they expire.
    write_keys_config(dir.path(), "2026-02", ttl, &[old_entry, new_entry.clone()]);
    let took = reloader.reload().await.expect("step 2 reloads");
    eprintln!("rotation step 2: reload took {took:?}");
    assert_eq!(kid_of(&app.token().await), "2026-02");
    let response = app.access_with_bearer(&old_token).await;
    assert_eq!(response.status(), StatusCode::OK);
    client.make_progress().await;

    // 3. Wait out the lifetime of the old key's last token.
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let response = app.access_with_bearer(&old_token).await;
        if response.status() == StatusCode::UNAUTHORIZED {
            assert_token_rejected(response, "token_expired").await;
            break;
        }
        assert!(Instant::now() < deadline, "the old token never expired");
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // 4. Remove the old key: its tokens are now unknown, not merely expired.
    write_keys_config(dir.path(), "2026-02", ttl, &[new_entry]);
    let took = reloader.reload().await.expect("step 4 reloads");
    eprintln!("rotation step 4: reload took {took:?}");
    assert_eq!(published_kids(&app).await, ["2026-02"]);
    assert_token_rejected(app.access_with_bearer(&old_token).await, "token_invalid").await;
    let mut header = Header::new(Algorithm::ES256);
    header.typ = Some("at+jwt".to_owned());
    header.kid = Some("2026-01".to_owned());
    let old_key = EncodingKey::from_ec_pem(&std::fs::read(&old.private).unwrap()).unwrap();
    let fresh_old = jsonwebtoken::encode(&header, &valid_claims(), &old_key).unwrap();
    assert_token_rejected(app.access_with_bearer(&fresh_old).await, "token_invalid").await;
    client.make_progress().await;

    let (rounds, failures, kids) = client.finish().await;
    assert!(
        failures.is_empty(),
        "{} of {rounds} rounds failed: {failures:#?}",
        failures.len()
    );
    assert_eq!(kids, ["2026-01", "2026-02"]);
    eprintln!("rotation: {rounds} login+access rounds, none failed");
}

#[test]
fn sighup_reloads_the_running_binary_and_a_bad_config_keeps_the_old_one() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, users_file_contents()).unwrap();
    config_with_ttl(dir.path(), "42s");
    let binary = RunningBinary::start(|command| {
        command
            .env("TOKENGATE_CONFIG_DIR", dir.path())
            .env("TOKENGATE__USERS__FILE", &users);
    });
    let client = reqwest::blocking::Client::new();
    let expires_in = |user: &str, password: &str| -> Option<u64> {
        let response = client
            .get(binary.url("/login"))
            .basic_auth(user, Some(password))
            .header("Accept", "application/json")
            .send()
            .unwrap();
        (response.status() == StatusCode::OK)
            .then(|| response.json::<Value>().unwrap()["expires_in"].as_u64())
            .flatten()
    };
    assert_eq!(expires_in(USER, PASSWORD), Some(42));

    config_with_ttl(dir.path(), "43s");
    let line = format!("{NEW_USER}:{}\n", hash_password(NEW_PASSWORD));
    std::fs::write(&users, format!("{}{line}", users_file_contents())).unwrap();
    binary.hangup();
    binary.wait_for_log("configuration reloaded in", 1);
    assert_eq!(expires_in(USER, PASSWORD), Some(43));
    assert_eq!(expires_in(NEW_USER, NEW_PASSWORD), Some(43));

    config_with_ttl(dir.path(), "soon");
    binary.hangup();
    binary.wait_for_log("reload refused", 1);
    assert_eq!(expires_in(USER, PASSWORD), Some(43));

    let log = binary.log();
    let refusal = log
        .lines()
        .find(|line| line.contains("reload refused"))
        .unwrap();
    assert!(refusal.contains("jwt.ttl"), "{refusal}");
    let reloaded = log
        .lines()
        .find(|line| line.contains("reloaded in"))
        .unwrap();
    eprintln!("{reloaded}");
}

#[test]
fn a_reload_that_changes_the_limits_says_they_need_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    std::fs::write(&users, users_file_contents()).unwrap();
    config_with_ttl(dir.path(), "42s");
    let binary = RunningBinary::start(|command| {
        command
            .env("TOKENGATE_CONFIG_DIR", dir.path())
            .env("TOKENGATE__USERS__FILE", &users);
    });
    std::fs::write(
        dir.path().join("default.toml"),
        "[jwt]\nttl = \"42s\"\n[limits]\nlogin_per_user_burst = 3\n",
    )
    .unwrap();
    binary.hangup();
    binary.wait_for_log("configuration reloaded", 1);
    let log = binary.log();
    assert!(
        log.contains("limits section changed; it takes effect only after a restart"),
        "{log}"
    );
}
