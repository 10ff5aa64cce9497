//! The rules a deserializer cannot express: bounds, non-empty names,
//! addresses that parse. Value checks only; the files the settings name are
//! read and checked by [`crate::runtime_config`].

use std::net::ToSocketAddrs;

use super::{
    ConfigError, MAX_CLIENT_TIMEOUT, MAX_JWKS_MAX_AGE, MAX_LEEWAY, MAX_MFA_ATTEMPTS,
    MAX_MFA_TOKEN_TTL, MAX_REUSE_GRACE, MAX_TOTP_SKEW, MAX_TTL, MIN_CLIENT_TIMEOUT,
    MIN_MFA_TOKEN_TTL, MIN_TTL, SessionsSettings, Settings,
};

impl Settings {
    /// Checks every value rule; [`load`](super::load) calls it.
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
            ("users.admin_group", &self.users.admin_group),
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
        self.validate_mfa()
    }

    fn validate_mfa(&self) -> Result<(), ConfigError> {
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
