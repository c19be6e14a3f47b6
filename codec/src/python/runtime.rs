//! Waiting for DataFusion futures from Python: the GIL is released while the
//! query runs on the process runtime, and Ctrl-C is honoured.

use std::future::Future;
use std::time::Duration;

use datafusion::error::DataFusionError;
use pyo3::prelude::*;

use crate::error::DfshipError;
use crate::runtime;

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
