//! Prometheus metrics, served at `GET /metrics` (see README, Operations).
//!
//! One [`Metrics`] per app, registered as `web::Data<Metrics>`: no global
//! recorder, so every app in a test process counts on its own. Hot-path
//! series (requests, token checks) are resolved to their counters once and
//! cost an atomic add each; label sets are `&'static str`, so no request
//! can add a series.
//!
//! Adding an outcome (sessions' `revoked`, TOTP's `mfa_required`) is one
//! entry in [`TOKEN_REASONS`] or [`LOGIN_OUTCOMES`]; an unknown name still
//! counts, under its own label, rather than being lost.

use std::collections::HashMap;
use std::sync::Arc;
use std::sync::atomic::AtomicU64;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use actix_web::http::StatusCode;
use actix_web::http::header::{self, HeaderValue};
use actix_web::{HttpRequest, HttpResponse, web};
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;
use prometheus_client::metrics::gauge::Gauge;
use prometheus_client::metrics::histogram::Histogram;
use prometheus_client::registry::{Registry, Unit};

// Built once from fixed names and only read per request, so a fast unkeyed
// hash cannot be flooded; SipHash showed in the per-request cost.
type FastMap<K, V> = HashMap<K, V, foldhash::fast::FixedState>;

/// The scrape's content type: the Prometheus text format, which every
/// scraper and `promtool check metrics` read.
pub const CONTENT_TYPE: &str = "text/plain; version=0.0.4; charset=utf-8";

/// The label of requests no route matched (404s), so scanners cannot create series.
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// Token-check reasons counted from start-up, so a dashboard shows zeros
/// rather than gaps. `valid` is the one success.
pub const TOKEN_REASONS: &[&str] = &[
    "valid",
    "missing",
    "malformed",
    "too_large",
    "expired",
    "revoked",
    "lifetime_too_long",
    "not_yet_valid",
    "invalid_signature",
    "wrong_algorithm",
    "unknown_key",
    "wrong_issuer",
    "wrong_audience",
    "wrong_type",
    "missing_claim",
    "invalid",
];

/// Login outcomes counted from start-up.
pub const LOGIN_OUTCOMES: &[&str] = &[
    "success",
    "invalid_credentials",
    "mfa_required",
    "invalid_code",
    "invalid_mfa_token",
    "invalid_request",
    "throttled",
    "busy",
    "unavailable",
    "error",
];

const STATUS_CLASSES: [&str; 5] = ["1xx", "2xx", "3xx", "4xx", "5xx"];

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct RouteLabels {
    route: String,
    status: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct CheckLabels {
    outcome: &'static str,
    reason: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct OutcomeLabels {
    outcome: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct BuildLabels {
    version: &'static str,
    commit: &'static str,
}

#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
struct KeyLabels {
    kid: String,
}

/// Every series tokengate exports, and the registry that renders them.
pub struct Metrics {
    registry: Registry,
    requests: Family<RouteLabels, Counter>,
    /// Counters of the registered routes, by route, then status class.
    route_counters: FastMap<String, [Counter; 5]>,
    token_checks: Family<CheckLabels, Counter>,
    token_counters: FastMap<&'static str, Counter>,
    token_check_seconds: Histogram,
    logins: Family<OutcomeLabels, Counter>,
    login_seconds: Histogram,
    password_queue_depth: Gauge,
    password_queue_capacity: Gauge,
    password_check_wait_seconds: Histogram,
    password_check_seconds: Histogram,
    reloads: Family<OutcomeLabels, Counter>,
    last_reload: Gauge<f64, AtomicU64>,
    signing_key: Family<KeyLabels, Gauge>,
}

impl Metrics {
    /// The registry with every series at zero. `routes` are the path
    /// patterns the app registers, so their counters exist from the start.
    pub fn new<'a>(routes: impl IntoIterator<Item = &'a str>) -> Self {
        let mut registry = Registry::with_prefix("tokengate");
        let requests = Family::<RouteLabels, Counter>::default();
        registry.register(
            "http_requests",
            "HTTP requests answered, by route pattern and status class",
            requests.clone(),
        );
        let route_counters = routes
            .into_iter()
            .chain([UNMATCHED_ROUTE])
            .map(|route| {
                let counters = STATUS_CLASSES.map(|status| {
                    requests.get_or_create_owned(&RouteLabels {
                        route: route.to_owned(),
                        status,
                    })
                });
                (route.to_owned(), counters)
            })
            .collect();

        let token_checks = Family::<CheckLabels, Counter>::default();
        registry.register(
            "token_checks",
            "Token checks, by outcome (accepted/refused) and reason",
            token_checks.clone(),
        );
        let token_counters = TOKEN_REASONS
            .iter()
            .map(|&reason| {
                (
                    reason,
                    token_checks.get_or_create_owned(&check_labels(reason)),
                )
            })
            .collect();
        // 1 µs to 4 ms: a check takes 5-70 µs (BENCHMARKS.md), RSA up to 30.
        let token_check_seconds = Histogram::new(exponential_buckets(1e-6, 2.0, 13));
        registry.register_with_unit(
            "token_check_duration",
            format!(
                "Time to find and verify a request's token, for one check in \
                 {TOKEN_CHECK_SAMPLE} on each worker (tokengate_token_checks_total counts every one)"
            ),
            Unit::Seconds,
            token_check_seconds.clone(),
        );

        let logins = Family::<OutcomeLabels, Counter>::default();
        registry.register("logins", "Login attempts, by outcome", logins.clone());
        // 1 ms to 16 s: a check takes 25-30 ms, queued ones wait longer.
        let login_seconds = Histogram::new(exponential_buckets(1e-3, 2.0, 15));
        registry.register_with_unit(
            "login_duration",
            "Time to answer a login, whatever its outcome",
            Unit::Seconds,
            login_seconds.clone(),
        );
        for &outcome in LOGIN_OUTCOMES {
            logins.get_or_create_owned(&OutcomeLabels { outcome });
        }
        let password_queue_depth = Gauge::default();
        registry.register(
            "password_check_queue_depth",
            "Password checks waiting for a check thread",
            password_queue_depth.clone(),
        );
        let password_queue_capacity = Gauge::default();
        registry.register(
            "password_check_queue_capacity",
            "Password checks that may wait before logins are answered 503",
            password_queue_capacity.clone(),
        );
        // 1 ms to 16 s: a check takes 25-30 ms; a flood queues many.
        let password_check_wait_seconds = Histogram::new(exponential_buckets(1e-3, 2.0, 15));
        registry.register_with_unit(
            "password_check_wait",
            "Time a password check waited in the queue",
            Unit::Seconds,
            password_check_wait_seconds.clone(),
        );
        let password_check_seconds = Histogram::new(exponential_buckets(1e-3, 2.0, 12));
        registry.register_with_unit(
            "password_check_duration",
            "Time one password check took on its thread",
            Unit::Seconds,
            password_check_seconds.clone(),
        );

        let reloads = Family::<OutcomeLabels, Counter>::default();
        registry.register(
            "config_reloads",
            "Configuration reloads, by outcome",
            reloads.clone(),
        );
        for outcome in ["success", "failure"] {
            reloads.get_or_create_owned(&OutcomeLabels { outcome });
        }
        let last_reload = Gauge::<f64, AtomicU64>::default();
        registry.register(
            "config_last_good_timestamp_seconds",
            "Unix time the configuration in force was loaded (start-up or last good reload)",
            last_reload.clone(),
        );
        last_reload.set(unix_now());

        let build = Family::<BuildLabels, Gauge>::default();
        registry.register(
            "build_info",
            "The running build: version and commit; always 1",
            build.clone(),
        );
        build
            .get_or_create(&BuildLabels {
                version: env!("CARGO_PKG_VERSION"),
                commit: env!("TOKENGATE_COMMIT"),
            })
            .set(1);
        let signing_key = Family::<KeyLabels, Gauge>::default();
        registry.register(
            "signing_key_info",
            "The kid of the key new tokens are signed with; always 1",
            signing_key.clone(),
        );

        Self {
            registry,
            requests,
            route_counters,
            token_checks,
            token_counters,
            token_check_seconds,
            logins,
            login_seconds,
            password_queue_depth,
            password_queue_capacity,
            password_check_wait_seconds,
            password_check_seconds,
            reloads,
            last_reload,
            signing_key,
        }
    }

    /// One answered request: `route` is the matched pattern, `None` for a 404.
    pub fn request(&self, route: Option<&str>, status: StatusCode) {
        let class = status_class(status);
        let route = route.unwrap_or(UNMATCHED_ROUTE);
        match self.route_counters.get(route) {
            Some(counters) => counters[class].inc(),
            // A route registered after start-up (an embedding app's own).
            None => self
                .requests
                .get_or_create(&RouteLabels {
                    route: route.to_owned(),
                    status: STATUS_CLASSES[class],
                })
                .inc(),
        };
    }

    /// One answered request. The path itself when it is one of the routes
    /// given to [`Metrics::new`] (no allocation: they have no parameters),
    /// else the pattern that matches it, else `unmatched`.
    pub fn request_to(&self, req: &HttpRequest, status: StatusCode) {
        match self.route_counters.get(req.path()) {
            Some(counters) => {
                counters[status_class(status)].inc();
            }
            None => self.request(req.match_pattern().as_deref(), status),
        }
    }

    /// One token check: `reason` is `valid` or why the token was refused;
    /// `took` when this check was timed (see [`time_this_check`]).
    pub fn token_check(&self, reason: &'static str, took: Option<Duration>) {
        match self.token_counters.get(reason) {
            Some(counter) => counter.inc(),
            None => self.token_checks.get_or_create(&check_labels(reason)).inc(),
        };
        if let Some(took) = took {
            self.token_check_seconds.observe(took.as_secs_f64());
        }
    }

    /// One login attempt's outcome (see [`LOGIN_OUTCOMES`]) and how long it took.
    pub fn login(&self, outcome: &'static str, took: Duration) {
        self.logins.get_or_create(&OutcomeLabels { outcome }).inc();
        self.login_seconds.observe(took.as_secs_f64());
    }

    /// One password check: how long it queued and how long it ran.
    pub fn password_check(&self, waited: Duration, took: Duration) {
        self.password_check_wait_seconds
            .observe(waited.as_secs_f64());
        self.password_check_seconds.observe(took.as_secs_f64());
    }

    /// The queue's depth, read at scrape time, and its fixed capacity.
    pub fn password_queue(&self, depth: usize, capacity: usize) {
        self.password_queue_depth.set(depth as i64);
        self.password_queue_capacity.set(capacity as i64);
    }

    /// A reload's outcome; a good one also stamps the time.
    pub fn reload(&self, succeeded: bool) {
        let outcome = if succeeded { "success" } else { "failure" };
        self.reloads.get_or_create(&OutcomeLabels { outcome }).inc();
        if succeeded {
            self.last_reload.set(unix_now());
        }
    }

    /// The signing key in force; replaces the previous one's series.
    pub fn signing_key(&self, kid: &str) {
        self.signing_key.clear();
        self.signing_key
            .get_or_create(&KeyLabels {
                kid: kid.to_owned(),
            })
            .set(1);
    }

    /// The exposition, in the Prometheus text format.
    pub fn render(&self) -> String {
        let mut open_metrics = String::with_capacity(16 * 1024);
        prometheus_client::encoding::text::encode_registry(&mut open_metrics, &self.registry)
            .expect("BUG: writing to a String cannot fail");
        prometheus_text(&open_metrics)
    }
}

/// prometheus-client writes OpenMetrics, where a counter's HELP and TYPE
/// name the family (`x`) and its samples `x_total`. The Prometheus text
/// format (what `promtool check metrics` reads) names both `x_total`, and
/// has no `# UNIT` or `# EOF` lines.
fn prometheus_text(open_metrics: &str) -> String {
    let counters: Vec<&str> = open_metrics
        .lines()
        .filter_map(|line| line.strip_prefix("# TYPE ")?.strip_suffix(" counter"))
        .collect();
    let mut out = String::with_capacity(open_metrics.len() + 64);
    for line in open_metrics.lines() {
        if line.starts_with("# UNIT ") || line == "# EOF" {
            continue;
        }
        let metadata = ["# HELP ", "# TYPE "]
            .into_iter()
            .find_map(|prefix| Some((prefix, line.strip_prefix(prefix)?)));
        match metadata {
            Some((prefix, rest)) => {
                let (name, tail) = rest.split_once(' ').unwrap_or((rest, ""));
                let suffix = if counters.contains(&name) {
                    "_total"
                } else {
                    ""
                };
                out.push_str(&format!("{prefix}{name}{suffix} {tail}\n"));
            }
            None => {
                out.push_str(line);
                out.push('\n');
            }
        }
    }
    out
}

fn check_labels(reason: &'static str) -> CheckLabels {
    let outcome = if reason == "valid" {
        "accepted"
    } else {
        "refused"
    };
    CheckLabels { outcome, reason }
}

fn exponential_buckets(start: f64, factor: f64, count: u16) -> impl Iterator<Item = f64> {
    prometheus_client::metrics::histogram::exponential_buckets(start, factor, count)
}

fn unix_now() -> f64 {
    SystemTime::now()
        .duration_since(UNIX_EPOCH)
        .map_or(0.0, |since| since.as_secs_f64())
}

/// Reads values that live elsewhere (the password queue) just before a scrape.
pub type ScrapeHook = Arc<dyn Fn(&Metrics) + Send + Sync>;

/// `GET /metrics`.
pub async fn serve(
    metrics: web::Data<Metrics>,
    hook: Option<web::Data<ScrapeHook>>,
) -> HttpResponse {
    if let Some(hook) = hook {
        hook(&metrics);
    }
    HttpResponse::Ok()
        .insert_header((header::CONTENT_TYPE, HeaderValue::from_static(CONTENT_TYPE)))
        .insert_header((header::CACHE_CONTROL, "no-store"))
        .body(metrics.render())
}

/// One token check in this many is timed, on each worker. Two clock reads
/// and a histogram observation on every check cost /access about 1 % of its
/// instructions (BENCHMARKS.md, "Metrics overhead"); a sample of the checks
/// gives the same distribution.
pub const TOKEN_CHECK_SAMPLE: u32 = 16;

thread_local! {
    static CHECKS_UNTIL_TIMED: std::cell::Cell<u32> = const { std::cell::Cell::new(0) };
}

/// Whether the token check about to run is one of the timed sample.
pub fn time_this_check() -> bool {
    CHECKS_UNTIL_TIMED.with(|left| match left.get() {
        0 => {
            left.set(TOKEN_CHECK_SAMPLE - 1);
            true
        }
        n => {
            left.set(n - 1);
            false
        }
    })
}

/// 1xx..5xx as 0..4.
fn status_class(status: StatusCode) -> usize {
    usize::from(status.as_u16() / 100).clamp(1, 5) - 1
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample<'a>(text: &'a str, series: &str) -> Option<&'a str> {
        text.lines()
            .find_map(|line| line.strip_prefix(series)?.strip_prefix(' '))
    }

    #[test]
    fn every_series_exists_from_the_start_at_zero() {
        let metrics = Metrics::new(["/access"]);
        let text = metrics.render();
        assert_eq!(
            sample(
                &text,
                r#"tokengate_http_requests_total{route="/access",status="2xx"}"#
            ),
            Some("0")
        );
        assert_eq!(
            sample(
                &text,
                r#"tokengate_token_checks_total{outcome="refused",reason="expired"}"#
            ),
            Some("0")
        );
        assert_eq!(
            sample(&text, r#"tokengate_logins_total{outcome="throttled"}"#),
            Some("0")
        );
        assert!(text.contains("tokengate_build_info{version=\""), "{text}");
        assert!(
            text.contains("# TYPE tokengate_logins_total counter\n"),
            "{text}"
        );
        assert!(!text.contains("# EOF"));
    }

    #[test]
    fn counts_land_on_their_labels() {
        let metrics = Metrics::new(["/access"]);
        metrics.request(Some("/access"), StatusCode::UNAUTHORIZED);
        metrics.request(None, StatusCode::NOT_FOUND);
        metrics.request(Some("/added-later"), StatusCode::OK);
        metrics.token_check("expired", Some(Duration::from_micros(5)));
        metrics.token_check("revoked", None);
        metrics.login("mfa_required", Duration::from_millis(30));
        metrics.signing_key("old");
        metrics.signing_key("new");
        let text = metrics.render();
        for (series, value) in [
            (
                r#"tokengate_http_requests_total{route="/access",status="4xx"}"#,
                "1",
            ),
            (
                r#"tokengate_http_requests_total{route="unmatched",status="4xx"}"#,
                "1",
            ),
            (
                r#"tokengate_http_requests_total{route="/added-later",status="2xx"}"#,
                "1",
            ),
            (
                r#"tokengate_token_checks_total{outcome="refused",reason="expired"}"#,
                "1",
            ),
            (
                r#"tokengate_token_checks_total{outcome="refused",reason="revoked"}"#,
                "1",
            ),
            (r#"tokengate_logins_total{outcome="mfa_required"}"#, "1"),
            // Only the timed check is in the histogram.
            (r#"tokengate_token_check_duration_seconds_count"#, "1"),
            (r#"tokengate_signing_key_info{kid="new"}"#, "1"),
        ] {
            assert_eq!(sample(&text, series), Some(value), "{series} in\n{text}");
        }
        assert!(!text.contains(r#"kid="old""#), "{text}");
    }

    #[test]
    fn one_token_check_in_the_sample_size_is_timed() {
        let timed = std::thread::spawn(|| {
            (0..TOKEN_CHECK_SAMPLE * 4)
                .filter(|_| time_this_check())
                .count()
        })
        .join()
        .unwrap();
        assert_eq!(timed, 4);
    }
}
