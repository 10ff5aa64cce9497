//! tokengate: HTTP Basic login that mints short-lived JWTs, and an actix-web
//! extractor that admits only valid, unexpired tokens.
#![warn(missing_docs)]

pub mod auth;
pub mod config;
pub mod credentials;
pub mod mfa;
pub mod ready_file;
pub mod reload;
pub mod runtime_config;
pub mod startup;

/// The `tokengate` binary's subcommands; not a library API.
#[doc(hidden)]
pub mod cli;

mod audit;
mod csrf;
mod directory;
mod error;
mod gate;
mod http;
mod line_files;
mod metrics;
mod openapi;
mod pages;
mod proxy;
mod request_frame;
mod request_limits;
mod routes;
mod sessions;
mod telemetry;
mod throttle;

/// What the fuzz targets under `fuzz/` drive; not a library API.
#[doc(hidden)]
pub mod fuzzing {
    pub use crate::request_limits::check as check_request_limits;
    pub use crate::routes::prefers_json;
    pub use crate::throttle::LoginThrottle;
}

/// What the criterion benches under `benches/` measure; not a library API.
#[doc(hidden)]
pub mod benching {
    pub use crate::metrics::Metrics;
    pub use crate::request_frame::RequestFrame;
    pub use crate::request_limits::check as check_request_limits;
    pub use crate::telemetry::RequestId;
}

/// Implement [`CredentialStore`] with `#[tokengate::async_trait]`.
pub use async_trait::async_trait;
pub use auth::{Authenticated, Claims, KeySet, TokenError, TokenSource, Verifier};
pub use config::{ConfigError, LimitsSettings, Settings};
pub use credentials::{
    CredentialStore, HtpasswdStore, PasswordHash, StoreError, UserRecord, hash_password,
};
pub use gate::{TokenGate, TokenGateBuilder};
pub use pages::token_error_pages;
pub use proxy::{InstanceId, TrustedProxies};
pub use sessions::SessionService;
