//! The login side's shared state: the credential store (swapped on reload),
//! the hashing pool and the app's claims hook.

use std::sync::Arc;

use arc_swap::ArcSwap;
use serde_json::{Map, Value};

use super::{CredentialStore, HashingPool, UserRecord};

/// Turns the authenticated user's record into the app's extra claims.
pub(crate) type ClaimsHook =
    dyn Fn(&UserRecord) -> Result<Map<String, Value>, serde_json::Error> + Send + Sync;

/// The login side's state: the store users are looked up in, the pool their
/// passwords are checked on, and the app's claims hook.
pub(crate) struct Login {
    store: ArcSwap<Arc<dyn CredentialStore>>,
    pub(crate) pool: HashingPool,
    claims: Option<Arc<ClaimsHook>>,
}

impl Login {
    /// The store in force; a reload may swap another in meanwhile.
    pub(crate) fn store(&self) -> Arc<dyn CredentialStore> {
        Arc::clone(&self.store.load())
    }

    /// The app's extra claims for this user, if it registered a hook.
    pub(crate) fn extra_claims(
        &self,
        user: &UserRecord,
    ) -> Option<Result<Map<String, Value>, serde_json::Error>> {
        self.claims.as_ref().map(|hook| hook(user))
    }
}

impl Login {
    pub(crate) fn new(
        store: Arc<dyn CredentialStore>,
        pool: HashingPool,
        claims: Option<Arc<ClaimsHook>>,
    ) -> Self {
        Self {
            store: ArcSwap::from_pointee(store),
            pool,
            claims,
        }
    }

    /// Swaps in another store (a reloaded users file); logins under way
    /// finish with the one they started with.
    pub(crate) fn replace_store(&self, store: Arc<dyn CredentialStore>) {
        self.store.store(Arc::new(store));
    }
}
