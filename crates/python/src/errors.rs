//! Panics at the boundary: the Rust-to-Python error mapping itself is
//! `dfship_core::pyerr` (it must sit beside the error types).

use std::panic::{AssertUnwindSafe, catch_unwind};

use pyo3::prelude::*;

use dfship_core::error::DfshipError;
use dfship_core::panics::panic_message;

/// Runs `f`, turning a Rust panic into `dfship.exceptions.InternalError`
/// instead of letting pyo3 raise its `PanicException` (a `BaseException`).
pub fn guard<T>(f: impl FnOnce() -> PyResult<T>) -> PyResult<T> {
    match catch_unwind(AssertUnwindSafe(f)) {
        Ok(result) => result,
        Err(payload) => Err(DfshipError::Panic(panic_message(payload.as_ref())).into()),
    }
}
