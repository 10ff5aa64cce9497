//! What a hostile client can send at the HTTP layer, and the clean 4xx it gets.

use std::time::{Duration, Instant};

use reqwest::StatusCode;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

use crate::helpers::{TestApp, assert_token_rejected, spawn_app, spawn_app_with};

/// How long a test waits for the server before calling it a hang.
const DEADLINE: Duration = Duration::from_secs(30);

fn host_port(app: &TestApp) -> String {
    app.address.trim_start_matches("http://").to_owned()
}

/// Writes a raw request (ignoring a server that stops reading) and returns
/// whatever the server answered before closing.
async fn raw_exchange(app: &TestApp, request: &[u8]) -> String {
    let mut stream = TcpStream::connect(host_port(app)).await.unwrap();
    let _ = stream.write_all(request).await;
    let mut answer = Vec::new();
    let read_head = async {
        let mut buffer = [0u8; 4096];
        // Until the response head is complete or the server closes.
        while !answer.windows(4).any(|w| w == b"\r\n\r\n") {
            match stream.read(&mut buffer).await {
                Ok(0) | Err(_) => break,
                Ok(n) => answer.extend_from_slice(&buffer[..n]),
            }
        }
    };
    tokio::time::timeout(DEADLINE, read_head)
        .await
        .expect("the server answers");
    String::from_utf8_lossy(&answer).into_owned()
}

fn status_line(answer: &str) -> &str {
    answer.lines().next().unwrap_or_default()
}

#[tokio::test]
async fn a_slow_sender_is_cut_off() {
    let app = spawn_app_with(&[("TOKENGATE__SERVER__CLIENT_REQUEST_TIMEOUT", "1s")]).await;
    let mut stream = TcpStream::connect(host_port(&app)).await.unwrap();
    stream
        .write_all(b"GET /healthz HTTP/1.1\r\nHost: x\r\n")
        .await
        .unwrap();

    // Trickle one header byte at a time, never finishing the request head,
    // until the server gives up on us (or the deadline says it never will).
    let started = Instant::now();
    let mut answer = Vec::new();
    let cut_off = loop {
        assert!(
            started.elapsed() < DEADLINE,
            "a slow sender was never cut off"
        );
        if stream.write_all(b"x").await.is_err() {
            break true;
        }
        let mut buffer = [0u8; 1024];
        match tokio::time::timeout(Duration::from_millis(200), stream.read(&mut buffer)).await {
            Ok(Ok(0)) | Ok(Err(_)) => break true,
            Ok(Ok(n)) => answer.extend_from_slice(&buffer[..n]),
            Err(_) => {} // nothing yet: keep trickling
        }
    };

    assert!(cut_off);
    let answer = String::from_utf8_lossy(&answer);
    if !answer.is_empty() {
        assert!(answer.starts_with("HTTP/1.1 408"), "{answer}");
    }
}

#[tokio::test]
async fn an_oversized_header_gets_a_clean_431() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/healthz"))
        .header("X-Filler", "a".repeat(20 * 1024))
        .send()
        .await
        .unwrap();

    assert_eq!(
        response.status(),
        StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE
    );
    let body: serde_json::Value = response.json().await.unwrap();
    assert_eq!(body["error"], "headers_too_large");
}

#[tokio::test]
async fn a_request_head_beyond_the_parser_buffer_gets_431() {
    let app = spawn_app().await;
    let request = format!(
        "GET /access HTTP/1.1\r\nHost: x\r\nX-Filler: {}\r\n\r\n",
        "a".repeat(200 * 1024)
    );

    let answer = raw_exchange(&app, request.as_bytes()).await;

    assert!(status_line(&answer).starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn too_many_headers_get_431() {
    let app = spawn_app().await;
    let mut request = String::from("GET /healthz HTTP/1.1\r\nHost: x\r\n");
    for n in 0..200 {
        request.push_str(&format!("X-H{n}: v\r\n"));
    }
    request.push_str("\r\n");

    let answer = raw_exchange(&app, request.as_bytes()).await;

    assert!(status_line(&answer).starts_with("HTTP/1.1 431"), "{answer}");
}

#[tokio::test]
async fn a_one_megabyte_token_is_refused_in_every_source() {
    let app = spawn_app().await;
    let token = "a".repeat(1024 * 1024);
    let requests = [
        format!("GET /access HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer {token}\r\n\r\n"),
        format!("GET /access?token={token} HTTP/1.1\r\nHost: x\r\n\r\n"),
        format!("GET /access HTTP/1.1\r\nHost: x\r\nCookie: tokengate_token={token}\r\n\r\n"),
    ];

    for request in requests {
        let answer = raw_exchange(&app, request.as_bytes()).await;
        assert!(status_line(&answer).starts_with("HTTP/1.1 431"), "{answer}");
    }
}

#[tokio::test]
async fn an_eight_kilobyte_token_is_refused_without_decoding() {
    let app = spawn_app().await;
    // Valid base64url segments, so only the length cap can refuse it.
    let token = format!(
        "{}.{}.{}",
        "e".repeat(3000),
        "e".repeat(3000),
        "e".repeat(2192)
    );

    let by_bearer = app.access_with_bearer(&token).await;
    let by_cookie = app.access_with_cookie(&token).await;
    let by_query = app.get(&format!("/access?token={token}")).await;

    assert_token_rejected(by_bearer, "token_invalid").await;
    assert_token_rejected(by_cookie, "token_invalid").await;
    // The private link's query is capped below that, as the request target.
    assert_eq!(by_query.status(), StatusCode::URI_TOO_LONG);
    // The rest of the request was not read: the connection is not reused.
    assert_eq!(by_query.headers()["connection"], "close");
}

#[tokio::test]
async fn a_browser_following_an_overlong_link_gets_a_414_page() {
    let app = spawn_app().await;
    let link = app.url(&format!("/access?token={}", "e".repeat(9000)));

    let response = app
        .client
        .get(link)
        .header("Accept", "text/html,application/xhtml+xml,*/*;q=0.8")
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::URI_TOO_LONG);
    let headers = response.headers().clone();
    assert!(
        headers["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/html"),
        "{headers:?}"
    );
    assert_eq!(headers["connection"], "close");
    assert!(headers.contains_key("content-security-policy"));
    let page = response.text().await.unwrap();
    assert!(page.contains("The request was refused"), "{page}");
    assert!(!page.contains("eeee"), "the request is not echoed");
}

#[tokio::test]
async fn a_body_on_a_get_is_refused_with_413() {
    let app = spawn_app().await;

    let response = app
        .client
        .get(app.url("/login"))
        .body(vec![b'a'; 64 * 1024])
        .send()
        .await
        .unwrap();

    assert_eq!(response.status(), StatusCode::PAYLOAD_TOO_LARGE);
}

#[tokio::test]
async fn malformed_requests_get_400_and_the_server_keeps_serving() {
    let app = spawn_app().await;
    for request in [
        &b"GARBAGE\r\n\r\n"[..],
        b"GET / HTTP/9.9\r\n\r\n",
        b"GET /access HTTP/1.1\r\nHost: x\r\nContent-Length: nope\r\n\r\n",
        b"GET /access HTTP/1.1\r\nBad Header Name: v\r\n\r\n",
        b"\x00\x01\x02\xff\r\n\r\n",
    ] {
        let answer = raw_exchange(&app, request).await;
        assert!(
            status_line(&answer).starts_with("HTTP/1.1 400"),
            "{request:?} -> {answer}"
        );
    }

    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn non_utf8_and_control_bytes_in_tokens_are_401() {
    let app = spawn_app().await;
    let requests: [&[u8]; 4] = [
        b"GET /access HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer \xff\xfe.\x80.\xc0\r\n\r\n",
        b"GET /access?token=%FF%FE.%00.%C0 HTTP/1.1\r\nHost: x\r\n\r\n",
        b"GET /access HTTP/1.1\r\nHost: x\r\nCookie: tokengate_token=\xff\x01\r\n\r\n",
        b"GET /access HTTP/1.1\r\nHost: x\r\nAuthorization: Bearer\r\n\r\n",
    ];
    for request in requests {
        let answer = raw_exchange(&app, request).await;
        let status = status_line(&answer);
        assert!(
            status.starts_with("HTTP/1.1 401") || status.starts_with("HTTP/1.1 400"),
            "{} -> {answer}",
            String::from_utf8_lossy(request)
        );
    }

    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
}
