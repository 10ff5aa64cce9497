use std::sync::Arc;
use std::time::{Duration, Instant};

use arc_swap::ArcSwap;
use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

use super::{CredentialStore, hashing};
use crate::metrics::Metrics;

/// Password checks waiting for a thread, per thread, before logins are shed.
const QUEUE_PER_THREAD: usize = 64;

/// A check thread idle this long gives its argon2 work area back, so a quiet
/// service returns to its idle memory footprint.
const RELEASE_WORK_AREA_AFTER: Duration = Duration::from_secs(10);

/// Runs password checks on a fixed set of dedicated threads, so a login
/// flood never occupies the async workers that validate tokens.
///
/// Dedicated threads rather than tokio's blocking pool: each keeps reusing
/// its own 19 MiB argon2 work area while checks keep coming (the blocking
/// pool's short-lived threads left a fresh allocator arena behind each, and
/// RSS passed 1 GB under a flood), and they run at idle CPU priority, below
/// the workers.
#[derive(Clone)]
pub struct HashingPool {
    store: Arc<ArcSwap<Arc<dyn CredentialStore>>>,
    jobs: Sender<Job>,
    metrics: Option<Arc<Metrics>>,
}

struct Job {
    store: Arc<dyn CredentialStore>,
    username: String,
    password: String,
    answer: oneshot::Sender<bool>,
    queued_at: Instant,
    metrics: Option<Arc<Metrics>>,
}

#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    #[error("too many password checks are waiting")]
    Busy,
    #[error("the password check did not complete")]
    Aborted,
}

impl HashingPool {
    pub fn new(store: Arc<dyn CredentialStore>, threads: usize) -> Self {
        let threads = threads.max(1);
        let (jobs, queue) = crossbeam_channel::bounded(threads * QUEUE_PER_THREAD);
        for index in 0..threads {
            let queue = queue.clone();
            std::thread::Builder::new()
                .name(format!("tokengate-hash-{index}"))
                .spawn(move || run_checks(queue))
                .expect("cannot start a password-check thread");
        }
        Self {
            store: Arc::new(ArcSwap::from_pointee(store)),
            jobs,
            metrics: None,
        }
    }

    /// Records each check's queue wait and duration in `metrics`.
    pub fn with_metrics(mut self, metrics: Arc<Metrics>) -> Self {
        self.metrics = Some(metrics);
        self
    }

    /// Checks waiting for a thread now, and how many may wait.
    pub fn queue(&self) -> (usize, usize) {
        (self.jobs.len(), self.jobs.capacity().unwrap_or(0))
    }

    /// Swaps in another store (a reloaded users file); checks under way
    /// finish against the store they started with.
    pub fn replace_store(&self, store: Arc<dyn CredentialStore>) {
        self.store.store(Arc::new(store));
    }

    pub async fn verify(&self, username: String, password: String) -> Result<bool, PoolError> {
        let answered = self.submit(username, password)?;
        answered.await.map_err(|_| PoolError::Aborted)
    }

    /// Queues a check without waiting; a full queue is refused at once.
    fn submit(
        &self,
        username: String,
        password: String,
    ) -> Result<oneshot::Receiver<bool>, PoolError> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            store: Arc::clone(&self.store.load()),
            username,
            password,
            answer,
            queued_at: Instant::now(),
            metrics: self.metrics.clone(),
        };
        self.jobs.try_send(job).map_err(|error| match error {
            TrySendError::Full(_) => PoolError::Busy,
            TrySendError::Disconnected(_) => PoolError::Aborted,
        })?;
        Ok(answered)
    }
}

/// A check thread: lowered priority, then checks until the pool is dropped.
fn run_checks(queue: Receiver<Job>) {
    lower_thread_priority();
    loop {
        let job = match queue.recv_timeout(RELEASE_WORK_AREA_AFTER) {
            Ok(job) => job,
            Err(RecvTimeoutError::Timeout) => {
                hashing::release_work_area();
                continue;
            }
            Err(RecvTimeoutError::Disconnected) => return,
        };
        // A client that gave up has dropped its receiver; skip its check.
        if job.answer.is_closed() {
            continue;
        }
        let started = Instant::now();
        let verified = job.store.verify(&job.username, &job.password);
        if let Some(metrics) = &job.metrics {
            metrics.password_check(started - job.queued_at, started.elapsed());
        }
        let _ = job.answer.send(verified);
    }
}

/// Token checks on the async workers win the CPU whenever both want it:
/// `SCHED_IDLE` lets a waking worker preempt a check at once, where nice 10
/// still let a check finish its time slice first (under a login flood that
/// cost `/access` a quarter of its throughput and doubled its p99; see
/// BENCHMARKS.md). Checks thus use the CPU the token path leaves over; on a
/// saturated host logins slow down, and a full queue answers 503.
fn lower_thread_priority() {
    #[cfg(target_os = "linux")]
    // SAFETY: both calls change only the calling thread's (0) scheduling;
    // lowering it needs no privilege.
    unsafe {
        let param = libc::sched_param { sched_priority: 0 };
        if libc::sched_setscheduler(0, libc::SCHED_IDLE, &param) != 0 {
            // A sandbox that refuses the policy still allows niceness.
            libc::setpriority(libc::PRIO_PROCESS, 0, 10);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    struct Fixed(&'static str, &'static str);

    impl CredentialStore for Fixed {
        fn verify(&self, username: &str, password: &str) -> bool {
            username == self.0 && password == self.1
        }
    }

    #[actix_web::test]
    async fn checks_run_against_the_current_store() {
        let pool = HashingPool::new(Arc::new(Fixed("a", "1")), 2);
        assert!(pool.verify("a".into(), "1".into()).await.unwrap());
        assert!(!pool.verify("a".into(), "2".into()).await.unwrap());
        pool.replace_store(Arc::new(Fixed("a", "2")));
        assert!(pool.verify("a".into(), "2".into()).await.unwrap());
    }

    /// Answers whether the check ran at idle CPU priority.
    struct RunsAtIdlePriority;

    impl CredentialStore for RunsAtIdlePriority {
        fn verify(&self, _: &str, _: &str) -> bool {
            // SAFETY: reads the calling thread's scheduling policy.
            unsafe { libc::sched_getscheduler(0) == libc::SCHED_IDLE }
        }
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn checks_run_below_the_workers_priority() {
        let pool = HashingPool::new(Arc::new(RunsAtIdlePriority), 1);
        assert!(pool.verify("a".into(), "1".into()).await.unwrap());
    }

    /// Holds every check until the test lets go.
    struct Gate(std::sync::Mutex<()>);

    impl CredentialStore for Gate {
        fn verify(&self, _: &str, _: &str) -> bool {
            drop(self.0.lock());
            true
        }
    }

    #[test]
    fn a_full_queue_sheds_checks_instead_of_queueing_forever() {
        let gate = Arc::new(Gate(std::sync::Mutex::new(())));
        let closed = gate.0.lock().unwrap();
        let pool = HashingPool::new(gate.clone(), 1);
        let mut queued = Vec::new();
        let refused = loop {
            match pool.submit("u".into(), "p".into()) {
                Ok(answer) => queued.push(answer),
                Err(error) => break error,
            }
            assert!(queued.len() <= QUEUE_PER_THREAD + 1, "never refused");
        };
        assert!(matches!(refused, PoolError::Busy), "{refused:?}");
        // One check may already be on the thread; the rest fill the queue.
        assert!(queued.len() >= QUEUE_PER_THREAD, "{}", queued.len());
        drop(closed);
        for answer in queued {
            assert_eq!(answer.blocking_recv(), Ok(true));
        }
    }
}
