use std::path::Path;
use std::process::ExitCode;

use clap::Parser;
use tokengate::cli::{self, Cli, Command};
use tokengate::ready_file;
use tokengate::startup::Application;

// Each argon2 check allocates a 19 MiB work area: glibc's allocator keeps
// those in per-thread arenas, or with mmap faults a fresh buffer in per
// check; jemalloc reuses the area and returns idle pages (BENCHMARKS.md,
// "Login memory").
#[global_allocator]
static ALLOCATOR: tikv_jemallocator::Jemalloc = tikv_jemallocator::Jemalloc;

fn main() -> ExitCode {
    let cli = Cli::parse();
    match &cli.command {
        None => serve(&cli, None),
        Some(Command::Serve { ready_file }) => serve(&cli, ready_file.as_deref()),
        Some(Command::HashPassword { user }) => cli::hash_password_command(user),
        Some(Command::Totp { action }) => cli::totp_command(action),
        Some(Command::CheckConfig) => cli::check_config(&cli),
        Some(Command::Sessions { command }) => cli::sessions_command(&cli, command),
        Some(Command::Healthcheck { timeout }) => cli::healthcheck(&cli, *timeout),
    }
}

fn serve(cli: &Cli, ready_path: Option<&Path>) -> ExitCode {
    ignore_hangup_until_reload_listens();
    let config = match cli::load_runtime(cli) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let settings = config.settings.clone();
    cli::init_logging(settings.log.format);
    let result = actix_web::rt::System::new().block_on(async {
        // A file left by an earlier run must not read as this one's signal.
        if let Some(path) = ready_path {
            ready_file::remove(path)?;
        }
        let app = Application::from_runtime(config)?;
        log::info!(
            "tokengate listening on {}:{} ({})",
            settings.server.host,
            app.port(),
            settings.environment.as_str()
        );
        if let Some(path) = ready_path {
            app.ready_signal().write(path)?;
        }
        app.run_until_stopped().await?;
        // Stopped cleanly either way: a file left behind is only logged.
        if let Some(Err(error)) = ready_path.map(ready_file::remove) {
            log::warn!("{error:#}");
        }
        anyhow::Ok(())
    });
    match result {
        Ok(()) => ExitCode::SUCCESS,
        Err(error) => {
            eprintln!("tokengate: {error:#}");
            ExitCode::FAILURE
        }
    }
}

/// SIGHUP's default action ends the process, and the reload handler is only
/// installed once the app is built: a SIGHUP in between (a config manager
/// reloading every replica as one starts) killed it. Ignoring it discards
/// one already pending; unblocking undoes a parent's blocked mask, which
/// would otherwise disable reload for good.
fn ignore_hangup_until_reload_listens() {
    // SAFETY: plain signal-disposition and mask changes on this process,
    // before any other thread exists.
    unsafe {
        libc::signal(libc::SIGHUP, libc::SIG_IGN);
        let mut hangup: libc::sigset_t = std::mem::zeroed();
        libc::sigemptyset(&mut hangup);
        libc::sigaddset(&mut hangup, libc::SIGHUP);
        libc::pthread_sigmask(libc::SIG_UNBLOCK, &hangup, std::ptr::null_mut());
    }
}
