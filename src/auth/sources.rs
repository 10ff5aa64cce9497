use std::borrow::Cow;

use actix_web::HttpRequest;
use actix_web::http::header::{self, HeaderValue};
use actix_web_httpauth::headers::authorization::{Basic, Bearer, ParseError, Scheme};

use serde::{Deserialize, Serialize};

use super::TokenError;
use crate::http::ConflictingCookies;

/// The query parameter the private link carries the token in.
pub const QUERY_PARAMETER: &str = "token";

/// Browsers keep a cookie with this name prefix only if it was set over
/// HTTPS with `Path=/` and no `Domain`, so a sibling subdomain cannot plant
/// one (cookie tossing).
pub const HOST_COOKIE_PREFIX: &str = "__Host-";

/// Where the extractor looks for a token.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum TokenSource {
    /// The `token` query parameter: the private link.
    Query,
    /// `Authorization: Bearer <token>`.
    Bearer,
    /// The cookie named by `jwt.cookie_name`.
    Cookie,
}

/// Where, and in which order, the extractor looks for a token.
#[derive(Debug, Clone)]
pub struct TokenSources {
    order: Vec<TokenSource>,
    cookie_name: String,
    /// `__Host-` + `cookie_name`: the name over HTTPS.
    host_cookie_name: String,
}

impl TokenSources {
    /// Looks in `order`; the cookie source reads `cookie_name` (and its `__Host-` form).
    pub fn new(order: Vec<TokenSource>, cookie_name: impl Into<String>) -> Self {
        let cookie_name = cookie_name.into();
        let host_cookie_name = if cookie_name.starts_with(HOST_COOKIE_PREFIX) {
            cookie_name.clone()
        } else {
            format!("{HOST_COOKIE_PREFIX}{cookie_name}")
        };
        Self {
            order,
            cookie_name,
            host_cookie_name,
        }
    }

    /// The configured name (`jwt.cookie_name`), as used over plain HTTP.
    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

    /// The cookie's name for this request: `__Host-` prefixed when the
    /// client used HTTPS (as the trusted-proxy rules decide), the
    /// configured name otherwise. Only that name is read, so over HTTPS a
    /// cookie planted under the plain name is ignored.
    pub fn cookie_name_for(&self, req: &HttpRequest) -> &str {
        if crate::proxy::is_https(req) {
            &self.host_cookie_name
        } else {
            &self.cookie_name
        }
    }

    /// The token cookie's value (under [`cookie_name_for`](Self::cookie_name_for)),
    /// whatever the configured sources; two different values are refused.
    pub fn cookie<'r>(&self, req: &'r HttpRequest) -> Result<Option<Cow<'r, str>>, TokenError> {
        from_cookie(req, self.cookie_name_for(req))
    }

    /// Whether `source` is one of the places looked in.
    pub fn includes(&self, source: TokenSource) -> bool {
        self.order.contains(&source)
    }

    /// The first token found in the configured sources. A source that is
    /// present but malformed (a broken `Authorization: Bearer`) is an error
    /// rather than a reason to look further.
    pub fn find<'r>(&self, req: &'r HttpRequest) -> Result<Option<Cow<'r, str>>, TokenError> {
        Ok(self.locate(req)?.map(|(_, token)| token))
    }

    /// Like [`find`](Self::find), also saying which source the token came from.
    pub fn locate<'r>(
        &self,
        req: &'r HttpRequest,
    ) -> Result<Option<(TokenSource, Cow<'r, str>)>, TokenError> {
        for &source in &self.order {
            let found = match source {
                TokenSource::Query => from_query(req.query_string()),
                TokenSource::Bearer => from_bearer(req)?,
                TokenSource::Cookie => from_cookie(req, self.cookie_name_for(req))?,
            };
            if let Some(token) = found {
                return Ok(Some((source, token)));
            }
        }
        Ok(None)
    }
}

fn from_query(query: &str) -> Option<Cow<'_, str>> {
    form_urlencoded::parse(query.as_bytes())
        .find(|(name, _)| name == QUERY_PARAMETER)
        .map(|(_, value)| value)
}

fn from_cookie<'r>(req: &'r HttpRequest, name: &str) -> Result<Option<Cow<'r, str>>, TokenError> {
    match crate::http::cookie_value(req, name) {
        Ok(value) => Ok(value.map(Cow::Borrowed)),
        Err(ConflictingCookies) => Err(TokenError::Invalid),
    }
}

fn from_bearer(req: &HttpRequest) -> Result<Option<Cow<'static, str>>, TokenError> {
    match authorization::<Bearer>(req, "Bearer") {
        Some(Ok(bearer)) => Ok(Some(Cow::Owned(bearer.token().to_owned()))),
        Some(Err(_)) => Err(TokenError::Invalid),
        // Another scheme (Basic, say) is simply not a bearer token.
        None => Ok(None),
    }
}

/// The request's HTTP Basic credentials, the scheme name in any case.
pub fn basic_credentials(req: &HttpRequest) -> Option<Basic> {
    authorization::<Basic>(req, "Basic")?.ok()
}

/// The `Authorization` header parsed as `scheme`, or `None` when absent or
/// of another scheme. RFC 7235 2.1 makes scheme names case-insensitive, but
/// actix-web-httpauth's parsers accept only `Basic`/`Bearer` as spelled, so
/// the name is respelled before they parse the rest.
fn authorization<S: Scheme>(req: &HttpRequest, scheme: &str) -> Option<Result<S, ParseError>> {
    let value = req.headers().get(header::AUTHORIZATION)?;
    let bytes = value.as_bytes();
    let name_end = bytes.iter().position(|&b| b == b' ').unwrap_or(bytes.len());
    if !bytes[..name_end].eq_ignore_ascii_case(scheme.as_bytes()) {
        return None;
    }
    if &bytes[..name_end] == scheme.as_bytes() {
        return Some(S::parse(value));
    }
    let respelled = [scheme.as_bytes(), &bytes[name_end..]].concat();
    Some(
        HeaderValue::from_bytes(&respelled)
            .map_err(|_| ParseError::Invalid)
            .and_then(|value| S::parse(&value)),
    )
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn cookie_token(headers: &[&str]) -> Option<String> {
        let mut request = TestRequest::default();
        for value in headers {
            request = request.append_header((header::COOKIE, *value));
        }
        let req = request.to_http_request();
        let sources = TokenSources::new(vec![TokenSource::Cookie], "tokengate_token");
        sources.find(&req).unwrap().map(Cow::into_owned)
    }

    #[test]
    fn the_cookie_is_found_among_others_and_across_headers() {
        assert_eq!(
            cookie_token(&["tokengate_token=a.b.c"]).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(
            cookie_token(&["theme=dark;  tokengate_token=a.b.c ; lang=en"]).as_deref(),
            Some("a.b.c")
        );
        assert_eq!(
            cookie_token(&["theme=dark", "tokengate_token=a.b.c"]).as_deref(),
            Some("a.b.c")
        );
    }

    #[test]
    fn scheme_names_are_case_insensitive() {
        for scheme in ["Bearer", "bearer", "BEARER", "bEaReR"] {
            let req = TestRequest::default()
                .insert_header((header::AUTHORIZATION, format!("{scheme} a.b.c")))
                .to_http_request();
            let sources = TokenSources::new(vec![TokenSource::Bearer], "c");
            assert_eq!(sources.find(&req).unwrap().as_deref(), Some("a.b.c"));
        }
        for scheme in ["Basic", "basic", "BASIC"] {
            let req = TestRequest::default()
                .insert_header((header::AUTHORIZATION, format!("{scheme} YWxpY2U6cHc=")))
                .to_http_request();
            let basic = basic_credentials(&req).expect(scheme);
            assert_eq!((basic.user_id(), basic.password()), ("alice", Some("pw")));
        }
        let other = TestRequest::default()
            .insert_header((header::AUTHORIZATION, "Bearerx a.b.c"))
            .to_http_request();
        assert!(basic_credentials(&other).is_none());
        let sources = TokenSources::new(vec![TokenSource::Bearer], "c");
        assert_eq!(sources.find(&other).unwrap(), None);
    }

    #[test]
    fn two_different_cookies_under_the_name_are_refused() {
        let req = TestRequest::default()
            .append_header((
                header::COOKIE,
                "tokengate_token=a.b.c; tokengate_token=x.y.z",
            ))
            .to_http_request();
        let sources = TokenSources::new(vec![TokenSource::Cookie], "tokengate_token");
        assert_eq!(sources.find(&req), Err(TokenError::Invalid));
        assert_eq!(
            cookie_token(&["tokengate_token=a.b.c", "tokengate_token=a.b.c"]).as_deref(),
            Some("a.b.c")
        );
    }

    #[test]
    fn only_the_exact_cookie_name_counts() {
        assert_eq!(cookie_token(&[]), None);
        assert_eq!(cookie_token(&["xtokengate_token=a.b.c; tokengate=d"]), None);
        assert_eq!(cookie_token(&["TOKENGATE_TOKEN=a.b.c"]), None);
        assert_eq!(cookie_token(&["tokengate_token"]), None);
    }
}
