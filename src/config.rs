//! Settings: layered files under `config/` plus `TOKENGATE__SECTION__KEY`
//! environment variables, deserialized into typed sections and validated once
//! at start-up so a bad value stops the service with a message naming its key.

use std::collections::HashMap;
use std::fmt;
use std::net::ToSocketAddrs;
use std::path::{Path, PathBuf};
use std::time::Duration;

use jsonwebtoken::Algorithm;
use secrecy::SecretString;
use serde::{Deserialize, Serialize};

use crate::credentials::Groups;
use crate::mfa::{self, TotpSecrets};
use crate::proxy::{InstanceId, TrustedProxies};

/// The compiled-in base layer: the binary runs even where `config/` is absent.
const EMBEDDED_DEFAULTS: &str = include_str!("../config/default.toml");

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
pub enum Environment {
    Development,
    Production,
}

impl Environment {
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
pub struct Settings {
    pub server: ServerSettings,
    pub jwt: JwtSettings,
    pub users: UsersSettings,
    pub limits: LimitsSettings,
    pub sessions: SessionsSettings,
    pub mfa: MfaSettings,
    #[serde(default)]
    pub log: LogSettings,
    #[serde(default)]
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
    pub dir: PathBuf,
    pub vars: HashMap<String, String>,
}

impl ConfigSource {
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
pub struct ServerSettings {
    pub host: String,
    pub port: u16,
    /// 0 means one worker per CPU core.
    pub workers: usize,
    #[serde(with = "humantime_serde")]
    pub shutdown_timeout: Duration,
    #[serde(with = "humantime_serde")]
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
pub struct JwtSettings {
    #[serde(serialize_with = "mask_secret")]
    pub secret: Option<SecretString>,
    pub secret_file: Option<PathBuf>,
    pub algorithm: String,
    #[serde(with = "humantime_serde")]
    pub ttl: Duration,
    #[serde(with = "humantime_serde")]
    pub leeway: Duration,
    pub issuer: String,
    pub audience: String,
    pub sources: Vec<TokenSource>,
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

/// Login throttling (see [`crate::throttle`]); a rate of 0 turns a limiter off.
#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LimitsSettings {
    pub login_per_ip_per_minute: u32,
    pub login_per_ip_burst: u32,
    /// Per username *from one address*: the strict limit.
    pub login_per_user_per_minute: u32,
    pub login_per_user_burst: u32,
    /// Per username from every address: a looser ceiling.
    pub login_per_user_ceiling_per_minute: u32,
    pub login_per_user_ceiling_burst: u32,
}

/// Sessions, refresh tokens and revocation (see [`crate::sessions`]).
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
    pub format: LogFormat,
}

/// `log.format`: `text` (env_logger's layout, fields as `key=value`) or
/// `json` (one object per line).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum LogFormat {
    #[default]
    Text,
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

#[derive(Debug, Clone, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct UsersSettings {
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
    pub key: String,
    pub message: String,
}

impl ConfigError {
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

/// Loads and validates the layered settings.
///
/// `vars` stands in for the process environment (tests pass their own map):
/// `TOKENGATE_ENV` picks the environment file, `TOKENGATE__*` override keys.
pub fn load(config_dir: &Path, vars: &HashMap<String, String>) -> Result<Settings, ConfigError> {
    let environment = match vars.get("TOKENGATE_ENV") {
        Some(value) => Environment::try_from(value.as_str())?,
        None => Environment::Development,
    };
    if !config_dir.is_dir() {
        return Err(ConfigError::new(
            "--config-dir",
            format!("`{}` is not a directory", config_dir.display()),
        ));
    }

    let mut overrides: config::Map<String, String> = vars
        .iter()
        .filter(|(name, _)| name.starts_with("TOKENGATE__"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    // The list settings, comma-separated in a variable. Every other value
    // stays the string it was: the config crate's `try_parsing` turned an
    // all-digit secret into a float (40 digits became 17); numbers and
    // booleans are parsed from strings field by field anyway.
    let lists: Vec<(&str, Vec<String>)> = [
        ("TOKENGATE__JWT__SOURCES", "jwt.sources"),
        (
            "TOKENGATE__SERVER__TRUSTED_PROXIES",
            "server.trusted_proxies",
        ),
    ]
    .into_iter()
    .filter_map(|(variable, key)| {
        let value = overrides.remove(variable)?;
        let items = value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        Some((key, items))
    })
    .collect();
    let layered = config::Config::builder()
        .add_source(config::File::from_str(
            EMBEDDED_DEFAULTS,
            config::FileFormat::Toml,
        ))
        .add_source(config::File::from(config_dir.join("default.toml")).required(false))
        .add_source(
            config::File::from(config_dir.join(format!("{}.toml", environment.as_str())))
                .required(false),
        )
        .add_source(config::File::from(config_dir.join("local.toml")).required(false))
        .add_source(
            config::Environment::with_prefix("TOKENGATE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(overrides)),
        );
    let layered = lists
        .into_iter()
        .try_fold(layered, |builder, (key, items)| {
            builder.set_override(key, items)
        })
        .map_err(from_config_crate)?
        .build()
        .map_err(from_config_crate)?;

    let mut settings: Settings = layered.try_deserialize().map_err(from_config_crate)?;
    settings.environment = environment;
    settings.validate()?;
    settings.source = Some(ConfigSource {
        dir: config_dir.to_owned(),
        // Only what `load` reads, so no unrelated secret is kept around.
        vars: vars
            .iter()
            .filter(|(name, _)| name.starts_with("TOKENGATE"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    });
    Ok(settings)
}

/// The `config` crate names the key inside its message; keep that sentence whole.
fn from_config_crate(error: config::ConfigError) -> ConfigError {
    // A parser's message quotes the offending source line, which may hold a
    // secret: keep only its first line, the position (TOML's reads
    // "TOML parse error at line 2, column 10").
    if let config::ConfigError::FileParse { uri, cause } = &error {
        let cause = cause.to_string();
        let position = cause.lines().next().unwrap_or_default();
        let position = position
            .find("line ")
            .map_or("position unknown", |at| &position[at..]);
        return ConfigError::new(
            uri.clone().unwrap_or_else(|| "config".to_owned()),
            format!("syntax error at {position}"),
        );
    }
    // The found value is left out: it may be the secret, in the wrong type
    // (an unquoted all-digit `jwt.secret` in a file).
    if let config::ConfigError::Type {
        key: Some(key),
        unexpected,
        expected,
        ..
    } = &error
    {
        // `64-bit integer `123``, `string "abc"`: the kind, without the value.
        let found = unexpected.to_string();
        let found = found.split(['`', '"']).next().unwrap_or_default().trim();
        return ConfigError::new(key.clone(), format!("expected {expected}, found {found}"));
    }
    let message = error.to_string();
    let key = match &error {
        config::ConfigError::Type { key: Some(key), .. } => key.clone(),
        // The config crate spells a field of a list entry `jwt.keys[1]kid`.
        config::ConfigError::NotFound(key) => dotted(key),
        _ => {
            let quoted = |after: &str| {
                let rest = &message[message.find(after)? + after.len()..];
                rest.split('`').next().map(str::to_owned)
            };
            let field = quoted("unknown field `").or_else(|| quoted("missing field `"));
            match (quoted("for key `"), field) {
                // Inside a list entry: `jwt.keys[1]` plus the field, `jwt.keys[1].pubkey`.
                (Some(parent), Some(field)) => format!("{parent}.{field}"),
                (_, Some(field)) => field,
                (Some(parent), None) => parent,
                (None, None) => message
                    .split('`')
                    .nth(1)
                    .map(str::to_owned)
                    .unwrap_or_else(|| "config".to_owned()),
            }
        }
    };
    ConfigError::new(key, message)
}

/// `jwt.keys[1]kid` → `jwt.keys[1].kid`.
fn dotted(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']'
            && chars
                .peek()
                .is_some_and(|next| next.is_alphanumeric() || *next == '_')
        {
            out.push('.');
        }
    }
    out
}

impl Settings {
    /// Checks every rule a deserializer cannot express.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let jwt = &self.jwt;
        if !(MIN_TTL..=MAX_TTL).contains(&jwt.ttl) {
            return Err(ConfigError::new(
                "jwt.ttl",
                format!(
                    "must be between 1s and 24h, got {}",
                    humantime::format_duration(jwt.ttl)
                ),
            ));
        }
        if jwt.leeway > MAX_LEEWAY {
            return Err(ConfigError::new(
                "jwt.leeway",
                format!(
                    "must be at most 5m, got {}",
                    humantime::format_duration(jwt.leeway)
                ),
            ));
        }
        self.trusted_proxies()?;
        self.instance_id()?;
        self.sessions.validate()?;
        if let Some(listen) = self.metrics.listen()
            && listen.to_socket_addrs().is_err()
        {
            return Err(ConfigError::new(
                "metrics.listen",
                format!("`{listen}` is not a host:port address"),
            ));
        }
        self.validate_server_limits()?;
        if self.server.bare_route && !cfg!(feature = "bench-routes") {
            return Err(ConfigError::new(
                "server.bare_route",
                "this build has no /bare route (only `cargo build --features bench-routes` \
                 does, for the benchmarks); set it to false",
            ));
        }
        for (key, value) in [
            ("jwt.issuer", &jwt.issuer),
            ("jwt.audience", &jwt.audience),
            ("jwt.cookie_name", &jwt.cookie_name),
            ("server.host", &self.server.host),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::new(key, "must not be empty"));
            }
        }
        if jwt.sources.is_empty() {
            return Err(ConfigError::new(
                "jwt.sources",
                "must name at least one source",
            ));
        }
        if jwt.jwks_max_age > MAX_JWKS_MAX_AGE {
            return Err(ConfigError::new(
                "jwt.jwks_max_age",
                format!(
                    "must be at most 1h, got {}",
                    humantime::format_duration(jwt.jwks_max_age)
                ),
            ));
        }
        // Loading every key is the only way to know the files hold usable keys.
        crate::auth::KeySet::from_settings(jwt, self.environment)?;
        let users = std::fs::read_to_string(&self.users.file).map_err(|error| {
            ConfigError::new(
                "users.file",
                format!("cannot read `{}`: {error}", self.users.file.display()),
            )
        })?;
        // Parsed here, so `check-config` refuses what `serve` would (exit 78).
        let store = crate::credentials::HtpasswdStore::parse(&users).map_err(|error| {
            ConfigError::new(
                "users.file",
                format!("`{}`: {error}", self.users.file.display()),
            )
        })?;
        if self.environment == Environment::Production {
            self.validate_for_production(&users, store.user_count() == 0)?;
        }
        self.validate_roles_and_mfa()
    }

    /// What production refuses beyond the general rules: demo data, an
    /// empty users file, files any local user could rewrite.
    fn validate_for_production(&self, users: &str, no_users: bool) -> Result<(), ConfigError> {
        let refuse = |message: &str| Err(ConfigError::new("users.file", message));
        if users.contains(DEMO_USERS_MARKER) {
            return refuse("the demo users file is refused in production");
        }
        // The demo account copied without its marker comment.
        if demo_hashes().any(|hash| users.contains(hash)) {
            return refuse("holds the demo user's password hash, refused in production");
        }
        if no_users {
            return refuse("lists no user, so nobody could log in");
        }
        let jwt = &self.jwt;
        let mut files = vec![("users.file".to_owned(), &self.users.file)];
        files.extend(
            jwt.secret_file
                .iter()
                .map(|f| ("jwt.secret_file".to_owned(), f)),
        );
        for (index, key) in jwt.keys.iter().enumerate() {
            for (field, file) in [
                ("secret_file", &key.secret_file),
                ("private_key_file", &key.private_key_file),
            ] {
                if let Some(file) = file {
                    files.push((format!("jwt.keys[{index}].{field}"), file));
                }
            }
        }
        for (key, file) in files {
            if is_world_writable(file) {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "`{}` is writable by every user; refused in production (chmod o-w)",
                        file.display()
                    ),
                ));
            }
        }
        Ok(())
    }

    fn validate_roles_and_mfa(&self) -> Result<(), ConfigError> {
        if self.users.admin_group.trim().is_empty() {
            return Err(ConfigError::new("users.admin_group", "must not be empty"));
        }
        self.groups()?;
        self.totp_secrets()?;
        let mfa = &self.mfa;
        if mfa.skew > MAX_TOTP_SKEW {
            return Err(ConfigError::new(
                "mfa.skew",
                format!("must be at most {MAX_TOTP_SKEW} steps, got {}", mfa.skew),
            ));
        }
        if !(MIN_MFA_TOKEN_TTL..=MAX_MFA_TOKEN_TTL).contains(&mfa.token_ttl) {
            return Err(ConfigError::new(
                "mfa.token_ttl",
                format!(
                    "must be between 30s and 15m, got {}",
                    humantime::format_duration(mfa.token_ttl)
                ),
            ));
        }
        if !(1..=MAX_MFA_ATTEMPTS).contains(&mfa.max_attempts) {
            return Err(ConfigError::new(
                "mfa.max_attempts",
                format!(
                    "must be between 1 and {MAX_MFA_ATTEMPTS}, got {}",
                    mfa.max_attempts
                ),
            ));
        }
        Ok(())
    }

    /// The parsed `users.groups_file`; empty when unset.
    pub fn groups(&self) -> Result<Groups, ConfigError> {
        let Some(path) = &self.users.groups_file else {
            return Ok(Groups::default());
        };
        Groups::from_file(path).map_err(|error| {
            ConfigError::new(
                "users.groups_file",
                format!("`{}`: {error}", path.display()),
            )
        })
    }

    /// The parsed `users.totp_file`, empty when unset. A file others can
    /// read is refused in production; elsewhere the warning is returned.
    pub fn totp_secrets(&self) -> Result<(TotpSecrets, Option<String>), ConfigError> {
        let Some(path) = &self.users.totp_file else {
            return Ok((TotpSecrets::default(), None));
        };
        let key_error = |message: String| {
            ConfigError::new(
                "users.totp_file",
                format!("`{}`: {message}", path.display()),
            )
        };
        let secrets = TotpSecrets::from_file(path, self.mfa.skew)
            .map_err(|error| key_error(error.to_string()))?;
        let wide = mfa::mode_is_too_wide(path).map_err(|error| key_error(error.to_string()))?;
        let warning = match wide {
            None => None,
            Some(mode) => {
                let message = format!(
                    "mode {mode:o} is wider than 0600: others may read the TOTP secrets (chmod 600)"
                );
                if self.environment == Environment::Production {
                    return Err(key_error(message));
                }
                Some(format!("users.totp_file: `{}`: {message}", path.display()))
            }
        };
        Ok((secrets, warning))
    }

    fn validate_server_limits(&self) -> Result<(), ConfigError> {
        let server = &self.server;
        for (key, value) in [
            (
                "server.client_request_timeout",
                server.client_request_timeout,
            ),
            (
                "server.client_disconnect_timeout",
                server.client_disconnect_timeout,
            ),
        ] {
            // Zero would switch the timeout off, leaving slow senders unbounded.
            if !(MIN_CLIENT_TIMEOUT..=MAX_CLIENT_TIMEOUT).contains(&value) {
                return Err(ConfigError::new(
                    key,
                    format!(
                        "must be between 100ms and 60s, got {}",
                        humantime::format_duration(value)
                    ),
                ));
            }
        }
        if server.max_connections == 0 {
            return Err(ConfigError::new(
                "server.max_connections",
                "must be at least 1",
            ));
        }
        let limits = &self.limits;
        for (key, rate, burst) in [
            (
                "limits.login_per_ip_burst",
                limits.login_per_ip_per_minute,
                limits.login_per_ip_burst,
            ),
            (
                "limits.login_per_user_burst",
                limits.login_per_user_per_minute,
                limits.login_per_user_burst,
            ),
            (
                "limits.login_per_user_ceiling_burst",
                limits.login_per_user_ceiling_per_minute,
                limits.login_per_user_ceiling_burst,
            ),
        ] {
            if rate > 0 && burst == 0 {
                return Err(ConfigError::new(
                    key,
                    "must be at least 1 while its rate is on",
                ));
            }
        }
        Ok(())
    }

    /// The configured signing algorithm; only the HMAC family for now.
    /// The single-secret form's algorithm (`jwt.algorithm`).
    pub fn algorithm(&self) -> Result<Algorithm, ConfigError> {
        self.jwt.algorithm()
    }

    /// The single-secret form's HMAC secret: `jwt.secret_file` when set, else `jwt.secret`.
    pub fn jwt_secret(&self) -> Result<SecretString, ConfigError> {
        self.jwt.secret()
    }

    pub fn trusted_proxies(&self) -> Result<TrustedProxies, ConfigError> {
        TrustedProxies::parse(&self.server.trusted_proxies)
            .map_err(|message| ConfigError::new("server.trusted_proxies", message))
    }

    /// `server.instance_id`, or the hostname when unset.
    pub fn instance_id(&self) -> Result<InstanceId, ConfigError> {
        match &self.server.instance_id {
            Some(name) => InstanceId::new(name)
                .map_err(|message| ConfigError::new("server.instance_id", message)),
            None => Ok(InstanceId::from_hostname()),
        }
    }

    /// The longest an access token minted now can be accepted: `jwt.ttl`
    /// plus the leeway. Revocations are kept that long.
    pub fn access_lifetime(&self) -> Duration {
        self.jwt.ttl + self.jwt.leeway
    }

    pub fn workers(&self) -> usize {
        or_core_count(self.server.workers)
    }

    pub fn hash_concurrency(&self) -> usize {
        or_core_count(self.users.hash_concurrency)
    }
}

impl SessionsSettings {
    fn validate(&self) -> Result<(), ConfigError> {
        let store = self.store.as_str();
        if store != "memory" {
            if !(store.starts_with("redis://") || store.starts_with("rediss://")) {
                return Err(ConfigError::new(
                    "sessions.store",
                    "must be `memory` or a redis:// (or rediss://) address",
                ));
            }
            redis::Client::open(store).map_err(|error| {
                ConfigError::new(
                    "sessions.store",
                    format!("not a usable Redis address: {error}"),
                )
            })?;
        }
        for (key, value) in [
            ("sessions.refresh_ttl", self.refresh_ttl),
            ("sessions.max_age", self.max_age),
        ] {
            if value < MIN_TTL {
                return Err(ConfigError::new(key, "must be at least 1s"));
            }
        }
        if self.max_age < self.refresh_ttl {
            return Err(ConfigError::new(
                "sessions.max_age",
                "must be at least sessions.refresh_ttl",
            ));
        }
        if self.reuse_grace > MAX_REUSE_GRACE {
            return Err(ConfigError::new(
                "sessions.reuse_grace",
                format!(
                    "must be at most 1m, got {}",
                    humantime::format_duration(self.reuse_grace)
                ),
            ));
        }
        Ok(())
    }
}

impl JwtSettings {
    /// The single-secret form's algorithm: HMAC only, since the other
    /// algorithms need key files and so a `[[jwt.keys]]` entry.
    pub fn algorithm(&self) -> Result<Algorithm, ConfigError> {
        match self.algorithm.as_str() {
            "HS256" => Ok(Algorithm::HS256),
            "HS384" => Ok(Algorithm::HS384),
            "HS512" => Ok(Algorithm::HS512),
            other => Err(ConfigError::new(
                "jwt.algorithm",
                format!(
                    "unsupported algorithm `{other}` (expected HS256, HS384 or HS512; \
                     RS256, ES256 and EdDSA keys are listed in [[jwt.keys]])"
                ),
            )),
        }
    }

    /// The single-secret form's secret: `secret_file` when set, else `secret`.
    pub fn secret(&self) -> Result<SecretString, ConfigError> {
        if let Some(path) = &self.secret_file {
            return crate::auth::read_secret_file(path, "jwt.secret_file");
        }
        self.secret
            .clone()
            .ok_or_else(|| ConfigError::new("jwt.secret", "must be set (or jwt.secret_file)"))
    }

    pub fn secret_key_name(&self) -> &'static str {
        if self.secret_file.is_some() {
            "jwt.secret_file"
        } else {
            "jwt.secret"
        }
    }
}

/// The password hashes of the shipped demo users file.
fn demo_hashes() -> impl Iterator<Item = &'static str> {
    include_str!("../config/demo-users.htpasswd")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once(':').map(|(_, hash)| hash.trim()))
        .filter(|hash| !hash.is_empty())
}

fn is_world_writable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o002 != 0)
}

pub(crate) fn or_core_count(value: usize) -> usize {
    if value > 0 {
        value
    } else {
        std::thread::available_parallelism().map_or(1, |n| n.get())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use secrecy::ExposeSecret;

    fn repo_config() -> PathBuf {
        PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("config")
    }

    fn vars(pairs: &[(&str, &str)]) -> HashMap<String, String> {
        let mut map: HashMap<String, String> = pairs
            .iter()
            .map(|(k, v)| (k.to_string(), v.to_string()))
            .collect();
        // The demo users file path is relative to the repository root.
        map.entry("TOKENGATE__USERS__FILE".into())
            .or_insert_with(|| {
                repo_config()
                    .join("demo-users.htpasswd")
                    .display()
                    .to_string()
            });
        map
    }

    #[test]
    fn embedded_defaults_load_as_documented() {
        let settings = load(&repo_config(), &vars(&[])).expect("defaults load");
        assert_eq!(settings.server.host, "127.0.0.1");
        assert_eq!(settings.server.port, 8080);
        assert_eq!(settings.jwt.ttl, Duration::from_secs(600));
        assert_eq!(settings.jwt.leeway, Duration::ZERO);
        assert_eq!(settings.algorithm().unwrap(), Algorithm::HS256);
        assert_eq!(settings.environment, Environment::Development);
    }

    #[test]
    fn environment_variables_override_files() {
        let settings = load(
            &repo_config(),
            &vars(&[
                ("TOKENGATE__JWT__TTL", "30s"),
                ("TOKENGATE__SERVER__PORT", "9000"),
                ("TOKENGATE__JWT__SOURCES", "bearer,cookie"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.jwt.ttl, Duration::from_secs(30));
        assert_eq!(settings.server.port, 9000);
        assert_eq!(
            settings.jwt.sources,
            vec![TokenSource::Bearer, TokenSource::Cookie]
        );
    }

    #[test]
    fn string_settings_from_the_environment_arrive_byte_for_byte() {
        let digits = "1234567890123456789012345678901234567890";
        let settings = load(
            &repo_config(),
            &vars(&[
                ("TOKENGATE__JWT__SECRET", digits),
                ("TOKENGATE__JWT__ISSUER", "007"),
                ("TOKENGATE__JWT__AUDIENCE", "1e3"),
                ("TOKENGATE__SERVER__INSTANCE_ID", "0x10"),
                ("TOKENGATE__METRICS__ENABLED", "false"),
                ("TOKENGATE__SERVER__WORKERS", "3"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.jwt_secret().unwrap().expose_secret(), digits);
        assert_eq!(settings.jwt.issuer, "007");
        assert_eq!(settings.jwt.audience, "1e3");
        assert_eq!(settings.instance_id().unwrap().as_str(), "0x10");
        assert!(!settings.metrics.enabled);
        assert_eq!(settings.server.workers, 3);
    }

    #[test]
    fn a_syntax_error_names_file_line_and_column_but_never_the_line() {
        let dir = tempfile::tempdir().unwrap();
        for file in ["default.toml", "development.toml"] {
            std::fs::copy(repo_config().join(file), dir.path().join(file)).unwrap();
        }
        let local = dir.path().join("local.toml");
        std::fs::write(
            &local,
            "[jwt]\nsecret = \"unclosed-secret-0123456789abcdef-0123456789\n",
        )
        .unwrap();
        let error = load(dir.path(), &vars(&[])).unwrap_err();
        let printed = error.to_string();
        assert!(!printed.contains("unclosed-secret"), "{printed}");
        assert!(!printed.contains('\n'), "{printed}");
        assert!(error.key.ends_with("local.toml"), "{printed}");
        assert!(printed.contains("line 2, column"), "{printed}");
    }

    #[test]
    fn a_value_of_the_wrong_type_is_named_by_key_but_never_printed() {
        let dir = tempfile::tempdir().unwrap();
        std::fs::write(
            dir.path().join("local.toml"),
            "[jwt]\nsecret = 987654321098765432\n",
        )
        .unwrap();
        let error = load(dir.path(), &vars(&[])).unwrap_err();
        assert_eq!(error.key, "jwt.secret", "{error}");
        assert!(!error.to_string().contains("98765"), "{error}");
    }

    #[test]
    fn bad_duration_names_the_key() {
        let error = load(&repo_config(), &vars(&[("TOKENGATE__JWT__TTL", "soon")])).unwrap_err();
        assert_eq!(error.key, "jwt.ttl", "{error}");
    }

    #[test]
    fn ttl_out_of_bounds_is_refused() {
        for ttl in ["0s", "2days"] {
            let error = load(&repo_config(), &vars(&[("TOKENGATE__JWT__TTL", ttl)])).unwrap_err();
            assert_eq!(error.key, "jwt.ttl", "{error}");
        }
    }

    #[test]
    fn unknown_algorithm_is_refused() {
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__JWT__ALGORITHM", "none")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "jwt.algorithm");
    }

    #[test]
    fn short_secret_is_refused() {
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__JWT__SECRET", "short")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "jwt.secret");
    }

    #[test]
    fn production_refuses_the_development_secret() {
        let error = load(&repo_config(), &vars(&[("TOKENGATE_ENV", "production")])).unwrap_err();
        assert_eq!(error.key, "jwt.secret", "{error}");
    }

    #[test]
    fn production_refuses_the_demo_users_file() {
        let error = load(
            &repo_config(),
            &vars(&[
                ("TOKENGATE_ENV", "production"),
                (
                    "TOKENGATE__JWT__SECRET",
                    "a-production-secret-of-at-least-32-bytes",
                ),
            ]),
        )
        .unwrap_err();
        assert_eq!(error.key, "users.file", "{error}");
    }

    fn production_vars<'a>(
        users: &'a str,
        extra: &[(&'a str, &'a str)],
    ) -> HashMap<String, String> {
        let mut pairs = vec![
            ("TOKENGATE_ENV", "production"),
            (
                "TOKENGATE__JWT__SECRET",
                "a-production-secret-of-at-least-32-bytes",
            ),
            ("TOKENGATE__USERS__FILE", users),
        ];
        pairs.extend_from_slice(extra);
        vars(&pairs)
    }

    #[test]
    fn production_refuses_empty_demo_or_world_writable_users_files_and_secrets() {
        use std::os::unix::fs::PermissionsExt;
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        let users_path = users.to_str().unwrap();
        let real = format!("alice:{}\n", crate::credentials::hash_password("x"));
        std::fs::write(&users, &real).unwrap();
        std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();
        load(&repo_config(), &production_vars(users_path, &[])).expect("a sound file loads");

        let demo = std::fs::read_to_string(repo_config().join("demo-users.htpasswd")).unwrap();
        let without_marker: String = demo
            .lines()
            .filter(|line| !line.starts_with('#'))
            .map(|line| format!("{line}\n"))
            .collect();
        for contents in ["", "# only a comment\n", without_marker.as_str()] {
            std::fs::write(&users, contents).unwrap();
            let error = load(&repo_config(), &production_vars(users_path, &[])).unwrap_err();
            assert_eq!(error.key, "users.file", "{contents:?}: {error}");
        }

        std::fs::write(&users, &real).unwrap();
        std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o666)).unwrap();
        let error = load(&repo_config(), &production_vars(users_path, &[])).unwrap_err();
        assert_eq!(error.key, "users.file", "{error}");
        std::fs::set_permissions(&users, std::fs::Permissions::from_mode(0o644)).unwrap();

        let secret = dir.path().join("secret");
        std::fs::write(&secret, "0123456789abcdef0123456789abcdef\n").unwrap();
        std::fs::set_permissions(&secret, std::fs::Permissions::from_mode(0o646)).unwrap();
        let extra = [("TOKENGATE__JWT__SECRET_FILE", secret.to_str().unwrap())];
        let error = load(&repo_config(), &production_vars(users_path, &extra)).unwrap_err();
        assert_eq!(error.key, "jwt.secret_file", "{error}");

        // Development accepts all of this.
        std::fs::write(&users, "").unwrap();
        load(
            &repo_config(),
            &vars(&[("TOKENGATE__USERS__FILE", users_path)]),
        )
        .unwrap();
    }

    #[test]
    fn production_refuses_the_development_secret_with_spaces_around_it() {
        let padded = format!("{DEVELOPMENT_SECRET} ");
        let error = load(
            &repo_config(),
            &vars(&[
                ("TOKENGATE_ENV", "production"),
                ("TOKENGATE__JWT__SECRET", padded.as_str()),
            ]),
        )
        .unwrap_err();
        assert_eq!(error.key, "jwt.secret", "{error}");
    }

    #[test]
    fn users_files_serve_would_refuse_are_refused_at_load() {
        let dir = tempfile::tempdir().unwrap();
        let users = dir.path().join("users");
        for line in [
            "alice:$apr1$abc$def",
            "alice:{SHA}abc=",
            "alice:plaintext",
            "alice:ab01FAX.bQRSU",
        ] {
            std::fs::write(&users, format!("{line}\n")).unwrap();
            let error = load(
                &repo_config(),
                &vars(&[("TOKENGATE__USERS__FILE", users.to_str().unwrap())]),
            )
            .unwrap_err();
            assert_eq!(error.key, "users.file", "{line}: {error}");
            assert!(error.message.contains("line 1"), "{error}");
        }
    }

    #[test]
    fn missing_users_file_is_refused() {
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__USERS__FILE", "/nonexistent/users")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "users.file");
    }

    #[test]
    fn switched_off_client_timeouts_are_refused() {
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__SERVER__CLIENT_REQUEST_TIMEOUT", "0s")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "server.client_request_timeout", "{error}");
    }

    #[test]
    fn a_login_limit_without_burst_is_refused() {
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__LIMITS__LOGIN_PER_USER_BURST", "0")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "limits.login_per_user_burst", "{error}");
    }

    #[test]
    fn unknown_keys_are_refused() {
        let error = load(&repo_config(), &vars(&[("TOKENGATE__JWT__TTTL", "1s")])).unwrap_err();
        assert!(error.to_string().contains("tttl"), "{error}");
    }

    #[test]
    fn secret_file_wins_and_loses_its_trailing_newline() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("secret");
        std::fs::write(&path, "0123456789abcdef0123456789abcdef\n").unwrap();
        let settings = load(
            &repo_config(),
            &vars(&[("TOKENGATE__JWT__SECRET_FILE", path.to_str().unwrap())]),
        )
        .unwrap();
        assert_eq!(
            settings.jwt_secret().unwrap().expose_secret(),
            "0123456789abcdef0123456789abcdef"
        );
    }

    #[test]
    fn trusted_proxies_come_from_a_comma_separated_variable() {
        let settings = load(
            &repo_config(),
            &vars(&[("TOKENGATE__SERVER__TRUSTED_PROXIES", "127.0.0.1,10.0.0.0/8")]),
        )
        .unwrap();
        let proxies = settings.trusted_proxies().unwrap();
        assert!(proxies.contains("10.9.8.7".parse().unwrap()));
        assert!(proxies.contains("127.0.0.1".parse().unwrap()));
    }

    #[test]
    fn no_proxy_is_trusted_by_default() {
        let settings = load(&repo_config(), &vars(&[])).unwrap();
        assert_eq!(
            settings.trusted_proxies().unwrap(),
            TrustedProxies::default()
        );
    }

    #[test]
    fn a_bad_trusted_proxy_names_the_key() {
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__SERVER__TRUSTED_PROXIES", "10.0.0.0/33")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "server.trusted_proxies", "{error}");
    }

    #[test]
    fn instance_id_defaults_to_the_hostname_and_can_be_set() {
        let settings = load(&repo_config(), &vars(&[])).unwrap();
        assert_eq!(settings.instance_id().unwrap(), InstanceId::from_hostname());
        let settings = load(
            &repo_config(),
            &vars(&[("TOKENGATE__SERVER__INSTANCE_ID", "replica-b")]),
        )
        .unwrap();
        assert_eq!(settings.instance_id().unwrap().as_str(), "replica-b");
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__SERVER__INSTANCE_ID", "two words")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "server.instance_id", "{error}");
    }

    #[test]
    fn sessions_default_to_the_memory_store_and_a_bad_store_names_the_key() {
        let settings = load(&repo_config(), &vars(&[])).unwrap();
        assert_eq!(settings.sessions.store, "memory");
        assert_eq!(settings.sessions.refresh_ttl, Duration::from_secs(86_400));
        assert_eq!(settings.sessions.max_age, Duration::from_secs(7 * 86_400));
        assert_eq!(settings.sessions.reuse_grace, Duration::from_secs(5));
        for (key, value, named) in [
            (
                "TOKENGATE__SESSIONS__STORE",
                "postgres://x",
                "sessions.store",
            ),
            (
                "TOKENGATE__SESSIONS__REUSE_GRACE",
                "2m",
                "sessions.reuse_grace",
            ),
            ("TOKENGATE__SESSIONS__MAX_AGE", "1h", "sessions.max_age"),
            (
                "TOKENGATE__SESSIONS__REFRESH_TTL",
                "0s",
                "sessions.refresh_ttl",
            ),
        ] {
            let error = load(&repo_config(), &vars(&[(key, value)])).unwrap_err();
            assert_eq!(error.key, named, "{error}");
        }
        let zero_grace = load(
            &repo_config(),
            &vars(&[("TOKENGATE__SESSIONS__REUSE_GRACE", "0s")]),
        );
        assert!(zero_grace.is_ok());
    }

    #[test]
    fn the_store_password_is_masked() {
        let settings = load(
            &repo_config(),
            &vars(&[(
                "TOKENGATE__SESSIONS__STORE",
                "redis://app:hunter2@cache:6379/0",
            )]),
        )
        .unwrap();
        let json = serde_json::to_string(&settings).unwrap();
        assert!(!json.contains("hunter2"), "{json}");
        assert!(
            json.contains("redis://app:[REDACTED]@cache:6379/0"),
            "{json}"
        );
    }

    #[test]
    fn log_format_and_metrics_listener_are_optional_and_checked() {
        let settings = load(&repo_config(), &vars(&[])).unwrap();
        assert_eq!(settings.log.format, LogFormat::Text);
        assert_eq!(settings.metrics.listen(), None);
        let settings = load(
            &repo_config(),
            &vars(&[
                ("TOKENGATE__LOG__FORMAT", "json"),
                ("TOKENGATE__METRICS__LISTEN", "127.0.0.1:9100"),
            ]),
        )
        .unwrap();
        assert_eq!(settings.log.format, LogFormat::Json);
        assert_eq!(settings.metrics.listen(), Some("127.0.0.1:9100"));
        let error = load(&repo_config(), &vars(&[("TOKENGATE__LOG__FORMAT", "xml")])).unwrap_err();
        assert_eq!(error.key, "log.format", "{error}");
        let error = load(
            &repo_config(),
            &vars(&[("TOKENGATE__METRICS__LISTEN", "no-port")]),
        )
        .unwrap_err();
        assert_eq!(error.key, "metrics.listen", "{error}");
    }

    #[test]
    fn debug_output_masks_the_secret() {
        let settings = load(&repo_config(), &vars(&[])).unwrap();
        let printed = format!("{settings:?}");
        assert!(!printed.contains(DEVELOPMENT_SECRET));
        let json = serde_json::to_string(&settings).unwrap();
        assert!(!json.contains(DEVELOPMENT_SECRET));
    }
}
