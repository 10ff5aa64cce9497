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
async fn the_bare_benchmark_route_is_off_by_default() {
    let default = spawn_app().await;
    assert_eq!(default.get("/bare").await.status(), StatusCode::NOT_FOUND);
}

#[cfg(feature = "bench-routes")]
#[tokio::test]
async fn a_bench_build_serves_the_bare_route_when_asked() {
    let bench = crate::helpers::spawn_app_with(&[("TOKENGATE__SERVER__BARE_ROUTE", "true")]).await;
    assert_eq!(bench.get("/bare").await.status(), StatusCode::OK);
}

#[cfg(not(feature = "bench-routes"))]
#[test]
fn the_shipped_build_refuses_to_start_when_asked_for_the_bare_route_naming_the_key() {
    let dir = tempfile::tempdir().unwrap();
    for command in ["serve", "check-config"] {
        let output = crate::helpers::tokengate_command(&dir)
            .env("TOKENGATE__SERVER__BARE_ROUTE", "true")
            .arg(command)
            .output()
            .unwrap();
        assert_eq!(output.status.code(), Some(78), "{command}: {output:?}");
        let stderr = String::from_utf8_lossy(&output.stderr);
        assert!(stderr.contains("server.bare_route"), "{command}: {stderr}");
        assert!(stderr.contains("bench-routes"), "{command}: {stderr}");
    }
}

#[tokio::test]
async fn head_requests_to_health_and_readiness_answer_200_without_a_body() {
    let app = spawn_app().await;
    for path in ["/healthz", "/readyz"] {
        let response = app.client.head(app.url(path)).send().await.unwrap();
        assert_eq!(response.status(), StatusCode::OK, "{path}");
        assert!(response.bytes().await.unwrap().is_empty(), "{path}");
    }
}

/// A SIGHUP that arrives before the reload handler is installed must not
/// terminate the process. The signal is made to arrive first by blocking it
/// in the child before exec, so it waits, pending, for the binary's start.
#[tokio::test]
async fn a_sighup_during_start_up_neither_kills_nor_disables_reload() {
    use std::os::unix::process::CommandExt;
    let binary = RunningBinary::start(|command| {
        // SAFETY: only async-signal-safe calls between fork and exec.
        unsafe {
            command.pre_exec(|| {
                let mut set: libc::sigset_t = std::mem::zeroed();
                libc::sigemptyset(&mut set);
                libc::sigaddset(&mut set, libc::SIGHUP);
                libc::pthread_sigmask(libc::SIG_BLOCK, &set, std::ptr::null_mut());
                libc::raise(libc::SIGHUP);
                Ok(())
            });
        }
    });
    // Serving: the pending SIGHUP did not end it. A later one reloads.
    let alive = reqwest::get(binary.url("/healthz")).await.unwrap();
    assert_eq!(alive.status(), StatusCode::OK);
    binary.hangup();
    let deadline = Instant::now() + Duration::from_secs(20);
    while !binary.log().contains("configuration reloaded") {
        assert!(
            Instant::now() < deadline,
            "SIGHUP no longer reloads:\n{}",
            binary.log()
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}
