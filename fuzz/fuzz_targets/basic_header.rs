//! Arbitrary bytes as the Authorization and Accept headers of a login: the
//! Basic credentials extractor, the throttle's username key and the
//! content negotiation must never panic.
#![no_main]

use std::sync::LazyLock;

use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use libfuzzer_sys::fuzz_target;
use tokengate::auth::basic_credentials;
use tokengate::config::LimitsSettings;
use tokengate::fuzzing::{LoginThrottle, prefers_json};

static THROTTLE: LazyLock<LoginThrottle> = LazyLock::new(|| {
    LoginThrottle::new(&LimitsSettings {
        login_per_ip_per_minute: 60,
        login_per_ip_burst: 30,
        login_per_user_per_minute: 6,
        login_per_user_burst: 10,
        login_per_user_ceiling_per_minute: 120,
        login_per_user_ceiling_burst: 200,
    })
});

fuzz_target!(|data: &[u8]| {
    let split = data.iter().position(|&b| b == b'\n').unwrap_or(data.len());
    let (authorization, accept) = data.split_at(split);
    let mut request = TestRequest::get().uri("/login");
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        request = request.insert_header(("Authorization", value));
    }
    if let Ok(value) = HeaderValue::from_bytes(accept.get(1..).unwrap_or_default()) {
        request = request.insert_header(("Accept", value));
    }
    let req = request.to_http_request();

    let _ = prefers_json(&req);
    if let Some(credentials) = basic_credentials(&req) {
        let user = credentials.user_id();
        let _ = credentials.password();
        let _ = THROTTLE.check(None, user);
    }
});
