use std::collections::HashMap;
use std::path::Path;

use super::{CredentialStore, PasswordHash};

/// Checked for unknown users so they cost what a wrong password costs: an
/// argon2id hash with the parameters `hash_password` writes. Its password is
/// irrelevant (the result is discarded); a constant keeps start-up instant.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$RPnVfs7j4G3Z/C1thNV+Yw$N1clyUUvc0rpPYKw0h4B2hl+StJZIaMpK0TKGSG+gWY";

/// Users from an htpasswd-format file: one `user:hash` a line, `#` comments.
///
/// Every check costs the same whoever is named, known or not: it verifies
/// one hash of each shape (scheme and parameters) in the file, the user's
/// own for its shape and a stand-in for every other shape. A file mixing
/// bcrypt and argon2id users thus pays both per login, until the weak hashes
/// are replaced ([`HtpasswdStore::needing_rehash`]); a file of
/// `hash-password` lines pays one argon2id check, as before.
pub struct HtpasswdStore {
    /// Each user's hash and the index of its shape in `stand_ins`.
    users: HashMap<String, (usize, PasswordHash)>,
    /// One hash per shape: the first user's of that shape (its password is
    /// irrelevant, the result is discarded), or [`DUMMY_HASH`] for an empty file.
    stand_ins: Vec<PasswordHash>,
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
        let mut shapes: Vec<String> = Vec::new();
        let mut stand_ins = Vec::new();
        for (index, line) in contents.lines().enumerate() {
            let line_error = |reason: &str| HtpasswdError::Line {
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
            if let Err(rule) = crate::auth::check_username(user) {
                return Err(line_error(&format!("user name {rule}")));
            }
            let hash = PasswordHash::parse(hash).map_err(|e| line_error(&e.to_string()))?;
            let shape = hash.shape();
            let index = match shapes.iter().position(|known| *known == shape) {
                Some(index) => index,
                None => {
                    shapes.push(shape);
                    stand_ins.push(hash.clone());
                    shapes.len() - 1
                }
            };
            if users.insert(user.to_owned(), (index, hash)).is_some() {
                return Err(line_error(&format!("user `{user}` appears twice")));
            }
        }
        if stand_ins.is_empty() {
            stand_ins.push(PasswordHash::Argon2(DUMMY_HASH.to_owned()));
        }
        Ok(Self { users, stand_ins })
    }

    /// The hashes a check for `username` verifies, in order, and which of
    /// them is the user's own: one per shape, whoever is named.
    fn checks<'a>(&'a self, username: &str) -> impl Iterator<Item = (&'a PasswordHash, bool)> {
        let own = self.users.get(username);
        self.stand_ins
            .iter()
            .enumerate()
            .map(move |(index, stand_in)| match own {
                Some((shape, hash)) if *shape == index => (hash, true),
                _ => (stand_in, false),
            })
    }

    /// Users whose hash is weak (bcrypt below cost 10, argon2 below OWASP's
    /// minimums), with the reason, sorted by name: re-run `hash-password`
    /// for them. Logged at start-up and listed by `check-config`.
    pub fn needing_rehash(&self) -> Vec<(String, String)> {
        let mut weak: Vec<(String, String)> = self
            .users
            .iter()
            .filter_map(|(user, (_, hash))| Some((user.clone(), hash.weakness()?)))
            .collect();
        weak.sort();
        weak
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
        let mut verified = false;
        for (hash, own) in self.checks(username) {
            // Every check runs; only the user's own decides.
            let matched = std::hint::black_box(hash.verify(password));
            verified |= own && matched;
        }
        verified
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
    fn every_check_verifies_one_hash_of_each_shape_whoever_is_named() {
        let argon2 = hash_password("a");
        let weak_argon2 = "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$Z2FNlbdGSsJ2TCgJO7u2Ng";
        let bcrypt = bcrypt::hash("b", 4).unwrap().replacen("$2b$", "$2y$", 1);
        let store = HtpasswdStore::parse(&format!(
            "argon:{argon2}\nweak:{weak_argon2}\nbcrypt:{bcrypt}\n"
        ))
        .unwrap();
        let shapes = |user: &str| -> Vec<String> {
            store.checks(user).map(|(hash, _)| hash.shape()).collect()
        };
        let expected = shapes("nobody");
        assert_eq!(expected.len(), 3, "{expected:?}");
        for user in ["argon", "weak", "bcrypt"] {
            assert_eq!(shapes(user), expected, "{user}");
            assert_eq!(store.checks(user).filter(|(_, own)| *own).count(), 1);
        }
        assert_eq!(store.checks("nobody").filter(|(_, own)| *own).count(), 0);
        assert!(store.verify("bcrypt", "b") && store.verify("argon", "a"));
        assert!(!store.verify("bcrypt", "a") && !store.verify("nobody", "a"));
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
