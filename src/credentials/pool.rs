use std::sync::Arc;

use arc_swap::ArcSwap;
use tokio::sync::Semaphore;

use super::CredentialStore;

/// Runs password checks on blocking threads, at most `limit` at once, so a
/// login flood never occupies the async workers that validate tokens.
#[derive(Clone)]
pub struct HashingPool {
    store: Arc<ArcSwap<Arc<dyn CredentialStore>>>,
    permits: Arc<Semaphore>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("the password check did not complete")]
    Aborted,
}

impl HashingPool {
    pub fn new(store: Arc<dyn CredentialStore>, limit: usize) -> Self {
        Self {
            store: Arc::new(ArcSwap::from_pointee(store)),
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    /// Swaps in another store (a reloaded users file); checks under way
    /// finish against the store they started with.
    pub fn replace_store(&self, store: Arc<dyn CredentialStore>) {
        self.store.store(Arc::new(store));
    }

    pub async fn verify(&self, username: String, password: String) -> Result<bool, PoolError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PoolError::Aborted)?;
        let store = self.store.load_full();
        actix_web::rt::task::spawn_blocking(move || store.verify(&username, &password))
            .await
            .map_err(|_| PoolError::Aborted)
    }
}
