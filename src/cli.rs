//! Command line: `serve` (the default), `hash-password`, `totp enroll`,
//! `check-config`, `healthcheck`.

use std::collections::HashMap;
use std::io::{BufRead, Read, Write};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, TcpStream, ToSocketAddrs};
use std::path::PathBuf;
use std::process::ExitCode;
use std::time::Duration;

use clap::{Parser, Subcommand};

use crate::config::{self, ConfigError, Settings};
use crate::credentials::hash_password;
use crate::mfa::Enrolment;
use crate::runtime_config::RuntimeConfig;
pub use crate::telemetry::init_logging;

/// Exit status for a configuration error (sysexits.h EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(name = "tokengate", version, about = "JWT authentication service")]
pub struct Cli {
    /// Folder holding `default.toml`, `<env>.toml` and `local.toml`.
    #[arg(
        long,
        env = "TOKENGATE_CONFIG_DIR",
        default_value = "config",
        global = true
    )]
    pub config_dir: PathBuf,

    #[command(subcommand)]
    pub command: Option<Command>,
}

#[derive(Debug, Subcommand)]
pub enum Command {
    /// Run the HTTP service (the default).
    Serve {
        /// Once the listeners are bound, write `{"address", "metrics_address",
        /// "pid"}` as JSON to this file (atomically: temporary file, then rename).
        #[arg(long, value_name = "PATH")]
        ready_file: Option<PathBuf>,
    },
    /// Read a password from stdin and print an htpasswd line with an argon2id hash.
    HashPassword {
        #[arg(long)]
        user: String,
    },
    /// Second-factor (TOTP) administration.
    Totp {
        #[command(subcommand)]
        action: TotpCommand,
    },
    /// Validate the configuration and print it, secrets masked.
    CheckConfig,
    /// Manage sessions in the configured store.
    Sessions {
        #[command(subcommand)]
        command: SessionsCommand,
    },
    /// Ask the configured local port's `/healthz`; exit 0 when it answers 200.
    /// For container HEALTHCHECKs in images without curl.
    Healthcheck {
        /// How long to wait for the answer.
        #[arg(long, default_value = "2s", value_parser = humantime::parse_duration)]
        timeout: Duration,
    },
}

#[derive(Debug, Subcommand)]
pub enum TotpCommand {
    /// Generate a secret for a user: prints the `users.totp_file` line, the
    /// otpauth:// URI and a QR code for an authenticator app.
    Enroll {
        #[arg(long)]
        user: String,
        /// The name authenticator apps show beside the code.
        #[arg(long, default_value = "tokengate")]
        issuer: String,
    },
}

#[derive(Debug, Subcommand)]
pub enum SessionsCommand {
    /// End every session of a user on every replica (the Redis store only:
    /// the memory store lives inside the one running process).
    RevokeUser { name: String },
}

/// Exit status when the session store cannot be reached (sysexits.h EX_UNAVAILABLE).
pub const EXIT_UNAVAILABLE: u8 = 69;

pub fn sessions_command(cli: &Cli, command: &SessionsCommand) -> ExitCode {
    let settings = match load_settings(cli) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let SessionsCommand::RevokeUser { name } = command;
    if settings.sessions.store == "memory" {
        eprintln!(
            "tokengate: sessions.store is `memory`: sessions live inside the running process, \
             which this command cannot reach; restart it, or configure a Redis store"
        );
        return ExitCode::from(EXIT_UNAVAILABLE);
    }
    let runtime = match tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
    {
        Ok(runtime) => runtime,
        Err(error) => {
            eprintln!("tokengate: cannot start a runtime: {error}");
            return ExitCode::FAILURE;
        }
    };
    let outcome = runtime.block_on(async {
        let store = crate::sessions::RedisStore::connect(&settings.sessions.store)?;
        let ending = crate::sessions::UserEnding::now(
            name,
            settings.sessions.max_age,
            settings.access_lifetime(),
            None,
        );
        store.end_user(&ending).await
    });
    match outcome {
        Ok(_) => {
            println!("ended every session of `{}`", name.escape_debug());
            ExitCode::SUCCESS
        }
        Err(error) => {
            eprintln!("tokengate: {error}");
            ExitCode::from(EXIT_UNAVAILABLE)
        }
    }
}

/// Loads settings from the config dir and the process environment, printing
/// the one-line error and choosing the exit status on failure. The files
/// they name are not read: commands that need those use [`load_runtime`].
pub fn load_settings(cli: &Cli) -> Result<Settings, ExitCode> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    config::load(&cli.config_dir, &vars).map_err(config_exit)
}

/// [`load_settings`] and every file the settings name: what `serve` and
/// `check-config` run on.
pub fn load_runtime(cli: &Cli) -> Result<RuntimeConfig, ExitCode> {
    RuntimeConfig::from_settings(load_settings(cli)?).map_err(config_exit)
}

fn config_exit(error: ConfigError) -> ExitCode {
    eprintln!("tokengate: {error}");
    ExitCode::from(EXIT_CONFIG)
}

pub fn check_config(cli: &Cli) -> ExitCode {
    let config = match load_runtime(cli) {
        Ok(config) => config,
        Err(code) => return code,
    };
    let settings = &config.settings;
    println!(
        "# environment: {}\n{}",
        settings.environment.as_str(),
        toml_like(settings)
    );
    for warning in &config.warnings {
        println!("# warning: {warning}");
    }
    for (user, weakness) in config.files.users.needing_rehash() {
        println!(
            "# user `{user}` needs a rehash ({weakness}): tokengate hash-password --user {user}"
        );
    }
    ExitCode::SUCCESS
}

fn toml_like(settings: &Settings) -> String {
    serde_json::to_string_pretty(settings).unwrap_or_default()
}

pub fn hash_password_command(user: &str) -> ExitCode {
    if let Err(rule) = crate::auth::check_username(user) {
        eprintln!("tokengate: --user {rule}");
        return ExitCode::from(2);
    }
    let mut password = String::new();
    if let Err(error) = std::io::stdin().lock().read_line(&mut password) {
        eprintln!("tokengate: cannot read the password from stdin: {error}");
        return ExitCode::FAILURE;
    }
    let password = password.trim_end_matches(['\r', '\n']);
    if password.is_empty() {
        eprintln!("tokengate: empty password on stdin");
        return ExitCode::from(2);
    }
    println!("{user}:{}", hash_password(password));
    ExitCode::SUCCESS
}

pub fn totp_command(action: &TotpCommand) -> ExitCode {
    match action {
        TotpCommand::Enroll { user, issuer } => totp_enroll(user, issuer),
    }
}

fn totp_enroll(user: &str, issuer: &str) -> ExitCode {
    if let Err(rule) = crate::auth::check_username(user) {
        eprintln!("tokengate: --user {rule}");
        return ExitCode::from(2);
    }
    if issuer.is_empty() || issuer.contains([':', '\n', '\r']) {
        eprintln!("tokengate: --issuer must be non-empty and contain no `:` or line break");
        return ExitCode::from(2);
    }
    let enrolment = match Enrolment::generate(user, issuer) {
        Ok(enrolment) => enrolment,
        Err(error) => {
            eprintln!("tokengate: cannot enrol `{user}`: {error}");
            return ExitCode::FAILURE;
        }
    };
    let qr = match qrcode::QrCode::new(enrolment.otpauth_uri.as_bytes()) {
        // Light modules drawn as blocks: reads on the usual dark terminal.
        Ok(code) => code
            .render::<qrcode::render::unicode::Dense1x2>()
            .dark_color(qrcode::render::unicode::Dense1x2::Light)
            .light_color(qrcode::render::unicode::Dense1x2::Dark)
            .build(),
        Err(error) => {
            eprintln!("tokengate: cannot draw the QR code: {error}");
            return ExitCode::FAILURE;
        }
    };
    let printed = format!(
        "# Append this line to users.totp_file (mode 0600), then reload (SIGHUP):\n{}\n\
         # Or type this into an authenticator app:\n{}\n\
         # Or scan this with it:\n{qr}\n\
         # Check a code: oathtool --totp -b {}\n",
        enrolment.file_line(),
        enrolment.otpauth_uri,
        enrolment.secret_base32,
    );
    // A closed pipe (`| head`) is the reader's choice, not an error to panic on.
    let _ = std::io::stdout().lock().write_all(printed.as_bytes());
    ExitCode::SUCCESS
}

pub fn healthcheck(cli: &Cli, timeout: Duration) -> ExitCode {
    let settings = match load_settings(cli) {
        Ok(settings) => settings,
        Err(code) => return code,
    };
    let outcome = local_address(&settings.server.host, settings.server.port)
        .and_then(|address| healthz_status(address, timeout));
    match outcome {
        Ok(200) => ExitCode::SUCCESS,
        Ok(status) => {
            eprintln!("tokengate: /healthz answered {status}");
            ExitCode::FAILURE
        }
        Err(error) => {
            eprintln!("tokengate: /healthz unreachable: {error}");
            ExitCode::FAILURE
        }
    }
}

/// Where the server can be reached from this host: a wildcard bind is asked
/// on loopback.
fn local_address(host: &str, port: u16) -> std::io::Result<SocketAddr> {
    match host.parse::<IpAddr>() {
        Ok(IpAddr::V4(ip)) if ip.is_unspecified() => Ok((Ipv4Addr::LOCALHOST, port).into()),
        Ok(IpAddr::V6(ip)) if ip.is_unspecified() => Ok((Ipv6Addr::LOCALHOST, port).into()),
        Ok(ip) => Ok((ip, port).into()),
        Err(_) => (host, port).to_socket_addrs()?.next().ok_or_else(|| {
            std::io::Error::new(
                std::io::ErrorKind::NotFound,
                format!("cannot resolve {host}"),
            )
        }),
    }
}

/// The status code of `GET /healthz`; only the status line is read.
pub fn healthz_status(address: SocketAddr, timeout: Duration) -> std::io::Result<u16> {
    let mut stream = TcpStream::connect_timeout(&address, timeout)?;
    stream.set_read_timeout(Some(timeout))?;
    stream.set_write_timeout(Some(timeout))?;
    stream.write_all(
        b"GET /healthz HTTP/1.1\r\nHost: localhost\r\nUser-Agent: tokengate-healthcheck\r\nConnection: close\r\n\r\n",
    )?;
    let mut head = Vec::new();
    let mut buffer = [0u8; 256];
    while !head.windows(2).any(|pair| pair == b"\r\n") && head.len() < 1024 {
        let read = stream.read(&mut buffer)?;
        if read == 0 {
            break;
        }
        head.extend_from_slice(&buffer[..read]);
    }
    // "HTTP/1.1 200 OK": the second word is the status.
    String::from_utf8_lossy(&head)
        .split_whitespace()
        .nth(1)
        .and_then(|code| code.parse().ok())
        .ok_or_else(|| std::io::Error::new(std::io::ErrorKind::InvalidData, "no HTTP status line"))
}
