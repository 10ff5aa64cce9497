//! What tokengate's always-on middleware costs a request, piece by piece:
//! the whole frame (`request_frame`: limits, request id and its scope,
//! echoed headers, request count) around a static route, against the same
//! route with no middleware, and the pieces on their own. In-process, one
//! thread, no sockets: the HTTP work a real request also pays is left out,
//! so these are the frame's own costs.

use std::hint::black_box;
use std::time::Instant;

use actix_web::dev::{Service, ServiceResponse};
use actix_web::http::StatusCode;
use actix_web::test::{TestRequest, init_service};
use actix_web::{App, HttpResponse, web};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use tokengate::benching::{Metrics, RequestFrame, RequestId, check_request_limits};

const TOKEN_SIZED_HEADER: &str = "Bearer eyJhbGciOiJIUzI1NiIsInR5cCI6ImF0K2p3dCJ9.\
    eyJzdWIiOiJhbGljZSIsImV4cCI6MTc2NDYwMDAwMCwiaXNzIjoidG9rZW5nYXRlIn0.sig";

async fn static_json() -> HttpResponse {
    HttpResponse::Ok().json(serde_json::json!({"message": "valid jwt token"}))
}

fn answered<B>(response: ServiceResponse<B>) -> bool {
    black_box(response.status() == StatusCode::OK)
}

fn middleware(c: &mut Criterion) {
    let runtime = actix_web::rt::System::new();
    let metrics = web::Data::new(Metrics::new(["/bare"]));
    let route = || App::new().route("/bare", web::get().to(static_json));
    let none = runtime.block_on(init_service(route()));
    let frame = runtime.block_on(init_service(route().wrap(RequestFrame::new("bench", None))));
    let counted = runtime.block_on(init_service(
        route().wrap(RequestFrame::new("bench", Some(metrics.clone()))),
    ));
    let request = || {
        TestRequest::get()
            .uri("/bare")
            .insert_header(("Authorization", TOKEN_SIZED_HEADER))
            .insert_header(("User-Agent", "wrk"))
            .to_request()
    };

    let mut group = c.benchmark_group("middleware");
    // Many requests per `block_on`, so the runtime's own cost stays out; building
    // each request is inside the timing, the same for every variant.
    macro_rules! requests_through {
        ($name:literal, $app:expr) => {
            group.bench_function($name, |b| {
                b.iter_custom(|iterations| {
                    runtime.block_on(async {
                        let started = Instant::now();
                        for _ in 0..iterations {
                            answered($app.call(request()).await.unwrap());
                        }
                        started.elapsed()
                    })
                })
            });
        };
    }
    requests_through!("no middleware", none);
    requests_through!("request frame, metrics off", frame);
    requests_through!("request frame, metrics on", counted);
    group.bench_function("request limits check", |b| {
        b.iter_batched_ref(
            || {
                TestRequest::get()
                    .uri("/bare")
                    .insert_header(("Authorization", TOKEN_SIZED_HEADER))
                    .to_http_request()
            },
            |req| black_box(check_request_limits(req).is_ok()),
            BatchSize::SmallInput,
        )
    });
    group.bench_function("request id", |b| {
        b.iter(|| black_box(RequestId::generate()))
    });
    let bare = TestRequest::get().uri("/bare").to_http_request();
    group.bench_function("request count", |b| {
        b.iter(|| metrics.request_to(black_box(&bare), StatusCode::OK))
    });
    group.finish();
}

criterion_group!(benches, middleware);
criterion_main!(benches);
