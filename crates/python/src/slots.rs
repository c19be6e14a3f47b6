//! The sender and worker slots as Python functions (`dfship.ipc` wraps
//! them); the slots and the rule that consults them are in
//! `dfship_core::slots`.

use pyo3::prelude::*;

use super::session::PySessionContext;
use dfship_core::slots::{self, Which};

/// Installs `ctx` (a `dfship.SessionContext`, whose handle is `raw`) in this
/// thread's sender slot.
#[pyfunction]
pub fn set_sender_ctx(ctx: &Bound<'_, PyAny>, raw: PyRef<'_, PySessionContext>) {
    slots::set(Which::Sender, ctx.clone().unbind(), raw.session.clone());
}

#[pyfunction]
pub fn get_sender_ctx(py: Python<'_>) -> Option<Py<PyAny>> {
    slots::get(py, Which::Sender)
}

#[pyfunction]
pub fn clear_sender_ctx() {
    slots::clear(Which::Sender);
}

/// Installs `ctx` (a `dfship.SessionContext`, whose handle is `raw`) in this
/// thread's worker slot.
#[pyfunction]
pub fn set_worker_ctx(ctx: &Bound<'_, PyAny>, raw: PyRef<'_, PySessionContext>) {
    slots::set(Which::Worker, ctx.clone().unbind(), raw.session.clone());
}

#[pyfunction]
pub fn get_worker_ctx(py: Python<'_>) -> Option<Py<PyAny>> {
    slots::get(py, Which::Worker)
}

#[pyfunction]
pub fn clear_worker_ctx() {
    slots::clear(Which::Worker);
}
