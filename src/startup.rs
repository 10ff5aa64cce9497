//! Builds the app from settings: shared state created once, the server bound
//! (port 0 picks a free port, which the tests rely on), graceful shutdown.

use std::net::{SocketAddr, TcpListener};
use std::sync::Arc;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::{App, HttpServer, web};
use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::audit::Audit;
use crate::config::Settings;
use crate::gate::TokenGate;
use crate::metrics::{self, Metrics, ScrapeHook};
use crate::openapi;
use crate::ready_file::ReadySignal;
use crate::reload::Reloader;
use crate::request_frame::RequestFrame;
use crate::routes::{self, Readiness};
use crate::runtime_config::RuntimeConfig;

/// The route patterns `configure` registers, counted from start-up in
/// `tokengate_http_requests_total` (a route missing here still counts).
pub const ROUTE_PATTERNS: &[&str] = &[
    "/login",
    "/login/totp",
    "/access",
    "/auth/verify",
    "/healthz",
    "/readyz",
    "/token",
    "/logout",
    "/revoke",
    "/admin/sessions/revoke",
    "/.well-known/jwks.json",
    "/metrics",
    "/openapi.json",
];

/// The service: the bound server, readiness, reload and graceful shutdown.
pub struct Application {
    address: SocketAddr,
    server: Server,
    /// The separate `/metrics` listener (`metrics.listen`), and its address.
    metrics_server: Option<(Server, SocketAddr)>,
    readiness: Readiness,
    drain_delay: Duration,
    reloader: Reloader,
    hangup: Option<Signal>,
}

impl Application {
    /// Reads the files `settings` name, then builds as [`from_runtime`](Self::from_runtime).
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        Self::from_runtime(RuntimeConfig::from_settings(settings.clone())?)
    }

    /// Binds the listeners and builds the app from a loaded configuration.
    pub fn from_runtime(config: RuntimeConfig) -> anyhow::Result<Self> {
        let settings = config.settings.clone();
        let settings = &settings;
        let instance_id = config.instance_id.clone();
        let passwords = config.files.users.fingerprints();
        let gate = TokenGate::from_runtime(config)?;
        log::info!("instance id: {instance_id}");
        let metrics_enabled = settings.metrics.enabled;
        let metrics_on_main = metrics_enabled && settings.metrics.listen().is_none();
        // The bench-only route is counted like the others, so that it costs
        // what they cost (a pattern outside the list is counted slower). Only
        // a bench-routes build accepts the setting (config/rules.rs).
        let bare_route = settings.server.bare_route;
        // Only the routes this listener serves: any other path is `unmatched`.
        let served = ROUTE_PATTERNS
            .iter()
            .copied()
            .filter(|route| metrics_on_main || *route != "/metrics")
            .chain(bare_route.then_some("/bare"));
        let metrics_arc = Arc::new(Metrics::new(served));
        metrics_arc.signing_key(&gate.issuer().kid().unwrap_or_default());
        gate.pool().observe(metrics_arc.clone());
        let metrics = web::Data::from(metrics_arc.clone());
        let scrape_pool = gate.pool().clone();
        let scrape_hook: ScrapeHook = Arc::new(move |metrics: &Metrics| {
            let (depth, capacity) = scrape_pool.queue();
            metrics.password_queue(depth, capacity);
        });
        let scrape_hook = web::Data::new(scrape_hook);
        let audit = Audit::new(instance_id.as_str());
        let reloader =
            Reloader::new(settings, passwords, gate.clone()).observed(metrics_arc, audit.clone());
        let audit = web::Data::new(audit);
        // Listening from here on, so a SIGHUP sent once the port is known
        // reloads rather than terminates the process.
        let hangup = signal(SignalKind::hangup())
            .map_err(|error| log::error!("cannot listen for SIGHUP, reload is disabled: {error}"))
            .ok();
        let readiness = Readiness::default();
        let readiness_data = web::Data::new(readiness.clone());
        let metrics_server = match settings.metrics.listen() {
            Some(listen) if metrics_enabled => {
                Some(metrics_server(listen, &metrics, &scrape_hook)?)
            }
            _ => None,
        };

        let (host, port) = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind((host, port))
            .with_context(|| format!("Failed to bind {host}:{port}"))?;
        let address = listener.local_addr()?;

        let server = HttpServer::new(move || {
            App::new()
                .wrap(RequestFrame::new(
                    instance_id.as_str(),
                    metrics_enabled.then(|| metrics.clone()),
                ))
                .configure(|cfg| gate.configure(cfg))
                .app_data(audit.clone())
                .route("/openapi.json", web::get().to(openapi::serve))
                .app_data(readiness_data.clone())
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
                .configure(|cfg| {
                    // Without the registry as app data nothing on the request path counts.
                    if metrics_enabled {
                        cfg.app_data(metrics.clone()).app_data(scrape_hook.clone());
                    }
                    if metrics_on_main {
                        cfg.route("/metrics", web::get().to(metrics::serve));
                    }
                    #[cfg(feature = "bench-routes")]
                    if bare_route {
                        cfg.route("/bare", web::get().to(routes::bare));
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
            address,
            server,
            metrics_server,
            readiness,
            drain_delay: settings.server.drain_delay,
            reloader,
            hangup,
        })
    }

    /// The port bound (useful when `server.port` was 0).
    pub fn port(&self) -> u16 {
        self.address.port()
    }

    /// The bound addresses and this process, for `serve --ready-file`.
    pub fn ready_signal(&self) -> ReadySignal {
        ReadySignal {
            address: self.address,
            metrics_address: self.metrics_server.as_ref().map(|(_, address)| *address),
            pid: std::process::id(),
        }
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

/// `/metrics` alone on its own address (`metrics.listen`), one worker.
fn metrics_server(
    listen: &str,
    metrics: &web::Data<Metrics>,
    scrape_hook: &web::Data<ScrapeHook>,
) -> anyhow::Result<(Server, SocketAddr)> {
    let listener = TcpListener::bind(listen)
        .with_context(|| format!("Failed to bind metrics.listen {listen}"))?;
    let address = listener.local_addr()?;
    log::info!("metrics listening on {address}");
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
    Ok((server, address))
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
