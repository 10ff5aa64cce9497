use std::cell::RefCell;

use argon2::password_hash::{PasswordHasher, phc};
use argon2::{Algorithm, Argon2, Block, Params, Version};

thread_local! {
    /// This thread's argon2 work area (19 MiB at the default parameters),
    /// kept between checks. A fresh allocation per check came back from the
    /// allocator as untouched pages, and faulting them in cost as much CPU as
    /// the hash itself (see BENCHMARKS.md, "Login CPU").
    static ARGON2_WORK_AREA: RefCell<Vec<Block>> = const { RefCell::new(Vec::new()) };
}

/// Gives this thread's argon2 work area back to the allocator; the next
/// check on the thread allocates it again.
pub fn release_work_area() {
    ARGON2_WORK_AREA.with_borrow_mut(|area| *area = Vec::new());
}

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

    /// The hash as the users file spells it.
    pub fn encoded(&self) -> &str {
        match self {
            PasswordHash::Argon2(encoded) | PasswordHash::Bcrypt(encoded) => encoded,
        }
    }

    /// Constant-time comparison: `phc::Output`'s equality for argon2, inside
    /// the bcrypt crate for bcrypt.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            PasswordHash::Argon2(encoded) => phc::PasswordHash::new(encoded)
                .is_ok_and(|hash| verify_argon2(password.as_bytes(), &hash)),
            PasswordHash::Bcrypt(encoded) => bcrypt::verify(password, encoded).unwrap_or(false),
        }
    }
}

/// What `argon2`'s own `verify_password` does, but computed in this thread's
/// reused work area instead of a freshly allocated one.
fn verify_argon2(password: &[u8], hash: &phc::PasswordHash) -> bool {
    let (Some(salt), Some(expected)) = (&hash.salt, &hash.hash) else {
        return false;
    };
    let (Ok(algorithm), Ok(version), Ok(params)) = (
        Algorithm::try_from(hash.algorithm.as_str()),
        hash.version
            .map_or(Ok(Version::default()), Version::try_from),
        Params::try_from(hash),
    ) else {
        return false;
    };
    let mut output = [0u8; phc::Output::MAX_LENGTH];
    let output = &mut output[..expected.len()];
    let hashed = ARGON2_WORK_AREA.with_borrow_mut(|area| {
        // Every block is written before it is read, so old contents do no harm.
        if area.len() < params.block_count() {
            area.resize(params.block_count(), Block::new());
        }
        Argon2::new(algorithm, version, params).hash_password_into_with_memory(
            password,
            salt,
            output,
            area.as_mut_slice(),
        )
    });
    hashed.is_ok() && phc::Output::new(output).is_ok_and(|computed| computed == *expected)
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

    /// The reused work area must give the crate's own answer for every
    /// variant and size, including a smaller hash after a larger one.
    #[test]
    fn argon2_agrees_with_the_crates_own_verification() {
        use argon2::password_hash::{CustomizedPasswordHasher, PasswordVerifier};

        let variants = [
            ("argon2id", 4096, 3),
            ("argon2i", 1024, 1),
            ("argon2d", 2048, 2),
            ("argon2id", 256, 1),
        ];
        for (algorithm, m_cost, t_cost) in variants {
            let params = Params::new(m_cost, t_cost, 1, Some(24)).unwrap();
            let reference = Argon2::default();
            let encoded = reference
                .hash_password_customized(
                    b"hunter2",
                    b"saltsaltsalt",
                    Some(algorithm),
                    None,
                    params,
                )
                .unwrap()
                .to_string();
            let ours = PasswordHash::parse(&encoded).unwrap();
            for attempt in ["hunter2", "hunter3", ""] {
                let expected = reference
                    .verify_password(attempt.as_bytes(), encoded.as_str())
                    .is_ok();
                assert_eq!(ours.verify(attempt), expected, "{encoded} / {attempt:?}");
            }
        }
        release_work_area();
        assert!(
            PasswordHash::parse(&hash_password("again"))
                .unwrap()
                .verify("again")
        );
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
