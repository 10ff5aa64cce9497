use std::time::{Duration, Instant};

use reqwest::StatusCode;

use crate::helpers::{RunningBinary, spawn_app};

#[tokio::test]
async fn health_and_readiness_answer_ok_while_serving() {
    let app = spawn_app().await;
    assert_eq!(app.get("/healthz").await.status(), StatusCode::OK);
    assert_eq!(app.get("/readyz").await.status(), StatusCode::OK);
}

#[tokio::test]
async fn sigterm_turns_readiness_to_503_then_exits_cleanly() {
    let mut binary = RunningBinary::start(|command| {
        command.env("TOKENGATE__SERVER__DRAIN_DELAY", "2s");
    });
    let client = reqwest::Client::new();
    let ready = client.get(binary.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), StatusCode::OK);

    let pid = binary.child.id().to_string();
    std::process::Command::new("kill")
        .args(["-TERM", &pid])
        .status()
        .unwrap();

    // While draining, readiness fails but requests are still served.
    let deadline = Instant::now() + Duration::from_secs(2);
    let mut saw_draining = false;
    while Instant::now() < deadline && !saw_draining {
        let ready = client.get(binary.url("/readyz")).send().await.unwrap();
        saw_draining = ready.status() == StatusCode::SERVICE_UNAVAILABLE;
        if !saw_draining {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }
    assert!(saw_draining, "readyz never turned 503");
    let alive = client.get(binary.url("/healthz")).send().await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);

    let status = binary.child.wait().unwrap();
    assert!(status.success(), "{status:?}");
}

#[tokio::test]
async fn the_bare_benchmark_route_exists_only_when_enabled() {
    let default = spawn_app().await;
    assert_eq!(default.get("/bare").await.status(), StatusCode::NOT_FOUND);
    let bench = crate::helpers::spawn_app_with(&[("TOKENGATE__SERVER__BARE_ROUTE", "true")]).await;
    assert_eq!(bench.get("/bare").await.status(), StatusCode::OK);
}
