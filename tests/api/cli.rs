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
    for (user, stdin) in [("carol", "\n"), ("car:ol", "pw\n")] {
        let mut child = tokengate_command(&dir)
            .args(["hash-password", "--user", user])
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .unwrap();
        child
            .stdin
            .take()
            .unwrap()
            .write_all(stdin.as_bytes())
            .unwrap();
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
