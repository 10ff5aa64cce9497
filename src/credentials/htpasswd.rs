use std::collections::HashMap;
use std::path::Path;

use super::{CredentialStore, PasswordHash, hash_password};

/// Users from an htpasswd-format file: one `user:hash` a line, `#` comments.
pub struct HtpasswdStore {
    users: HashMap<String, PasswordHash>,
    /// Checked for unknown users so they cost what a wrong password costs.
    dummy: PasswordHash,
}

#[derive(Debug, thiserror::Error)]
pub enum HtpasswdError {
    #[error("cannot read `{path}`: {source}")]
    Read {
        path: String,
        source: std::io::Error,
    },
    #[error("line {line}: {reason}")]
    Line { line: usize, reason: String },
}

impl HtpasswdStore {
    pub fn from_file(path: &Path) -> Result<Self, HtpasswdError> {
        let contents = std::fs::read_to_string(path).map_err(|source| HtpasswdError::Read {
            path: path.display().to_string(),
            source,
        })?;
        Self::parse(&contents)
    }

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
        Ok(Self {
            users,
            dummy: PasswordHash::Argon2(hash_password("tokengate-dummy-password")),
        })
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }
}

impl CredentialStore for HtpasswdStore {
    fn verify(&self, username: &str, password: &str) -> bool {
        match self.users.get(username) {
            Some(hash) => hash.verify(password),
            None => {
                // Same work as a wrong password, and the same answer.
                let _ = self.dummy.verify(password);
                false
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn known_user_with_right_password_passes() {
        let store = HtpasswdStore::parse(&format!(
            "# comment\n\nalice:{}\n",
            hash_password("wonderland")
        ))
        .unwrap();
        assert_eq!(store.len(), 1);
        assert!(store.verify("alice", "wonderland"));
        assert!(!store.verify("alice", "looking-glass"));
        assert!(!store.verify("bob", "wonderland"));
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
