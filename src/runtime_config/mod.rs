//! Settings turned into what the service runs on: keys loaded, the users,
//! groups and TOTP files parsed, trusted proxies and the instance id parsed.
//! `serve`, `check-config` and every reload build one [`RuntimeConfig`], so
//! each file is read once and all three refuse exactly the same things.

mod keys;
#[cfg(test)]
mod tests;

use std::collections::HashMap;
use std::path::Path;

use crate::auth::KeySet;
use crate::config::{self, ConfigError, DEMO_USERS_MARKER, Environment, Settings};
use crate::credentials::{Groups, HtpasswdStore};
use crate::mfa::{self, TotpSecrets};
use crate::proxy::{InstanceId, TrustedProxies};

/// Validated settings and everything they name, loaded.
pub struct RuntimeConfig {
    /// The validated settings.
    pub settings: Settings,
    /// `server.trusted_proxies`, parsed.
    pub trusted_proxies: TrustedProxies,
    /// `server.instance_id`, or the hostname.
    pub instance_id: InstanceId,
    /// What the settings' files hold; a reload replaces it as one.
    pub files: LoadedFiles,
    /// Findings that do not stop the service (a TOTP file others may read,
    /// outside production), for the log or `check-config` to show.
    pub warnings: Vec<String>,
}

/// The keys, users, groups and second-factor secrets, read from their files.
pub struct LoadedFiles {
    /// From `[jwt]`: the signing key and every verifying key.
    pub keys: KeySet,
    /// `users.file`.
    pub users: HtpasswdStore,
    /// `users.groups_file`, empty when unset.
    pub groups: Groups,
    /// `users.totp_file`, empty when unset.
    pub totp: TotpSecrets,
}

impl RuntimeConfig {
    /// [`config::load`], then every file the settings name.
    pub fn load(config_dir: &Path, vars: &HashMap<String, String>) -> Result<Self, ConfigError> {
        Self::from_settings(config::load(config_dir, vars)?)
    }

    /// Reads and checks what `settings` name. Slow by design where a users
    /// file is parsed (no hashing, but file I/O): call it off the async workers.
    pub fn from_settings(settings: Settings) -> Result<Self, ConfigError> {
        let trusted_proxies = TrustedProxies::parse(&settings.server.trusted_proxies)
            .map_err(|message| ConfigError::new("server.trusted_proxies", message))?;
        let instance_id = match &settings.server.instance_id {
            Some(name) => InstanceId::new(name)
                .map_err(|message| ConfigError::new("server.instance_id", message))?,
            None => InstanceId::from_hostname(),
        };
        // Loading every key is the only way to know the files hold usable keys.
        let keys = keys::key_set(&settings.jwt, settings.environment)?;
        let users = load_users(&settings)?;
        let groups = load_groups(&settings)?;
        let (totp, warning) = load_totp_secrets(&settings)?;
        Ok(Self {
            settings,
            trusted_proxies,
            instance_id,
            files: LoadedFiles {
                keys,
                users,
                groups,
                totp,
            },
            warnings: warning.into_iter().collect(),
        })
    }
}

/// The users file, parsed; production also refuses demo data, an empty
/// file and files any local user could rewrite.
fn load_users(settings: &Settings) -> Result<HtpasswdStore, ConfigError> {
    let path = &settings.users.file;
    // Read here, not by HtpasswdStore::from_file: production checks the text.
    let contents = crate::line_files::read(path)
        .map_err(|error| ConfigError::new("users.file", error.to_string()))?;
    let store = HtpasswdStore::parse(&contents).map_err(|error| {
        ConfigError::new("users.file", format!("`{}`: {error}", path.display()))
    })?;
    if settings.environment == Environment::Production {
        refuse_in_production(settings, &contents, store.user_count() == 0)?;
    }
    Ok(store)
}

/// What production refuses beyond the general rules: demo data, an empty
/// users file, files any local user could rewrite.
fn refuse_in_production(
    settings: &Settings,
    users: &str,
    no_users: bool,
) -> Result<(), ConfigError> {
    let refuse = |message: &str| Err(ConfigError::new("users.file", message));
    if users.contains(DEMO_USERS_MARKER) {
        return refuse("the demo users file is refused in production");
    }
    // The demo account copied without its marker comment.
    if demo_hashes().any(|hash| users.contains(hash)) {
        return refuse("holds the demo user's password hash, refused in production");
    }
    if no_users {
        return refuse("lists no user, so nobody could log in");
    }
    let jwt = &settings.jwt;
    let mut files = vec![("users.file".to_owned(), &settings.users.file)];
    files.extend(
        jwt.secret_file
            .iter()
            .map(|f| ("jwt.secret_file".to_owned(), f)),
    );
    for (index, key) in jwt.keys.iter().enumerate() {
        for (field, file) in [
            ("secret_file", &key.secret_file),
            ("private_key_file", &key.private_key_file),
        ] {
            if let Some(file) = file {
                files.push((format!("jwt.keys[{index}].{field}"), file));
            }
        }
    }
    for (key, file) in files {
        if is_world_writable(file) {
            return Err(ConfigError::new(
                key,
                format!(
                    "`{}` is writable by every user; refused in production (chmod o-w)",
                    file.display()
                ),
            ));
        }
    }
    Ok(())
}

/// The parsed `users.groups_file`; empty when unset.
fn load_groups(settings: &Settings) -> Result<Groups, ConfigError> {
    let Some(path) = &settings.users.groups_file else {
        return Ok(Groups::default());
    };
    Groups::from_file(path).map_err(|error| {
        ConfigError::new(
            "users.groups_file",
            format!("`{}`: {error}", path.display()),
        )
    })
}

/// The parsed `users.totp_file`, empty when unset. A file others can read
/// is refused in production; elsewhere the warning is returned.
fn load_totp_secrets(settings: &Settings) -> Result<(TotpSecrets, Option<String>), ConfigError> {
    let Some(path) = &settings.users.totp_file else {
        return Ok((TotpSecrets::default(), None));
    };
    let key_error = |message: String| {
        ConfigError::new(
            "users.totp_file",
            format!("`{}`: {message}", path.display()),
        )
    };
    let secrets = TotpSecrets::from_file(path, settings.mfa.skew)
        .map_err(|error| key_error(error.to_string()))?;
    let wide = mfa::mode_is_too_wide(path).map_err(|error| key_error(error.to_string()))?;
    let Some(mode) = wide else {
        return Ok((secrets, None));
    };
    let message =
        format!("mode {mode:o} is wider than 0600: others may read the TOTP secrets (chmod 600)");
    if settings.environment == Environment::Production {
        return Err(key_error(message));
    }
    let warning = format!("users.totp_file: `{}`: {message}", path.display());
    Ok((secrets, Some(warning)))
}

/// The password hashes of the shipped demo users file.
fn demo_hashes() -> impl Iterator<Item = &'static str> {
    include_str!("../../config/demo-users.htpasswd")
        .lines()
        .filter(|line| !line.trim_start().starts_with('#'))
        .filter_map(|line| line.split_once(':').map(|(_, hash)| hash.trim()))
        .filter(|hash| !hash.is_empty())
}

fn is_world_writable(path: &Path) -> bool {
    use std::os::unix::fs::PermissionsExt;
    std::fs::metadata(path).is_ok_and(|meta| meta.permissions().mode() & 0o002 != 0)
}
