use std::collections::HashMap;
use std::path::Path;
use std::sync::Arc;

use super::{CredentialStore, PasswordHash, StoreError, UserRecord};

use crate::line_files::LineFileError;

/// Users from an htpasswd-format file: one `user:hash` a line, `#` comments.
/// The built-in [`CredentialStore`]; its users' groups come from the groups
/// file ([`Groups`](super::Groups)), not from here.
///
/// Every check costs the same whoever is named, known or not: its
/// [`stand_ins`](CredentialStore::stand_ins) hold one hash of each shape
/// (scheme and parameters) in the file, and a check verifies the user's own
/// hash for its shape and a stand-in for every other shape. A file mixing
/// bcrypt and argon2id users thus pays both per login, until the weak hashes
/// are replaced ([`HtpasswdStore::needing_rehash`]); a file of
/// `hash-password` lines pays one argon2id check, as before.
pub struct HtpasswdStore {
    users: HashMap<String, PasswordHash>,
    /// One hash per shape: the first user's of that shape, or the dummy hash
    /// for an empty file.
    stand_ins: Arc<[PasswordHash]>,
}

impl HtpasswdStore {
    /// Reads and parses an htpasswd file.
    pub fn from_file(path: &Path) -> Result<Self, LineFileError> {
        let contents = crate::line_files::read(path)?;
        Self::parse(&contents)
    }

    /// Parses htpasswd-format text.
    pub fn parse(contents: &str) -> Result<Self, LineFileError> {
        let mut users = HashMap::new();
        let mut shapes: Vec<String> = Vec::new();
        let mut stand_ins: Vec<PasswordHash> = Vec::new();
        for (index, line) in contents.lines().enumerate() {
            let line_error = |reason: &str| LineFileError::Line {
                line: index + 1,
                reason: reason.to_owned(),
            };
            // Only line ends are trimmed: a space before the name is part
            // of it, and refused with it.
            let line = line.trim_end();
            if line.trim_start().is_empty() || line.trim_start().starts_with('#') {
                continue;
            }
            let (user, hash) = line
                .split_once(':')
                .ok_or_else(|| line_error("expected `user:hash`"))?;
            if let Err(rule) = super::check_username(user) {
                return Err(line_error(&format!("user name {rule}")));
            }
            let hash = PasswordHash::parse(hash).map_err(|e| line_error(&e.to_string()))?;
            let shape = hash.shape();
            if !shapes.contains(&shape) {
                shapes.push(shape);
                stand_ins.push(hash.clone());
            }
            if users.insert(user.to_owned(), hash).is_some() {
                return Err(line_error(&format!("user `{user}` appears twice")));
            }
        }
        if stand_ins.is_empty() {
            stand_ins.push(PasswordHash::dummy());
        }
        Ok(Self {
            users,
            stand_ins: stand_ins.into(),
        })
    }

    /// Users whose hash is weak (bcrypt below cost 10, argon2 below OWASP's
    /// minimums), with the reason, sorted by name: re-run `hash-password`
    /// for them. Logged at start-up and listed by `check-config`.
    pub fn needing_rehash(&self) -> Vec<(String, String)> {
        let mut weak: Vec<(String, String)> = self
            .users
            .iter()
            .filter_map(|(user, hash)| Some((user.clone(), hash.weakness()?)))
            .collect();
        weak.sort();
        weak
    }

    /// How many users the file holds.
    pub fn user_count(&self) -> usize {
        self.users.len()
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

#[async_trait::async_trait]
impl CredentialStore for HtpasswdStore {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        Ok(self
            .users
            .get(name)
            .map(|hash| UserRecord::new(name, hash.clone())))
    }

    fn stand_ins(&self) -> Arc<[PasswordHash]> {
        Arc::clone(&self.stand_ins)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::credentials::hash_password;
    use crate::credentials::{checks, verify_password};

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
    fn every_check_verifies_one_hash_of_each_shape_whoever_is_named() {
        let argon2 = hash_password("a");
        let weak_argon2 = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$Z2FNlbdGSsJ2TCgJO7u2Ng";
        let bcrypt = bcrypt::hash("b", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let store = HtpasswdStore::parse(&format!(
            "argon:{argon2}\nweak:{weak_argon2}\nbcrypt:{bcrypt}\n"
        ))
        .unwrap();
        let stand_ins = store.stand_ins();
        let checks = |user: &str| checks(store.users.get(user), &stand_ins);
        let shapes = |user: &str| -> Vec<String> {
            checks(user).iter().map(|(hash, _)| hash.shape()).collect()
        };
        let expected = shapes("nobody");
        assert_eq!(expected.len(), 3, "{expected:?}");
        for user in ["argon", "weak", "bcrypt"] {
            assert_eq!(shapes(user), expected, "{user}");
            assert_eq!(checks(user).iter().filter(|(_, own)| *own).count(), 1);
        }
        assert_eq!(checks("nobody").iter().filter(|(_, own)| *own).count(), 0);
        let verify = |user: &str, password: &str| {
            verify_password(store.users.get(user), &stand_ins, password)
        };
        assert!(verify("bcrypt", "b") && verify("argon", "a"));
        assert!(!verify("bcrypt", "a") && !verify("nobody", "a"));
        let names: Vec<String> = store.needing_rehash().into_iter().map(|(u, _)| u).collect();
        assert_eq!(names, ["bcrypt", "weak"]);
    }

    #[test]
    fn malformed_lines_are_reported_with_their_number() {
        let error = HtpasswdStore::parse("# ok\nalice\n").err().unwrap();
        assert!(error.to_string().starts_with("line 2:"), "{error}");
        let error = HtpasswdStore::parse("alice:{SHA}xyz\n").err().unwrap();
        assert!(error.to_string().contains("unsupported"), "{error}");
    }

    #[test]
    fn user_names_outside_the_syntax_are_refused_with_their_line() {
        let hash = hash_password("x");
        for name in [" alice", "alice ", "alice,admin", "al\u{1}ice", "josé"] {
            let error = HtpasswdStore::parse(&format!("# users\n{name}:{hash}\n"))
                .err()
                .unwrap_or_else(|| panic!("{name:?} accepted"));
            assert!(
                error.to_string().starts_with("line 2: user name"),
                "{error}"
            );
        }
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
