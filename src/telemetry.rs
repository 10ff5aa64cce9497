//! Logging: env_logger set up from `RUST_LOG`, and an access log that never
//! prints a token or an Authorization header.

use std::borrow::Cow;

use actix_web::dev::ServiceRequest;
use actix_web::middleware::Logger;

use crate::proxy;

/// Query parameters whose values are credentials.
const SENSITIVE_PARAMETERS: &[&str] = &["token", "access_token", "id_token", "code"];

const REDACTED: &str = "REDACTED";

/// `RUST_LOG` when set, `info` otherwise.
pub fn init_logging() {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
        .format_timestamp_millis()
        .init();
}

/// The access log. Deliberately omits the Referer (it can hold a private
/// link) and prints the request target with credential parameters redacted.
/// The client is the one a trusted proxy vouches for, never `%a`/`%{r}a`
/// (the latter believes any client's `X-Forwarded-For`).
pub fn access_log() -> Logger {
    Logger::new(r#"%{client}xi "%{request_line}xi" %s %b %Dms "%{User-Agent}i""#)
        .custom_request_replace("client", |req: &ServiceRequest| {
            proxy::client_ip(req.request()).map_or_else(|| "-".to_owned(), |ip| ip.to_string())
        })
        .custom_request_replace("request_line", |req: &ServiceRequest| {
            format!(
                "{} {} {:?}",
                req.method(),
                redacted_target(req.path(), req.query_string()),
                req.version()
            )
        })
}

/// The path and query, with every sensitive parameter's value replaced.
pub fn redacted_target<'a>(path: &'a str, query: &str) -> Cow<'a, str> {
    if query.is_empty() {
        return Cow::Borrowed(path);
    }
    let mut redacted = form_urlencoded::Serializer::new(String::new());
    for (name, value) in form_urlencoded::parse(query.as_bytes()) {
        if SENSITIVE_PARAMETERS.contains(&name.as_ref()) {
            redacted.append_pair(&name, REDACTED);
        } else {
            redacted.append_pair(&name, &value);
        }
    }
    Cow::Owned(format!("{path}?{}", redacted.finish()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn token_values_are_redacted_and_other_parameters_kept() {
        assert_eq!(
            redacted_target("/access", "token=eyJ.secret.sig&page=2"),
            "/access?token=REDACTED&page=2"
        );
        assert_eq!(
            redacted_target("/access", "access_token=abc"),
            "/access?access_token=REDACTED"
        );
    }

    #[test]
    fn encoded_parameter_names_are_still_redacted() {
        assert_eq!(redacted_target("/a", "t%6Fken=abc"), "/a?token=REDACTED");
    }

    #[test]
    fn paths_without_query_are_untouched() {
        assert_eq!(redacted_target("/healthz", ""), "/healthz");
    }
}
