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

/// Checked for unknown users so they cost what a wrong password costs: an
/// argon2id hash with the parameters `hash_password` writes. Its password is
/// irrelevant (the result is discarded); a constant keeps start-up instant.
const DUMMY_HASH: &str = "$argon2id$v=19$m=19456,t=2,p=1$RPnVfs7j4G3Z/C1thNV+Yw$N1clyUUvc0rpPYKw0h4B2hl+StJZIaMpK0TKGSG+gWY";

/// A stored password hash in one of the formats htpasswd files carry.
#[derive(Clone)]
pub enum PasswordHash {
    /// PHC string, `$argon2id$v=19$m=...`.
    Argon2(String),
    /// `$2y$` / `$2b$` / `$2a$`, as `htpasswd -B` writes.
    Bcrypt(String),
}

// A hash is not a secret, but it is an offline-guessing target: keep it out of logs.
impl std::fmt::Debug for PasswordHash {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(match self {
            PasswordHash::Argon2(_) => "PasswordHash::Argon2([REDACTED])",
            PasswordHash::Bcrypt(_) => "PasswordHash::Bcrypt([REDACTED])",
        })
    }
}

/// A stored hash in a format tokengate does not check.
#[derive(Debug, thiserror::Error)]
#[error("unsupported password hash (expected argon2id or bcrypt)")]
pub struct UnsupportedHash;

impl PasswordHash {
    /// The hash checked for users that do not exist, with the parameters
    /// real hashes get, so an unknown name costs what a wrong password costs.
    pub(crate) fn dummy() -> Self {
        PasswordHash::Argon2(DUMMY_HASH.to_owned())
    }

    /// Recognises an argon2 PHC string or a bcrypt hash.
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

    /// Constant-time comparison: `phc::Output`'s equality for argon2, inside
    /// the bcrypt crate for bcrypt.
    pub fn verify(&self, password: &str) -> bool {
        match self {
            PasswordHash::Argon2(encoded) => phc::PasswordHash::new(encoded)
                .is_ok_and(|hash| verify_argon2(password.as_bytes(), &hash)),
            // bcrypt reads only the first 72 bytes: a longer password would
            // log in with any tail. The hash is still computed (on the first
            // 72 bytes), so a long password costs what any other does.
            PasswordHash::Bcrypt(encoded) => {
                let matched = bcrypt::verify(password, encoded).unwrap_or(false);
                matched && password.len() <= MAX_BCRYPT_PASSWORD_BYTES
            }
        }
    }

    /// What a check against this hash costs: the scheme and its parameters.
    /// Two hashes of one shape take the same time whatever the password.
    pub fn shape(&self) -> String {
        match self {
            // `$argon2id$v=19$m=19456,t=2,p=1$salt$hash`: all but the salt,
            // and the output length, which sets the final hashing work.
            PasswordHash::Argon2(encoded) => {
                let parts: Vec<&str> = encoded.split('$').collect();
                let output = parts.last().map_or(0, |hash| hash.len());
                format!("{} output={output}", parts[..parts.len().min(4)].join("$"))
            }
            // `$2y$10$...`: the variants differ in bug fixes, not cost.
            PasswordHash::Bcrypt(encoded) => format!("bcrypt cost={}", bcrypt_cost(encoded)),
        }
    }

    /// Why this hash should be replaced by a fresh `hash-password` one, if it
    /// should: bcrypt below cost 10, argon2 other than argon2id or below
    /// OWASP's minimum parameters.
    pub fn weakness(&self) -> Option<String> {
        match self {
            PasswordHash::Bcrypt(encoded) => {
                let cost = bcrypt_cost(encoded);
                (cost < MIN_BCRYPT_COST).then(|| format!("bcrypt cost {cost} is below 10"))
            }
            PasswordHash::Argon2(encoded) => {
                let hash = phc::PasswordHash::new(encoded).ok()?;
                let params = Params::try_from(&hash).ok()?;
                if hash.algorithm.as_str() != "argon2id" {
                    return Some(format!("{} is not argon2id", hash.algorithm.as_str()));
                }
                let (m, t) = (params.m_cost(), params.t_cost());
                let meets_owasp = OWASP_ARGON2ID_MINIMUMS
                    .iter()
                    .any(|&(min_m, min_t)| m >= min_m && t >= min_t);
                (!meets_owasp).then(|| {
                    format!("argon2id m={m} KiB, t={t} is below OWASP's minimums (m=19456, t=2)")
                })
            }
        }
    }
}

/// bcrypt reads this many bytes of a password and ignores the rest.
pub const MAX_BCRYPT_PASSWORD_BYTES: usize = 72;

/// OWASP Password Storage Cheat Sheet: bcrypt work factor 10 or more.
const MIN_BCRYPT_COST: u32 = 10;

/// OWASP Password Storage Cheat Sheet: argon2id (memory KiB, iterations),
/// each pair equally strong.
const OWASP_ARGON2ID_MINIMUMS: [(u32, u32); 5] =
    [(47104, 1), (19456, 2), (12288, 3), (9216, 4), (7168, 5)];

/// `$2y$10$...` → 10; parse guaranteed the prefix, not the number.
fn bcrypt_cost(encoded: &str) -> u32 {
    encoded
        .split('$')
        .nth(2)
        .and_then(|cost| cost.parse().ok())
        .unwrap_or(0)
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
    fn the_dummy_hash_has_the_parameters_real_hashes_get() {
        let real = hash_password("x");
        let params = |hash: &str| hash.split('$').nth(3).unwrap().to_owned();
        assert_eq!(params(DUMMY_HASH), params(&real));
        assert!(PasswordHash::parse(DUMMY_HASH).is_ok());
    }

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
    fn bcrypt_refuses_a_password_longer_than_the_72_bytes_it_reads() {
        let password = "p".repeat(MAX_BCRYPT_PASSWORD_BYTES);
        let hash = PasswordHash::parse(&bcrypt::hash(&password, 4).unwrap()).unwrap();
        assert!(hash.verify(&password));
        assert!(!hash.verify(&format!("{password}and any tail")));
    }

    #[test]
    fn weak_parameters_are_named_and_the_defaults_are_not() {
        let weak_bcrypt = PasswordHash::parse(&bcrypt::hash("x", 4).unwrap()).unwrap();
        assert!(weak_bcrypt.weakness().unwrap().contains("cost 4"));
        let bcrypt_10 = PasswordHash::parse(&bcrypt::hash("x", 10).unwrap()).unwrap();
        assert_eq!(bcrypt_10.weakness(), None);
        assert_eq!(
            PasswordHash::parse(&hash_password("x")).unwrap().weakness(),
            None
        );
        let weak_argon2 = PasswordHash::parse(
            "$argon2id$v=19$m=4096,t=3,p=1$c2FsdHNhbHRzYWx0$Z2FNlbdGSsJ2TCgJO7u2Ng",
        )
        .unwrap();
        assert!(weak_argon2.weakness().unwrap().contains("m=4096"));
        let argon2i = PasswordHash::parse(
            "$argon2i$v=19$m=19456,t=2,p=1$c2FsdHNhbHRzYWx0$Z2FNlbdGSsJ2TCgJO7u2Ng",
        )
        .unwrap();
        assert!(argon2i.weakness().unwrap().contains("not argon2id"));
    }

    #[test]
    fn weak_or_unknown_schemes_are_refused() {
        for encoded in ["$apr1$abc$def", "{SHA}abc", "plaintext", "$argon2id$broken"] {
            assert!(PasswordHash::parse(encoded).is_err(), "{encoded}");
        }
    }
}
