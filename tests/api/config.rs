use std::collections::HashMap;
use std::path::Path;
use std::time::Duration;

use tokengate::config::load;

use crate::helpers::{RunningBinary, tokengate_command};

fn write(dir: &Path, name: &str, contents: &str) {
    std::fs::write(dir.join(name), contents).unwrap();
}

fn ttl_with(dir: &Path, vars: &[(&str, &str)]) -> Duration {
    let users = dir.join("users");
    let mut vars: HashMap<String, String> = vars
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    vars.insert("TOKENGATE__USERS__FILE".into(), users.display().to_string());
    load(dir, &vars).unwrap().jwt.ttl
}

#[test]
fn layers_apply_in_order_env_then_local_then_environment_file_then_default() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    write(dir, "users", "");
    write(dir, "default.toml", "[jwt]\nttl = \"1m\"\n");
    assert_eq!(ttl_with(dir, &[]), Duration::from_secs(60));

    write(dir, "development.toml", "[jwt]\nttl = \"2m\"\n");
    assert_eq!(ttl_with(dir, &[]), Duration::from_secs(120));

    write(dir, "local.toml", "[jwt]\nttl = \"3m\"\n");
    assert_eq!(ttl_with(dir, &[]), Duration::from_secs(180));

    assert_eq!(
        ttl_with(dir, &[("TOKENGATE__JWT__TTL", "4m")]),
        Duration::from_secs(240)
    );
}

#[test]
fn tokengate_env_selects_the_environment_file() {
    let dir = tempfile::tempdir().unwrap();
    let dir = dir.path();
    // Production refuses an empty users file.
    write(dir, "users", crate::helpers::users_file_contents());
    write(dir, "development.toml", "[jwt]\nttl = \"2m\"\n");
    write(
        dir,
        "production.toml",
        "[jwt]\nttl = \"5m\"\nsecret = \"a-production-secret-of-at-least-32b\"\n",
    );
    assert_eq!(
        ttl_with(dir, &[("TOKENGATE_ENV", "production")]),
        Duration::from_secs(300)
    );
}

/// Runs the binary with the given environment and expects a start-up failure
/// whose single line names `key`.
fn assert_refused_naming(vars: &[(&str, &str)], key: &str) {
    let dir = tempfile::tempdir().unwrap();
    let output = tokengate_command(&dir)
        .envs(vars.iter().copied())
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78), "{vars:?}");
    let stderr = String::from_utf8(output.stderr).unwrap();
    assert_eq!(stderr.lines().count(), 1, "{stderr}");
    assert!(stderr.contains(key), "expected `{key}` in: {stderr}");
}

#[test]
fn each_start_up_error_stops_the_service_naming_the_key() {
    assert_refused_naming(&[("TOKENGATE__JWT__TTL", "soon")], "jwt.ttl");
    assert_refused_naming(&[("TOKENGATE__JWT__TTL", "48h")], "jwt.ttl");
    assert_refused_naming(&[("TOKENGATE__JWT__LEEWAY", "1h")], "jwt.leeway");
    assert_refused_naming(&[("TOKENGATE__JWT__ALGORITHM", "none")], "jwt.algorithm");
    assert_refused_naming(&[("TOKENGATE__USERS__FILE", "/nonexistent")], "users.file");
    assert_refused_naming(&[("TOKENGATE__JWT__SECRET", "too-short")], "jwt.secret");
    assert_refused_naming(
        &[("TOKENGATE__JWT__SECRET_FILE", "/nonexistent/secret")],
        "jwt.secret_file",
    );
    assert_refused_naming(&[("TOKENGATE__SERVER__PORT", "99999")], "server.port");
    assert_refused_naming(
        &[
            ("TOKENGATE_ENV", "production"),
            (
                "TOKENGATE__JWT__SECRET",
                "tokengate-development-secret-do-not-use-in-production",
            ),
        ],
        "jwt.secret",
    );
    assert_refused_naming(&[("TOKENGATE_ENV", "staging")], "TOKENGATE_ENV");
}

#[test]
fn a_bad_groups_or_totp_file_stops_the_binary_naming_the_key_and_line() {
    use std::os::unix::fs::PermissionsExt;
    let files = tempfile::tempdir().unwrap();
    write(files.path(), "groups", "admins: alice\nno colon here\n");
    write(
        files.path(),
        "totp",
        "alice:GEZDGNBVGY3TQOJQGEZDGNBVGY3TQOJQ\n:EMPTYUSER\n",
    );
    std::fs::set_permissions(
        files.path().join("totp"),
        std::fs::Permissions::from_mode(0o600),
    )
    .unwrap();
    let groups = files.path().join("groups").display().to_string();
    let totp = files.path().join("totp").display().to_string();
    assert_refused_naming(
        &[("TOKENGATE__USERS__GROUPS_FILE", &groups)],
        "users.groups_file",
    );
    assert_refused_naming(&[("TOKENGATE__USERS__GROUPS_FILE", &groups)], "line 2");
    assert_refused_naming(&[("TOKENGATE__USERS__TOTP_FILE", &totp)], "users.totp_file");
    assert_refused_naming(&[("TOKENGATE__USERS__TOTP_FILE", &totp)], "line 2");
}

#[test]
fn a_missing_config_dir_is_refused() {
    let dir = tempfile::tempdir().unwrap();
    let output = tokengate_command(&dir)
        .args(["--config-dir", "/nonexistent/config"])
        .output()
        .unwrap();
    assert_eq!(output.status.code(), Some(78));
    assert!(String::from_utf8_lossy(&output.stderr).contains("--config-dir"));
}

#[test]
fn the_binary_serves_with_the_layered_settings() {
    let binary = RunningBinary::start(|command| {
        command.env("TOKENGATE__JWT__TTL", "42s");
    });
    let body: serde_json::Value = reqwest::blocking::Client::new()
        .get(binary.url("/login"))
        .basic_auth(crate::helpers::USER, Some(crate::helpers::PASSWORD))
        .header("Accept", "application/json")
        .send()
        .unwrap()
        .json()
        .unwrap();
    assert_eq!(body["expires_in"], 42);
}
