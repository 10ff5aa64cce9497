//! Live reload: SIGHUP (or [`Reloader::reload`]) reads the layered config,
//! the users, groups and TOTP files and the keys again and swaps them in, or keeps the running
//! set when anything is invalid.

use std::sync::Arc;
use std::time::{Duration, Instant};

use actix_web::web;
use tokio::sync::Mutex;

use crate::audit::Audit;
use crate::auth::{AdminGroup, Issuer, KeySet, TokenSources, Verifier};
use crate::config::{ConfigError, Settings};
use crate::credentials::{HashingPool, HtpasswdStore};
use crate::directory::Directory;
use crate::metrics::Metrics;

/// Everything a reload replaces, built from settings.
pub(crate) struct LiveState {
    pub issuer: Issuer,
    pub verifier: Verifier,
    pub store: HtpasswdStore,
    pub directory: Directory,
    pub admin_group: String,
    pub keys_summary: String,
}

impl LiveState {
    pub fn from_settings(settings: &Settings) -> Result<Self, ConfigError> {
        let jwt = &settings.jwt;
        let keys = KeySet::from_settings(jwt, settings.environment)?;
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
        let store = HtpasswdStore::from_file(&settings.users.file).map_err(|error| {
            ConfigError::new(
                "users.file",
                format!("`{}`: {error}", settings.users.file.display()),
            )
        })?;
        let groups = settings.groups()?;
        let (totp, warning) = settings.totp_secrets()?;
        if let Some(warning) = warning {
            log::warn!("{warning}");
        }
        Ok(Self {
            issuer,
            verifier,
            store,
            directory: Directory::new(groups, totp, settings.mfa.clone()),
            admin_group: settings.users.admin_group.clone(),
            keys_summary,
        })
    }

    /// Users, groups and second-factor enrolments, for the log.
    pub fn users_summary(&self) -> String {
        let entries = self.directory.load();
        format!(
            "{} user(s), {} group(s), {} enrolled in TOTP",
            self.store.len(),
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

#[derive(Debug, thiserror::Error)]
pub enum ReloadError {
    #[error("settings were not loaded from a config dir, so there is nothing to reload")]
    NoSource,
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error("the reload did not complete")]
    Aborted,
}

/// Re-reads the configuration and swaps it into the running app. Cheap to
/// clone; every clone drives the same app.
#[derive(Clone)]
pub struct Reloader {
    issuer: web::Data<Issuer>,
    verifier: web::Data<Verifier>,
    pool: web::Data<HashingPool>,
    directory: web::Data<Directory>,
    admin_group: web::Data<AdminGroup>,
    /// The settings in force; held while a reload runs so two never interleave.
    current: Arc<Mutex<Settings>>,
    metrics: Option<Arc<Metrics>>,
    audit: Option<Audit>,
}

impl Reloader {
    pub(crate) fn new(
        settings: &Settings,
        issuer: web::Data<Issuer>,
        verifier: web::Data<Verifier>,
        pool: web::Data<HashingPool>,
        directory: web::Data<Directory>,
        admin_group: web::Data<AdminGroup>,
    ) -> Self {
        Self {
            issuer,
            verifier,
            pool,
            directory,
            admin_group,
            current: Arc::new(Mutex::new(settings.clone())),
            metrics: None,
            audit: None,
        }
    }

    /// Counts reloads in `metrics` and writes them to the audit trail.
    pub(crate) fn observed(mut self, metrics: Arc<Metrics>, audit: Audit) -> Self {
        self.metrics = Some(metrics);
        self.audit = Some(audit);
        self
    }

    /// Metrics and audit lines for a refused reload.
    fn refused(&self, key: &str) {
        if let Some(metrics) = &self.metrics {
            metrics.reload(false);
        }
        if let Some(audit) = &self.audit {
            audit.reload_failed(key);
        }
    }

    /// Metrics and audit lines for a reload that took effect.
    fn applied(&self, old_kid: Option<String>) {
        let new_kid = self.issuer.kid().unwrap_or_default();
        if let Some(metrics) = &self.metrics {
            metrics.reload(true);
            metrics.signing_key(&new_kid);
        }
        if let Some(audit) = &self.audit {
            audit.reloaded(&new_kid);
            if let Some(old_kid) = old_kid.filter(|old| *old != new_kid) {
                audit.signing_key_changed(&old_kid, &new_kid);
            }
        }
    }

    /// Loads the config as start-up did and swaps in its keys, token rules
    /// and users. On any error the running configuration stays and one line
    /// naming the bad key is logged. Returns how long the reload took.
    pub async fn reload(&self) -> Result<Duration, ReloadError> {
        let started = Instant::now();
        let mut current = self.current.lock().await;
        let Some(source) = current.source.clone() else {
            log::error!("configuration reload refused: {}", ReloadError::NoSource);
            self.refused("--config-dir");
            return Err(ReloadError::NoSource);
        };
        // Hashing the users file's dummy password is slow by design: off the runtime.
        let loaded = actix_web::rt::task::spawn_blocking(move || {
            let settings = source.load()?;
            let state = LiveState::from_settings(&settings)?;
            Ok::<_, ConfigError>((settings, state))
        })
        .await
        .map_err(|_| {
            self.refused("-");
            ReloadError::Aborted
        })?;
        let (settings, state) = match loaded {
            Ok(loaded) => loaded,
            Err(error) => {
                log::error!(
                    "configuration reload refused, still serving the previous one: {error}"
                );
                self.refused(&error.key);
                return Err(error.into());
            }
        };
        let old_kid = self.issuer.kid();
        let users = state.users_summary();
        // Verifier first: a token the new issuer mints must already verify.
        self.verifier.replace(state.verifier);
        self.issuer.replace(state.issuer);
        self.directory.replace(state.directory);
        self.admin_group.replace(state.admin_group);
        self.pool.replace_store(Arc::new(state.store));
        warn_about_restart_only_changes(&current, &settings);
        *current = settings;
        let took = started.elapsed();
        log::info!(
            "configuration reloaded in {:.1}ms: {}; {users}; ttl {}",
            took.as_secs_f64() * 1000.0,
            state.keys_summary,
            humantime::format_duration(current.jwt.ttl),
        );
        self.applied(old_kid);
        Ok(took)
    }
}

fn warn_about_restart_only_changes(old: &Settings, new: &Settings) {
    let server_changed =
        serde_json::to_value(&old.server).ok() != serde_json::to_value(&new.server).ok();
    if server_changed {
        log::warn!("the server section changed; it takes effect only after a restart");
    }
    let limits_changed =
        serde_json::to_value(&old.limits).ok() != serde_json::to_value(&new.limits).ok();
    if limits_changed {
        log::warn!("the limits section changed; it takes effect only after a restart");
    }
    if old.users.hash_concurrency != new.users.hash_concurrency {
        log::warn!("users.hash_concurrency changed; it takes effect only after a restart");
    }
}
