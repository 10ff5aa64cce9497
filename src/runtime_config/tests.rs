//! Loading end to end: the layering, the value rules and the files, as
//! `serve` meets them.

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::Duration;

use jsonwebtoken::Algorithm;
use secrecy::ExposeSecret;

use super::{RuntimeConfig, keys};
use crate::auth::TokenSource;
use crate::config::{ConfigError, DEVELOPMENT_SECRET, Environment, LogFormat, Settings};
use crate::proxy::{InstanceId, TrustedProxies};

fn runtime(
    config_dir: &std::path::Path,
    vars: &HashMap<String, String>,
) -> Result<RuntimeConfig, ConfigError> {
    RuntimeConfig::load(config_dir, vars)
}

fn load(
    config_dir: &std::path::Path,
    vars: &HashMap<String, String>,
) -> Result<Settings, ConfigError> {
    runtime(config_dir, vars).map(|loaded| loaded.settings)
}

fn repo_config() -> PathBuf {
    PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
}

fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
    let mut map: HashMap<String, String> = pairs
        .iter()
        .map(|(k, v)| (k.to_string(), v.to_string()))
        .collect();
    // The demo users file path is relative to the repository root.
    map.entry("TOKENGATE__USERS__FILE".into())
        .or_insert_with(|| {
            repo_config()
                .join("demo-users.htpasswd")
                .display()
                .to_string()
        });
    map
}

#[test]
fn embedded_defaults_load_as_documented() {
    let loaded = runtime(&repo_config(), &vars(&[])).expect("defaults load");
    assert_eq!(loaded.files.keys.signing().algorithm(), Algorithm::HS256);
    let settings = loaded.settings;
    assert_eq!(settings.server.host, "127.0.0.1");
    assert_eq!(settings.server.port, 8080);
    assert_eq!(settings.jwt.ttl, Duration::from_secs(600));
    assert_eq!(settings.jwt.leeway, Duration::ZERO);
    assert_eq!(settings.environment, Environment::Development);
}

#[test]
fn environment_variables_override_files() {
    let settings = load(
        &repo_config(),
        &vars(&[
            ("TOKENGATE__JWT__TTL", "30s"),
            ("TOKENGATE__SERVER__PORT", "9000"),
            ("TOKENGATE__JWT__SOURCES", "bearer,cookie"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.jwt.ttl, Duration::from_secs(30));
    assert_eq!(settings.server.port, 9000);
    assert_eq!(
        settings.jwt.sources,
        vec![TokenSource::Bearer, TokenSource::Cookie]
    );
}

#[test]
fn string_settings_from_the_environment_arrive_byte_for_byte() {
    let digits = "1234567890123456789012345678901234567890";
    let loaded = runtime(
        &repo_config(),
        &vars(&[
            ("TOKENGATE__JWT__SECRET", digits),
            ("TOKENGATE__JWT__ISSUER", "007"),
            ("TOKENGATE__JWT__AUDIENCE", "1e3"),
            ("TOKENGATE__SERVER__INSTANCE_ID", "0x10"),
            ("TOKENGATE__METRICS__ENABLED", "false"),
            ("TOKENGATE__SERVER__WORKERS", "3"),
        ]),
    )
    .unwrap();
    assert_eq!(loaded.instance_id.as_str(), "0x10");
    let settings = loaded.settings;
    let (secret, _) = keys::single_secret(&settings.jwt).unwrap();
    assert_eq!(secret.expose_secret(), digits);
    assert_eq!(settings.jwt.issuer, "007");
    assert_eq!(settings.jwt.audience, "1e3");
    assert!(!settings.metrics.enabled);
    assert_eq!(settings.server.workers, 3);
}

#[test]
fn a_syntax_error_names_file_line_and_column_but_never_the_line() {
    let dir = tempfile::tempdir().unwrap();
    for file in ["default.toml", "development.toml"] {
        std::fs::copy(repo_config().join(file), dir.path().join(file)).unwrap();
    }
    let local = dir.path().join("local.toml");
    std::fs::write(
        &local,
        "[jwt]\nsecret = \"unclosed-secret-0123456789abcdef-0123456789\n",
    )
    .unwrap();
    let error = load(dir.path(), &vars(&[])).unwrap_err();
    let printed = error.to_string();
    assert!(!printed.contains("unclosed-secret"), "{printed}");
    assert!(!printed.contains('\n'), "{printed}");
    assert!(error.key.ends_with("local.toml"), "{printed}");
    assert!(printed.contains("line 2, column"), "{printed}");
}

#[test]
fn a_value_of_the_wrong_type_is_named_by_key_but_never_printed() {
    let dir = tempfile::tempdir().unwrap();
    std::fs::write(
        dir.path().join("local.toml"),
        "[jwt]\nsecret = 987654321098765432\n",
    )
    .unwrap();
    let error = load(dir.path(), &vars(&[])).unwrap_err();
    assert_eq!(error.key, "jwt.secret", "{error}");
    assert!(!error.to_string().contains("98765"), "{error}");
}

#[test]
fn bad_duration_names_the_key() {
    let error = load(&repo_config(), &vars(&[("TOKENGATE__JWT__TTL", "soon")])).unwrap_err();
    assert_eq!(error.key, "jwt.ttl", "{error}");
}

#[test]
fn ttl_out_of_bounds_is_refused() {
    for ttl in ["0s", "2days"] {
        let error = load(&repo_config(), &vars(&[("TOKENGATE__JWT__TTL", ttl)])).unwrap_err();
        assert_eq!(error.key, "jwt.ttl", "{error}");
    }
}

#[test]
fn unknown_algorithm_is_refused() {
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__JWT__ALGORITHM", "none")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "jwt.algorithm");
}

#[test]
fn short_secret_is_refused() {
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__JWT__SECRET", "short")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "jwt.secret");
}

#[test]
fn production_refuses_the_development_secret() {
    let error = load(&repo_config(), &vars(&[("TOKENGATE_ENV", "production")])).unwrap_err();
    assert_eq!(error.key, "jwt.secret", "{error}");
}

#[test]
fn production_refuses_the_demo_users_file() {
    let error = load(
        &repo_config(),
        &vars(&[
            ("TOKENGATE_ENV", "production"),
            (
                "TOKENGATE__JWT__SECRET",
                "a-production-secret-of-at-least-32-bytes",
            ),
        ]),
    )
    .unwrap_err();
    assert_eq!(error.key, "users.file", "{error}");
}

fn production_vars<'a>(users: &'a str, extra: &[(&'a str, &'a str)]) -> HashMap<String, String> {
    let mut pairs = vec![
        ("TOKENGATE_ENV", "production"),
        (
            "TOKENGATE__JWT__SECRET",
            "a-production-secret-of-at-least-32-bytes",
        ),
        ("TOKENGATE__USERS__FILE", users),
    ];
    pairs.extend_from_slice(extra);
    vars(&pairs)
}

#[test]
fn production_refuses_empty_demo_or_world_writable_users_files_and_secrets() {
    use std::os::unix::fs::PermissionsExt;
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    let users_path = users.to_str().unwrap();
    let real = format!("alice:{}\n", crate::credentials::hash_password("x"));
    std::fs::write(&users, &real).unwrap();
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
    load(&repo_config(), &production_vars(users_path, &[])).expect("a sound file loads");

    let demo = std::fs::read_to_string(repo_config().join("demo-users.htpasswd")).unwrap();
    let without_marker: String = demo
        .lines()
        .filter(|line| !line.starts_with('#'))
        .map(|line| format!("{line}\n"))
        .collect();
    for contents in ["", "# only a comment\n", without_marker.as_str()] {
        std::fs::write(&users, contents).unwrap();
        let error = load(&repo_config(), &production_vars(users_path, &[])).unwrap_err();
        assert_eq!(error.key, "users.file", "{contents:?}: {error}");
    }

    std::fs::write(&users, &real).unwrap();
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o666)).unwrap();
    let error = load(&repo_config(), &production_vars(users_path, &[])).unwrap_err();
    assert_eq!(error.key, "users.file", "{error}");
    std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();

    let secret = dir.path().join("secret");
    std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
    std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o646)).unwrap();
    let extra = [("TOKENGATE__JWT__SECRET_FILE", secret.to_str().unwrap())];
    let error = load(&repo_config(), &production_vars(users_path, &extra)).unwrap_err();
    assert_eq!(error.key, "jwt.secret_file", "{error}");

    // Development accepts all of this.
    std::fs::write(&users, "").unwrap();
    load(
        &repo_config(),
        &vars(&[("TOKENGATE__USERS__FILE", users_path)]),
    )
    .unwrap();
}

#[test]
fn production_refuses_the_development_secret_with_spaces_around_it() {
    let padded = format!("{DEVELOPMENT_SECRET} ");
    let error = load(
        &repo_config(),
        &vars(&[
            ("TOKENGATE_ENV", "production"),
            ("TOKENGATE__JWT__SECRET", padded.as_str()),
        ]),
    )
    .unwrap_err();
    assert_eq!(error.key, "jwt.secret", "{error}");
}

#[test]
fn users_files_serve_would_refuse_are_refused_at_load() {
    let dir = tempfile::tempdir().unwrap();
    let users = dir.path().join("users");
    for line in [
        "alice:$apr1$abc$def",
        "alice:{SHA}abc=",
        "alice:plaintext",
        "alice:ab01FAX.bQRSU",
    ] {
        std::fs::write(&users, format!("{line}\n")).unwrap();
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__USERS__FILE", users.to_str().unwrap())]),
        )
        .unwrap_err();
        assert_eq!(error.key, "users.file", "{line}: {error}");
        assert!(error.message.contains("line 1"), "{error}");
    }
}

#[test]
fn missing_users_file_is_refused() {
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__USERS__FILE", "/nonexistent/users")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "users.file");
}

#[test]
fn switched_off_client_timeouts_are_refused() {
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__SERVER__CLIENT_REQUEST_TIMEOUT", "0s")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "server.client_request_timeout", "{error}");
}

#[test]
fn a_login_limit_without_burst_is_refused() {
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "0")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "limits.login_per_user_burst", "{error}");
}

#[test]
fn unknown_keys_are_refused() {
    let error = load(&repo_config(), &vars(&[("TOKENGATE__JWT__TTTL", "1s")])).unwrap_err();
    assert!(error.to_string().contains("tttl"), "{error}");
}

#[test]
fn secret_file_wins_and_loses_its_trailing_newline() {
    let dir = tempfile::tempdir().unwrap();
    let path = dir.path().join("secret");
    std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
    let settings = load(
        &repo_config(),
        &vars(&[("TOKENGATE__JWT__SECRET_FILE", path.to_str().unwrap())]),
    )
    .unwrap();
    let (secret, key) = keys::single_secret(&settings.jwt).unwrap();
    assert_eq!(secret.expose_secret(), "0123456789abcdef0123456789abcdef");
    assert_eq!(key, "jwt.secret_file");
}

#[test]
fn trusted_proxies_come_from_a_comma_separated_variable() {
    let loaded = runtime(
        &repo_config(),
        &vars(&[("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8")]),
    )
    .unwrap();
    let proxies = loaded.trusted_proxies;
    assert!(proxies.contains("10.9.8.7".parse().unwrap()));
    assert!(proxies.contains("127.0.0.1".parse().unwrap()));
}

#[test]
fn no_proxy_is_trusted_by_default() {
    let loaded = runtime(&repo_config(), &vars(&[])).unwrap();
    assert_eq!(loaded.trusted_proxies, TrustedProxies::default());
}

#[test]
fn a_bad_trusted_proxy_names_the_key() {
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__SERVER__TRUSTED_PROXIES", "10.0.0.0/33")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "server.trusted_proxies", "{error}");
}

#[test]
fn instance_id_defaults_to_the_hostname_and_can_be_set() {
    let loaded = runtime(&repo_config(), &vars(&[])).unwrap();
    assert_eq!(loaded.instance_id, InstanceId::from_hostname());
    let loaded = runtime(
        &repo_config(),
        &vars(&[("TOKENGATE__SERVER__INSTANCE_ID", "replica-b")]),
    )
    .unwrap();
    assert_eq!(loaded.instance_id.as_str(), "replica-b");
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__SERVER__INSTANCE_ID", "two words")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "server.instance_id", "{error}");
}

#[test]
fn sessions_default_to_the_memory_store_and_a_bad_store_names_the_key() {
    let settings = load(&repo_config(), &vars(&[])).unwrap();
    assert_eq!(settings.sessions.store, "memory");
    assert_eq!(settings.sessions.refresh_ttl, Duration::from_secs(86_400));
    assert_eq!(settings.sessions.max_age, Duration::from_secs(7 * 86_400));
    assert_eq!(settings.sessions.reuse_grace, Duration::from_secs(5));
    for (key, value, named) in [
        (
            "TOKENGATE__SESSIONS__STORE",
            "postgres://x",
            "sessions.store",
        ),
        (
            "TOKENGATE__SESSIONS__REUSE_GRACE",
            "2m",
            "sessions.reuse_grace",
        ),
        ("TOKENGATE__SESSIONS__MAX_AGE", "1h", "sessions.max_age"),
        (
            "TOKENGATE__SESSIONS__REFRESH_TTL",
            "0s",
            "sessions.refresh_ttl",
        ),
    ] {
        let error = load(&repo_config(), &vars(&[(key, value)])).unwrap_err();
        assert_eq!(error.key, named, "{error}");
    }
    let zero_grace = load(
        &repo_config(),
        &vars(&[("TOKENGATE__SESSIONS__REUSE_GRACE", "0s")]),
    );
    assert!(zero_grace.is_ok());
}

#[test]
fn the_store_password_is_masked() {
    let settings = load(
        &repo_config(),
        &vars(&[(
            "TOKENGATE__SESSIONS__STORE",
            "redis://app:hunter2@cache:6379/0",
        )]),
    )
    .unwrap();
    let json = serde_json::to_string(&settings).unwrap();
    assert!(!json.contains("hunter2"), "{json}");
    assert!(
        json.contains("redis://app:[REDACTED]@cache:6379/0"),
        "{json}"
    );
}

#[test]
fn log_format_and_metrics_listener_are_optional_and_checked() {
    let settings = load(&repo_config(), &vars(&[])).unwrap();
    assert_eq!(settings.log.format, LogFormat::Text);
    assert_eq!(settings.metrics.listen(), None);
    let settings = load(
        &repo_config(),
        &vars(&[
            ("TOKENGATE__LOG__FORMAT", "json"),
            ("TOKENGATE__METRICS__LISTEN", "127.0.0.1:9100"),
        ]),
    )
    .unwrap();
    assert_eq!(settings.log.format, LogFormat::Json);
    assert_eq!(settings.metrics.listen(), Some("127.0.0.1:9100"));
    let error = load(&repo_config(), &vars(&[("TOKENGATE__LOG__FORMAT", "xml")])).unwrap_err();
    assert_eq!(error.key, "log.format", "{error}");
    let error = load(
        &repo_config(),
        &vars(&[("TOKENGATE__METRICS__LISTEN", "no-port")]),
    )
    .unwrap_err();
    assert_eq!(error.key, "metrics.listen", "{error}");
}

#[test]
fn debug_output_masks_the_secret() {
    let settings = load(&repo_config(), &vars(&[])).unwrap();
    let printed = format!("{settings:?}");
    assert!(!printed.contains(DEVELOPMENT_SECRET));
    let json = serde_json::to_string(&settings).unwrap();
    assert!(!json.contains(DEVELOPMENT_SECRET));
}
