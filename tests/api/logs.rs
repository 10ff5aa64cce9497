use crate::helpers::{PASSWORD, RunningBinary, SECRET, USER};

#[tokio::test]
async fn tokens_credentials_and_secrets_never_reach_the_log() {
    let mut binary = RunningBinary::start(|command| {
        command.env("RUST_LOG", "debug");
    });
    let client = reqwest::Client::new();
    let login = client
        .get(binary.url("/login"))
        .basic_auth(USER, Some(PASSWORD))
        .header("Accept", "application/json")
        .send()
        .await
        .unwrap();
    let body: serde_json::Value = login.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let basic = client
        .get(binary.url("/login"))
        .basic_auth(USER, Some(PASSWORD))
        .build()
        .unwrap()
        .headers()["authorization"]
        .to_str()
        .unwrap()
        .to_owned();

    let requests = [
        client.get(binary.url(&format!("/access?token={token}"))),
        client.get(binary.url(&format!("/access?page=1&token={token}x"))),
        client.get(binary.url("/access")).bearer_auth(&token),
        client
            .get(binary.url("/access"))
            .header("Cookie", format!("tokengate_token={token}")),
        client
            .get(binary.url("/access"))
            .header("Referer", format!("http://x/access?token={token}")),
    ];
    for request in requests {
        request.send().await.unwrap();
    }
    binary.terminate();

    let log = binary.log();
    assert!(log.contains("GET /access?token=REDACTED"), "{log}");
    assert!(log.contains("page=1&token=REDACTED"), "{log}");
    for forbidden in [token.as_str(), basic.as_str(), PASSWORD, SECRET] {
        assert!(!log.contains(forbidden), "log leaks `{forbidden}`:\n{log}");
    }
    // A token's signature alone must not appear either.
    let signature = token.rsplit('.').next().unwrap();
    assert!(!log.contains(signature));
}

/// The log's JSON lines (`log.format = "json"`), parsed.
/// The first JSON log line of audit event `name`.
fn audit_event(lines: &[serde_json::Value], log: &str, name: &str) -> serde_json::Value {
    lines
        .iter()
        .find(|line| line["event"] == name)
        .unwrap_or_else(|| panic!("no `{name}` event in:\n{log}"))
        .clone()
}

fn json_lines(log: &str) -> Vec<serde_json::Value> {
    log.lines()
        .map(|line| {
            serde_json::from_str(line).unwrap_or_else(|_| panic!("not a JSON line: {line}"))
        })
        .collect()
}

#[tokio::test]
async fn security_events_are_audited_as_json_with_request_id_client_user_and_replica() {
    let mut binary = RunningBinary::start(|command| {
        command
            .env("RUST_LOG", "info,tokengate::audit=debug")
            .env("TOKENGATE__LOG__FORMAT", "json")
            .env("TOKENGATE__SERVER__INSTANCE_ID", "replica-audit")
            .env("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1");
    });
    let client = reqwest::Client::new();
    let login = |password: &str, request_id: &str| {
        client
            .get(binary.url("/login"))
            .basic_auth(USER, Some(password))
            .header("Accept", "application/json")
            .header("X-Forwarded-For", "203.0.113.7")
            .header("X-Request-Id", request_id)
            .send()
    };
    let good = login(PASSWORD, "probe-login-ok").await.unwrap();
    assert_eq!(good.headers()["x-request-id"], "probe-login-ok");
    let body: serde_json::Value = good.json().await.unwrap();
    let token = body["access_token"].as_str().unwrap().to_owned();
    let bad = login("wrong password", "probe-login-bad").await.unwrap();
    assert_eq!(bad.status(), 401);
    let refused = client
        .get(binary.url("/access"))
        .bearer_auth(format!("{token}x"))
        .header("X-Request-Id", "probe-refused")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.headers()["x-request-id"], "probe-refused");
    binary.hangup();
    binary.wait_for_log("config_reloaded", 1);
    binary.terminate();

    let log = binary.log();
    let lines = json_lines(&log);
    let event = |name: &str| audit_event(&lines, &log, name);
    let ok = event("login_succeeded");
    assert_eq!(ok["target"], "tokengate::audit");
    assert_eq!(ok["request_id"], "probe-login-ok");
    assert_eq!(ok["client"], "203.0.113.7");
    assert_eq!(ok["user"], USER);
    assert_eq!(ok["replica"], "replica-audit");
    let failed = event("login_failed");
    assert_eq!(failed["reason"], "invalid_credentials");
    assert_eq!(failed["request_id"], "probe-login-bad");
    assert_eq!(failed["user"], USER);
    let refusal = event("token_refused");
    assert_eq!(refusal["level"], "DEBUG");
    assert_eq!(refusal["reason"], "invalid_signature");
    assert_eq!(refusal["request_id"], "probe-refused");
    let reloaded = event("config_reloaded");
    assert_eq!(reloaded["signing_kid"], "default");
    assert_eq!(reloaded["replica"], "replica-audit");

    // Every line of a request carries its id: the access log too.
    let access: Vec<_> = lines
        .iter()
        .filter(|line| line["target"] == "tokengate::access")
        .collect();
    assert_eq!(access.len(), 3, "{log}");
    let expected = [
        ("probe-login-ok", "203.0.113.7"),
        ("probe-login-bad", "203.0.113.7"),
        // Sent without X-Forwarded-For: the trusted proxy itself is the client.
        ("probe-refused", "127.0.0.1"),
    ];
    for (line, (id, client)) in access.iter().zip(expected) {
        assert_eq!(line["request_id"], id, "{line}");
        assert_eq!(line["client"], client, "{line}");
    }
    for forbidden in [token.as_str(), PASSWORD, "wrong password", SECRET] {
        assert!(!log.contains(forbidden), "log leaks `{forbidden}`:\n{log}");
    }
}

#[tokio::test]
async fn request_ids_are_generated_unless_a_trusted_proxy_sent_one() {
    let mut binary = RunningBinary::start(|_| {});
    let client = reqwest::Client::new();
    let response = client
        .get(binary.url("/healthz"))
        .header("X-Request-Id", "chosen-by-the-client")
        .send()
        .await
        .unwrap();
    let id = response.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    assert_ne!(id, "chosen-by-the-client");
    assert_eq!(id.len(), 32, "{id}");
    let other = client
        .get(binary.url("/no-such-route"))
        .send()
        .await
        .unwrap();
    assert_ne!(other.headers()["x-request-id"].to_str().unwrap(), id);
    let failed = client
        .get(binary.url("/login"))
        .basic_auth("mallory", Some("guess"))
        .send()
        .await
        .unwrap();
    let failed_id = failed.headers()["x-request-id"]
        .to_str()
        .unwrap()
        .to_owned();
    binary.terminate();

    // Text format: the access line and the audit line both end with the id.
    let log = binary.log();
    let with_id: Vec<&str> = log
        .lines()
        .filter(|line| line.ends_with(&format!("request_id={failed_id}")))
        .collect();
    assert_eq!(with_id.len(), 2, "{log}");
    assert!(
        with_id.iter().any(|line| line
            .contains("tokengate::audit] login failed event=login_failed")
            && line.contains("user=mallory reason=invalid_credentials")),
        "{log}"
    );
    assert!(
        with_id
            .iter()
            .any(|line| line.contains("\"GET /login HTTP/1.1\" 401")),
        "{log}"
    );
}

/// Sends raw bytes to the binary and reads until it closes or answers.
fn raw_request(binary: &RunningBinary, request: &[u8]) {
    use std::io::{Read, Write};
    let address = binary.address.trim_start_matches("http://");
    let mut stream = std::net::TcpStream::connect(address).unwrap();
    stream
        .set_read_timeout(Some(std::time::Duration::from_secs(5)))
        .unwrap();
    let _ = stream.write_all(request);
    let mut answer = [0u8; 1024];
    let _ = stream.read(&mut answer);
}

#[tokio::test]
async fn malformed_requests_do_not_fill_the_error_log() {
    let mut binary = RunningBinary::start(|_| {});
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET /access HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET / HTTP/9.9\r\n\r\n",
    ] {
        raw_request(&binary, request);
    }
    // A request after the bad ones: once it is logged, so are they.
    reqwest::get(binary.url("/healthz")).await.unwrap();
    binary.terminate();
    let log = binary.log();
    assert!(log.contains("GET /healthz"), "{log}");
    assert!(
        !log.contains("ERROR"),
        "a client's mistake logged as an error:\n{log}"
    );
}

#[tokio::test]
async fn quotes_and_control_bytes_from_the_client_are_escaped_in_the_access_log() {
    let mut binary = RunningBinary::start(|_| {});
    raw_request(
        &binary,
        b"GET /he\"al\\thz HTTP/1.1\r\nHost: x\r\nUser-Agent: evil\" 200 \"forged\tx\r\n\r\n",
    );
    reqwest::get(binary.url("/healthz")).await.unwrap();
    binary.terminate();
    let log = binary.log();
    let line = log
        .lines()
        .find(|line| line.contains("evil"))
        .unwrap_or_else(|| panic!("no access-log line:\n{log}"));
    assert!(line.contains(r#"/he\"al\\thz"#), "{line}");
    assert!(line.contains(r#""evil\" 200 \"forged\x09x""#), "{line}");
}

#[tokio::test]
async fn a_reload_that_changes_the_signing_key_is_audited() {
    let config = tempfile::tempdir().unwrap();
    let write = |signing: &str| {
        let mut entries = Vec::new();
        for kid in ["hmac-a", "hmac-b"] {
            let secret = config.path().join(format!("{kid}.secret"));
            std::fs::write(&secret, format!("{kid}-secret-0123456789abcdef0123456789")).unwrap();
            entries.push(crate::keys::key_entry(
                kid,
                "HS256",
                &[("secret_file", &secret)],
            ));
        }
        crate::keys::write_keys_config(config.path(), signing, "", &entries);
    };
    write("hmac-a");
    let mut binary = RunningBinary::start(|command| {
        command.env("TOKENGATE_CONFIG_DIR", config.path());
    });
    write("hmac-b");
    binary.hangup();
    binary.wait_for_log("event=signing_key_changed", 1);
    binary.terminate();
    let log = binary.log();
    let line = log
        .lines()
        .find(|line| line.contains("event=signing_key_changed"))
        .unwrap();
    assert!(line.contains("from `hmac-a` to `hmac-b`"), "{line}");
    assert!(line.contains("signing_kid=hmac-b"), "{line}");
    assert!(!log.contains("secret-0123456789"), "{log}");
}

#[tokio::test]
async fn logouts_revocations_and_operator_revocations_are_audited_with_the_user_and_never_a_token()
{
    let groups = tempfile::tempdir().unwrap();
    let groups_file = groups.path().join("groups");
    std::fs::write(&groups_file, format!("admins: {USER}\n")).unwrap();
    let mut binary = RunningBinary::start(|command| {
        command
            .env("TOKENGATE__USERS__GROUPS_FILE", &groups_file)
            .env("RUST_LOG", "info")
            .env("TOKENGATE__LOG__FORMAT", "json")
            // Request ids are taken from trusted proxies only.
            .env("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1");
    });
    let client = reqwest::Client::new();
    let login = || async {
        let body: serde_json::Value = client
            .get(binary.url("/login"))
            .basic_auth(USER, Some(PASSWORD))
            .header("Accept", "application/json")
            .send()
            .await
            .unwrap()
            .json()
            .await
            .unwrap();
        let token = |name: &str| body[name].as_str().unwrap().to_owned();
        (token("access_token"), token("refresh_token"))
    };
    let mut secrets = Vec::new();
    let (access, refresh) = login().await;
    let logout = client
        .post(binary.url("/logout"))
        .bearer_auth(&access)
        .header("X-Request-Id", "probe-logout")
        .send()
        .await
        .unwrap();
    assert_eq!(logout.status(), 204);
    secrets.extend([access, refresh]);
    let (access, refresh) = login().await;
    let revoke = client
        .post(binary.url("/revoke"))
        .form(&[("token", refresh.as_str())])
        .header("X-Request-Id", "probe-revoke")
        .send()
        .await
        .unwrap();
    assert_eq!(revoke.status(), 200);
    secrets.extend([access, refresh]);
    // An operator (alice is in `admins`) ends every session of a user.
    let (access, refresh) = login().await;
    let operator = client
        .post(binary.url("/admin/sessions/revoke"))
        .bearer_auth(&access)
        .form(&[("user", "bob")])
        .send()
        .await
        .unwrap();
    assert_eq!(operator.status(), 204);
    secrets.extend([access, refresh]);
    binary.terminate();

    let log = binary.log();
    let lines = json_lines(&log);
    let event = |name: &str| audit_event(&lines, &log, name);
    let logout = event("logout");
    assert_eq!(logout["target"], "tokengate::audit");
    assert_eq!(logout["user"], USER);
    assert_eq!(logout["scope"], "session");
    assert_eq!(logout["request_id"], "probe-logout");
    let revoked = event("revoked");
    assert_eq!(revoked["user"], USER);
    assert_eq!(revoked["scope"], "token");
    assert_eq!(revoked["request_id"], "probe-revoke");
    let operator = event("sessions_revoked_by_operator");
    assert_eq!(operator["user"], "bob");
    assert_eq!(operator["operator"], USER);
    for secret in &secrets {
        assert!(!log.contains(secret.as_str()), "log leaks a token:\n{log}");
    }
}

#[tokio::test]
async fn a_throttled_login_and_a_refused_reload_are_audited() {
    let dir = tempfile::tempdir().unwrap();
    let users = crate::helpers::write_users_file(dir.path());
    let config = dir.path().join("config");
    std::fs::create_dir(&config).unwrap();
    for file in ["default.toml", "development.toml"] {
        std::fs::copy(
            crate::helpers::repo_config_dir().join(file),
            config.join(file),
        )
        .unwrap();
    }
    let mut binary = RunningBinary::start(|command| {
        command
            .arg("--config-dir")
            .arg(&config)
            .env("TOKENGATE__LOG__FORMAT", "json")
            .env("TOKENGATE__USERS__FILE", &users)
            .env("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "1");
    });
    let login = || {
        reqwest::Client::new()
            .get(binary.url("/login"))
            .basic_auth(USER, Some(PASSWORD))
            .header("Accept", "application/json")
            .send()
    };
    assert_eq!(login().await.unwrap().status(), 200);
    assert_eq!(login().await.unwrap().status(), 429);
    // A users file serve cannot use: the reload is refused, the old one kept.
    std::fs::write(&users, "alice:$apr1$abc$def\n").unwrap();
    binary.hangup();
    binary.wait_for_log("config_reload_failed", 1);
    // A config file broken mid-secret: the reload names the file, never the line.
    let secret = "unclosed-reload-secret-0123456789abcdef";
    std::fs::write(
        config.join("local.toml"),
        format!("[jwt]\nsecret = \"{secret}\n"),
    )
    .unwrap();
    binary.hangup();
    binary.wait_for_log("config_reload_failed", 2);
    binary.terminate();

    let log = binary.log();
    assert!(!log.contains("unclosed-reload"), "{log}");
    assert!(log.contains("local.toml"), "{log}");
    let lines = json_lines(&log);
    let event = |name: &str| audit_event(&lines, &log, name);
    let throttled = event("login_throttled");
    assert_eq!(throttled["target"], "tokengate::audit");
    assert_eq!(throttled["user"], USER);
    assert_eq!(throttled["client"], "127.0.0.1");
    let refused = event("config_reload_failed");
    assert_eq!(refused["level"], "ERROR");
    assert_eq!(refused["key"], "users.file", "{refused}");
    assert!(!log.contains("$apr1$abc$def"), "{log}");
}
