use std::sync::OnceLock;
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

use std::sync::Arc;

use super::{PasswordHash, hashing, verify_password};
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
    jobs: Sender<Job>,
    /// Set once by the service ([`HashingPool::observe`]); shared by clones.
    metrics: Arc<OnceLock<Arc<Metrics>>>,
}

struct Job {
    check: Box<dyn FnOnce() -> bool + Send>,
    answer: oneshot::Sender<bool>,
    queued_at: Instant,
    metrics: Option<Arc<Metrics>>,
}

/// A password check that did not run.
#[derive(Debug, thiserror::Error)]
pub enum PoolError {
    /// The queue is full: shed the login rather than queue without bound.
    #[error("too many password checks are waiting")]
    Busy,
    /// The check thread went away.
    #[error("the password check did not complete")]
    Aborted,
}

impl HashingPool {
    /// Starts `threads` check threads (at least one).
    pub fn new(threads: usize) -> Self {
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
            jobs,
            metrics: Arc::default(),
        }
    }

    /// Records each check's queue wait and duration in `metrics` from now on.
    pub fn observe(&self, metrics: Arc<Metrics>) {
        let _ = self.metrics.set(metrics);
    }

    /// Checks waiting for a thread now, and how many may wait.
    pub fn queue(&self) -> (usize, usize) {
        (self.jobs.len(), self.jobs.capacity().unwrap_or(0))
    }

    /// Whether `password` matches the user's own hash (`None` for an unknown
    /// user), compared in constant time on a check thread after verifying
    /// the store's stand-ins, so that every name costs the same.
    pub async fn verify(
        &self,
        own: Option<PasswordHash>,
        stand_ins: Arc<[PasswordHash]>,
        password: String,
    ) -> Result<bool, PoolError> {
        let answered = self.submit(move || verify_password(own.as_ref(), &stand_ins, &password))?;
        answered.await.map_err(|_| PoolError::Aborted)
    }

    /// Queues a check without waiting; a full queue is refused at once.
    fn submit(
        &self,
        check: impl FnOnce() -> bool + Send + 'static,
    ) -> Result<oneshot::Receiver<bool>, PoolError> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            check: Box::new(check),
            answer,
            queued_at: Instant::now(),
            metrics: self.metrics.get().cloned(),
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
        let verified = (job.check)();
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

    fn hash_of(password: &str) -> PasswordHash {
        PasswordHash::parse(&bcrypt::hash(password, 4).unwrap()).unwrap()
    }

    #[actix_web::test]
    async fn checks_compare_the_password_with_the_hash() {
        let pool = HashingPool::new(2);
        let stand_ins: Arc<[PasswordHash]> = Arc::from([hash_of("x")]);
        let check = |own, password: &str| pool.verify(own, stand_ins.clone(), password.into());
        assert!(check(Some(hash_of("1")), "1").await.unwrap());
        assert!(!check(Some(hash_of("1")), "2").await.unwrap());
        assert!(!check(None, "x").await.unwrap(), "a stand-in never decides");
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn checks_run_below_the_workers_priority() {
        let pool = HashingPool::new(1);
        // SAFETY: reads the calling thread's scheduling policy.
        let idle = pool.submit(|| unsafe { libc::sched_getscheduler(0) == libc::SCHED_IDLE });
        assert_eq!(idle.unwrap().await, Ok(true));
    }

    #[test]
    fn a_full_queue_sheds_checks_instead_of_queueing_forever() {
        let gate = std::sync::Arc::new(std::sync::Mutex::new(()));
        let closed = gate.lock().unwrap();
        let pool = HashingPool::new(1);
        let mut queued = Vec::new();
        let refused = loop {
            let gate = gate.clone();
            match pool.submit(move || {
                drop(gate.lock());
                true
            }) {
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
