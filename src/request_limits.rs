//! Limits on what a request may carry, checked (by `request_frame`) before
//! any route runs.
//!
//! actix-http already refuses a request head over 128 KiB or with more than
//! 96 headers (431) and bounds how long a client may take to send it
//! (`server.client_request_timeout`, 408). These tighter limits fit what
//! tokengate's endpoints actually take: a token of at most 4 KiB, no body.

use actix_web::http::{StatusCode, header};
use actix_web::{HttpRequest, HttpResponse, ResponseError};

use crate::http::ErrorBody;

/// Longest request target (path and query): a private link is ~4.2 KiB.
pub const MAX_TARGET_BYTES: usize = 8 * 1024;
/// Most header bytes (names and values) in one request.
pub const MAX_HEADER_BYTES: usize = 16 * 1024;
/// Largest body a request may declare; every endpoint is a GET.
pub const MAX_BODY_BYTES: u64 = 1024;

/// A request refused for its size, before any route saw it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, thiserror::Error)]
pub enum RequestRejected {
    #[error("the request target is too long")]
    TargetTooLong,
    #[error("the request headers are too large")]
    HeadersTooLarge,
    #[error("the request body is too large")]
    BodyTooLarge,
}

impl RequestRejected {
    pub fn code(self) -> &'static str {
        match self {
            RequestRejected::TargetTooLong => "uri_too_long",
            RequestRejected::HeadersTooLarge => "headers_too_large",
            RequestRejected::BodyTooLarge => "body_too_large",
        }
    }
}

impl ResponseError for RequestRejected {
    fn status_code(&self) -> StatusCode {
        match self {
            RequestRejected::TargetTooLong => StatusCode::URI_TOO_LONG,
            RequestRejected::HeadersTooLarge => StatusCode::REQUEST_HEADER_FIELDS_TOO_LARGE,
            RequestRejected::BodyTooLarge => StatusCode::PAYLOAD_TOO_LARGE,
        }
    }

    fn error_response(&self) -> HttpResponse {
        HttpResponse::build(self.status_code())
            // The rest of the request is not read: do not reuse the connection.
            // (A `Connection` header alone is dropped by actix-http's encoder.)
            .force_close()
            .insert_header((header::CACHE_CONTROL, "no-store"))
            .json(ErrorBody::new(self.code(), self.to_string()))
    }
}

/// Checks a request against the limits above.
pub fn check(req: &HttpRequest) -> Result<(), RequestRejected> {
    let target = req.uri().path_and_query().map_or(0, |pq| pq.as_str().len());
    if target > MAX_TARGET_BYTES {
        return Err(RequestRejected::TargetTooLong);
    }
    let header_bytes: usize = req
        .headers()
        .iter()
        .map(|(name, value)| name.as_str().len() + value.len())
        .sum();
    if header_bytes > MAX_HEADER_BYTES {
        return Err(RequestRejected::HeadersTooLarge);
    }
    let headers = req.headers();
    if headers.contains_key(header::TRANSFER_ENCODING) {
        return Err(RequestRejected::BodyTooLarge);
    }
    let declared = headers.get(header::CONTENT_LENGTH).map(|value| {
        value
            .to_str()
            .ok()
            .and_then(|v| v.trim().parse::<u64>().ok())
    });
    match declared {
        // actix-http itself refuses a malformed Content-Length with a 400.
        Some(None) => Err(RequestRejected::BodyTooLarge),
        Some(Some(length)) if length > MAX_BODY_BYTES => Err(RequestRejected::BodyTooLarge),
        _ => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use actix_web::test::TestRequest;

    #[test]
    fn an_ordinary_request_with_a_full_size_token_passes() {
        let token = "a".repeat(4096);
        let req = TestRequest::get()
            .uri(&format!("/access?token={token}"))
            .insert_header(("Authorization", format!("Bearer {token}")))
            .insert_header(("Cookie", format!("tokengate_token={token}")))
            .to_http_request();
        assert_eq!(check(&req), Ok(()));
    }

    #[test]
    fn a_long_target_is_refused() {
        let req = TestRequest::get()
            .uri(&format!("/access?token={}", "a".repeat(MAX_TARGET_BYTES)))
            .to_http_request();
        assert_eq!(check(&req), Err(RequestRejected::TargetTooLong));
    }

    #[test]
    fn many_header_bytes_are_refused() {
        let mut req = TestRequest::get();
        for n in 0..5 {
            req = req.insert_header((format!("x-filler-{n}"), "v".repeat(4000)));
        }
        assert_eq!(
            check(&req.to_http_request()),
            Err(RequestRejected::HeadersTooLarge)
        );
    }

    #[test]
    fn declared_bodies_over_the_limit_are_refused() {
        for (name, value) in [
            ("content-length", "1025"),
            ("content-length", "99999999999999999999999"),
            ("transfer-encoding", "chunked"),
        ] {
            let req = TestRequest::get()
                .insert_header((name, value))
                .to_http_request();
            assert_eq!(check(&req), Err(RequestRejected::BodyTooLarge), "{name}");
        }
        let small = TestRequest::get()
            .insert_header(("content-length", "10"))
            .to_http_request();
        assert_eq!(check(&small), Ok(()));
    }
}
