//! The extractor on realistic requests: find the token in each source,
//! verify it, deserialize the claims. This is the whole per-request cost of
//! authentication on `/access`.

use std::hint::black_box;
use std::time::Duration;

use actix_web::{FromRequest, test::TestRequest, web};
use criterion::{BatchSize, Criterion, criterion_group, criterion_main};
use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use tokengate::auth::TokenSource;
use tokengate::auth::{Authenticated, Claims, Issuer, TokenSources, Verifier};

/// A scenario: name, extra headers, request target.
type Case<'a> = (&'a str, Vec<(&'a str, &'a str)>, &'a str);

fn extractor(c: &mut Criterion) {
    let secret = SecretString::from("bench-secret-0123456789abcdef0123456789");
    let issuer = Issuer::new(
        Algorithm::HS256,
        &secret,
        "tokengate",
        "tokengate",
        Duration::from_secs(600),
    );
    let token = issuer.mint("alice").unwrap().token;
    let verifier = web::Data::new(Verifier::new(
        Algorithm::HS256,
        &secret,
        "tokengate",
        "tokengate",
        Duration::ZERO,
        TokenSources::new(
            vec![TokenSource::Query, TokenSource::Bearer, TokenSource::Cookie],
            "tokengate_token",
        ),
    ));

    let bearer = format!("Bearer {token}");
    let forged = format!("Bearer {token}x");
    let cookie = format!("theme=dark; tokengate_token={token}");
    let query = format!("/access?token={token}");
    let cases: [Case; 5] = [
        ("query", vec![], &query),
        ("bearer", vec![("Authorization", &bearer)], "/access"),
        ("cookie", vec![("Cookie", &cookie)], "/access"),
        (
            "invalid_signature",
            vec![("Authorization", &forged)],
            "/access",
        ),
        ("missing", vec![], "/access"),
    ];

    let mut group = c.benchmark_group("extractor");
    for (name, headers, uri) in cases {
        // A fresh request per iteration: actix caches parsed cookies on the
        // request, and a real request parses them once.
        let build = || {
            let mut request = TestRequest::get()
                .uri(uri)
                .insert_header(("User-Agent", "Mozilla/5.0 (X11; Linux x86_64) bench"))
                .app_data(verifier.clone());
            for header in &headers {
                request = request.insert_header(*header);
            }
            request.to_http_parts().0
        };
        group.bench_function(name, |b| {
            b.iter_batched(
                build,
                |req| black_box(Authenticated::<Claims>::extract(&req).into_inner().is_ok()),
                BatchSize::SmallInput,
            )
        });
    }
    group.finish();
}

criterion_group!(benches, extractor);
criterion_main!(benches);
