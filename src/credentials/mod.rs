//! The login side: the credential-store trait and the user record it returns,
//! the htpasswd store, the groups file, password hashing, and the bounded
//! pool that keeps hashing off the async workers.

mod groups;
mod hashing;
mod htpasswd;
mod login;
mod pool;
mod username;

use std::sync::{Arc, LazyLock};
use std::time::Duration;

pub use crate::line_files::LineFileError;
pub use groups::Groups;
pub use hashing::{PasswordHash, UnsupportedHash, hash_password};
pub use htpasswd::HtpasswdStore;
pub(crate) use login::{ClaimsHook, Login};
pub use pool::{HashingPool, PoolError};
pub use username::{MAX_USERNAME_BYTES, check_username};

/// Looks users up by name. A lookup may do I/O (a database, a directory) and
/// may fail; tokengate compares the password itself, on its hashing pool, in
/// constant time, and checks a dummy hash for unknown users so that neither
/// timing nor answer reveals who has an account.
///
/// ```
/// use tokengate::{CredentialStore, PasswordHash, StoreError, UserRecord, hash_password};
///
/// struct OneUser(PasswordHash);
///
/// #[tokengate::async_trait]
/// impl CredentialStore for OneUser {
///     async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
///         Ok((name == "alice").then(|| UserRecord::new(name, self.0.clone())))
///     }
/// }
/// # let _ = OneUser(PasswordHash::parse(&hash_password("pw")).unwrap());
/// ```
#[async_trait::async_trait]
pub trait CredentialStore: Send + Sync + 'static {
    /// The user named `name`, `Ok(None)` when there is none, or an error when
    /// the store cannot answer (a login then gets 503 with `Retry-After`,
    /// never a 401).
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError>;

    /// One hash of each shape (scheme and parameters) the store holds.
    /// Every password check verifies one hash per shape, the user's own in
    /// its shape's place, so that known and unknown names cost the same.
    /// The default, one argon2id hash with `hash_password`'s parameters,
    /// fits a store of such hashes; a store holding other shapes lists one
    /// hash of each.
    fn stand_ins(&self) -> Arc<[PasswordHash]> {
        static DEFAULT: LazyLock<Arc<[PasswordHash]>> =
            LazyLock::new(|| Arc::from([PasswordHash::dummy()]));
        Arc::clone(&DEFAULT)
    }
}

/// A shared store is a store, so an app can keep a handle on the one it registers.
#[async_trait::async_trait]
impl<S: CredentialStore + ?Sized> CredentialStore for Arc<S> {
    async fn find(&self, name: &str) -> Result<Option<UserRecord>, StoreError> {
        (**self).find(name).await
    }

    fn stand_ins(&self) -> Arc<[PasswordHash]> {
        (**self).stand_ins()
    }
}

/// The hashes one password check verifies, and which one is the user's own:
/// a stand-in per shape, with the user's own hash in its shape's place (or
/// added, when no stand-in has its shape).
pub(crate) fn checks<'a>(
    own: Option<&'a PasswordHash>,
    stand_ins: &'a [PasswordHash],
) -> Vec<(&'a PasswordHash, bool)> {
    let own_shape = own.map(PasswordHash::shape);
    let mut placed = false;
    let mut checks: Vec<(&PasswordHash, bool)> = stand_ins
        .iter()
        .map(|stand_in| match own {
            Some(hash) if !placed && own_shape.as_deref() == Some(&*stand_in.shape()) => {
                placed = true;
                (hash, true)
            }
            _ => (stand_in, false),
        })
        .collect();
    if let Some(hash) = own.filter(|_| !placed) {
        checks.push((hash, true));
    }
    checks
}

/// Whether `password` matches `own`, after verifying every stand-in too.
pub(crate) fn verify_password(
    own: Option<&PasswordHash>,
    stand_ins: &[PasswordHash],
    password: &str,
) -> bool {
    let mut verified = false;
    for (hash, is_own) in checks(own, stand_ins) {
        // Every check runs; only the user's own decides.
        let matched = std::hint::black_box(hash.verify(password));
        verified |= is_own && matched;
    }
    verified
}

/// What a credential store knows about a user: the stored password hash and
/// the attributes tokens may carry. New attributes may be added, so build it
/// with [`UserRecord::new`] and the `with_*` methods.
#[derive(Debug, Clone)]
#[non_exhaustive]
pub struct UserRecord {
    /// The name the user logs in with; minted as `sub`.
    pub name: String,
    /// The stored hash the presented password is checked against.
    pub password_hash: PasswordHash,
    /// Groups the user belongs to (empty for the htpasswd store).
    pub groups: Vec<String>,
}

impl UserRecord {
    /// A user with a name and a password hash, and no groups.
    pub fn new(name: impl Into<String>, password_hash: PasswordHash) -> Self {
        Self {
            name: name.into(),
            password_hash,
            groups: Vec::new(),
        }
    }

    /// The same user, in these groups.
    pub fn with_groups<S: Into<String>>(mut self, groups: impl IntoIterator<Item = S>) -> Self {
        self.groups = groups.into_iter().map(Into::into).collect();
        self
    }
}

/// A credential store could not answer. Logins meanwhile get 503 with
/// `Retry-After`; the cause is logged, never shown to the client.
#[derive(Debug, thiserror::Error)]
#[error("the credential store is unavailable")]
pub struct StoreError {
    #[source]
    source: Box<dyn std::error::Error + Send + Sync>,
    retry_after: Duration,
}

impl StoreError {
    /// The store is unavailable for this reason; clients retry after 1 s.
    pub fn unavailable(source: impl Into<Box<dyn std::error::Error + Send + Sync>>) -> Self {
        Self {
            source: source.into(),
            retry_after: Duration::from_secs(1),
        }
    }

    /// Tells clients to retry after `retry_after` (rounded up to whole seconds, at least 1).
    pub fn retry_after(mut self, retry_after: Duration) -> Self {
        self.retry_after = retry_after;
        self
    }

    /// When clients should retry, in whole seconds (at least 1).
    pub fn retry_after_seconds(&self) -> u64 {
        let wait = self.retry_after;
        (wait.as_secs() + u64::from(wait.subsec_nanos() > 0)).max(1)
    }
}
