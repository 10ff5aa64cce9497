//! tokengate: HTTP Basic login that mints short-lived JWTs, and an actix-web
//! extractor that admits only valid, unexpired tokens.

pub mod audit;
pub mod auth;
pub mod cli;
pub mod config;
pub mod credentials;
pub mod directory;
pub mod error;
pub mod metrics;
pub mod mfa;
pub mod openapi;
pub mod pages;
pub mod proxy;
pub mod reload;
pub mod request_limits;
pub mod routes;
pub mod startup;
pub mod telemetry;
pub mod throttle;
