//! Builds the app from settings: shared state created once, the server bound
//! (port 0 picks a free port, which the tests rely on), graceful shutdown.

use std::net::TcpListener;
use std::time::Duration;

use actix_web::dev::Server;
use actix_web::middleware::DefaultHeaders;
use actix_web::{App, HttpServer, middleware, web};
use anyhow::Context;
use tokio::signal::unix::{Signal, SignalKind, signal};

use crate::config::Settings;
use crate::gate::TokenGate;
use crate::proxy::INSTANCE_ID_HEADER;
use crate::reload::Reloader;
use crate::routes::{self, Readiness};
use crate::{request_limits, telemetry};

pub struct Application {
    port: u16,
    server: Server,
    readiness: Readiness,
    drain_delay: Duration,
    reloader: Reloader,
    hangup: Option<Signal>,
}

impl Application {
    pub fn build(settings: &Settings) -> anyhow::Result<Self> {
        let gate = TokenGate::from_settings(settings)?;
        let instance_id = settings.instance_id()?;
        log::info!("instance id: {instance_id}");
        let reloader = Reloader::new(settings, gate.clone());
        // Listening from here on, so a SIGHUP sent once the port is known
        // reloads rather than terminates the process.
        let hangup = signal(SignalKind::hangup())
            .map_err(|error| log::error!("cannot listen for SIGHUP, reload is disabled: {error}"))
            .ok();
        let readiness = Readiness::default();
        let readiness_data = web::Data::new(readiness.clone());
        let bare_route = settings.server.bare_route;

        let address = (settings.server.host.as_str(), settings.server.port);
        let listener = TcpListener::bind(address)
            .with_context(|| format!("Failed to bind {}:{}", address.0, address.1))?;
        let port = listener.local_addr()?.port();

        let server = HttpServer::new(move || {
            App::new()
                .wrap(DefaultHeaders::new().add((INSTANCE_ID_HEADER, instance_id.header_value())))
                .wrap(middleware::from_fn(request_limits::enforce))
                .wrap(telemetry::access_log())
                .configure(|cfg| gate.configure(cfg))
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
            port,
            server,
            readiness,
            drain_delay: settings.server.drain_delay,
            reloader,
            hangup,
        })
    }

    pub fn port(&self) -> u16 {
        self.port
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
        tokio::spawn(async move {
            shutdown_signal().await;
            readiness.start_draining();
            log::info!(
                "shutdown requested; draining for {}",
                humantime::format_duration(drain_delay)
            );
            tokio::time::sleep(drain_delay).await;
            handle.stop(true).await;
        });
        self.server.await
    }
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
