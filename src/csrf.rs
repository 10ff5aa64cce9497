//! Cross-site request checks for POSTs a browser authenticates with cookies
//! (`/logout`, `/token` with the refresh cookie). The cookies are already
//! `SameSite=Strict`; this is the second, independent layer: browsers send
//! `Sec-Fetch-Site` (and `Origin`) on every POST, and a page on another site
//! cannot forge either. Clients that send neither (curl, libraries) are not
//! browsers, and carry no ambient cookies to abuse.

use actix_web::HttpRequest;
use actix_web::http::header;

use crate::auth::{TokenSource, Verifier};

/// Whether `req` is authenticated by the token cookie and sent from another
/// site: such a POST is refused. A Bearer or query token is never ambient,
/// so another site's page cannot make the browser send one.
pub fn is_cross_site_cookie_use(req: &HttpRequest, verifier: &Verifier) -> bool {
    let from_cookie = matches!(
        verifier.sources().locate(req),
        Ok(Some((TokenSource::Cookie, _)))
    );
    from_cookie && !is_same_origin(req)
}

/// Whether a cookie-authenticated POST may proceed.
pub fn is_same_origin(req: &HttpRequest) -> bool {
    if let Some(site) = req.headers().get("Sec-Fetch-Site") {
        // `none`: typed by the user or a bookmark, never another page.
        return matches!(site.as_bytes(), b"same-origin" | b"none");
    }
    match req.headers().get(header::ORIGIN) {
        None => true,
        Some(origin) => {
            let Ok(origin) = origin.to_str() else {
                return false;
            };
            let host = req
                .headers()
                .get(header::HOST)
                .and_then(|h| h.to_str().ok());
            let Some(host) = host else {
                return false;
            };
            let scheme = if crate::proxy::is_https(req) {
                "https"
            } else {
                "http"
            };
            origin.eq_ignore_ascii_case(&format!("{scheme}://{host}"))
        }
    }
}

#[cfg(test)]
mod tests {
    use actix_web::test::TestRequest;

    use super::*;

    fn request(headers: &[(&str, &str)]) -> HttpRequest {
        let mut request = TestRequest::post().insert_header((header::HOST, "gate.example"));
        for (name, value) in headers {
            request = request.insert_header((*name, *value));
        }
        request.to_http_request()
    }

    #[test]
    fn same_origin_passes_and_cross_site_is_refused() {
        assert!(is_same_origin(&request(&[])));
        assert!(is_same_origin(&request(&[(
            "Sec-Fetch-Site",
            "same-origin"
        )])));
        assert!(is_same_origin(&request(&[(
            "Origin",
            "http://gate.example"
        )])));
        assert!(!is_same_origin(&request(&[(
            "Sec-Fetch-Site",
            "cross-site"
        )])));
        assert!(!is_same_origin(&request(&[(
            "Sec-Fetch-Site",
            "same-site"
        )])));
        assert!(!is_same_origin(&request(&[(
            "Origin",
            "http://evil.example"
        )])));
        assert!(!is_same_origin(&request(&[("Origin", "null")])));
    }
}
