//! Waiting for DataFusion futures from Python: the GIL is released while the
//! query runs on the process runtime, and Ctrl-C is honoured.

use std::future::Future;
use std::sync::Arc;
use std::time::Duration;

use datafusion::error::DataFusionError;
use pyo3::prelude::*;

use dfship_core::error::DfshipError;
use dfship_core::runtime::{self, ForkPrepared};

/// How often a waiting thread checks for signals (Ctrl-C).
const SIGNAL_POLL: Duration = Duration::from_millis(100);

/// Runs `future` to completion with the GIL released.
pub fn wait_for<F, T>(py: Python<'_>, future: F) -> PyResult<T>
where
    F: Future<Output = Result<T, DataFusionError>> + Send + 'static,
    T: Send + 'static,
{
    wait_for_depth(py, 0, future)
}

/// [`wait_for`] for a query whose expressions nest `depth` levels (see
/// [`runtime::block_on_sized`]).
pub fn wait_for_depth<F, T>(py: Python<'_>, depth: usize, future: F) -> PyResult<T>
where
    F: Future<Output = Result<T, DataFusionError>> + Send + 'static,
    T: Send + 'static,
{
    super::errors::guard(|| {
        py.detach(|| {
            runtime::block_on_sized(
                async move { future.await.map_err(DfshipError::from) },
                depth,
                SIGNAL_POLL,
                || {
                    #[allow(clippy::redundant_closure_for_method_calls)]
                    // the closure is needed for the lifetime
                    Python::attach(|py| py.check_signals()).map_err(DfshipError::from)
                },
            )
        })
        .map_err(PyErr::from)
    })
}

/// `os.register_at_fork(before=...)`: stops the process runtime when nothing
/// uses it, so the child inherits no runtime thread waiting in a lock queue,
/// and warns when it cannot. Claims are only ever waited for without the GIL
/// (see [`runtime::claim`]), so the forking thread, which may let the GIL go
/// before it forks, is never blocked by them; the stop waits at most a second.
#[pyfunction]
pub fn _before_fork(py: Python<'_>) -> PyResult<()> {
    let message = match runtime::before_fork() {
        ForkPrepared::Stopped => return Ok(()),
        ForkPrepared::Busy => {
            c"fork() while dfship is busy in this process (a query running in another thread, a result \
              stream not read to its end, or a Worker serving): the child may crash when it runs a query. \
              Finish or drop them first, or start workers with 'spawn' or 'forkserver'."
        }
        ForkPrepared::Lingering => {
            c"fork() while a dfship runtime thread was still finishing abandoned work: the child may \
              crash when it runs a query. Start workers with 'spawn' or 'forkserver' to rule it out."
        }
    };
    PyErr::warn(py, &py.get_type::<pyo3::exceptions::PyRuntimeWarning>(), message, 1)
}

/// A claim on the process runtime for a result stream, made before its query
/// starts and without the GIL (see [`runtime::claim`]), so that no fork can
/// stop the runtime between the start and the first batch.
pub fn stream_claim(py: Python<'_>) -> Arc<runtime::Claim> {
    Arc::new(py.detach(runtime::claim))
}

/// `os.register_at_fork(after_in_parent=...)`.
#[pyfunction]
pub fn _after_fork_in_parent() {
    runtime::after_fork_in_parent();
}

/// `os.register_at_fork(after_in_child=...)`.
#[pyfunction]
pub fn _after_fork_in_child() {
    runtime::after_fork_in_child();
}

/// Registers the three fork hooks above with `os.register_at_fork`.
pub fn register_fork_hooks(m: &Bound<'_, PyModule>) -> PyResult<()> {
    let py = m.py();
    let hooks = pyo3::types::PyDict::new(py);
    hooks.set_item("before", wrap_pyfunction!(_before_fork, m)?)?;
    hooks.set_item("after_in_parent", wrap_pyfunction!(_after_fork_in_parent, m)?)?;
    hooks.set_item("after_in_child", wrap_pyfunction!(_after_fork_in_child, m)?)?;
    py.import("os")?.call_method("register_at_fork", (), Some(&hooks))?;
    Ok(())
}
