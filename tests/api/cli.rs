use std::io::Write;
use std::process::Stdio;

use tokengate::{CredentialStore, HtpasswdStore};

use crate::helpers::tokengate_command;

#[actix_web::test]
async fn hash_password_prints_an_htpasswd_line_that_verifies() {
    let dir = tempfile::tempdir().unwrap();
    let mut child = tokengate_command(&dir)
        .args(["hash-password", "--user", "carol"])
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .spawn()
        .unwrap();
    child
        .stdin
        .take()
        .unwrap()
        .write_all(b"s3cret pass\n")
        .unwrap();
    let output = child.wait_with_output().unwrap();
    assert!(output.status.success());
    let line = String::from_utf8(output.stdout).unwrap();
    assert!(line.starts_with("carol:$argon2id$"), "{line}");
    let store = HtpasswdStore::parse(&line).unwrap();
    let carol = store.find("carol").await.unwrap().unwrap();
    assert!(carol.password_hash.verify("s3cret pass"));
    assert!(!carol.password_hash.verify("s3cret pass\n"));
}

#[test]
fn hash_password_refuses_an_empty_password_or_bad_user() {
    let dir = tempfile::tempdir().unwrap();
    for (user, stdin) in [
        ("carol", "\n"),
        ("car:ol", "pw\n"),
        (" carol", "pw\n"),
        ("carol ", "pw\n"),
        ("carol,admin", "pw\n"),
        ("car\u{7}ol", "pw\n"),
        ("carolé", "pw\n"),
    ] {
        let mut child = tokengate_command(&dir)
            .args(["hash-password", "--user", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        // A bad name is refused before stdin is read: the pipe may be closed.
        let _ = child.stdin.take().unwrap().write_all(stdin.as_bytes());
        let output = child.wait_with_output().unwrap();
        assert_eq!(output.status.code(), Some(2), "{user}");
        assert!(output.stdout.is_empty());
    }
}

#[test]
fn check_config_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokengate_command(&dir)
        .arg("check-config")
        .env("TOKENGATE__JWT__TTL", "90s")
        .output()
        .unwrap();
    assert!(output.status.success());
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(printed.contains("1m 30s"), "{printed}");
    assert!(printed.contains("[REDACTED]"), "{printed}");
    assert!(!printed.contains(crate::helpers::SECRET), "{printed}");
}

#[test]
fn check_config_fails_on_a_bad_value() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokengate_command(&dir)
        .arg("check-config")
        .env("TOKENGATE__JWT__ALGORITHM", "RS999")
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("jwt.algorithm"));
}

#[test]
fn check_config_and_serve_refuse_a_users_file_serve_cannot_use_with_78() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("bad-users");
    std::fs::write(&users, "alice:$apr1$abc$def\n").unwrap();
    for command in ["check-config", "serve"] {
        let output = tokengate_command(&dir)
            .arg(command)
            .env("TOKENGATE__USERS__FILE", &users)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(78), "{command}: {output:?}");
        assert!(
            String::from_utf8_lossy(&output.stderr).contains("users.file"),
            "{command}: {output:?}"
        );
    }
}

#[test]
fn check_config_and_start_up_name_the_users_whose_hash_is_weak() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("weak-users");
    let weak = bcrypt::hash("x", 4).unwrap();
    std::fs::write(
        &users,
        format!("{}oldtimer:{weak}\n", crate::helpers::users_file_contents()),
    )
    .unwrap();
    let output = tokengate_command(&dir)
        .arg("check-config")
        .env("TOKENGATE__USERS__FILE", &users)
        .output()
        .unwrap();
    assert!(output.status.success(), "{output:?}");
    let printed = String::from_utf8(output.stdout).unwrap();
    assert!(
        printed.contains("# user `oldtimer` needs a rehash (bcrypt cost 4 is below 10)"),
        "{printed}"
    );
    assert!(!printed.contains("`alice` needs"), "{printed}");

    let binary = crate::helpers::RunningBinary::start(|command| {
        command.env("TOKENGATE__USERS__FILE", &users);
    });
    let log = binary.log();
    assert!(log.contains("user `oldtimer` needs a rehash"), "{log}");
}

#[actix_web::test]
async fn serve_ready_file_names_the_bound_addresses_and_the_process_until_it_exits() {
    let mut binary = crate::helpers::RunningBinary::start(|command| {
        command.env("TOKENGATE__METRICS__LISTEN", "127.0.0.1:0");
    });
    let ready = binary.ready.clone();
    assert_eq!(ready["pid"], binary.child.id(), "{ready}");
    let metrics = ready["metrics_address"].as_str().expect("metrics_address");
    assert_ne!(metrics, ready["address"].as_str().unwrap(), "{ready}");

    let client = reqwest::Client::new();
    let health = client.get(binary.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), reqwest::StatusCode::OK);
    let scrape = client
        .get(format!("http://{metrics}/metrics"))
        .send()
        .await
        .unwrap();
    assert_eq!(scrape.status(), reqwest::StatusCode::OK);

    assert!(binary.terminate().success());
    assert!(
        !binary.ready_file.exists(),
        "a clean exit removes the ready file"
    );
}

#[test]
fn a_ready_file_left_by_an_earlier_run_is_removed_even_when_start_up_fails() {
    let dir = tempfile::tempdir().unwrap();
    let stale = dir.path().join("ready.json");
    std::fs::write(&stale, r#"{"address":"127.0.0.1:1","pid":1}"#).unwrap();
    let output = tokengate_command(&dir)
        // TEST-NET-1: no interface has it, so binding fails after the config loaded.
        .env("TOKENGATE__SERVER__HOST", "192.0.2.1")
        .arg("serve")
        .arg("--ready-file")
        .arg(&stale)
        .output()
        .unwrap();
    assert!(!output.status.success(), "{output:?}");
    assert!(
        String::from_utf8_lossy(&output.stderr).contains("Failed to bind 192.0.2.1"),
        "{output:?}"
    );
    assert!(!stale.exists(), "the old ready file is still there");
}

/// A config dir with the repository's files and `local.toml` as given.
fn config_dir_with_local(local: &str) -> tempfile::TempDir {
    let dir = tempfile::tempdir().unwrap();
    let repo = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("config");
    for file in ["default.toml", "development.toml", "production.toml"] {
        std::fs::copy(repo.join(file), dir.path().join(file)).unwrap();
    }
    std::fs::write(dir.path().join("local.toml"), local).unwrap();
    dir
}

#[test]
fn a_config_syntax_error_stops_both_commands_with_78_and_never_prints_the_secret() {
    let secret = "unclosed-secret-0123456789abcdef-0123456789";
    let config = config_dir_with_local(&format!("[jwt]\nsecret = \"{secret}\n"));
    let dir = tempfile::tempdir().unwrap();
    for command in ["check-config", "serve"] {
        let output = tokengate_command(&dir)
            .arg("--config-dir")
            .arg(config.path())
            .arg(command)
            .output()
            .unwrap();
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert_eq!(output.status.code(), Some(78), "{command}: {stderr}");
        assert!(stderr.contains("local.toml"), "{command}: {stderr}");
        assert!(!stderr.contains("unclosed-secret"), "{command}: {stderr}");
        assert!(
            !String::from_utf8_lossy(&output.stdout).contains("unclosed-secret"),
            "{command}"
        );
    }
}

#[test]
fn production_refuses_a_world_writable_signing_key_file_naming_its_entry() {
    use std::os::unix::fs::PermissionsExt;
    let files = tempfile::tempdir().unwrap();
    let secret = files.path().join("signing-secret");
    std::fs::write(&secret, "a-production-signing-secret-of-32-bytes-or-more\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o666)).unwrap();
    let config = config_dir_with_local(&format!(
        "[jwt]\nsigning_key = \"k1\"\n\n[[jwt.keys]]\nkid = \"k1\"\nalgorithm = \"HS256\"\nsecret_file = \"{}\"\n",
        secret.display()
    ));
    let dir = tempfile::tempdir().unwrap();
    let refused = |mode: u32| {
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(mode)).unwrap();
        tokengate_command(&dir)
            .arg("--config-dir")
            .arg(config.path())
            .arg("check-config")
            .env("TOKENGATE_ENV", "production")
            .env_remove("TOKENGATE__JWT__SECRET")
            .output()
            .unwrap()
    };

    let output = refused(0o666);
    let stderr = String::from_utf8_lossy(&output.stderr);
    assert_eq!(output.status.code(), Some(78), "{stderr}");
    assert!(stderr.contains("jwt.keys[0].secret_file"), "{stderr}");
    assert!(stderr.contains("writable by every user"), "{stderr}");

    let output = refused(0o640);
    assert!(output.status.success(), "{output:?}");
}
