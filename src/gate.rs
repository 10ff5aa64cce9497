//! [`TokenGate`]: the one value an actix-web app registers to get tokengate's
//! login, token checks and pages; the service binary registers it the same way.

use std::sync::Arc;
use std::time::Duration;

use actix_web::web;
use jsonwebtoken::Algorithm;
use secrecy::{ExposeSecret, SecretString};
use serde::Serialize;
use serde_json::Value;

use crate::auth::{
    AdminGroup, DEFAULT_KID, Issuer, Key, KeySet, TokenSource, TokenSources, Verifier,
};
use crate::config::{
    ConfigError, LimitsSettings, MAX_JWKS_MAX_AGE, MAX_LEEWAY, MAX_TTL, MIN_HMAC_SECRET_BYTES,
    MIN_TTL, MfaSettings, Settings,
};
use crate::credentials::{
    ClaimsHook, CredentialStore, Groups, HashingPool, HtpasswdStore, Login, UserRecord,
};
use crate::directory::Directory;
use crate::http::LOGIN_ROUTE;
use crate::mfa::{MemoryMfaStore, MfaStore, RedisMfaStore, TotpSecrets};
use crate::pages;
use crate::proxy::TrustedProxies;
use crate::routes;
use crate::runtime_config::{LoadedFiles, RuntimeConfig};
use crate::sessions::{SessionService, SharedLimits};
use crate::throttle::LoginThrottle;

/// tokengate as one value: the verifier, the issuer, the credential store,
/// the password-hashing pool and the login throttle. Build it from
/// [`Settings`] or with [`TokenGate::builder`], then register it on an app
/// with [`configure`](TokenGate::configure), at the root or inside any
/// `web::scope`: it adds its app data and its routes (`/login`, `/access`,
/// `/login/totp`, `/auth/verify`, `/.well-known/jwks.json`), and its pages link within the
/// scope it is mounted under. Cheap to clone; clones share everything.
///
/// ```no_run
/// use actix_web::{App, HttpResponse, HttpServer, web};
/// use tokengate::{Authenticated, Claims, HtpasswdStore, TokenGate};
///
/// async fn me(Authenticated(claims): Authenticated<Claims>) -> HttpResponse {
///     HttpResponse::Ok().body(format!("hello {}", claims.sub))
/// }
///
/// # async fn run() -> anyhow::Result<()> {
/// let gate = TokenGate::builder()
///     .secret("at-least-32-bytes-of-secret-for-hs256!")
///     .credential_store(HtpasswdStore::from_file("users.htpasswd".as_ref())?)
///     .build()?;
/// HttpServer::new(move || {
///     App::new()
///         .service(web::scope("/auth").configure(|cfg| gate.configure(cfg)))
///         .app_data(gate.verifier())
///         .route("/me", web::get().to(me))
/// })
/// .bind(("127.0.0.1", 8080))?
/// .run()
/// .await?;
/// # Ok(())
/// # }
/// ```
#[derive(Clone)]
pub struct TokenGate {
    issuer: web::Data<Issuer>,
    verifier: web::Data<Verifier>,
    login: web::Data<Login>,
    throttle: web::Data<LoginThrottle>,
    trusted_proxies: web::Data<TrustedProxies>,
    /// Groups-file roles, TOTP secrets and second-factor rules.
    directory: web::Data<Directory>,
    admin_group: web::Data<AdminGroup>,
    mfa_store: web::Data<dyn MfaStore>,
    /// Sessions: refresh tokens, logout, revocation (src/sessions/).
    sessions: web::Data<SessionService>,
    /// Login limits counted in Redis, when the session store is Redis.
    shared_limits: Option<web::Data<SharedLimits>>,
}

impl TokenGate {
    /// A builder with tokengate's defaults: issuer and audience `tokengate`,
    /// tokens for 10 minutes, no leeway, tokens looked for in the `token`
    /// query parameter, the Bearer header and the `tokengate_token` cookie.
    pub fn builder() -> TokenGateBuilder {
        TokenGateBuilder::default()
    }

    /// The gate the service runs, from settings: reads the files they name
    /// (see [`RuntimeConfig`]) and builds the gate from them.
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        Self::from_runtime(RuntimeConfig::from_settings(settings.clone())?)
    }

    /// The gate the service runs: keys, token rules, the htpasswd users
    /// file, groups and TOTP secrets, hashing threads, throttle and trusted
    /// proxies, from a loaded [`RuntimeConfig`].
    pub fn from_runtime(config: RuntimeConfig) -> Result<Self, ConfigError> {
        let settings = &config.settings;
        let state = LiveState::new(settings, config.files);
        log::info!("{}; loaded {}", state.keys_summary, state.users_summary());
        for warning in &config.warnings {
            log::warn!("{warning}");
        }
        for (user, weakness) in state.store.needing_rehash() {
            log::warn!(
                "user `{user}` needs a rehash ({weakness}): replace the line with `tokengate hash-password --user {user}`"
            );
        }
        let sessions = SessionService::new(&settings.sessions, settings.access_lifetime())
            .map_err(|error| ConfigError::new("sessions.store", error.to_string()))?;
        let shared_limits = sessions.shared_limits(&settings.limits);
        log::info!("sessions: {} store", sessions.store_kind());
        Ok(Self::assemble(Parts {
            sessions,
            shared_limits,
            issuer: state.issuer,
            verifier: state.verifier,
            store: state.store,
            pool: HashingPool::new(settings.hash_concurrency()),
            throttle: LoginThrottle::new(&settings.limits),
            claims: None,
            trusted_proxies: config.trusted_proxies,
            directory: state.directory,
            admin_group: state.admin_group,
        }))
    }

    fn assemble(parts: Parts) -> Self {
        // Replicas sharing a Redis session store share replay records and
        // attempt counts too; a lone process keeps them in memory.
        let mfa_store: Arc<dyn MfaStore> = match parts.sessions.redis_connection() {
            Some(connection) => Arc::new(RedisMfaStore::new(connection)),
            None => Arc::new(MemoryMfaStore::default()),
        };
        parts
            .verifier
            .require_live_sessions(parts.sessions.revocations());
        Self {
            sessions: web::Data::new(parts.sessions),
            shared_limits: parts.shared_limits.map(web::Data::new),
            issuer: web::Data::new(parts.issuer),
            verifier: web::Data::new(parts.verifier),
            login: web::Data::new(Login::new(parts.store, parts.pool, parts.claims)),
            throttle: web::Data::new(parts.throttle),
            trusted_proxies: web::Data::new(parts.trusted_proxies),
            directory: web::Data::new(parts.directory),
            admin_group: web::Data::new(AdminGroup::new(parts.admin_group)),
            mfa_store: web::Data::from(mfa_store),
        }
    }

    /// Registers the gate on an app, a scope or a `ServiceConfig`: its app
    /// data (so [`Authenticated`](crate::Authenticated) works in every handler
    /// beside it) and its routes.
    pub fn configure(&self, cfg: &mut web::ServiceConfig) {
        self.configure_data(cfg);
        // actix-web tries the routes in this order, so the two that check
        // tokens on every protected request come first. Browsers get every
        // error answer of the wrapped ones as a page; forward-auth answers
        // plain 401s, since the proxy, not a browser, reads them.
        cfg.route("/auth/verify", web::route().to(routes::verify))
            .service(
                web::resource("/access")
                    .wrap(pages::token_error_pages())
                    .route(web::get().to(routes::access)),
            )
            .service(
                web::resource("/login")
                    .name(LOGIN_ROUTE)
                    .wrap(pages::error_pages())
                    .route(web::get().to(routes::login)),
            )
            .service(
                web::resource("/login/totp")
                    .wrap(pages::error_pages())
                    .route(web::post().to(routes::login_totp)),
            )
            .service(
                web::resource("/logout")
                    .wrap(pages::error_pages())
                    .route(web::post().to(routes::logout)),
            )
            .route(routes::TOKEN_PATH, web::post().to(routes::token))
            .route("/revoke", web::post().to(routes::revoke))
            .route(
                routes::REVOKE_USER_PATH,
                web::post().to(routes::revoke_user_sessions),
            )
            .route("/.well-known/jwks.json", web::get().to(routes::jwks));
    }

    /// Registers only the app data, for an app that mounts the routes in a
    /// scope but checks tokens in handlers outside it.
    pub fn configure_data(&self, cfg: &mut web::ServiceConfig) {
        cfg.app_data(self.issuer.clone())
            .app_data(self.verifier.clone())
            .app_data(self.login.clone())
            .app_data(self.throttle.clone())
            .app_data(self.trusted_proxies.clone())
            .app_data(self.directory.clone())
            .app_data(self.admin_group.clone())
            .app_data(self.mfa_store.clone())
            .app_data(self.sessions.clone());
        if let Some(limits) = &self.shared_limits {
            cfg.app_data(limits.clone());
        }
    }

    /// The session service: end a user's sessions with
    /// [`SessionService::revoke_user`].
    pub fn sessions(&self) -> web::Data<SessionService> {
        self.sessions.clone()
    }

    /// The token checker, as app data for the extractor.
    pub fn verifier(&self) -> web::Data<Verifier> {
        self.verifier.clone()
    }

    /// The password-check pool (for its metrics).
    pub(crate) fn pool(&self) -> &HashingPool {
        &self.login.pool
    }

    /// The token minter.
    pub fn issuer(&self) -> web::Data<Issuer> {
        self.issuer.clone()
    }

    /// Swaps in reloaded keys, rules and users; requests under way finish with the old ones.
    pub(crate) fn replace(&self, state: LiveState) {
        // Verifier first: a token the new issuer mints must already verify.
        self.verifier.replace(state.verifier);
        self.issuer.replace(state.issuer);
        self.directory.replace(state.directory);
        self.admin_group.replace(state.admin_group);
        self.login.replace_store(state.store);
    }
}

/// What [`TokenGate::assemble`] puts together.
struct Parts {
    sessions: SessionService,
    shared_limits: Option<SharedLimits>,
    issuer: Issuer,
    verifier: Verifier,
    store: Arc<dyn CredentialStore>,
    pool: HashingPool,
    throttle: LoginThrottle,
    claims: Option<Arc<ClaimsHook>>,
    trusted_proxies: TrustedProxies,
    directory: Directory,
    admin_group: String,
}

/// Everything a reload replaces, built from settings.
pub(crate) struct LiveState {
    pub issuer: Issuer,
    pub verifier: Verifier,
    pub store: Arc<HtpasswdStore>,
    pub directory: Directory,
    pub admin_group: String,
    pub keys_summary: String,
}

impl LiveState {
    pub fn new(settings: &Settings, files: LoadedFiles) -> Self {
        let jwt = &settings.jwt;
        let keys = files.keys;
        let keys_summary = summary(&keys);
        let issuer = Issuer::with_keys(&keys, &jwt.issuer, &jwt.audience, jwt.ttl);
        let verifier = Verifier::with_keys(
            keys,
            &jwt.issuer,
            &jwt.audience,
            jwt.leeway,
            TokenSources::new(jwt.sources.clone(), &jwt.cookie_name),
        )
        .with_jwks_max_age(jwt.jwks_max_age)
        .with_max_lifetime(jwt.ttl);
        Self {
            issuer,
            verifier,
            store: Arc::new(files.users),
            directory: Directory::new(files.groups, files.totp, settings.mfa.clone()),
            admin_group: settings.users.admin_group.clone(),
            keys_summary,
        }
    }

    /// Users, groups and second-factor enrolments, for the log.
    pub fn users_summary(&self) -> String {
        let entries = self.directory.load();
        format!(
            "{} user(s), {} group(s), {} enrolled in TOTP",
            self.store.user_count(),
            entries.groups.group_count(),
            entries.totp.len()
        )
    }
}

fn summary(keys: &KeySet) -> String {
    let all: Vec<String> = keys
        .keys()
        .iter()
        .map(|key| format!("{} ({:?})", key.kid(), key.algorithm()))
        .collect();
    format!(
        "signing with `{}`, verifying {}",
        keys.signing().kid(),
        all.join(", ")
    )
}

/// Builds a [`TokenGate`] from code. A signing key ([`secret`](Self::secret)
/// or [`keys`](Self::keys)) and a [`credential_store`](Self::credential_store)
/// are required; everything else has tokengate's defaults.
pub struct TokenGateBuilder {
    keys: Option<KeySet>,
    secret: Option<(SecretString, Algorithm)>,
    issuer: String,
    audience: String,
    ttl: Duration,
    leeway: Duration,
    sources: Vec<TokenSource>,
    cookie_name: String,
    jwks_max_age: Duration,
    store: Option<Arc<dyn CredentialStore>>,
    hash_threads: usize,
    limits: LimitsSettings,
    trusted_proxies: TrustedProxies,
    claims: Option<Arc<ClaimsHook>>,
}

impl Default for TokenGateBuilder {
    fn default() -> Self {
        Self {
            keys: None,
            secret: None,
            issuer: "tokengate".to_owned(),
            audience: "tokengate".to_owned(),
            ttl: Duration::from_secs(600),
            leeway: Duration::ZERO,
            sources: vec![TokenSource::Query, TokenSource::Bearer, TokenSource::Cookie],
            cookie_name: "tokengate_token".to_owned(),
            jwks_max_age: Duration::from_secs(300),
            store: None,
            hash_threads: 0,
            limits: LimitsSettings {
                login_per_ip_per_minute: 60,
                login_per_ip_burst: 30,
                login_per_user_per_minute: 6,
                login_per_user_burst: 10,
                login_per_user_ceiling_per_minute: 120,
                login_per_user_ceiling_burst: 200,
            },
            trusted_proxies: TrustedProxies::default(),
            claims: None,
        }
    }
}

impl TokenGateBuilder {
    /// Signs and verifies with one HS256 secret of at least 32 bytes.
    pub fn secret(self, secret: impl Into<SecretString>) -> Self {
        self.hmac_secret(Algorithm::HS256, secret)
    }

    /// Signs and verifies with one HMAC secret (HS256, HS384 or HS512).
    pub fn hmac_secret(mut self, algorithm: Algorithm, secret: impl Into<SecretString>) -> Self {
        self.secret = Some((secret.into(), algorithm));
        self
    }

    /// Signs with the set's signing key and verifies with every key in it;
    /// replaces [`secret`](Self::secret).
    pub fn keys(mut self, keys: KeySet) -> Self {
        self.keys = Some(keys);
        self
    }

    /// The `iss` minted and required.
    pub fn issuer(mut self, issuer: impl Into<String>) -> Self {
        self.issuer = issuer.into();
        self
    }

    /// The `aud` minted and required.
    pub fn audience(mut self, audience: impl Into<String>) -> Self {
        self.audience = audience.into();
        self
    }

    /// Token lifetime, 1 s to 24 h.
    pub fn ttl(mut self, ttl: Duration) -> Self {
        self.ttl = ttl;
        self
    }

    /// Clock-skew allowance for `exp` and `nbf`, at most 5 minutes.
    pub fn leeway(mut self, leeway: Duration) -> Self {
        self.leeway = leeway;
        self
    }

    /// Where tokens are looked for, in this order.
    pub fn token_sources(mut self, sources: impl IntoIterator<Item = TokenSource>) -> Self {
        self.sources = sources.into_iter().collect();
        self
    }

    /// The cookie the cookie source reads and the private link sets.
    pub fn cookie_name(mut self, name: impl Into<String>) -> Self {
        self.cookie_name = name.into();
        self
    }

    /// How long clients may cache the JWK Set, at most 1 h.
    pub fn jwks_max_age(mut self, max_age: Duration) -> Self {
        self.jwks_max_age = max_age;
        self
    }

    /// Where users are looked up at login.
    pub fn credential_store(mut self, store: impl CredentialStore) -> Self {
        self.store = Some(Arc::new(store));
        self
    }

    /// Password checks at once, on dedicated idle-priority threads; 0 (the
    /// default) is one per core.
    pub fn hash_threads(mut self, threads: usize) -> Self {
        self.hash_threads = threads;
        self
    }

    /// Login attempts per client address and per username (0 turns one off).
    pub fn login_limits(mut self, limits: LimitsSettings) -> Self {
        self.limits = limits;
        self
    }

    /// Proxies whose `X-Forwarded-For`/`X-Forwarded-Proto` are believed.
    pub fn trusted_proxies(mut self, proxies: TrustedProxies) -> Self {
        self.trusted_proxies = proxies;
        self
    }

    /// Adds the app's own claims to every token minted at login, from the
    /// authenticated user's record. The value must serialize to a JSON
    /// object; a field named like a registered claim (`sub`, `exp`, ...) is
    /// dropped, since tokengate sets and validates those itself.
    pub fn mint_claims<T, F>(mut self, hook: F) -> Self
    where
        T: Serialize,
        F: Fn(&UserRecord) -> T + Send + Sync + 'static,
    {
        self.claims = Some(Arc::new(
            move |user: &UserRecord| match serde_json::to_value(hook(user))? {
                Value::Object(claims) => Ok(claims),
                other => Err(serde::ser::Error::custom(format!(
                    "extra claims must serialize to a JSON object, got {other}"
                ))),
            },
        ));
        self
    }

    /// Checks the settings and starts the hashing threads. Errors name the
    /// setter (`secret`, `ttl`, ...) whose value is wrong.
    pub fn build(self) -> Result<TokenGate, ConfigError> {
        let keys = match (self.keys, self.secret) {
            (Some(keys), _) => keys,
            (None, Some((secret, algorithm))) => {
                if !matches!(
                    algorithm,
                    Algorithm::HS256 | Algorithm::HS384 | Algorithm::HS512
                ) {
                    return Err(ConfigError::new(
                        "secret",
                        "a secret signs with HS256, HS384 or HS512; use keys() for others",
                    ));
                }
                if secret.expose_secret().len() < MIN_HMAC_SECRET_BYTES {
                    return Err(ConfigError::new(
                        "secret",
                        format!("must be at least {MIN_HMAC_SECRET_BYTES} bytes"),
                    ));
                }
                KeySet::single(Key::hmac(DEFAULT_KID, algorithm, &secret))
            }
            (None, None) => {
                return Err(ConfigError::new("keys", "set secret() or keys()"));
            }
        };
        if !(MIN_TTL..=MAX_TTL).contains(&self.ttl) {
            return Err(ConfigError::new("ttl", "must be between 1s and 24h"));
        }
        if self.leeway > MAX_LEEWAY {
            return Err(ConfigError::new("leeway", "must be at most 5m"));
        }
        if self.jwks_max_age > MAX_JWKS_MAX_AGE {
            return Err(ConfigError::new("jwks_max_age", "must be at most 1h"));
        }
        for (name, value) in [
            ("issuer", &self.issuer),
            ("audience", &self.audience),
            ("cookie_name", &self.cookie_name),
        ] {
            if value.trim().is_empty() {
                return Err(ConfigError::new(name, "must not be empty"));
            }
        }
        if self.sources.is_empty() {
            return Err(ConfigError::new(
                "token_sources",
                "must name at least one source",
            ));
        }
        let Some(store) = self.store else {
            return Err(ConfigError::new("credential_store", "must be set"));
        };
        let issuer = Issuer::with_keys(&keys, &self.issuer, &self.audience, self.ttl);
        let verifier = Verifier::with_keys(
            keys,
            &self.issuer,
            &self.audience,
            self.leeway,
            TokenSources::new(self.sources, self.cookie_name),
        )
        .with_jwks_max_age(self.jwks_max_age)
        .with_max_lifetime(self.ttl);
        Ok(TokenGate::assemble(Parts {
            // A library gate keeps sessions in memory, with the default rules.
            sessions: SessionService::in_memory(),
            shared_limits: None,
            issuer,
            verifier,
            store,
            pool: HashingPool::new(crate::config::or_core_count(self.hash_threads)),
            throttle: LoginThrottle::new(&self.limits),
            claims: self.claims,
            trusted_proxies: self.trusted_proxies,
            // Roles come from the store's records; no second factor.
            directory: Directory::new(
                Groups::default(),
                TotpSecrets::default(),
                MfaSettings {
                    skew: 1,
                    token_ttl: Duration::from_secs(300),
                    max_attempts: 5,
                },
            ),
            admin_group: "admins".to_owned(),
        }))
    }
}
