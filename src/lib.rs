//! tokengate: HTTP Basic login that mints short-lived JWTs, and an actix-web
//! extractor that admits only valid, unexpired tokens.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod csrf;
pub mod directory;
pub mod error;
mod gate;
mod http;
mod line_files;
pub mod metrics;
pub mod mfa;
pub mod openapi;
pub mod pages;
pub mod proxy;
pub mod ready_file;
pub mod reload;
pub mod request_limits;
pub mod routes;
pub mod runtime_config;
pub mod sessions;
pub mod startup;
pub mod telemetry;
pub mod throttle;

/// Implement [`CredentialStore`] with `#[tokengate::async_trait]`.
pub use async_trait::async_trait;
pub use auth::{Authenticated, Claims, KeySet, TokenError, TokenSource, Verifier};
pub use config::{ConfigError, LimitsSettings, Settings};
pub use credentials::{
    CredentialStore, HtpasswdStore, PasswordHash, StoreError, UserRecord, hash_password,
};
pub use gate::{TokenGate, TokenGateBuilder};
pub use proxy::TrustedProxies;
