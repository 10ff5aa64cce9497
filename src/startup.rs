//! Builds the app from settings: shared state created once, the server bound
//! (port 0 picks a free port, which the tests rely on), graceful shutdown.

use std::net::TcpListener;
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::audit::Audit;
use crate::auth::AdminGroup;
use crate::config::Settings;
use crate::credentials::HashingPool;
use crate::metrics::{self, Metrics, ScrapeHook};
use crate::mfa::{MemoryMfaStore, MfaStore};
use crate::proxy::INSTANCE_ID_HEADER;
use crate::reload::{LiveState, Reloader};
use crate::routes::{self, Readiness};
use crate::throttle::LoginThrottle;
use crate::{openapi, pages};
use crate::{request_limits, telemetry};

/// The route patterns `configure` registers, counted from start-up in
/// `tokengate_http_requests_total` (a route missing here still counts).
pub const ROUTE_PATTERNS: &[&str] = &[
    "/login",
    "/login/totp",
    "/access",
    "/auth/verify",
    "/healthz",
    "/readyz",
    "/.well-known/jwks.json",
    "/metrics",
    "/openapi.json",
];

pub struct Application {
    port: u16,
    server: Server,
    /// The separate `/metrics` listener (`metrics.listen`), and its port.
    metrics_server: Option<(Server, u16)>,
    readiness: Readiness,
    drain_delay: Duration,
    reloader: Reloader,
    hangup: Option<Signal>,
}

impl Application {
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let state = LiveState::from_settings(settings)?;
        log::info!("{}; loaded {}", state.keys_summary, state.users_summary());
        for (user, weakness) in state.store.needing_rehash() {
            log::warn!(
                "user `{user}` needs a rehash ({weakness}): replace the line with `tokengate hash-password --user {user}`"
            );
        }
        let metrics_enabled = settings.metrics.enabled;
        let metrics_on_main = metrics_enabled && settings.metrics.listen().is_none();
        // Only the routes this listener serves: any other path is `unmatched`.
        let served = ROUTE_PATTERNS
            .iter()
            .copied()
            .filter(|route| metrics_on_main || *route != "/metrics");
        let metrics_arc = Arc::new(Metrics::new(served));
        metrics_arc.signing_key(&state.issuer.kid().unwrap_or_default());
        let metrics = web::Data::from(metrics_arc.clone());
        let issuer = web::Data::new(state.issuer);
        let directory = web::Data::new(state.directory);
        let admin_group = web::Data::new(AdminGroup::new(state.admin_group));
        let mfa_store: web::Data<dyn MfaStore> =
            web::Data::from(Arc::new(MemoryMfaStore::default()) as Arc<dyn MfaStore>);
        let verifier = web::Data::new(state.verifier);
        let pool = web::Data::new(
            HashingPool::new(Arc::new(state.store), settings.hash_concurrency())
                .with_metrics(metrics_arc.clone()),
        );
        let scrape_pool = pool.clone();
        let scrape_hook: ScrapeHook = Arc::new(move |metrics: &Metrics| {
            let (depth, capacity) = scrape_pool.queue();
            metrics.password_queue(depth, capacity);
        });
        let scrape_hook = web::Data::new(scrape_hook);
        let trusted_proxies = web::Data::new(settings.trusted_proxies()?);
        let instance_id = settings.instance_id()?;
        log::info!("instance id: {instance_id}");
        let audit = Audit::new(instance_id.as_str());
        let throttle = web::Data::new(LoginThrottle::new(&settings.limits));
        let reloader = Reloader::new(
            settings,
            issuer.clone(),
            verifier.clone(),
            pool.clone(),
            directory.clone(),
            admin_group.clone(),
        )
        .observed(metrics_arc, audit.clone());
        let audit = web::Data::new(audit);
        // Listening from here on, so a SIGHUP sent once the port is known
        // reloads rather than terminates the process.
        let hangup = signal(SignalKind::hangup())
            .map_err(|error| log::error!("cannot listen for SIGHUP, reload is disabled: {error}"))
            .ok();
        let readiness = Readiness::default();
        let readiness_data = web::Data::new(readiness.clone());
        let bare_route = settings.server.bare_route;
        let metrics_server = match settings.metrics.listen() {
            Some(listen) if metrics_enabled => {
                Some(metrics_server(listen, &metrics, &scrape_hook)?)
            }
            _ => None,
        };

        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("Failed to bind {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();

        let server = HttpServer::new(move || {
            App::new()
                .wrap(DefaultHeaders::new().add((INSTANCE_ID_HEADER, instance_id.header_value())))
                .wrap(middleware::from_fn(request_limits::enforce))
                .wrap(middleware::Condition::new(
                    metrics_enabled,
                    middleware::from_fn(metrics::count_requests),
                ))
                .wrap(middleware::from_fn(telemetry::access_log))
                .app_data(trusted_proxies.clone())
                .app_data(audit.clone())
                .app_data(issuer.clone())
                .app_data(verifier.clone())
                .app_data(pool.clone())
                .app_data(throttle.clone())
                .app_data(directory.clone())
                .app_data(admin_group.clone())
                .app_data(mfa_store.clone())
                .app_data(readiness_data.clone())
                .configure(configure)
                .configure(|cfg| {
                    // Without the registry as app data nothing on the request path counts.
                    if metrics_enabled {
                        cfg.app_data(metrics.clone()).app_data(scrape_hook.clone());
                    }
                    if bare_route {
                        cfg.route("/bare", web::get().to(routes::bare));
                    }
                    if metrics_on_main {
                        cfg.route("/metrics", web::get().to(metrics::serve));
                    }
                })
        })
        .workers(settings.workers())
        .shutdown_timeout(settings.server.shutdown_timeout.as_secs())
        .client_request_timeout(settings.server.client_request_timeout)
        .client_disconnect_timeout(settings.server.client_disconnect_timeout)
        .max_connections(settings.server.max_connections)
        // Signals are handled in `run_until_stopped`, to drain before stopping.
        .disable_signals()
        .listen(listener)?
        .run();

        Ok(Self {
            port,
            server,
            metrics_server,
            readiness,
            drain_delay: settings.server.drain_delay,
            reloader,
            hangup,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
    }

    /// The port of the separate `/metrics` listener, when `metrics.listen` set one.
    pub fn metrics_port(&self) -> Option<u16> {
        self.metrics_server.as_ref().map(|(_, port)| *port)
    }

    /// A handle that reloads the configuration, as SIGHUP does.
    pub fn reloader(&self) -> Reloader {
        self.reloader.clone()
    }

    /// Serves until SIGTERM or SIGINT: then `/readyz` turns 503, the drain
    /// delay passes, the listener closes and in-flight requests finish.
    /// Each SIGHUP meanwhile reloads the configuration.
    pub async fn run_until_stopped(self) -> std::io::Result<()> {
        if let Some(mut hangup) = self.hangup {
            let reloader = self.reloader;
            tokio::spawn(async move {
                while hangup.recv().await.is_some() {
                    log::info!("SIGHUP received; reloading the configuration");
                    // The outcome, good or bad, is logged by `reload`.
                    let _ = reloader.reload().await;
                }
            });
        }
        let handle = self.server.handle();
        let readiness = self.readiness;
        let drain_delay = self.drain_delay;
        let metrics_handle = self.metrics_server.map(|(server, _)| {
            let handle = server.handle();
            tokio::spawn(server);
            handle
        });
        tokio::spawn(async move {
            shutdown_signal().await;
            readiness.start_draining();
            log::info!(
                "shutdown requested; draining for {}",
                humantime::format_duration(drain_delay)
            );
            tokio::time::sleep(drain_delay).await;
            handle.stop(true).await;
            if let Some(metrics_handle) = metrics_handle {
                metrics_handle.stop(true).await;
            }
        });
        self.server.await
    }
}

/// The routes, shared by the binary and anything embedding tokengate.
pub fn configure(cfg: &mut web::ServiceConfig) {
    cfg.route("/login", web::get().to(routes::login))
        .route("/login/totp", web::post().to(routes::login_totp))
        .service(
            web::resource("/access")
                .wrap(pages::token_error_pages())
                .route(web::get().to(routes::access)),
        )
        // Forward-auth answers plain 401s: the proxy, not a browser, reads them.
        .route("/auth/verify", web::route().to(routes::verify))
        // HEAD too: load balancers and monitors probe with it.
        .service(
            web::resource("/healthz")
                .route(web::get().to(routes::healthz))
                .route(web::head().to(routes::healthz)),
        )
        .service(
            web::resource("/readyz")
                .route(web::get().to(routes::readyz))
                .route(web::head().to(routes::readyz)),
        )
        .route("/.well-known/jwks.json", web::get().to(routes::jwks))
        .route("/openapi.json", web::get().to(openapi::serve));
}

/// `/metrics` alone on its own address (`metrics.listen`), one worker.
fn metrics_server(
    listen: &str,
    metrics: &web::Data<Metrics>,
    scrape_hook: &web::Data<ScrapeHook>,
) -> anyhow::Result<(Server, u16)> {
    let listener = TcpListener::bind(listen)
        .with_context(|| format!("Failed to bind metrics.listen {listen}"))?;
    let port = listener.local_addr()?.port();
    log::info!("metrics listening on {}", listener.local_addr()?);
    let (metrics, scrape_hook) = (metrics.clone(), scrape_hook.clone());
    let server = HttpServer::new(move || {
        App::new()
            .app_data(metrics.clone())
            .app_data(scrape_hook.clone())
            .route("/metrics", web::get().to(metrics::serve))
    })
    .workers(1)
    .disable_signals()
    .listen(listener)?
    .run();
    Ok((server, port))
}

async fn shutdown_signal() {
    let (Ok(mut term), Ok(mut int)) = (
        signal(SignalKind::terminate()),
        signal(SignalKind::interrupt()),
    ) else {
        log::error!("cannot listen for shutdown signals");
        return std::future::pending().await;
    };
    tokio::select! {
        _ = term.recv() => {},
        _ = int.recv() => {},
    }
}
