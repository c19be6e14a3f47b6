//! The async runtime belongs to the process, not to the module.
//!
//! A multi-threaded tokio runtime created before `fork` is unusable in the
//! child: its worker threads were not copied, so anything scheduled on it waits
//! forever. Each process therefore gets its own runtime, made on first use and
//! tagged with the pid that made it. A child that finds its parent's runtime
//! builds a fresh one and leaves the parent's untouched (dropping it would try
//! to stop threads that do not exist in the child).
//!
//! That alone is not enough. Idle runtime threads wait in `parking_lot`, whose
//! wait queues are process-global lists threaded through each waiting thread's
//! thread-local storage. A child inherits those lists, while the C library
//! hands the dead threads' stacks, thread-local storage included, to the
//! child's new threads: the lists then point into overwritten memory, and the
//! child crashes the next time it touches them. So the process stops its
//! runtime just before a fork ([`before_fork`], run by `os.fork` hooks the
//! Python module registers) whenever nothing uses it, and makes a new one on
//! next use. Every use holds a [`Claim`] (a [`Lease`] holds one): while one
//! is out (a query running in another thread, an open result stream, a
//! worker serving in the process) the runtime is left running and the fork
//! is reported as unsafe.
//!
//! The creation lock and the claim count are tagged with a pid too, so that
//! state left by a parent's threads at the moment of `fork` does not bind the
//! child.

use std::future::Future;
use std::sync::atomic::{AtomicPtr, AtomicU32, AtomicU64, Ordering};
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::error::{DfshipError, Result};
pub use crate::panics::panic_message;

struct ProcessRuntime {
    pid: u32,
    runtime: Runtime,
}

static CURRENT: AtomicPtr<ProcessRuntime> = AtomicPtr::new(std::ptr::null_mut());
/// Pid of the process whose thread is building a runtime, 0 when none is.
static BUILDER: AtomicU32 = AtomicU32::new(0);

/// Stack for runtime worker threads. Planning and evaluation recurse once per
/// expression level; queries deeper than [`RUNTIME_DEPTH`] run on a thread
/// of their own with a stack sized for them ([`block_on_sized`]), so this
/// serves shallow queries only.
const WORKER_STACK_BYTES: usize = 2 * 1024 * 1024;

/// Users of the process runtime: the pid they belong to in the high 32
/// bits, [`CLOSING`] and the count of outstanding claims in the low ones.
static USERS: AtomicU64 = AtomicU64::new(0);
/// Set while a fork is being prepared: no new claim until it is done.
const CLOSING: u64 = 1 << 31;
/// Forks this process descends from through [`after_fork_in_child`]: a claim
/// made in an ancestor whose pid a descendant happens to reuse still counts
/// nothing there.
static GENERATION: AtomicU32 = AtomicU32::new(0);
/// How long a stopping runtime may wait for its threads before a fork.
const STOP_WAIT: Duration = Duration::from_secs(1);

fn users_of(word: u64, pid: u32) -> u64 {
    // A count left by the parent process means nothing in the child.
    if word >> 32 == u64::from(pid) { word & 0xffff_ffff } else { 0 }
}

fn users_word(pid: u32, low: u64) -> u64 {
    (u64::from(pid) << 32) | low
}

/// A query in flight, an open result stream or a serving worker: while any
/// is held, a fork does not stop the process runtime.
pub struct Claim {
    pid: u32,
    generation: u32,
}

impl Drop for Claim {
    fn drop(&mut self) {
        // A claim made before a fork and dropped in the child counts nothing there.
        if self.generation != GENERATION.load(Ordering::Acquire) {
            return;
        }
        let pid = self.pid;
        let _ = USERS.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
            (users_of(word, pid) & !CLOSING > 0).then(|| word - 1)
        });
    }
}

/// Claims the process runtime (made or not). Waits while a fork is being
/// prepared, so it must never be called with the GIL held: the forking
/// thread may need the GIL back to finish.
pub fn claim() -> Claim {
    let pid = std::process::id();
    let mut waited = 0_u32;
    loop {
        let word = USERS.load(Ordering::Acquire);
        let users = users_of(word, pid);
        if users & CLOSING != 0 {
            // Stopping the runtime takes milliseconds: yield at first, then
            // sleep so as not to compete with it for the cores.
            waited += 1;
            if waited < 64 {
                std::thread::yield_now();
            } else {
                std::thread::sleep(Duration::from_millis(1));
            }
            continue;
        }
        let claimed = users_word(pid, users + 1);
        if USERS.compare_exchange_weak(word, claimed, Ordering::AcqRel, Ordering::Acquire).is_ok() {
            return Claim { pid, generation: GENERATION.load(Ordering::Acquire) };
        }
    }
}

/// The process runtime, claimed until the lease is dropped.
pub struct Lease {
    runtime: &'static Runtime,
    _claim: Claim,
}

impl std::ops::Deref for Lease {
    type Target = Runtime;

    fn deref(&self) -> &Runtime {
        self.runtime
    }
}

/// The runtime of the current process, created on first use, claimed until
/// the lease is dropped. Never call it with the GIL held (see [`claim`]).
pub fn lease() -> Result<Lease> {
    let claim = claim();
    Ok(Lease { runtime: get(claim.pid)?, _claim: claim })
}

/// What [`before_fork`] did.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ForkPrepared {
    /// No thread of the process runtime is left for the child to inherit.
    Stopped,
    /// A claim is out, or the fork comes from inside a runtime: the runtime
    /// was left running.
    Busy,
    /// Stopped, but some thread was still finishing work when the wait ran
    /// out (an abandoned query's task, for example).
    Lingering,
}

/// Called just before this process forks. When no claim is out, stops the
/// process runtime (the next lease makes a new one); otherwise leaves it
/// running, and the child may then find corrupted wait queues. New claims
/// wait until [`after_fork_in_parent`].
pub fn before_fork() -> ForkPrepared {
    if tokio::runtime::Handle::try_current().is_ok() {
        // A task forking (a UDF, say): no runtime may be stopped from here.
        return ForkPrepared::Busy;
    }
    let pid = std::process::id();
    let closing = USERS.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
        (users_of(word, pid) == 0).then_some(users_word(pid, CLOSING))
    });
    if closing.is_err() {
        return ForkPrepared::Busy;
    }
    let ptr = CURRENT.load(Ordering::Acquire);
    // SAFETY: as in `current_for`; no claim is out and none can be taken
    // while CLOSING is set, so nothing else refers to the runtime.
    let ours = unsafe { ptr.as_ref() }.is_some_and(|current| current.pid == pid);
    if ours
        && CURRENT.compare_exchange(ptr, std::ptr::null_mut(), Ordering::AcqRel, Ordering::Acquire).is_ok()
    {
        // SAFETY: the pointer came from `Box::into_raw` in this process and
        // was just unpublished; no `Lease` refers to it.
        let owned = unsafe { Box::from_raw(ptr) };
        let started = std::time::Instant::now();
        owned.runtime.shutdown_timeout(STOP_WAIT);
        if started.elapsed() >= STOP_WAIT {
            return ForkPrepared::Lingering;
        }
    }
    ForkPrepared::Stopped
}

/// Called in the parent after a fork (or a failed one): claims may be made again.
pub fn after_fork_in_parent() {
    let pid = std::process::id();
    let _ = USERS.fetch_update(Ordering::AcqRel, Ordering::Acquire, |word| {
        (users_of(word, pid) & CLOSING != 0).then_some(word & !CLOSING)
    });
}

/// Called in a forked child: no claim of the parent's counts here.
pub fn after_fork_in_child() {
    GENERATION.fetch_add(1, Ordering::AcqRel);
    USERS.store(users_word(std::process::id(), 0), Ordering::Release);
}

/// The runtime of the current process, created on first use. Only called
/// under a claim: see [`lease`].
fn get(pid: u32) -> Result<&'static Runtime> {
    if let Some(rt) = current_for(pid) {
        return Ok(rt);
    }
    build_for(pid)
}

fn current_for(pid: u32) -> Option<&'static Runtime> {
    let ptr = CURRENT.load(Ordering::Acquire);
    // SAFETY: every pointer stored in CURRENT comes from `Box::into_raw`. It
    // is freed only by `before_fork`, which unpublishes it first and only
    // when no claim is out; callers hold one.
    let current = unsafe { ptr.as_ref() }?;
    (current.pid == pid).then_some(&current.runtime)
}

fn build_for(pid: u32) -> Result<&'static Runtime> {
    loop {
        let holder = BUILDER.load(Ordering::Acquire);
        if holder == pid {
            // Another thread of this process is building; wait for it.
            std::thread::yield_now();
            if let Some(rt) = current_for(pid) {
                return Ok(rt);
            }
            continue;
        }
        // Free (0), or held by a parent process whose thread did not survive fork.
        if BUILDER.compare_exchange(holder, pid, Ordering::AcqRel, Ordering::Acquire).is_err() {
            continue;
        }
        let outcome = match current_for(pid) {
            Some(rt) => Ok(rt),
            None => make_runtime().map(|runtime| {
                let ptr = Box::into_raw(Box::new(ProcessRuntime { pid, runtime }));
                CURRENT.store(ptr, Ordering::Release);
                // SAFETY: just made; freed only under the conditions in `current_for`.
                unsafe { &(*ptr).runtime }
            }),
        };
        BUILDER.store(0, Ordering::Release);
        return outcome;
    }
}

fn make_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dfship-query")
        .thread_stack_size(WORKER_STACK_BYTES)
        .build()
        .map_err(|e| DfshipError::Invalid(format!("cannot start the async runtime: {e}")))
}

/// Queries are started from outside the runtime only: a thread already
/// inside one (a UDF) waiting on another would deadlock it.
fn outside_any_query() -> Result<()> {
    if tokio::runtime::Handle::try_current().is_ok() {
        return Err(DfshipError::Invalid(
            "cannot run a query from inside a running query (for example from a UDF)".into(),
        ));
    }
    Ok(())
}

/// Runs `future` to completion on the process runtime from a thread that is
/// not a runtime worker. `interrupted` is polled every `poll` while waiting;
/// when it returns an error the task is aborted and the error returned.
pub fn block_on<F, T>(future: F, poll: Duration, mut interrupted: impl FnMut() -> Result<()>) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    outside_any_query()?;
    let runtime = lease()?;
    let mut task = runtime.spawn(future);
    loop {
        let waited = runtime.block_on(async { tokio::time::timeout(poll, &mut task).await });
        match waited {
            Ok(Ok(result)) => return result,
            Ok(Err(join)) if join.is_panic() => {
                return Err(DfshipError::Panic(panic_message(join.into_panic().as_ref())));
            }
            Ok(Err(join)) => return Err(DfshipError::Invalid(format!("query task ended: {join}"))),
            Err(_elapsed) => {
                if let Err(e) = interrupted() {
                    task.abort();
                    return Err(e);
                }
            }
        }
    }
}

/// Expression depth up to which a query runs on the process runtime, whose
/// worker stacks (2 MiB) serve it comfortably.
pub const RUNTIME_DEPTH: usize = 128;

/// Like [`block_on`], for a query whose expressions nest `depth` levels:
/// beyond [`RUNTIME_DEPTH`] the query runs on a thread of its own, with a
/// stack sized to the depth and a single-threaded runtime, so that every
/// recursive step of planning and evaluation (which may happen in any task
/// the query spawns) has the stack it needs.
pub fn block_on_sized<F, T>(
    future: F,
    depth: usize,
    poll: Duration,
    interrupted: impl FnMut() -> Result<()>,
) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    if depth <= RUNTIME_DEPTH {
        return block_on(future, poll, interrupted);
    }
    // The query's own thread waits in the same lock queues a fork must not copy.
    let _running = claim();
    block_on_own_thread(future, crate::codec::bounded::stack_bytes(depth), poll, interrupted)
}

fn block_on_own_thread<F, T>(
    future: F,
    stack: usize,
    poll: Duration,
    mut interrupted: impl FnMut() -> Result<()>,
) -> Result<T>
where
    F: Future<Output = Result<T>> + Send + 'static,
    T: Send + 'static,
{
    use futures::future::{Either, select};

    outside_any_query()?;
    let (done_tx, done_rx) = std::sync::mpsc::channel();
    let (cancel_tx, cancel_rx) = tokio::sync::oneshot::channel::<()>();
    let thread = std::thread::Builder::new()
        .name("dfship-deep-query".into())
        .stack_size(stack)
        .spawn(move || {
            let outcome = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| {
                let runtime = tokio::runtime::Builder::new_current_thread()
                    .enable_all()
                    .build()
                    .map_err(|e| DfshipError::Invalid(format!("cannot start a query runtime: {e}")))?;
                runtime
                    .block_on(async move {
                        match select(Box::pin(future), cancel_rx).await {
                            Either::Left((result, _)) => Some(result),
                            Either::Right(_) => None,
                        }
                    })
                    .ok_or_else(|| DfshipError::Invalid("query cancelled".into()))?
            }));
            let _ =
                done_tx.send(outcome.unwrap_or_else(|p| Err(DfshipError::Panic(panic_message(p.as_ref())))));
        })
        .map_err(|e| DfshipError::Invalid(format!("cannot start a query thread: {e}")))?;
    loop {
        match done_rx.recv_timeout(poll) {
            Ok(result) => {
                let _ = thread.join();
                return result;
            }
            Err(std::sync::mpsc::RecvTimeoutError::Timeout) => {
                if let Err(e) = interrupted() {
                    let _ = cancel_tx.send(());
                    let _ = thread.join();
                    return Err(e);
                }
            }
            Err(std::sync::mpsc::RecvTimeoutError::Disconnected) => {
                let _ = thread.join();
                return Err(DfshipError::Panic("the query thread ended without a result".into()));
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_process_gets_same_runtime() {
        let a = lease().expect("runtime");
        let b = lease().expect("runtime");
        assert!(std::ptr::eq(std::ptr::from_ref::<Runtime>(&a), std::ptr::from_ref::<Runtime>(&b)));
    }

    /// Ends a fork preparation even when an assertion fails, so that the
    /// other tests of this binary are not left waiting for claims.
    struct Forking;

    impl Drop for Forking {
        fn drop(&mut self) {
            after_fork_in_parent();
        }
    }

    #[test]
    fn fork_stops_the_runtime_only_when_no_claim_is_out() {
        let held = lease().expect("runtime");
        {
            let _forking = Forking;
            assert_eq!(before_fork(), ForkPrepared::Busy, "stopped under a lease");
        }
        assert_eq!(held.block_on(async { 7 }), 7);
        drop(held);
        // Other tests of this binary may hold claims for a moment.
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        loop {
            let forking = Forking;
            match before_fork() {
                ForkPrepared::Busy => {}
                done => {
                    assert_eq!(done, ForkPrepared::Stopped);
                    assert!(CURRENT.load(Ordering::Acquire).is_null(), "the runtime was not stopped");
                    break;
                }
            }
            drop(forking);
            assert!(std::time::Instant::now() < deadline, "a claim never came back");
            std::thread::sleep(Duration::from_millis(5));
        }
        let again = lease().expect("a new runtime");
        assert_eq!(again.block_on(async { 8 }), 8);
    }

    #[test]
    fn inside_a_runtime_a_fork_stops_nothing() {
        let runtime = tokio::runtime::Builder::new_current_thread().build().expect("runtime");
        // Refused before any state is touched: nothing to end.
        assert_eq!(runtime.block_on(async { before_fork() }), ForkPrepared::Busy);
    }

    #[test]
    fn counts_left_by_another_process_are_ignored() {
        let parent = users_word(1, 5 | CLOSING);
        assert_eq!(users_of(parent, 1), 5 | CLOSING);
        assert_eq!(users_of(parent, 2), 0);
    }

    #[test]
    fn block_on_returns_value_and_maps_panics() {
        let v = block_on(async { Ok(41 + 1) }, Duration::from_millis(5), || Ok(())).expect("ok");
        assert_eq!(v, 42);
        let err = block_on(
            async {
                assert!(!std::hint::black_box(true), "boom");
                Ok(())
            },
            Duration::from_millis(5),
            || Ok(()),
        )
        .expect_err("panic");
        assert!(matches!(err, DfshipError::Panic(ref m) if m == "boom"), "{err:?}");
    }

    #[test]
    fn block_on_stops_when_interrupted() {
        let err = block_on(
            async {
                tokio::time::sleep(Duration::from_secs(30)).await;
                Ok(())
            },
            Duration::from_millis(5),
            || Err(DfshipError::Invalid("stop".into())),
        )
        .expect_err("interrupted");
        assert!(matches!(err, DfshipError::Invalid(ref m) if m == "stop"));
    }
}
