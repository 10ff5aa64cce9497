//! The second factor: TOTP secrets and code checks (RFC 6238), and the
//! store that refuses replayed codes and counts wrong ones.

mod redis;
mod store;
mod totp;

pub use redis::RedisMfaStore;
pub use store::{MemoryMfaStore, MfaStore, MfaStoreError, StoreFuture};
pub use totp::{DIGITS, Enrolment, STEP_SECONDS, TotpSecrets, mode_is_too_wide};
