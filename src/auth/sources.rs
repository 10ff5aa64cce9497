use std::borrow::Cow;

use actix_web::HttpRequest;
use actix_web::cookie::Cookie;
use actix_web::http::header::{self, Header as _};
use actix_web_httpauth::headers::authorization::{Authorization, Bearer};

use super::TokenError;
use crate::config::TokenSource;

/// The query parameter the private link carries the token in.
pub const QUERY_PARAMETER: &str = "token";

/// Where, and in which order, the extractor looks for a token.
#[derive(Debug, Clone)]
pub struct TokenSources {
    order: Vec<TokenSource>,
    cookie_name: String,
}

impl TokenSources {
    pub fn new(order: Vec<TokenSource>, cookie_name: impl Into<String>) -> Self {
        Self {
            order,
            cookie_name: cookie_name.into(),
        }
    }

    pub fn cookie_name(&self) -> &str {
        &self.cookie_name
    }

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
                TokenSource::Cookie => from_cookie(req, &self.cookie_name),
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

/// Borrowed from the `Cookie` header: `HttpRequest::cookie` would copy every
/// cookie the browser sent into an owned list first.
fn from_cookie<'r>(req: &'r HttpRequest, name: &str) -> Option<Cow<'r, str>> {
    req.headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| Cookie::parse(pair.trim()).ok())
        .find(|cookie| cookie.name() == name)
        .and_then(|cookie| cookie.value_raw())
        .map(Cow::Borrowed)
}

fn from_bearer(req: &HttpRequest) -> Result<Option<Cow<'static, str>>, TokenError> {
    if !req.headers().contains_key(header::AUTHORIZATION) {
        return Ok(None);
    }
    match Authorization::<Bearer>::parse(req) {
        Ok(auth) => Ok(Some(Cow::Owned(auth.into_scheme().token().to_owned()))),
        // Another scheme (Basic, say) is simply not a bearer token.
        Err(_) if !is_bearer_scheme(req) => Ok(None),
        Err(_) => Err(TokenError::Invalid),
    }
}

fn is_bearer_scheme(req: &HttpRequest) -> bool {
    req.headers()
        .get(header::AUTHORIZATION)
        .and_then(|value| value.as_bytes().get(..6))
        .is_some_and(|scheme| scheme.eq_ignore_ascii_case(b"bearer"))
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
    fn only_the_exact_cookie_name_counts() {
        assert_eq!(cookie_token(&[]), None);
        assert_eq!(cookie_token(&["xtokengate_token=a.b.c; tokengate=d"]), None);
        assert_eq!(cookie_token(&["TOKENGATE_TOKEN=a.b.c"]), None);
        assert_eq!(cookie_token(&["tokengate_token"]), None);
    }
}
