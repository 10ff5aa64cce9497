use argon2::Argon2;
use argon2::password_hash::{PasswordHasher, PasswordVerifier, phc};

/// A stored password hash in one of the formats htpasswd files carry.
#[derive(Debug, Clone)]
pub enum PasswordHash {
    /// PHC string, `$argon2id$v=19$m=...`.
    Argon2(String),
    /// `$2y$` / `$2b$` / `$2a$`, as `htpasswd -B` writes.
    Bcrypt(String),
}

#[derive(Debug, thiserror::Error)]
#[error("unsupported password hash (expected argon2id or bcrypt)")]
pub struct UnsupportedHash;

impl PasswordHash {
    pub fn parse(encoded: &str) -> Result<Self, UnsupportedHash> {
        if encoded.starts_with("$argon2") {
            phc::PasswordHash::new(encoded).map_err(|_| UnsupportedHash)?;
            Ok(PasswordHash::Argon2(encoded.to_owned()))
        } else if ["$2y$", "$2b$", "$2a$"]
            .iter()
            .any(|prefix| encoded.starts_with(prefix))
        {
            Ok(PasswordHash::Bcrypt(encoded.to_owned()))
        } else {
            Err(UnsupportedHash)
        }
    }

    /// Constant-time comparison happens inside both hash crates.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            PasswordHash::Argon2(encoded) => phc::PasswordHash::new(encoded).is_ok_and(|hash| {
                Argon2::default()
                    .verify_password(password.as_bytes(), &hash)
                    .is_ok()
            }),
            PasswordHash::Bcrypt(encoded) => bcrypt::verify(password, encoded).unwrap_or(false),
        }
    }
}

/// An argon2id PHC string with the crate's recommended parameters and a random salt.
pub fn hash_password(password: &str) -> String {
    Argon2::default()
        .hash_password(password.as_bytes())
        .expect("argon2 hashing with default parameters cannot fail")
        .to_string()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn argon2_round_trip() {
        let hash = PasswordHash::parse(&hash_password("hunter2")).unwrap();
        assert!(hash.verify("hunter2"));
        assert!(!hash.verify("hunter3"));
    }

    #[test]
    fn bcrypt_hashes_as_htpasswd_writes_them_verify() {
        let encoded = bcrypt::hash("hunter2", 4)
            .unwrap()
            .replacen("$2b$", "$2y$", 1);
        let hash = PasswordHash::parse(&encoded).unwrap();
        assert!(hash.verify("hunter2"));
        assert!(!hash.verify("hunter3"));
    }

    #[test]
    fn weak_or_unknown_schemes_are_refused() {
        for encoded in ["$apr1$abc$def", "{SHA}abc", "plaintext", "$argon2id$broken"] {
            assert!(PasswordHash::parse(encoded).is_err(), "{encoded}");
        }
    }
}
