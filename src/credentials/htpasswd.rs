use std::collections::HashMap;
use std::path::Path;

use super::{CredentialStore, PasswordHash, StoreError, UserRecord};

/// Users from an htpasswd-format file: one `user:hash` a line, `#` comments.
/// The built-in [`CredentialStore`]; its users belong to no groups.
pub struct HtpasswdStore {
    users: HashMap<String, PasswordHash>,
}

/// Why an htpasswd file could not be loaded.
#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    /// The file could not be read.
    #[error("cannot read `{path}`: {source}")]
    Read {
        /// The file's path.
        path: String,
        /// Why reading failed.
        source: std::io::Error,
    },
    /// A line is not `user:hash` with a supported hash.
    #[error("line {line}: {reason}")]
    Line {
        /// 1-based line number.
        line: usize,
        /// What is wrong with it.
        reason: String,
    },
}

impl HtpasswdStore {
    /// Reads and parses an htpasswd file.
    pub fn from_file(path: &Path) -> Result<Self, HtpasswdError> {
        let contents = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&contents)
    }

    /// Parses htpasswd-format text.
    pub fn parse(contents: &str) -> Result<Self, HtpasswdError> {
        let mut users = HashMap::new();
        for (index, line) in contents.lines().enumerate() {
            let line_error = |reason: &str| HtpasswdError::Line {
                line: index + 1,
                reason: reason.to_owned(),
            };
            let line = line.trim();
            if line.is_empty() || line.starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| line_error("expected `user:hash`"))?;
            if user.is_empty() {
                return Err(line_error("empty user name"));
            }
            let hash = PasswordHash::parse(hash).map_err(|e| line_error(&e.to_string()))?;
            if users.insert(user.to_owned(), hash).is_some() {
                return Err(line_error(&format!("user `{user}` appears twice")));
            }
        }
        Ok(Self { users })
    }

    /// How many users the file holds.
    pub fn user_count(&self) -> usize {
        self.users.len()
    }
}

#[async_trait::async_trait]
impl CredentialStore for HtpasswdStore {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self
            .users
            .get(name)
            .map(|hash| UserRecord::new(name, hash.clone())))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::hash_password;

    #[actix_web::test]
    async fn known_users_are_found_with_their_hash() {
        let store = HtpasswdStore::parse(&format!(
            "# comment\n\nalice:{}\n",
            hash_password("wonderland")
        ))
        .unwrap();
        assert_eq!(store.user_count(), 1);
        let alice = store.find("alice").await.unwrap().unwrap();
        assert_eq!(alice.name, "alice");
        assert!(alice.groups.is_empty());
        assert!(alice.password_hash.verify("wonderland"));
        assert!(!alice.password_hash.verify("looking-glass"));
        assert!(store.find("bob").await.unwrap().is_none());
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let error = HtpasswdStore::parse("# ok\nalice\n").err().unwrap();
        assert!(error.to_string().starts_with("line 2:"), "{error}");
        let error = HtpasswdStore::parse("alice:{SHA}xyz\n").err().unwrap();
        assert!(error.to_string().contains("unsupported"), "{error}");
    }

    #[test]
    fn duplicate_users_are_refused() {
        let hash = hash_password("x");
        let error = HtpasswdStore::parse(&format!("a:{hash}\na:{hash}\n"))
            .err()
            .unwrap();
        assert!(error.to_string().contains("twice"), "{error}");
    }
}
