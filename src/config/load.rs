//! The layering: embedded defaults, `default.toml`, the environment's file,
//! `local.toml`, then `TOKENGATE__*` variables, through the `config` crate.

use std::collections::HashMap;
use std::path::Path;

use super::{ConfigError, ConfigSource, Environment, Settings};

/// The compiled-in base layer: the binary runs even where `config/` is absent.
const EMBEDDED_DEFAULTS: &str = include_str!("../../config/default.toml");

/// Loads the layered settings and checks their values (not yet the files
/// they name: [`RuntimeConfig`](crate::runtime_config::RuntimeConfig) reads those).
///
/// `vars` stands in for the process environment (tests pass their own map):
/// `TOKENGATE_ENV` picks the environment file, `TOKENGATE__*` override keys.
pub fn load(config_dir: &Path, vars: &HashMap<String, String>) -> Result<Settings, ConfigError> {
    let environment = match vars.get("TOKENGATE_ENV") {
        Some(value) => Environment::try_from(value.as_str())?,
        None => Environment::Development,
    };
    if !config_dir.is_dir() {
        return Err(ConfigError::new(
            "--config-dir",
            format!("`{}` is not a directory", config_dir.display()),
        ));
    }

    let mut overrides: config::Map<String, String> = vars
        .iter()
        .filter(|(name, _)| name.starts_with("TOKENGATE__"))
        .map(|(name, value)| (name.clone(), value.clone()))
        .collect();
    // The list settings, comma-separated in a variable. Every other value
    // stays the string it was: the config crate's `try_parsing` turned an
    // all-digit secret into a float (40 digits became 17); numbers and
    // booleans are parsed from strings field by field anyway.
    let lists: Vec<(&str, Vec<String>)> = [
        ("TOKENGATE__JWT__SOURCES", "jwt.sources"),
        (
            "TOKENGATE__SERVER__TRUSTED_PROXIES",
            "server.trusted_proxies",
        ),
    ]
    .into_iter()
    .filter_map(|(variable, key)| {
        let value = overrides.remove(variable)?;
        let items = value
            .split(',')
            .map(str::trim)
            .filter(|item| !item.is_empty())
            .map(str::to_owned)
            .collect();
        Some((key, items))
    })
    .collect();
    let layered = config::Config::builder()
        .add_source(config::File::from_str(
            EMBEDDED_DEFAULTS,
            config::FileFormat::Toml,
        ))
        .add_source(config::File::from(config_dir.join("default.toml")).required(false))
        .add_source(
            config::File::from(config_dir.join(format!("{}.toml", environment.as_str())))
                .required(false),
        )
        .add_source(config::File::from(config_dir.join("local.toml")).required(false))
        .add_source(
            config::Environment::with_prefix("TOKENGATE")
                .prefix_separator("__")
                .separator("__")
                .source(Some(overrides)),
        );
    let layered = lists
        .into_iter()
        .try_fold(layered, |builder, (key, items)| {
            builder.set_override(key, items)
        })
        .map_err(from_config_crate)?
        .build()
        .map_err(from_config_crate)?;

    let mut settings: Settings = layered.try_deserialize().map_err(from_config_crate)?;
    settings.environment = environment;
    settings.validate()?;
    settings.source = Some(ConfigSource {
        dir: config_dir.to_owned(),
        // Only what `load` reads, so no unrelated secret is kept around.
        vars: vars
            .iter()
            .filter(|(name, _)| name.starts_with("TOKENGATE"))
            .map(|(name, value)| (name.clone(), value.clone()))
            .collect(),
    });
    Ok(settings)
}

/// The `config` crate names the key inside its message; keep that sentence whole.
fn from_config_crate(error: config::ConfigError) -> ConfigError {
    // A parser's message quotes the offending source line, which may hold a
    // secret: keep only its first line, the position (TOML's reads
    // "TOML parse error at line 2, column 10").
    if let config::ConfigError::FileParse { uri, cause } = &error {
        let cause = cause.to_string();
        let position = cause.lines().next().unwrap_or_default();
        let position = position
            .find("line ")
            .map_or("position unknown", |at| &position[at..]);
        return ConfigError::new(
            uri.clone().unwrap_or_else(|| "config".to_owned()),
            format!("syntax error at {position}"),
        );
    }
    // The found value is left out: it may be the secret, in the wrong type
    // (an unquoted all-digit `jwt.secret` in a file).
    if let config::ConfigError::Type {
        key: Some(key),
        unexpected,
        expected,
        ..
    } = &error
    {
        // `64-bit integer `123``, `string "abc"`: the kind, without the value.
        let found = unexpected.to_string();
        let found = found.split(['`', '"']).next().unwrap_or_default().trim();
        return ConfigError::new(key.clone(), format!("expected {expected}, found {found}"));
    }
    let message = error.to_string();
    let key = match &error {
        config::ConfigError::Type { key: Some(key), .. } => key.clone(),
        // The config crate spells a field of a list entry `jwt.keys[1]kid`.
        config::ConfigError::NotFound(key) => dotted(key),
        _ => {
            let quoted = |after: &str| {
                let rest = &message[message.find(after)? + after.len()..];
                rest.split('`').next().map(str::to_owned)
            };
            let field = quoted("unknown field `").or_else(|| quoted("missing field `"));
            match (quoted("for key `"), field) {
                // Inside a list entry: `jwt.keys[1]` plus the field, `jwt.keys[1].pubkey`.
                (Some(parent), Some(field)) => format!("{parent}.{field}"),
                (_, Some(field)) => field,
                (Some(parent), None) => parent,
                (None, None) => message
                    .split('`')
                    .nth(1)
                    .map(str::to_owned)
                    .unwrap_or_else(|| "config".to_owned()),
            }
        }
    };
    ConfigError::new(key, message)
}

/// `jwt.keys[1]kid` → `jwt.keys[1].kid`.
fn dotted(key: &str) -> String {
    let mut out = String::with_capacity(key.len() + 2);
    let mut chars = key.chars().peekable();
    while let Some(c) = chars.next() {
        out.push(c);
        if c == ']'
            && chars
                .peek()
                .is_some_and(|next| next.is_alphanumeric() || *next == '_')
        {
            out.push('.');
        }
    }
    out
}
