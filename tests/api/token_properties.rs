//! Property tests over the token path: the extractor with the real Verifier
//! and token sources, fed through actix's request type. `PROPTEST_CASES`
//! raises the number of cases (256 by default).

use std::sync::LazyLock;
use std::time::Duration;

use actix_web::dev::Payload;
use actix_web::http::header::HeaderValue;
use actix_web::test::TestRequest;
use actix_web::{FromRequest, HttpRequest, ResponseError, web};
use base64::Engine;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use jsonwebtoken::Algorithm;
use proptest::prelude::*;
use secrecy::SecretString;
use tokengate::auth::TokenSource;
use tokengate::auth::{Authenticated, Claims, Issuer, TokenError, TokenSources, Verifier};

const SECRET: &str = "property-test-secret-0123456789abcdef";
const COOKIE: &str = "tokengate_token";

static VERIFIER: LazyLock<web::Data<Verifier>> = LazyLock::new(|| {
    web::Data::new(Verifier::new(
        Algorithm::HS256,
        &SecretString::from(SECRET),
        "tokengate",
        "tokengate",
        Duration::ZERO,
        TokenSources::new(
            vec![TokenSource::Query, TokenSource::Bearer, TokenSource::Cookie],
            COOKIE,
        ),
    ))
});

fn issuer(ttl: Duration) -> Issuer {
    Issuer::new(
        Algorithm::HS256,
        &SecretString::from(SECRET),
        "tokengate",
        "tokengate",
        ttl,
    )
}

#[derive(Debug, Clone, Copy)]
enum Source {
    Query,
    Bearer,
    Cookie,
}

fn any_source() -> impl Strategy<Value = Source> {
    prop_oneof![
        Just(Source::Query),
        Just(Source::Bearer),
        Just(Source::Cookie)
    ]
}

/// A request carrying `token` in `source`, or None where HTTP cannot carry
/// those bytes in that place (a header value with a newline, say).
fn request_with(source: Source, token: &[u8]) -> Option<HttpRequest> {
    let request = TestRequest::get().app_data(VERIFIER.clone());
    let request = match source {
        Source::Query => {
            let encoded: String = form_urlencoded::byte_serialize(token).collect();
            request.uri(&format!("/access?token={encoded}"))
        }
        Source::Bearer => {
            let value = HeaderValue::from_bytes(&[b"Bearer ", token].concat()).ok()?;
            request.insert_header(("Authorization", value))
        }
        Source::Cookie => {
            let value = HeaderValue::from_bytes(&[COOKIE.as_bytes(), b"=", token].concat()).ok()?;
            request.insert_header(("Cookie", value))
        }
    };
    Some(request.to_http_request())
}

fn extract(req: &HttpRequest) -> Result<Claims, TokenError> {
    Authenticated::<Claims>::from_request(req, &mut Payload::None)
        .into_inner()
        .map(Authenticated::into_inner)
}

/// Three base64url segments: what a parser gets past the first split.
fn jwt_shaped() -> impl Strategy<Value = Vec<u8>> {
    let json_like = prop_oneof![
        any::<Vec<u8>>(),
        "\\{\"(alg|typ|sub|exp|nbf|iss|aud|kid|crit|jku)\":[^}]{0,40}\\}"
            .prop_map(String::into_bytes),
        Just(br#"{"alg":"none","typ":"at+jwt"}"#.to_vec()),
        Just(br#"{"alg":"HS256","typ":"at+jwt"}"#.to_vec()),
    ];
    (json_like.clone(), json_like, any::<Vec<u8>>()).prop_map(|(header, claims, signature)| {
        format!(
            "{}.{}.{}",
            URL_SAFE_NO_PAD.encode(header),
            URL_SAFE_NO_PAD.encode(claims),
            URL_SAFE_NO_PAD.encode(signature)
        )
        .into_bytes()
    })
}

proptest! {
    #[test]
    fn any_bytes_in_any_source_are_refused_with_a_401(
        token in prop_oneof![
            proptest::collection::vec(any::<u8>(), 0..6000),
            jwt_shaped(),
        ],
        source in any_source(),
    ) {
        let Some(req) = request_with(source, &token) else {
            return Ok(());
        };
        let error = extract(&req).expect_err("unsigned bytes must never authenticate");
        prop_assert_eq!(error.status_code(), actix_web::http::StatusCode::UNAUTHORIZED);
        prop_assert!(error.error_response().headers().contains_key("www-authenticate"));
    }

    #[test]
    fn minted_tokens_always_verify(
        // Any name the user-name syntax allows (auth::check_username).
        subject in r"[!#-+\--9;-\[\]-~]{1,128}",
        ttl_seconds in 1u64..=86_400,
        source in any_source(),
    ) {
        let minted = issuer(Duration::from_secs(ttl_seconds)).mint(&subject).unwrap();
        let req = request_with(source, minted.token.as_bytes()).expect("tokens are header-safe");
        let claims = extract(&req).expect("a freshly minted token verifies");
        prop_assert_eq!(claims.sub, subject);
    }

    #[test]
    fn any_single_byte_change_to_a_minted_token_is_refused(
        subject in "[a-z]{1,12}",
        position in any::<prop::sample::Index>(),
        replacement in any::<u8>(),
        source in any_source(),
    ) {
        let token = issuer(Duration::from_secs(600)).mint(&subject).unwrap().token.into_bytes();
        let index = position.index(token.len());
        prop_assume!(token[index] != replacement);
        let mut changed = token;
        changed[index] = replacement;
        let Some(req) = request_with(source, &changed) else {
            return Ok(());
        };
        prop_assert!(extract(&req).is_err(), "changed byte {} accepted", index);
    }
}
