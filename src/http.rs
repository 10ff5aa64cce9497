//! HTTP plumbing every answer shares: content negotiation (browser or API
//! client), the security headers and Content-Security-Policy of pages that
//! may carry a token, the one JSON error body, and links that follow
//! wherever the gate is mounted.

use std::borrow::Cow;
use std::sync::LazyLock;

use actix_web::cookie::Cookie;
use actix_web::{HttpRequest, HttpResponseBuilder};
use base64::Engine as _;
use serde::Serialize;
use sha2::{Digest, Sha256};

/// The style sheet every page inlines.
pub const STYLE: &str = include_str!("../templates/style.css");
/// The countdown script, which on the access page also refreshes the
/// session before it expires; the pages still state the expiry without it.
pub const COUNTDOWN: &str = include_str!("../templates/countdown.js");

/// No `'unsafe-inline'`: the inline style and script run because their
/// hashes are listed, and nothing else can.
pub static CONTENT_SECURITY_POLICY: LazyLock<String> = LazyLock::new(|| {
    format!(
        "default-src 'none'; script-src '{}'; style-src '{}'; \
         frame-ancestors 'none'; base-uri 'none'; form-action 'none'",
        csp_hash(COUNTDOWN),
        csp_hash(STYLE),
    )
});

/// The code-entry page's policy: the same, except that its form may post to
/// this origin (`form-action 'self'`); it runs no script.
pub static CODE_ENTRY_POLICY: LazyLock<String> =
    LazyLock::new(|| CONTENT_SECURITY_POLICY.replace("form-action 'none'", "form-action 'self'"));

/// The access-granted page's policy: its Log out form may post to this
/// origin, and its script may call `/token` here to keep the session alive.
pub static ACCESS_PAGE_POLICY: LazyLock<String> = LazyLock::new(|| {
    CONTENT_SECURITY_POLICY.replace(
        "form-action 'none'",
        "form-action 'self'; connect-src 'self'",
    )
});

/// A CSP source expression for an inline element with exactly this text.
pub(crate) fn csp_hash(source: &str) -> String {
    let digest = Sha256::digest(source.as_bytes());
    format!(
        "sha256-{}",
        base64::engine::general_purpose::STANDARD.encode(digest)
    )
}

/// The login route's name, for `HttpRequest::url_for_static`.
pub(crate) const LOGIN_ROUTE: &str = "tokengate_login";

use actix_web::http::header::{self, Header as _};

/// Headers for every page that may carry a token or credentials.
pub fn security_headers(response: &mut HttpResponseBuilder) {
    response
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .insert_header(("Referrer-Policy", "no-referrer"))
        .insert_header((header::X_CONTENT_TYPE_OPTIONS, "nosniff"))
        .insert_header((header::X_FRAME_OPTIONS, "DENY"))
        .insert_header((
            header::CONTENT_SECURITY_POLICY,
            CONTENT_SECURITY_POLICY.as_str(),
        ));
}

/// The challenge when no token came (RFC 6750 3: no error code then).
pub(crate) const BEARER_CHALLENGE: &str = r#"Bearer realm="tokengate""#;

/// An RFC 6750 3 `Bearer` challenge with an error code and its description,
/// as a `&'static str`. Written out rather than built with actix-web-httpauth's
/// typed `bearer::Bearer`: 0.8.3 separates the parameters with spaces, not the
/// commas RFC 7235 4.1 requires, and its `bearer::Error` has no RFC 9470
/// `insufficient_user_authentication` (the tests below pin both facts).
macro_rules! bearer_challenge {
    ($error:literal, $description:literal) => {
        concat!(
            r#"Bearer realm="tokengate", error=""#,
            $error,
            r#"", error_description=""#,
            $description,
            '"'
        )
    };
}
pub(crate) use bearer_challenge;

/// The JSON body of every error answer: a stable, documented code and a
/// sentence for people. Each endpoint keeps its documented field name for
/// the sentence: tokengate's own endpoints say `message`, the RFC 6749 5.2
/// ones (`/token`, `/revoke`, `/logout`, operator endpoints)
/// `error_description`. The sentence never holds a token, password or
/// internal cause: those go to the log.
#[derive(Debug, Serialize)]
pub(crate) struct ErrorBody<'a> {
    error: &'a str,
    #[serde(skip_serializing_if = "Option::is_none")]
    message: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    error_description: Option<Cow<'a, str>>,
    #[serde(skip_serializing_if = "Option::is_none")]
    required_roles: Option<&'a [String]>,
}

impl<'a> ErrorBody<'a> {
    /// `{"error": code, "message": message}`.
    pub(crate) fn new(code: &'a str, message: impl Into<Cow<'a, str>>) -> Self {
        Self {
            error: code,
            message: Some(message.into()),
            error_description: None,
            required_roles: None,
        }
    }

    /// RFC 6749 5.2: `{"error": code, "error_description": description}`.
    pub(crate) fn oauth(code: &'a str, description: impl Into<Cow<'a, str>>) -> Self {
        Self {
            error: code,
            message: None,
            error_description: Some(description.into()),
            required_roles: None,
        }
    }

    /// Adds `required_roles`, the roles a refused route needs.
    pub(crate) fn required_roles(mut self, roles: Option<&'a [String]>) -> Self {
        self.required_roles = roles;
        self
    }
}

/// True when the client ranks JSON above HTML in its `Accept` header.
pub fn prefers_json(req: &HttpRequest) -> bool {
    preferred_of_json_and_html(req) == Some(Preferred::Json)
}

/// True when the client names HTML and ranks it above JSON: a browser.
/// No `Accept`, or `*/*` (curl), is not a browser.
pub fn prefers_html(req: &HttpRequest) -> bool {
    preferred_of_json_and_html(req) == Some(Preferred::Html)
}

#[derive(PartialEq)]
enum Preferred {
    Json,
    Html,
}

fn preferred_of_json_and_html(req: &HttpRequest) -> Option<Preferred> {
    header::Accept::parse(req)
        .ok()?
        .ranked()
        .into_iter()
        .find_map(|mime| match (mime.type_(), mime.subtype()) {
            (mime::APPLICATION, mime::JSON) => Some(Preferred::Json),
            (mime::TEXT, mime::HTML) => Some(Preferred::Html),
            _ => None,
        })
}

/// Where the gate's login route is, as seen from this request: the path of
/// the `/login` route registered beside it (in whatever scope), else `/login`.
pub(crate) fn login_path(req: &HttpRequest) -> String {
    req.url_for_static(LOGIN_ROUTE)
        .ok()
        .map(|url| url.path().to_owned())
        // Only a path on this site: the URL's host part came from the request.
        .filter(|path| path.starts_with('/') && !path.starts_with("//") && path.ends_with("/login"))
        .unwrap_or_else(|| "/login".to_owned())
}

/// Two different values under one cookie name: one of them was planted
/// (cookie tossing from a sibling subdomain, say), so neither is believed.
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct ConflictingCookies;

/// The value of the cookie `name`, borrowed from the `Cookie` header
/// (`HttpRequest::cookie` would copy every cookie the browser sent into an
/// owned list first, and believe the first of two).
pub(crate) fn cookie_value<'r>(
    req: &'r HttpRequest,
    name: &str,
) -> Result<Option<&'r str>, ConflictingCookies> {
    let mut values = req
        .headers()
        .get_all(header::COOKIE)
        .filter_map(|value| value.to_str().ok())
        .flat_map(|value| value.split(';'))
        .filter_map(|pair| Cookie::parse(pair.trim()).ok())
        .filter(|cookie| cookie.name() == name)
        .filter_map(|cookie| cookie.value_raw());
    let Some(first) = values.next() else {
        return Ok(None);
    };
    if values.any(|other| other != first) {
        return Err(ConflictingCookies);
    }
    Ok(Some(first))
}

/// The path of the gate's `route` (`/token`, `/logout`, ...) as seen from
/// this request: beside its `/login`, in whatever scope it was mounted.
pub(crate) fn gate_path(req: &HttpRequest, route: &str) -> String {
    let login = login_path(req);
    format!(
        "{}{route}",
        login.strip_suffix("/login").unwrap_or_default()
    )
}

/// The path prefix the gate's route `route` (e.g. `/login`) was reached under:
/// `/auth` for `/auth/login`, empty at the root.
pub(crate) fn mount_prefix<'r>(req: &'r HttpRequest, route: &str) -> &'r str {
    match req.path().strip_suffix(route) {
        // Never `//host`: a link built on it would leave the site.
        Some(prefix) if !prefix.starts_with("//") && !prefix.contains('\\') => prefix,
        _ => "",
    }
}

#[cfg(test)]
mod tests {
    use actix_web_httpauth::headers::www_authenticate::basic::Basic;
    use actix_web_httpauth::headers::www_authenticate::bearer::{Bearer, Error};
    use serde_json::json;

    use super::*;

    #[test]
    fn the_no_token_challenge_is_what_the_typed_builder_writes() {
        let typed = Bearer::build().realm("tokengate").finish().to_string();
        assert_eq!(typed, BEARER_CHALLENGE);
    }

    /// Why the challenges with an error are written out: when this fails,
    /// actix-web-httpauth writes commas and `bearer_challenge!` can go.
    #[test]
    fn the_typed_builder_leaves_out_the_commas_between_parameters() {
        let typed = Bearer::build()
            .realm("tokengate")
            .error(Error::InvalidToken)
            .error_description("The access token expired")
            .finish()
            .to_string();
        assert_eq!(
            typed,
            r#"Bearer realm="tokengate" error="invalid_token" error_description="The access token expired""#
        );
        assert_eq!(
            Basic::with_realm("tokengate").to_string(),
            r#"Basic realm="tokengate""#,
            "no charset parameter"
        );
    }

    #[test]
    fn challenges_with_an_error_are_comma_separated_rfc_6750_ones() {
        assert_eq!(
            bearer_challenge!("invalid_token", "The access token expired"),
            format!(
                r#"Bearer realm="tokengate", error="{}", error_description="The access token expired""#,
                Error::InvalidToken
            )
        );
        assert_eq!(
            bearer_challenge!("insufficient_scope", "x"),
            format!(
                r#"Bearer realm="tokengate", error="{}", error_description="x""#,
                Error::InsufficientScope
            )
        );
    }

    #[test]
    fn error_bodies_keep_each_endpoints_field_names() {
        let own = serde_json::to_value(ErrorBody::new("busy", "retry")).unwrap();
        assert_eq!(own, json!({"error": "busy", "message": "retry"}));
        let oauth = serde_json::to_value(ErrorBody::oauth("invalid_grant", "no")).unwrap();
        assert_eq!(
            oauth,
            json!({"error": "invalid_grant", "error_description": "no"})
        );
        let roles = ["admins".to_owned()];
        let denied = serde_json::to_value(
            ErrorBody::new("insufficient_role", "m").required_roles(Some(&roles)),
        )
        .unwrap();
        assert_eq!(
            denied,
            json!({"error": "insufficient_role", "message": "m", "required_roles": ["admins"]})
        );
    }
}
