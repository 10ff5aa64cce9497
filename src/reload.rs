//! Live reload: SIGHUP (or [`Reloader::reload`]) reads the layered config,
//! the users, groups and TOTP files and the keys again and swaps them in, or keeps the running
//! set when anything is invalid.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tokio::sync::Mutex;

use crate::audit::Audit;
use crate::config::{ConfigError, Settings};
use crate::gate::{LiveState, TokenGate};
use crate::metrics::Metrics;
use crate::runtime_config::RuntimeConfig;

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
    gate: TokenGate,
    /// The settings in force; held while a reload runs so two never interleave.
    current: Arc<Mutex<Settings>>,
    /// Each user's password-hash fingerprint, to spot changed passwords.
    passwords: Arc<Mutex<HashMap<String, String>>>,
    metrics: Option<Arc<Metrics>>,
    audit: Option<Audit>,
}

impl Reloader {
    /// `passwords`: the fingerprints of the users file start-up loaded.
    pub(crate) fn new(
        settings: &Settings,
        passwords: HashMap<String, String>,
        gate: TokenGate,
    ) -> Self {
        Self {
            gate,
            current: Arc::new(Mutex::new(settings.clone())),
            passwords: Arc::new(Mutex::new(passwords)),
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
        let new_kid = self.gate.issuer().kid().unwrap_or_default();
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
            let config = RuntimeConfig::from_settings(source.load()?)?;
            for warning in &config.warnings {
                log::warn!("{warning}");
            }
            let state = LiveState::new(&config.settings, config.files);
            Ok::<_, ConfigError>((config.settings, state))
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
        let (users, keys_summary) = (state.users_summary(), state.keys_summary.clone());
        let passwords = state.store.fingerprints();
        let old_kid = self.gate.issuer().kid();
        self.gate.replace(state);
        self.gate
            .sessions()
            .set_access_lifetime(settings.access_lifetime());
        self.end_sessions_of_changed_passwords(passwords).await;
        warn_about_restart_only_changes(&current, &settings);
        *current = settings;
        let took = started.elapsed();
        log::info!(
            "configuration reloaded in {:.1}ms: {}; {users}; ttl {}",
            took.as_secs_f64() * 1000.0,
            keys_summary,
            humantime::format_duration(current.jwt.ttl),
        );
        self.applied(old_kid);
        Ok(took)
    }
}

impl Reloader {
    /// A user whose password hash changed, or who was removed, loses every
    /// session. A store outage is logged and retried at the next reload.
    async fn end_sessions_of_changed_passwords(&self, new: HashMap<String, String>) {
        let mut known = self.passwords.lock().await;
        let mut ended = Vec::new();
        let mut failed = HashMap::new();
        for (user, old) in known.iter() {
            let fingerprint = new.get(user).map_or("removed", String::as_str);
            if fingerprint == old {
                continue;
            }
            match self
                .gate
                .sessions()
                .password_changed(user, fingerprint)
                .await
            {
                Ok(_) => ended.push(user.escape_debug().to_string()),
                Err(error) => {
                    log::error!(
                        "the password of `{}` changed but its sessions could not be ended: {error}",
                        user.escape_debug()
                    );
                    // Kept as it was, so the next reload tries again.
                    failed.insert(user.clone(), old.clone());
                }
            }
        }
        if !ended.is_empty() {
            log::info!(
                "password changed or user removed; sessions ended: {}",
                ended.join(", ")
            );
        }
        let mut next = new;
        next.extend(failed);
        *known = next;
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
