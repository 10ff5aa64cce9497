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
