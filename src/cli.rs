//! Command line: `serve` (the default), `hash-password`, `check-config`.

use std::collections::HashMap;
use std::io::BufRead;
use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Parser, Subcommand};

use crate::config::{self, Settings};
use crate::credentials::hash_password;

/// Exit status for a configuration error (sysexits.h EX_CONFIG).
pub const EXIT_CONFIG: u8 = 78;

#[derive(Debug, Parser)]
#[command(name = "tokengate", version, about = "JWT authentication service")]
pub struct Cli {
    /// Folder holding default.toml, <env>.toml and local.toml.
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
    Serve,
    /// Read a password from stdin and print an htpasswd line with an argon2id hash.
    HashPassword {
        #[arg(long)]
        user: String,
    },
    /// Validate the configuration and print it, secrets masked.
    CheckConfig,
}

/// Loads settings from the config dir and the process environment, printing
/// the one-line error and choosing the exit status on failure.
pub fn load_settings(cli: &Cli) -> Result<Settings, ExitCode> {
    let vars: HashMap<String, String> = std::env::vars().collect();
    config::load(&cli.config_dir, &vars).map_err(|error| {
        eprintln!("tokengate: {error}");
        ExitCode::from(EXIT_CONFIG)
    })
}

pub fn check_config(cli: &Cli) -> ExitCode {
    match load_settings(cli) {
        Ok(settings) => {
            let printed = toml_like(&settings);
            println!(
                "# environment: {}\n{printed}",
                settings.environment.as_str()
            );
            ExitCode::SUCCESS
        }
        Err(code) => code,
    }
}

fn toml_like(settings: &Settings) -> String {
    serde_json::to_string_pretty(settings).unwrap_or_default()
}

pub fn hash_password_command(user: &str) -> ExitCode {
    if user.is_empty() || user.contains([':', '\n', '\r']) {
        eprintln!("tokengate: --user must be non-empty and contain no `:` or line break");
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
