//! The login side: the credential-store trait, the htpasswd store, the
//! groups file, password hashing, and the bounded pool that keeps hashing off the async workers.

mod groups;
mod hashing;
mod htpasswd;
mod pool;

pub use groups::{Groups, GroupsError};
pub use hashing::{PasswordHash, hash_password};
pub use htpasswd::{HtpasswdError, HtpasswdStore};
pub use pool::{HashingPool, PoolError};

/// Checks a username and password. Implementations may block (password
/// hashing is slow by design); callers run them through a [`HashingPool`].
///
/// An unknown user must cost as much as a wrong password and give the same
/// answer, so that neither timing nor result reveals who has an account.
pub trait CredentialStore: Send + Sync + 'static {
    fn verify(&self, username: &str, password: &str) -> bool;
}
