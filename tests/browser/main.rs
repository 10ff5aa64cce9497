//! End-to-end: the login and private-link pages in a real headless Chromium.
//! Needs Debian's `chromium` and `chromium-driver` (.ci/install-deps); fails,
//! never skips, without them. Screenshots land in target/browser-screenshots/.

mod harness;
mod journeys;
#[path = "../support/mod.rs"]
mod support;
