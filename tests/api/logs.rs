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
