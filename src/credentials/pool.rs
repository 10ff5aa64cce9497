use std::sync::Arc;

use tokio::sync::Semaphore;

use super::CredentialStore;

/// Runs password checks on blocking threads, at most `limit` at once, so a
/// login flood never occupies the async workers that validate tokens.
#[derive(Clone)]
pub struct HashingPool {
    store: Arc<dyn CredentialStore>,
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
            store,
            permits: Arc::new(Semaphore::new(limit.max(1))),
        }
    }

    pub async fn verify(&self, username: String, password: String) -> Result<bool, PoolError> {
        let _permit = self
            .permits
            .acquire()
            .await
            .map_err(|_| PoolError::Aborted)?;
        let store = Arc::clone(&self.store);
        actix_web::rt::task::spawn_blocking(move || store.verify(&username, &password))
            .await
            .map_err(|_| PoolError::Aborted)
    }
}
