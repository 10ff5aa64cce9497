use std::collections::HashMap;
use std::path::Path;

use super::{CredentialStore, PasswordHash};

/// Checked for unknown users so they cost what a wrong password costs: an
/// argon2id hash with the parameters `hash_password` writes. Its password is
/// irrelevant (the result is discarded); a constant keeps start-up instant.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$RPnVfs7j4G3Z/C1thNV+Yw$N1clyUUvc0rpPYKw0h4B2hl+StJZIaMpK0TKGSG+gWY";

/// Users from an htpasswd-format file: one `user:hash` a line, `#` comments.
pub struct HtpasswdStore {
    users: HashMap<String, PasswordHash>,
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
            dummy: PasswordHash::Argon2(DUMMY_HASH.to_owned()),
        })
    }

    pub fn len(&self) -> usize {
        self.users.len()
    }

    pub fn is_empty(&self) -> bool {
        self.users.is_empty()
    }

    /// Per user, a digest of their password hash: what a reload compares to
    /// find changed passwords, without keeping a second copy of the hashes.
    pub fn fingerprints(&self) -> HashMap<String, String> {
        use sha2::{Digest, Sha256};
        self.users
            .iter()
            .map(|(user, hash)| {
                let digest = Sha256::digest(hash.encoded().as_bytes());
                let hex: String = digest[..16].iter().map(|b| format!("{b:02x}")).collect();
                (user.clone(), hex)
            })
            .collect()
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
    use crate::credentials::hash_password;

    #[test]
    fn the_dummy_hash_has_the_parameters_real_hashes_get() {
        let real = hash_password("x");
        let params = |hash: &str| hash.split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(PasswordHash::parse(DUMMY_HASH).is_ok());
    }

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
