//! The pool that runs password checks off the async workers, in two tiers:
//! a guaranteed CPU budget at normal priority, and whatever else the CPU
//! leaves over at idle priority.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use crossbeam_channel::{Receiver, RecvTimeoutError, Sender, TrySendError};
use tokio::sync::oneshot;

use super::{PasswordHash, hashing, verify_password};
use crate::metrics::Metrics;

/// Password checks waiting for a thread, per thread, before logins are shed.
const QUEUE_PER_THREAD: usize = 64;

/// A check thread idle this long gives its argon2 work area back, so a quiet
/// service returns to its idle memory footprint.
const RELEASE_WORK_AREA_AFTER: Duration = Duration::from_secs(10);

/// The share of one core each reserved check thread may spend on checks at
/// normal priority, whatever else the host is doing: with one reserved
/// thread per core, 30 % of the machine, about 12 argon2id logins a second
/// a core. Enough that a flood of cheap requests cannot shut logins out
/// (issue #18), small enough that a login flood leaves the token path its
/// latency (BENCHMARKS.md, "Logins beside a flood").
const RESERVED_SHARE: f64 = 0.3;

/// How much unused budget a reserved thread may bank: a few checks, so a
/// burst of logins after a quiet spell starts at once, but a long quiet
/// spell cannot buy a long burst at normal priority.
const RESERVED_BURST: Duration = Duration::from_millis(100);

/// An idle-priority thread whose last check ran less than half the wall
/// time it took (the CPU was busy elsewhere) takes no further check until a
/// probe of this length finds the core free; the reserved threads serve the
/// queue meanwhile.
const PROBE: Duration = Duration::from_millis(2);
const PROBE_EVERY: Duration = Duration::from_millis(20);

/// A check an idle-priority thread has held this long is run again by a
/// reserved thread (the first answer counts): a spare thread that took a
/// check just before a flood began would otherwise hold that login for
/// seconds. An unhurried check takes 20-30 ms.
const TAKE_OVER_AFTER: Duration = Duration::from_millis(150);

/// How often an idle reserved thread looks for checks to take over.
const TAKE_OVER_POLL: Duration = Duration::from_millis(50);

/// Runs password checks on dedicated threads fed by one bounded queue, so a
/// login flood never occupies the async workers that validate tokens, and a
/// flood of cheap requests never shuts logins out.
///
/// Two threads per configured slot take checks from the queue:
/// - a *reserved* thread at normal priority, which takes a check only while
///   it is within its CPU budget (`RESERVED_SHARE` of a core, measured in
///   its own CPU time): the guaranteed share logins keep on a saturated host;
/// - a *spare* thread at `SCHED_IDLE`, which any waking worker preempts at
///   once: it gives logins the CPU the token path leaves over, and stands
///   back while that is none. A check it has held for `TAKE_OVER_AFTER`
///   is run again by a reserved thread, and the first answer counts.
///
/// Dedicated threads rather than tokio's blocking pool: each keeps reusing
/// its own 19 MiB argon2 work area while checks keep coming (the blocking
/// pool's short-lived threads left a fresh allocator arena behind each, and
/// RSS passed 1 GB under a flood).
#[derive(Clone)]
pub struct HashingPool {
    jobs: Sender<Job>,
    /// Set once by the service ([`HashingPool::observe`]); shared by clones.
    metrics: Arc<OnceLock<Arc<Metrics>>>,
}

/// A password check; it may run twice (a take-over), so it is `Fn`.
type Check = Arc<dyn Fn() -> bool + Send + Sync>;

/// One check; cloned only when a reserved thread takes it over.
#[derive(Clone)]
struct Job {
    check: Check,
    /// Taken by whichever thread answers first.
    answer: Arc<Mutex<Option<oneshot::Sender<bool>>>>,
    queued_at: Instant,
    metrics: Option<Arc<Metrics>>,
}

impl Job {
    /// Whether the check still needs running: not answered yet, and its
    /// client still waiting (a client that gave up dropped its receiver).
    fn pending(&self) -> bool {
        let answer = self.answer.lock().unwrap_or_else(|e| e.into_inner());
        answer.as_ref().is_some_and(|sender| !sender.is_closed())
    }

    fn run(&self) {
        if !self.pending() {
            return;
        }
        let started = Instant::now();
        let verified = (self.check)();
        if let Some(metrics) = &self.metrics {
            metrics.password_check(started - self.queued_at, started.elapsed());
        }
        let answer = self.answer.lock().unwrap_or_else(|e| e.into_inner()).take();
        if let Some(answer) = answer {
            let _ = answer.send(verified);
        }
    }
}

/// Checks the spare threads are running, with when each started.
type Held = Arc<Mutex<Vec<(Instant, Job)>>>;

#[derive(Debug, thiserror::Error)]
/// Why a password check did not run.
pub enum PoolError {
    #[error("too many password checks are waiting")]
    /// The queue is full: answer 503 with `Retry-After`.
    Busy,
    #[error("the password check did not complete")]
    /// The check's thread went away before answering.
    Aborted,
}

impl HashingPool {
    /// `threads` reserved and as many spare check threads, and a queue of
    /// `QUEUE_PER_THREAD` checks per slot.
    pub fn new(threads: usize) -> Self {
        let threads = threads.max(1);
        Self::with_tiers(threads, threads, threads * QUEUE_PER_THREAD)
    }

    fn with_tiers(reserved: usize, spare: usize, capacity: usize) -> Self {
        let (jobs, queue) = crossbeam_channel::bounded(capacity);
        let held = Held::default();
        for index in 0..reserved {
            let (queue, held) = (queue.clone(), Arc::clone(&held));
            spawn(format!("tokengate-hash-{index}"), move || {
                run_reserved(queue, held)
            });
        }
        for index in 0..spare {
            let (queue, held) = (queue.clone(), Arc::clone(&held));
            spawn(format!("tokengate-hash-idle-{index}"), move || {
                run_spare(queue, held)
            });
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
        check: impl Fn() -> bool + Send + Sync + 'static,
    ) -> Result<oneshot::Receiver<bool>, PoolError> {
        let (answer, answered) = oneshot::channel();
        let job = Job {
            check: Arc::new(check),
            answer: Arc::new(Mutex::new(Some(answer))),
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

fn spawn(name: String, body: impl FnOnce() + Send + 'static) {
    std::thread::Builder::new()
        .name(name)
        .spawn(body)
        .expect("cannot start a password-check thread");
}

/// Waits for the next check; `None` once the pool is dropped. An idle wait
/// gives the argon2 work area back.
fn next_job(queue: &Receiver<Job>) -> Option<Job> {
    loop {
        match queue.recv_timeout(RELEASE_WORK_AREA_AFTER) {
            Ok(job) => return Some(job),
            Err(RecvTimeoutError::Timeout) => hashing::release_work_area(),
            Err(RecvTimeoutError::Disconnected) => return None,
        }
    }
}

/// A reserved check thread: normal priority, within its CPU budget; it
/// takes over checks the spare threads have held too long, then serves the
/// queue.
fn run_reserved(queue: Receiver<Job>, held: Held) {
    let mut budget = CheckBudget::new(RESERVED_SHARE, RESERVED_BURST, Instant::now());
    let mut last_check = Instant::now();
    loop {
        let wait = budget.wait(Instant::now());
        if !wait.is_zero() {
            std::thread::sleep(wait);
            continue;
        }
        let job = match take_over(&held, Instant::now()) {
            Some(job) => job,
            None => match queue.recv_timeout(TAKE_OVER_POLL) {
                Ok(job) => job,
                Err(RecvTimeoutError::Timeout) => {
                    if last_check.elapsed() > RELEASE_WORK_AREA_AFTER {
                        hashing::release_work_area();
                        last_check = Instant::now();
                    }
                    continue;
                }
                Err(RecvTimeoutError::Disconnected) => return,
            },
        };
        let cpu_before = thread_cpu_time();
        job.run();
        last_check = Instant::now();
        budget.spend(thread_cpu_time().saturating_sub(cpu_before), Instant::now());
    }
}

/// The oldest check a spare thread has held past [`TAKE_OVER_AFTER`] and
/// not yet answered; it leaves the list, so only one reserved thread
/// takes it over.
fn take_over(held: &Mutex<Vec<(Instant, Job)>>, now: Instant) -> Option<Job> {
    let mut held = held.lock().unwrap_or_else(|e| e.into_inner());
    held.retain(|(_, job)| job.pending());
    let index = held
        .iter()
        .position(|(since, _)| now.saturating_duration_since(*since) >= TAKE_OVER_AFTER)?;
    Some(held.swap_remove(index).1)
}

/// A spare check thread: idle priority, and it stands back while its checks
/// are starved of CPU. What it holds is listed, so a reserved thread can
/// take a starved check over.
fn run_spare(queue: Receiver<Job>, held: Held) {
    lower_thread_priority();
    let mut starved = false;
    loop {
        if starved && !core_is_free() {
            std::thread::sleep(PROBE_EVERY);
            continue;
        }
        let Some(job) = next_job(&queue) else { return };
        let (started, cpu_before) = (Instant::now(), thread_cpu_time());
        held.lock()
            .unwrap_or_else(|e| e.into_inner())
            .push((started, job.clone()));
        job.run();
        held.lock()
            .unwrap_or_else(|e| e.into_inner())
            .retain(|(_, job)| job.pending());
        starved = !had_the_core(
            thread_cpu_time().saturating_sub(cpu_before),
            started.elapsed(),
        );
    }
}

/// Spins for [`PROBE`] and tells whether this thread kept the core meanwhile.
fn core_is_free() -> bool {
    let (started, cpu_before) = (Instant::now(), thread_cpu_time());
    while started.elapsed() < PROBE {
        std::hint::spin_loop();
    }
    had_the_core(
        thread_cpu_time().saturating_sub(cpu_before),
        started.elapsed(),
    )
}

/// Whether a thread that spent `cpu` over `wall` ran at least half the time.
fn had_the_core(cpu: Duration, wall: Duration) -> bool {
    cpu * 2 >= wall
}

/// CPU time the calling thread has used (user + system).
fn thread_cpu_time() -> Duration {
    let mut now = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: writes the calling thread's CPU clock into a local timespec.
    if unsafe { libc::clock_gettime(libc::CLOCK_THREAD_CPUTIME_ID, &mut now) } != 0 {
        return Duration::ZERO;
    }
    Duration::new(now.tv_sec as u64, now.tv_nsec as u32)
}

/// A token bucket of CPU time: refilled at `share` of a core, holding at
/// most `burst`, spent by the CPU time each check took. Spending may run it
/// into debt (a check's cost is known only afterwards); the debt is then
/// waited off before the next check.
#[derive(Debug)]
struct CheckBudget {
    share: f64,
    burst: Duration,
    /// Seconds of CPU available; negative while in debt.
    credit: f64,
    updated: Instant,
}

impl CheckBudget {
    fn new(share: f64, burst: Duration, now: Instant) -> Self {
        Self {
            share,
            burst,
            credit: burst.as_secs_f64(),
            updated: now,
        }
    }

    fn refill(&mut self, now: Instant) {
        let earned = now.saturating_duration_since(self.updated).as_secs_f64() * self.share;
        self.credit = (self.credit + earned).min(self.burst.as_secs_f64());
        self.updated = now;
    }

    /// How long to wait before the next check may start.
    fn wait(&mut self, now: Instant) -> Duration {
        self.refill(now);
        if self.credit >= 0.0 {
            Duration::ZERO
        } else {
            Duration::from_secs_f64(-self.credit / self.share)
        }
    }

    fn spend(&mut self, cpu: Duration, now: Instant) {
        self.refill(now);
        self.credit -= cpu.as_secs_f64();
    }
}

/// Spare checks yield to everything else: `SCHED_IDLE` lets a waking worker
/// preempt a check at once, where nice 10 still let a check finish its time
/// slice first (under a login flood that cost `/access` a quarter of its
/// throughput and doubled its p99; see BENCHMARKS.md).
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

    /// Whether the check ran at idle CPU priority.
    fn runs_at_idle_priority() -> bool {
        // SAFETY: reads the calling thread's scheduling policy.
        unsafe { libc::sched_getscheduler(0) == libc::SCHED_IDLE }
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn spare_checks_run_below_the_workers_priority() {
        let pool = HashingPool::with_tiers(0, 1, 4);
        assert_eq!(pool.submit(runs_at_idle_priority).unwrap().await, Ok(true));
    }

    #[cfg(target_os = "linux")]
    #[actix_web::test]
    async fn reserved_checks_run_at_the_workers_priority() {
        let pool = HashingPool::with_tiers(1, 0, 4);
        assert_eq!(pool.submit(runs_at_idle_priority).unwrap().await, Ok(false));
    }

    #[test]
    fn a_full_queue_sheds_checks_instead_of_queueing_forever() {
        let gate = Arc::new(std::sync::Mutex::new(()));
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
            assert!(queued.len() <= QUEUE_PER_THREAD + 2, "never refused");
        };
        assert!(matches!(refused, PoolError::Busy), "{refused:?}");
        // One check each may already be on the two threads; the rest fill
        // the queue.
        assert!(queued.len() >= QUEUE_PER_THREAD, "{}", queued.len());
        drop(closed);
        for answer in queued {
            assert_eq!(answer.blocking_recv(), Ok(true));
        }
    }

    fn job(answer: oneshot::Sender<bool>) -> Job {
        Job {
            check: Arc::new(|| true),
            answer: Arc::new(Mutex::new(Some(answer))),
            queued_at: Instant::now(),
            metrics: None,
        }
    }

    #[test]
    fn a_check_held_too_long_is_taken_over_once() {
        let now = Instant::now();
        let (answer, mut answered) = oneshot::channel();
        let held: Held = Arc::new(Mutex::new(vec![(now, job(answer))]));
        assert!(
            take_over(&held, now + TAKE_OVER_AFTER / 2).is_none(),
            "too early"
        );
        let taken = take_over(&held, now + TAKE_OVER_AFTER).expect("due");
        assert!(
            take_over(&held, now + TAKE_OVER_AFTER * 2).is_none(),
            "taken once"
        );
        taken.run();
        assert_eq!(answered.try_recv(), Ok(true));
    }

    #[test]
    fn answered_or_abandoned_checks_are_not_taken_over() {
        let now = Instant::now();
        let (answer, _answered) = oneshot::channel();
        let done = job(answer);
        done.run();
        let (answer, abandoned) = oneshot::channel();
        drop(abandoned);
        let held: Held = Arc::new(Mutex::new(vec![(now, done), (now, job(answer))]));
        assert!(take_over(&held, now + TAKE_OVER_AFTER).is_none());
        assert!(held.lock().unwrap().is_empty(), "dropped from the list");
    }

    #[test]
    fn the_second_answer_to_a_check_is_dropped() {
        let (answer, mut answered) = oneshot::channel();
        let first = job(answer);
        let second = first.clone();
        first.run();
        second.run();
        assert_eq!(answered.try_recv(), Ok(true));
    }

    const SHARE: f64 = 0.25;
    const BURST: Duration = Duration::from_millis(100);

    fn ms(n: u64) -> Duration {
        Duration::from_millis(n)
    }

    #[test]
    fn a_fresh_budget_admits_a_burst_at_once() {
        let start = Instant::now();
        let mut budget = CheckBudget::new(SHARE, BURST, start);
        assert_eq!(budget.wait(start), Duration::ZERO);
        budget.spend(ms(60), start);
        assert_eq!(budget.wait(start), Duration::ZERO, "40 ms of credit left");
        budget.spend(ms(40), start);
        assert_eq!(budget.wait(start), Duration::ZERO, "exactly spent");
    }

    #[test]
    fn debt_is_waited_off_at_the_budgets_share() {
        let start = Instant::now();
        let mut budget = CheckBudget::new(SHARE, BURST, start);
        // A check of 150 ms against 100 ms of credit: 50 ms of debt, which
        // a quarter of a core earns back in 200 ms.
        budget.spend(ms(150), start);
        let wait = budget.wait(start);
        assert!(wait.abs_diff(ms(200)) < ms(1), "{wait:?}");
        let wait = budget.wait(start + ms(100));
        assert!(wait.abs_diff(ms(100)) < ms(1), "{wait:?}");
        assert_eq!(budget.wait(start + ms(200)), Duration::ZERO);
    }

    #[test]
    fn a_quiet_spell_banks_no_more_than_the_burst() {
        let start = Instant::now();
        let mut budget = CheckBudget::new(SHARE, BURST, start);
        let later = start + Duration::from_secs(3600);
        // An hour idle still leaves only 100 ms; spending 120 ms owes 20 ms.
        budget.spend(ms(120), later);
        let wait = budget.wait(later);
        assert!(wait.abs_diff(ms(80)) < ms(1), "{wait:?}");
    }

    #[test]
    fn sustained_checks_get_the_share_and_no_more() {
        // Checks of 20 ms back to back, each started when the budget allows:
        // over a simulated minute they use a quarter of it, plus the burst.
        let start = Instant::now();
        let mut budget = CheckBudget::new(SHARE, BURST, start);
        let (mut now, mut spent) = (start, Duration::ZERO);
        while now < start + Duration::from_secs(60) {
            now += budget.wait(now);
            budget.spend(ms(20), now);
            spent += ms(20);
            now += ms(20);
        }
        let share = spent.as_secs_f64() / 60.0;
        assert!((SHARE..SHARE + 0.01).contains(&share), "{share}");
    }

    #[test]
    fn a_thread_that_waited_more_than_it_ran_was_starved() {
        assert!(had_the_core(ms(20), ms(21)));
        assert!(had_the_core(ms(10), ms(20)));
        assert!(!had_the_core(ms(20), ms(6600)));
        assert!(!had_the_core(Duration::ZERO, PROBE));
    }

    #[test]
    fn thread_cpu_time_counts_this_threads_work_only() {
        let before = thread_cpu_time();
        std::thread::sleep(ms(20));
        let slept = thread_cpu_time() - before;
        let before = thread_cpu_time();
        let started = Instant::now();
        while started.elapsed() < ms(20) {
            std::hint::spin_loop();
        }
        let spun = thread_cpu_time() - before;
        assert!(spun > slept, "spinning {spun:?} vs sleeping {slept:?}");
    }
}
