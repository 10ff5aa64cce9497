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
        return_hash_memory_to_the_os();
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

/// Makes glibc hand each argon2 working area (19 MiB by default) back to the
/// OS when a check ends. Left to itself, glibc raises its mmap threshold after
/// the first such free and keeps later areas in per-thread heaps: under a
/// login flood the soak test saw RSS climb past 1 GiB. Returns whether the
/// setting took (always false off glibc, where it is not needed).
pub fn return_hash_memory_to_the_os() -> bool {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    {
        static TUNED: std::sync::OnceLock<bool> = std::sync::OnceLock::new();
        // Fixed, not dynamic: allocations of 1 MiB or more are mmap()ed and
        // unmapped on free. mallopt only changes allocator parameters.
        *TUNED.get_or_init(|| unsafe { libc::mallopt(libc::M_MMAP_THRESHOLD, 1024 * 1024) } == 1)
    }
    #[cfg(not(all(target_os = "linux", target_env = "gnu")))]
    false
}

#[cfg(test)]
mod tests {
    #[cfg(all(target_os = "linux", target_env = "gnu"))]
    #[test]
    fn glibc_accepts_the_fixed_mmap_threshold() {
        assert!(super::return_hash_memory_to_the_os());
    }
}
