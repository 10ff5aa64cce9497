#[path = "../support/mod.rs"]
mod support;

mod access;
mod cli;
mod config;
mod embedding;
mod health;
mod helpers;
mod hostile_input;
mod keys;
mod login;
mod logs;
mod metrics;
mod mfa;
mod pages;
mod proxy;
mod redis_server;
mod reload;
mod rfc8725;
mod roles;
mod sessions;
mod throttle;
mod token_cache;
mod token_properties;
