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
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
            .format_timestamp_millis()
            .build();
    log::set_max_level(logger.filter());
    // Only fails when a logger is already set (an embedding app's): keep that one.
    let _ = log::set_boxed_logger(Box::new(ClientMistakesAtDebug(logger)));
}

/// actix-http logs a request it cannot parse ("stream error: ...") at ERROR,
/// so any client could fill the error log. The 400 answer is the client's
/// business: such records are passed on at DEBUG.
struct ClientMistakesAtDebug(env_logger::Logger);

impl ClientMistakesAtDebug {
    fn is_client_mistake(record: &log::Record<'_>) -> bool {
        record.target().starts_with("actix_http::h1")
            && record
                .args()
                .as_str()
                .map_or_else(|| record.args().to_string(), str::to_owned)
                .starts_with("stream error")
    }
}

impl log::Log for ClientMistakesAtDebug {
    fn enabled(&self, metadata: &log::Metadata<'_>) -> bool {
        self.0.enabled(metadata)
    }

    fn log(&self, record: &log::Record<'_>) {
        if record.level() <= log::Level::Warn && Self::is_client_mistake(record) {
            self.0.log(
                &log::Record::builder()
                    .args(*record.args())
                    .level(log::Level::Debug)
                    .target(record.target())
                    .module_path(record.module_path())
                    .file(record.file())
                    .line(record.line())
                    .build(),
            );
        } else {
            self.0.log(record);
        }
    }

    fn flush(&self) {
        self.0.flush();
    }
}

/// The access log. Deliberately omits the Referer (it can hold a private
/// link) and prints the request target with credential parameters redacted.
/// The client is the one a trusted proxy vouches for, never `%a`/`%{r}a`
/// (the latter believes any client's `X-Forwarded-For`).
pub fn access_log() -> Logger {
    Logger::new(r#"%{client}xi "%{request_line}xi" %s %b %Dms "%{agent}xi""#)
        .custom_request_replace("client", |req: &ServiceRequest| {
            proxy::client_ip(req.request()).map_or_else(|| "-".to_owned(), |ip| ip.to_string())
        })
        .custom_request_replace("request_line", |req: &ServiceRequest| {
            escaped(&format!(
                "{} {} {:?}",
                req.method(),
                redacted_target(req.path(), req.query_string()),
                req.version()
            ))
        })
        .custom_request_replace("agent", |req: &ServiceRequest| {
            req.headers()
                .get(actix_web::http::header::USER_AGENT)
                .map_or_else(
                    || "-".to_owned(),
                    |agent| escaped(&String::from_utf8_lossy(agent.as_bytes())),
                )
        })
}

/// A client-sent value made safe inside a quoted log field, as nginx does:
/// `"` and `\` backslash-escaped, control bytes as `\xHH`, so a client
/// cannot close the field and forge the ones after it.
pub fn escaped(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        match c {
            '"' | '\\' => {
                out.push('\\');
                out.push(c);
            }
            c if c.is_control() => out.push_str(&format!("\\x{:02x}", c as u32)),
            c => out.push(c),
        }
    }
    out
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
    fn quotes_backslashes_and_control_bytes_are_escaped() {
        assert_eq!(escaped(r#"a"b\c"#), r#"a\"b\\c"#);
        assert_eq!(escaped("tab\tnl\n"), r"tab\x09nl\x0a");
        assert_eq!(escaped("plain/ü"), "plain/ü");
    }

    #[test]
    fn paths_without_query_are_untouched() {
        assert_eq!(redacted_target("/healthz", ""), "/healthz");
    }
}
