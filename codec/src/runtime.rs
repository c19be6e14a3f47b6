//! The async runtime belongs to the process, not to the module.
//!
//! A multi-threaded tokio runtime created before `fork` is unusable in the
//! child: its worker threads were not copied, so anything scheduled on it waits
//! forever. Each process therefore gets its own runtime, made on first use and
//! tagged with the pid that made it. A child that finds its parent's runtime
//! builds a fresh one and leaves the parent's untouched (dropping it would try
//! to stop threads that do not exist in the child). Runtimes are leaked on
//! purpose: there is at most one per process, and `&'static` access keeps the
//! hot path to one atomic load and one `getpid`.
//!
//! The creation lock is tagged with a pid too, so a lock held by a parent
//! thread at the moment of `fork` does not block the child.

use std::future::Future;
use std::sync::atomic::{AtomicPtr, AtomicU32, Ordering};
use std::time::Duration;

use tokio::runtime::Runtime;

use crate::error::{DfshipError, Result};

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

/// The runtime of the current process, created on first use.
pub fn get() -> Result<&'static Runtime> {
    let pid = std::process::id();
    if let Some(rt) = current_for(pid) {
        return Ok(rt);
    }
    build_for(pid)
}

fn current_for(pid: u32) -> Option<&'static Runtime> {
    let ptr = CURRENT.load(Ordering::Acquire);
    // SAFETY: every pointer stored in CURRENT comes from `Box::leak` and is
    // never freed, so it stays valid for the rest of the process.
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
                let leaked: &'static mut ProcessRuntime =
                    Box::leak(Box::new(ProcessRuntime { pid, runtime }));
                CURRENT.store(leaked, Ordering::Release);
                &leaked.runtime
            }),
        };
        BUILDER.store(0, Ordering::Release);
        return outcome;
    }
}

fn make_runtime() -> Result<Runtime> {
    tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .thread_name("dfship-worker")
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
    let runtime = get()?;
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

/// The message of a caught panic payload.
pub fn panic_message(payload: &(dyn std::any::Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&str>() {
        (*s).to_owned()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "a panic with a non-text payload".to_owned()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn same_process_gets_same_runtime() {
        let a = std::ptr::from_ref(get().expect("runtime"));
        let b = std::ptr::from_ref(get().expect("runtime"));
        assert_eq!(a, b);
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
