//! Results one record batch at a time: `RecordBatchStream` for Python
//! iteration and an Arrow C stream reader for `__arrow_c_stream__`. Neither
//! holds more than the batch being handed over.

use std::sync::{Arc, Mutex};

use arrow_pyarrow::ToPyArrow;
use datafusion::arrow::datatypes::SchemaRef;
use datafusion::arrow::error::ArrowError;
use datafusion::arrow::record_batch::{RecordBatch, RecordBatchReader};
use datafusion::execution::SendableRecordBatchStream;
use futures::StreamExt;
use pyo3::exceptions::{PyRuntimeError, PyStopIteration};
use pyo3::prelude::*;

use super::runtime::wait_for_depth;
use dfship_core::runtime::Claim;

/// The next batch of `stream`, waited for on the process runtime with the
/// GIL released; the stream is handed back with it.
fn next_batch(
    py: Python<'_>,
    depth: usize,
    mut stream: SendableRecordBatchStream,
) -> PyResult<(SendableRecordBatchStream, Option<RecordBatch>)> {
    wait_for_depth(py, depth, async move {
        let item = stream.next().await.transpose()?;
        Ok((stream, item))
    })
}

enum State {
    /// The stream, with the claim its query holds: its tasks may wait in the
    /// runtime's threads until it ends, and a fork meanwhile must not stop
    /// the runtime under them.
    Ready(SendableRecordBatchStream, Arc<Claim>),
    /// Another thread is fetching a batch.
    Busy,
    /// Exhausted, or failed.
    Done,
}

/// A running query's output, one partition or all of them merged.
#[pyclass(name = "RecordBatchStream", module = "dfship._internal", frozen)]
pub struct PyRecordBatchStream {
    stream: Mutex<State>,
    schema: SchemaRef,
    depth: usize,
}

impl PyRecordBatchStream {
    /// `claim` was made before the query started (see
    /// [`super::runtime::stream_claim`]); streams of one query share it.
    pub fn new(stream: SendableRecordBatchStream, depth: usize, claim: Arc<Claim>) -> Self {
        Self { schema: stream.schema(), stream: Mutex::new(State::Ready(stream, claim)), depth }
    }

    /// The lock is never held while a batch is computed, so a poisoned
    /// one still holds a consistent value.
    fn slot(&self) -> std::sync::MutexGuard<'_, State> {
        self.stream.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[pymethods]
impl PyRecordBatchStream {
    /// The next batch as a `pyarrow.RecordBatch`; `StopIteration` at the end.
    fn next<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        // Taken in its own statement: the guard must be released before the
        // arms lock again.
        let state = std::mem::replace(&mut *self.slot(), State::Busy);
        // The claim is held here while the batch is computed, and released
        // with this call once the stream has ended.
        let (stream, claim) = match state {
            State::Ready(stream, claim) => (stream, claim),
            State::Busy => {
                return Err(PyRuntimeError::new_err("another thread is reading this stream"));
            }
            State::Done => {
                *self.slot() = State::Done;
                return Err(PyStopIteration::new_err(()));
            }
        };
        let next = next_batch(py, self.depth, stream);
        let mut slot = self.slot();
        match next {
            Ok((stream, Some(batch))) => {
                *slot = State::Ready(stream, claim);
                drop(slot);
                batch.to_pyarrow(py)
            }
            Ok((_, None)) => {
                *slot = State::Done;
                Err(PyStopIteration::new_err(()))
            }
            Err(e) => {
                *slot = State::Done;
                Err(e)
            }
        }
    }

    fn schema<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyAny>> {
        self.schema.as_ref().to_pyarrow(py)
    }
}

/// An Arrow `RecordBatchReader` pulling from a running query, for export
/// through the Arrow C stream interface.
pub struct StreamReader {
    /// The stream, and the claim its query holds, until it ends.
    stream: Option<(SendableRecordBatchStream, Arc<Claim>)>,
    schema: SchemaRef,
    depth: usize,
}

impl StreamReader {
    pub fn new(stream: SendableRecordBatchStream, depth: usize, claim: Arc<Claim>) -> Self {
        Self { schema: stream.schema(), stream: Some((stream, claim)), depth }
    }
}

impl Iterator for StreamReader {
    type Item = Result<RecordBatch, ArrowError>;

    fn next(&mut self) -> Option<Self::Item> {
        let (stream, claim) = self.stream.take()?;
        // The consumer may or may not hold the GIL; a query running Python
        // UDFs needs it released while it is waited for.
        let (stream, batch) = match Python::attach(|py| next_batch(py, self.depth, stream)) {
            Ok(next) => next,
            Err(e) => return Some(Err(ArrowError::ExternalError(Box::new(e)))),
        };
        if batch.is_some() {
            self.stream = Some((stream, claim));
        }
        batch.map(Ok)
    }
}

impl RecordBatchReader for StreamReader {
    fn schema(&self) -> SchemaRef {
        self.schema.clone()
    }
}
