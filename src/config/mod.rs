//! Settings: layered files under `config/` plus `TOKENGATE__SECTION__KEY`
//! environment variables ([`load`]), deserialized into typed sections and
//! checked value by value ([`Settings::validate`]). What the values point at
//! (key files, the users file) is read by [`crate::runtime_config`].

mod load;
mod rules;

use std::collections::HashMap;
use std::fmt;
use std::path::PathBuf;
use std::time::Duration;

use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::auth::TokenSource;
pub use load::load;

/// The development secret shipped in `config/default.toml`; production refuses it.
pub const DEVELOPMENT_SECRET: &str = "tokengate-development-secret-do-not-use-in-production";

/// A users file carrying this marker is demo data; production refuses it.
pub const DEMO_USERS_MARKER: &str = "# tokengate-demo-users";

/// RFC 7518 3.2: an HMAC key must be at least as long as the hash output.
pub const MIN_HMAC_SECRET_BYTES: usize = 32;

pub(crate) const MIN_TTL: Duration = Duration::from_secs(1);
pub(crate) const MAX_TTL: Duration = Duration::from_secs(24 * 60 * 60);
pub(crate) const MAX_LEEWAY: Duration = Duration::from_secs(5 * 60);
const MIN_CLIENT_TIMEOUT: Duration = Duration::from_millis(100);
const MAX_CLIENT_TIMEOUT: Duration = Duration::from_secs(60);
const MAX_REUSE_GRACE: Duration = Duration::from_secs(60);
pub(crate) const MAX_JWKS_MAX_AGE: Duration = Duration::from_secs(60 * 60);
/// RFC 6238 5.2 recommends at most one step of network delay; two is the ceiling.
const MAX_TOTP_SKEW: u8 = 2;
const MIN_MFA_TOKEN_TTL: Duration = Duration::from_secs(30);
const MAX_MFA_TOKEN_TTL: Duration = crate::auth::MAX_MFA_TOKEN_LIFETIME;
const MAX_MFA_ATTEMPTS: u32 = 10;

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
#[serde(rename_all = "lowercase")]
/// Which environment file is layered in (`TOKENGATE_ENV`).
pub enum Environment {
    /// `development.toml`: demo data allowed.
    Development,
    /// `production.toml`: demo data, weak secrets and loose file modes refused.
    Production,
}

impl Environment {
    /// The name, as `TOKENGATE_ENV` spells it.
    pub fn as_str(self) -> &'static str {
        match self {
            Environment::Development => "development",
            Environment::Production => "production",
        }
    }
}

impl TryFrom<&str> for Environment {
    type Error = ConfigError;

    fn try_from(value: &str) -> Result<Self, Self::Error> {
        match value.to_ascii_lowercase().as_str() {
            "development" => Ok(Environment::Development),
            "production" => Ok(Environment::Production),
            other => Err(ConfigError::new(
                "TOKENGATE_ENV",
                format!("must be `development` or `production`, got `{other}`"),
            )),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// Every setting, one struct per section of the config files.
pub struct Settings {
    /// `[server]`
    pub server: ServerSettings,
    /// `[jwt]`
    pub jwt: JwtSettings,
    /// `[users]`
    pub users: UsersSettings,
    /// `[limits]`
    pub limits: LimitsSettings,
    /// `[sessions]`
    pub sessions: SessionsSettings,
    /// `[mfa]`
    pub mfa: MfaSettings,
    #[serde(default)]
    /// `[log]`
    pub log: LogSettings,
    #[serde(default)]
    /// `[metrics]`
    pub metrics: MetricsSettings,
    /// Which environment file was layered in; set by [`load`], not by files.
    #[serde(skip_deserializing, default = "default_environment")]
    pub environment: Environment,
    /// Where [`load`] read these settings from, so a reload reads them the same way.
    #[serde(skip)]
    pub source: Option<ConfigSource>,
}

/// A config dir and the variables standing in for the environment: what
/// [`load`] needs to read the settings again.
#[derive(Clone)]
pub struct ConfigSource {
    /// The config dir.
    pub dir: PathBuf,
    /// The `TOKENGATE*` variables.
    pub vars: HashMap<String, String>,
}

impl ConfigSource {
    /// Reads the settings again, as [`load`] did.
    pub fn load(&self) -> Result<Settings, ConfigError> {
        load(&self.dir, &self.vars)
    }
}

// The variables may hold secrets (TOKENGATE__JWT__SECRET): never print them.
impl fmt::Debug for ConfigSource {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("ConfigSource")
            .field("dir", &self.dir)
            .field("vars", &format_args!("[{} variables]", self.vars.len()))
            .finish()
    }
}

fn default_environment() -> Environment {
    Environment::Development
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[server]`: the listener and its limits.
pub struct ServerSettings {
    /// Address to bind.
    pub host: String,
    /// Port to bind; 0 picks a free one.
    pub port: u16,
    /// 0 means one worker per CPU core.
    pub workers: usize,
    #[serde(with = "humantime_serde")]
    /// How long requests under way may finish after a stop signal.
    pub shutdown_timeout: Duration,
    #[serde(with = "humantime_serde")]
    /// How long `/readyz` answers 503 before the listener closes.
    pub drain_delay: Duration,
    /// Proxies whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed:
    /// addresses or CIDR networks.
    pub trusted_proxies: Vec<String>,
    /// The replica's name in the `X-Instance-Id` header; the hostname when unset.
    pub instance_id: Option<String>,
    /// How long a client may take to send a whole request head.
    #[serde(with = "humantime_serde")]
    pub client_request_timeout: Duration,
    /// How long a closing connection may take to shut down.
    #[serde(with = "humantime_serde")]
    pub client_disconnect_timeout: Duration,
    /// Concurrent connections per worker.
    pub max_connections: usize,
    /// Serve the unauthenticated `/bare` route for the load benchmark; only
    /// builds with the `bench-routes` feature have it.
    pub bare_route: bool,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[jwt]`: keys, token lifetime and where tokens are looked for.
pub struct JwtSettings {
    #[serde(serialize_with = "mask_secret")]
    /// The HMAC secret of the single-secret form.
    pub secret: Option<SecretString>,
    /// A file holding that secret; wins over `secret`.
    pub secret_file: Option<PathBuf>,
    /// The single-secret form's algorithm: HS256, HS384 or HS512.
    pub algorithm: String,
    #[serde(with = "humantime_serde")]
    /// Access-token lifetime.
    pub ttl: Duration,
    #[serde(with = "humantime_serde")]
    /// Clock-skew allowance for `exp` and `nbf`; zero by default.
    pub leeway: Duration,
    /// The `iss` minted and required.
    pub issuer: String,
    /// The `aud` minted and required.
    pub audience: String,
    /// Where tokens are looked for, in order.
    pub sources: Vec<TokenSource>,
    /// The token cookie's name.
    pub cookie_name: String,
    /// Signing and verification keys; when empty, the single-secret form
    /// (`secret`/`secret_file` and `algorithm`) is the one key.
    #[serde(default)]
    pub keys: Vec<KeySettings>,
    /// The `kid` of the key in `keys` that signs; the others verify only.
    #[serde(default)]
    pub signing_key: Option<String>,
    /// How long clients may cache `/.well-known/jwks.json`.
    #[serde(with = "humantime_serde")]
    pub jwks_max_age: Duration,
}

/// One entry of `[[jwt.keys]]`.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct KeySettings {
    /// The key id.
    pub kid: String,
    /// HS256, HS384, HS512, RS256, ES256 or EdDSA.
    pub algorithm: String,
    /// HMAC only.
    #[serde(default, serialize_with = "mask_secret")]
    pub secret: Option<SecretString>,
    /// HMAC only.
    #[serde(default)]
    pub secret_file: Option<PathBuf>,
    /// Asymmetric only; PKCS#8 PEM (RSA also PKCS#1). Absent for verify-only keys.
    #[serde(default)]
    pub private_key_file: Option<PathBuf>,
    /// Asymmetric only; SPKI PEM. Derived from the private key when absent.
    #[serde(default)]
    pub public_key_file: Option<PathBuf>,
}

/// Login throttling (per client address and per username); a rate of 0 turns a limiter off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    /// Login attempts a minute from one address.
    pub login_per_ip_per_minute: u32,
    /// Attempts one address may make at once before the rate applies.
    pub login_per_ip_burst: u32,
    /// Per username *from one address*: the strict limit.
    pub login_per_user_per_minute: u32,
    /// Attempts at once per username from one address.
    pub login_per_user_burst: u32,
    /// Per username from every address: a looser ceiling.
    pub login_per_user_ceiling_per_minute: u32,
    /// Attempts at once per username from every address.
    pub login_per_user_ceiling_burst: u32,
}

/// Sessions, refresh tokens and revocation.
#[derive(Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SessionsSettings {
    /// `memory` (one instance) or `redis://host:6379/0` (shared by replicas).
    #[serde(serialize_with = "mask_store_password")]
    pub store: String,
    /// How long a refresh token is good for if unused.
    #[serde(with = "humantime_serde")]
    pub refresh_ttl: Duration,
    /// Absolute session lifetime, however often it is refreshed.
    #[serde(with = "humantime_serde")]
    pub max_age: Duration,
    /// How long a just-rotated refresh token still gets the same successor.
    #[serde(with = "humantime_serde")]
    pub reuse_grace: Duration,
}

// The store address may carry a Redis password: print it masked.
impl fmt::Debug for SessionsSettings {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let masked = serde_json::to_value(self).map_err(|_| fmt::Error)?;
        write!(f, "SessionsSettings {masked}")
    }
}

/// `redis://user:password@host` prints as `redis://user:[REDACTED]@host`.
fn mask_store_password<S: serde::Serializer>(
    store: &str,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match store.split_once('@') {
        Some((credentials, host)) if credentials.contains(':') && store.contains("://") => {
            let scheme_end = credentials.find("://").map_or(0, |i| i + 3);
            let user = credentials[scheme_end..]
                .split(':')
                .next()
                .unwrap_or_default();
            serializer.serialize_str(&format!(
                "{}{user}:[REDACTED]@{host}",
                &credentials[..scheme_end]
            ))
        }
        _ => serializer.serialize_str(store),
    }
}

/// `[log]`: how log lines are written.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LogSettings {
    #[serde(default)]
    /// `text` or `json`.
    pub format: LogFormat,
}

/// `log.format`: `text` (env_logger's layout, fields as `key=value`) or
/// `json` (one object per line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    /// env_logger's layout.
    Text,
    /// One JSON object a line.
    Json,
}

/// `[metrics]`: where `GET /metrics` is served.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MetricsSettings {
    /// `false` turns metrics off: no `/metrics`, nothing counted per request.
    #[serde(default = "enabled_by_default")]
    pub enabled: bool,
    /// A separate `host:port` for `/metrics` (kept off the load balancer);
    /// unset or empty: `/metrics` is served on the main listener.
    #[serde(default)]
    pub listen: Option<String>,
}

impl Default for MetricsSettings {
    fn default() -> Self {
        Self {
            enabled: true,
            listen: None,
        }
    }
}

fn enabled_by_default() -> bool {
    true
}

impl MetricsSettings {
    /// The separate listener's address, when one is configured.
    pub fn listen(&self) -> Option<&str> {
        self.listen
            .as_deref()
            .map(str::trim)
            .filter(|listen| !listen.is_empty())
    }
}

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
/// `[users]`: who may log in, their groups and second factors.
pub struct UsersSettings {
    /// The htpasswd users file.
    pub file: PathBuf,
    /// Password checks running at once; 0 means one per CPU core.
    pub hash_concurrency: usize,
    /// Apache `AuthGroupFile`: `group: user1 user2`; the `roles` claim.
    #[serde(default)]
    pub groups_file: Option<PathBuf>,
    /// `user:BASE32SECRET` lines: these users log in with a one-time code too.
    #[serde(default)]
    pub totp_file: Option<PathBuf>,
    /// The group whose members may use the operator endpoints.
    pub admin_group: String,
}

/// The second factor (TOTP, RFC 6238).
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct MfaSettings {
    /// Time steps (30 s each) a code may be off, either way.
    pub skew: u8,
    /// How long an `mfa_token` lasts between the password and the code.
    #[serde(with = "humantime_serde")]
    pub token_ttl: Duration,
    /// Wrong codes one `mfa_token` may try before it is spent.
    pub max_attempts: u32,
}

fn mask_secret<S: serde::Serializer>(
    secret: &Option<SecretString>,
    serializer: S,
) -> Result<S::Ok, S::Error> {
    match secret {
        Some(_) => serializer.serialize_str("[REDACTED]"),
        None => serializer.serialize_none(),
    }
}

/// A start-up configuration error, always naming the offending key.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ConfigError {
    /// The dotted key, e.g. `jwt.ttl`.
    pub key: String,
    /// What is wrong with its value; never the value itself.
    pub message: String,
}

impl ConfigError {
    /// An error about `key`.
    pub fn new(key: impl Into<String>, message: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            message: message.into(),
        }
    }
}

impl fmt::Display for ConfigError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "invalid configuration: {}: {}", self.key, self.message)
    }
}

impl std::error::Error for ConfigError {}

impl Settings {
    /// The longest an access token minted now can be accepted: `jwt.ttl`
    /// plus the leeway. Revocations are kept that long.
    pub fn access_lifetime(&self) -> Duration {
        self.jwt.ttl + self.jwt.leeway
    }

    /// `server.workers`, with 0 meaning one per core.
    pub fn workers(&self) -> usize {
        or_core_count(self.server.workers)
    }

    /// `users.hash_concurrency`, with 0 meaning one per core.
    pub fn hash_concurrency(&self) -> usize {
        or_core_count(self.users.hash_concurrency)
    }
}

pub(crate) fn or_core_count(value: usize) -> usize {
    if value > 0 {
        value
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}
