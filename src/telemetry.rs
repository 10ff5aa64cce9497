//! Logging: env_logger set up from `RUST_LOG`, one line per record, text or
//! JSON (`log.format`); request ids; and an access log that never prints a
//! token or an Authorization header.
//!
//! Every line written while a request is handled carries its request id:
//! `request_frame` runs the request inside a task-local scope that the
//! formatter reads.

use std::borrow::Cow;
use std::cell::Cell;
use std::future::Future;
use std::io::Write;
use std::time::Instant;

use actix_web::body::BodySize;
use actix_web::dev::ServiceRequest;
use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderName, HeaderValue};
use log::kv::{self, VisitSource};
use tokio::task::futures::TaskLocalFuture;

use crate::config::LogFormat;
use crate::proxy;

/// Query parameters whose values are credentials.
const SENSITIVE_PARAMETERS: &[&str] = &["token", "access_token", "id_token", "code"];

const REDACTED: &str = "REDACTED";

/// The header a request id arrives in (from a trusted proxy) and is echoed in.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// The access log's target; its message already holds its fields, so text
/// lines do not repeat them.
pub const ACCESS_TARGET: &str = "tokengate::access";

/// Longest request id taken from a proxy; longer ones are replaced.
const MAX_REQUEST_ID_BYTES: usize = 128;

tokio::task_local! {
    static CURRENT_REQUEST: RequestId;
}

/// The request's id: from a trusted proxy's `X-Request-Id`, or generated;
/// echoed in the response.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct RequestId(HeaderValue);

impl RequestId {
    /// A fresh id: 64 random bits fixed per worker thread (so threads and
    /// replicas never collide), then the thread's counter. Unique, not
    /// secret, without a syscall, and without a counter shared by the cores.
    pub fn generate() -> Self {
        thread_local! {
            static NEXT: Cell<(u64, u64)> = Cell::new((uuid::Uuid::new_v4().as_u64_pair().0, 0));
        }
        let (prefix, sequence) = NEXT.get();
        NEXT.set((prefix, sequence.wrapping_add(1)));
        let id = (u128::from(prefix) << 64) | u128::from(sequence);
        let mut hex = [0u8; 32];
        for (index, digit) in hex.iter_mut().enumerate() {
            let nibble = (id >> (4 * (31 - index))) & 0xf;
            *digit = b"0123456789abcdef"[nibble as usize];
        }
        Self(HeaderValue::from_bytes(&hex).expect("BUG: hex is a valid header value"))
    }

    /// A proxy's id, when it is short and made of URL-safe characters, so
    /// it cannot break a log line or a header.
    pub fn from_proxy(value: &HeaderValue) -> Option<Self> {
        let bytes = value.as_bytes();
        let safe = |b: &u8| b.is_ascii_alphanumeric() || b"-_.:/+=@".contains(b);
        (!bytes.is_empty() && bytes.len() <= MAX_REQUEST_ID_BYTES && bytes.iter().all(safe))
            .then(|| Self(value.clone()))
    }

    /// The id as text.
    pub fn as_str(&self) -> &str {
        self.0.to_str().unwrap_or_default()
    }

    /// The id as a header value, to echo.
    pub fn header_value(&self) -> HeaderValue {
        self.0.clone()
    }
}

/// The id of the request being handled on this task, if any.
pub fn current_request_id() -> Option<RequestId> {
    CURRENT_REQUEST.try_with(RequestId::clone).ok()
}

/// `RUST_LOG` when set, `info` otherwise; lines as `log.format` says.
pub fn init_logging(format: LogFormat) {
    let logger =
        env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("info"))
            .format(move |buf, record| {
                let timestamp = buf.timestamp_millis();
                let request_id = current_request_id();
                match format {
                    LogFormat::Text => write_text(buf, &timestamp, record, request_id.as_ref()),
                    LogFormat::Json => write_json(buf, &timestamp, record, request_id.as_ref()),
                }
            })
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

/// `[time LEVEL target] message key=value ... request_id=...`, env_logger's
/// own layout with the fields after the message.
fn write_text(
    out: &mut impl Write,
    timestamp: &impl std::fmt::Display,
    record: &log::Record,
    request_id: Option<&RequestId>,
) -> std::io::Result<()> {
    let mut line = format!(
        "[{timestamp} {:<5} {}] {}",
        record.level(),
        record.target(),
        record.args()
    );
    if record.target() != ACCESS_TARGET {
        let mut fields = TextFields(&mut line);
        let _ = record.key_values().visit(&mut fields);
    }
    if let Some(id) = request_id {
        line.push_str(" request_id=");
        line.push_str(id.as_str());
    }
    writeln!(out, "{line}")
}

struct TextFields<'a>(&'a mut String);

impl<'kvs> VisitSource<'kvs> for TextFields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let value = value.to_string();
        // Quoted (and escaped) when a client-chosen value could fake a field.
        let plain = !value.is_empty()
            && value
                .bytes()
                .all(|b| b.is_ascii_graphic() && b != b'"' && b != b'=');
        if plain {
            self.0.push_str(&format!(" {key}={value}"));
        } else {
            self.0.push_str(&format!(" {key}={value:?}"));
        }
        Ok(())
    }
}

/// One JSON object per line: `ts`, `level`, `target`, `message`,
/// `request_id` when in a request, then the record's fields.
fn write_json(
    out: &mut impl Write,
    timestamp: &impl std::fmt::Display,
    record: &log::Record,
    request_id: Option<&RequestId>,
) -> std::io::Result<()> {
    let mut object = serde_json::Map::new();
    object.insert("ts".into(), timestamp.to_string().into());
    object.insert("level".into(), record.level().as_str().into());
    object.insert("target".into(), record.target().into());
    object.insert("message".into(), record.args().to_string().into());
    if let Some(id) = request_id {
        object.insert("request_id".into(), id.as_str().into());
    }
    let _ = record.key_values().visit(&mut JsonFields(&mut object));
    let mut line = serde_json::to_vec(&object).map_err(std::io::Error::other)?;
    line.push(b'\n');
    out.write_all(&line)
}

struct JsonFields<'a>(&'a mut serde_json::Map<String, serde_json::Value>);

impl<'kvs> VisitSource<'kvs> for JsonFields<'_> {
    fn visit_pair(&mut self, key: kv::Key<'kvs>, value: kv::Value<'kvs>) -> Result<(), kv::Error> {
        let value = if let Some(number) = value.to_u64() {
            number.into()
        } else if let Some(number) = value.to_f64() {
            number.into()
        } else if let Some(flag) = value.to_bool() {
            flag.into()
        } else {
            value.to_string().into()
        };
        self.0.insert(key.as_str().to_owned(), value);
        Ok(())
    }
}

/// The request's id: a trusted proxy's `X-Request-Id` when usable, a fresh one otherwise.
pub fn request_id(req: &ServiceRequest) -> RequestId {
    req.headers()
        .get(REQUEST_ID_HEADER)
        .filter(|_| proxy::peer_is_trusted(req.request()))
        .and_then(RequestId::from_proxy)
        .unwrap_or_else(RequestId::generate)
}

/// Runs `future` with `id` as the current request's, for every log line it writes.
pub fn in_request_scope<F: Future>(id: RequestId, future: F) -> TaskLocalFuture<RequestId, F> {
    CURRENT_REQUEST.scope(id, future)
}

/// Runs `f` now with `id` as the current request's.
pub fn in_request_scope_now<R>(id: RequestId, f: impl FnOnce() -> R) -> R {
    CURRENT_REQUEST.sync_scope(id, f)
}

/// The access-log line, from what the request said before it was handled.
///
/// It deliberately omits the Referer (it can hold a private link) and prints
/// the request target with credential parameters redacted. The client is the
/// one a trusted proxy vouches for.
pub struct RequestLine {
    client: String,
    request: String,
    user_agent: String,
    started: Instant,
}

impl RequestLine {
    /// `None` when the access log is off (`RUST_LOG` above info for it).
    pub fn of(req: &ServiceRequest) -> Option<Self> {
        log::log_enabled!(target: ACCESS_TARGET, log::Level::Info).then(|| RequestLine {
            client: proxy::client_ip(req.request())
                .map_or_else(|| "-".to_owned(), |ip| ip.to_string()),
            request: format!(
                "{} {} {:?}",
                req.method(),
                redacted_target(req.path(), req.query_string()),
                req.version()
            ),
            user_agent: req.headers().get(header::USER_AGENT).map_or_else(
                || "-".to_owned(),
                |agent| String::from_utf8_lossy(agent.as_bytes()).into_owned(),
            ),
            started: Instant::now(),
        })
    }

    pub fn log(self, status: StatusCode, size: BodySize) {
        let millis = self.started.elapsed().as_secs_f64() * 1000.0;
        let size = match size {
            BodySize::Sized(bytes) => bytes.to_string(),
            BodySize::None => "0".to_owned(),
            BodySize::Stream => "-".to_owned(),
        };
        let status = status.as_u16();
        let RequestLine {
            client,
            request,
            user_agent,
            ..
        } = self;
        log::info!(
            target: ACCESS_TARGET,
            client = client.as_str(),
            request = request.as_str(),
            status = status,
            size = size.as_str(),
            duration_ms = millis,
            user_agent = user_agent.as_str();
            "{client} \"{}\" {status} {size} {millis:.3}ms \"{}\"",
            escaped(&request),
            escaped(&user_agent)
        );
    }
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

    #[test]
    fn generated_request_ids_are_unique_hex() {
        let (a, b) = (RequestId::generate(), RequestId::generate());
        assert_ne!(a, b);
        assert_eq!(a.as_str().len(), 32);
        assert!(a.as_str().bytes().all(|b| b.is_ascii_hexdigit()));
    }

    #[test]
    fn proxy_request_ids_must_be_short_and_plain() {
        let id = |text: &str| RequestId::from_proxy(&HeaderValue::from_str(text).unwrap());
        assert!(id("req-42_a.b:c").is_some());
        assert!(id("").is_none());
        assert!(id("has space").is_none());
        assert!(id("quote\"d").is_none());
        assert!(id(&"a".repeat(MAX_REQUEST_ID_BYTES + 1)).is_none());
    }

    fn record<'a>(
        fields: &'a &'a [(&'a str, &'a str)],
        args: std::fmt::Arguments<'a>,
    ) -> log::Record<'a> {
        log::Record::builder()
            .args(args)
            .level(log::Level::Info)
            .target("tokengate::audit")
            .key_values(fields)
            .build()
    }

    #[test]
    fn json_lines_carry_the_fields_and_the_request_id() {
        let fields: &[(&str, &str)] = &[("event", "login"), ("user", "alice")];
        let record = record(&fields, format_args!("login succeeded"));
        let mut out = Vec::new();
        let id = RequestId::generate();
        write_json(&mut out, &"2026-01-01T00:00:00Z", &record, Some(&id)).unwrap();
        let line: serde_json::Value = serde_json::from_slice(&out).unwrap();
        assert_eq!(line["message"], "login succeeded");
        assert_eq!(line["event"], "login");
        assert_eq!(line["user"], "alice");
        assert_eq!(line["request_id"], id.as_str());
        assert_eq!(out.iter().filter(|&&b| b == b'\n').count(), 1);
    }

    #[test]
    fn text_fields_a_client_chose_cannot_fake_another_field() {
        let fields: &[(&str, &str)] = &[("user", "x reason=ok\nforged")];
        let record = record(&fields, format_args!("login failed"));
        let mut out = Vec::new();
        write_text(&mut out, &"t", &record, None).unwrap();
        let line = String::from_utf8(out).unwrap();
        assert!(
            line.ends_with("login failed user=\"x reason=ok\\nforged\"\n"),
            "{line}"
        );
    }
}
