//! Arbitrary bytes as the query string, the Authorization header and the
//! Cookie header of one request, through the request limits and the
//! `Authenticated` extractor. Nothing unsigned may authenticate; nothing may panic.
#![no_main]

use std::sync::LazyLock;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use actix_web::{FromRequest, ResponseError, web};
use jsonwebtoken::Algorithm;
use libfuzzer_sys::fuzz_target;
use secrecy::SecretString;
use tokengate::auth::{Authenticated, Claims, TokenSource, TokenSources, Verifier};
use tokengate::fuzzing::check_request_limits;

static VERIFIER: LazyLock<web::Data<Verifier>> = LazyLock::new(|| {
    web::Data::new(Verifier::new(
        Algorithm::HS256,
        &SecretString::from("fuzzing-secret-0123456789abcdef-0123"),
        "tokengate",
        "tokengate",
        Duration::ZERO,
        TokenSources::new(
            vec![TokenSource::Query, TokenSource::Bearer, TokenSource::Cookie],
            "tokengate_token",
        ),
    ))
});

/// Splits the input in three at the positions its first two bytes pick.
fn three_parts(data: &[u8]) -> (&[u8], &[u8], &[u8]) {
    let [a, b, rest @ ..] = data else {
        return (data, &[], &[]);
    };
    let first = (*a as usize * rest.len() / 256).min(rest.len());
    let (query, rest) = rest.split_at(first);
    let second = (*b as usize * rest.len() / 256).min(rest.len());
    let (authorization, cookie) = rest.split_at(second);
    (query, authorization, cookie)
}

fuzz_target!(|data: &[u8]| {
    let (query, authorization, cookie) = three_parts(data);
    let mut request = TestRequest::get().app_data(VERIFIER.clone());
    // Raw bytes as the query (as a client could send them), when URI-legal.
    let raw_query = String::from_utf8_lossy(query);
    let uri = format!("/access?{raw_query}");
    if uri.parse::<actix_web::http::Uri>().is_ok() {
        request = request.uri(&uri);
    } else {
        let encoded: String = form_urlencoded::byte_serialize(query).collect();
        request = request.uri(&format!("/access?token={encoded}"));
    }
    if let Ok(value) = HeaderValue::from_bytes(authorization) {
        request = request.insert_header(("Authorization", value));
    }
    if let Ok(value) = HeaderValue::from_bytes(cookie) {
        request = request.insert_header(("Cookie", value));
    }
    let req = request.to_http_request();

    let _ = check_request_limits(&req);
    let result = Authenticated::<Claims>::from_request(&req, &mut Payload::None).into_inner();
    match result {
        Ok(_) => panic!("unsigned input authenticated"),
        Err(error) => assert_eq!(error.status_code(), 401),
    }
});
