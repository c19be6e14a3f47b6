//! The sender and worker slots: per-thread sessions consulted by
//! `Expr.to_bytes()` / `pickle.dumps` (sender) and `Expr.from_bytes()` /
//! `pickle.loads` (worker) when no session is passed explicitly.
//!
//! Slots are thread-locals of the OS thread, so each Python thread has its
//! own; a forked child keeps the forking thread's values (memory is copied),
//! while spawn and forkserver children start with empty slots. A slot holds a
//! reference to the Python `SessionContext` it was given (returned as is by
//! `get_*`) and the Rust handle used on the hot path.

use std::cell::RefCell;

use pyo3::prelude::*;

use super::session::PySessionContext;
use crate::codec::{PythonLogicalCodec, WireLimits};

struct Slot {
    wrapper: Py<PyAny>,
    ctx: PySessionContext,
}

thread_local! {
    static SENDER: RefCell<Option<Slot>> = const { RefCell::new(None) };
    static WORKER: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Which slot.
#[derive(Clone, Copy)]
enum Which {
    Sender,
    Worker,
}

fn with_slot<R>(which: Which, f: impl FnOnce(&RefCell<Option<Slot>>) -> R) -> R {
    match which {
        Which::Sender => SENDER.with(f),
        Which::Worker => WORKER.with(f),
    }
}

fn set(which: Which, wrapper: &Bound<'_, PyAny>, raw: &PySessionContext) {
    let slot = Slot { wrapper: wrapper.clone().unbind(), ctx: raw.clone() };
    // Drop the previous occupant after the borrow ends: its destructor may
    // run Python code.
    let previous = with_slot(which, |cell| cell.borrow_mut().replace(slot));
    drop(previous);
}

fn get(py: Python<'_>, which: Which) -> Option<Py<PyAny>> {
    with_slot(which, |cell| cell.borrow().as_ref().map(|s| s.wrapper.clone_ref(py)))
}

fn clear(which: Which) {
    let previous = with_slot(which, |cell| cell.borrow_mut().take());
    drop(previous);
}

/// The session in this thread's sender slot.
pub fn sender() -> Option<PySessionContext> {
    SENDER.with(|cell| cell.borrow().as_ref().map(|s| s.ctx.clone()))
}

/// The session in this thread's worker slot.
pub fn worker() -> Option<PySessionContext> {
    WORKER.with(|cell| cell.borrow().as_ref().map(|s| s.ctx.clone()))
}

/// What an encode follows: the codec settings and wire limits of `ctx` when
/// given, else of this thread's sender slot, else the defaults, signed when
/// the process has a payload key (`DFSHIP_PAYLOAD_KEY`, see
/// [`PySessionContext::global`]).
pub fn encode_settings(ctx: Option<PyRef<'_, PySessionContext>>) -> (PythonLogicalCodec, WireLimits) {
    match ctx.map(|c| c.clone()).or_else(sender) {
        Some(ctx) => (ctx.codec, ctx.limits),
        None => (
            PythonLogicalCodec::new(),
            WireLimits { keys: PySessionContext::global().limits.keys.clone(), ..WireLimits::default() },
        ),
    }
}

/// The session a decode resolves functions through and whose settings it
/// follows: `ctx` when given, else this thread's worker slot, else the
/// global session.
pub fn for_decode(ctx: Option<PyRef<'_, PySessionContext>>) -> PySessionContext {
    ctx.map(|c| c.clone()).or_else(worker).unwrap_or_else(|| PySessionContext::global().clone())
}

/// Installs `ctx` (a `dfship.SessionContext`, whose handle is `raw`) in this
/// thread's sender slot.
#[pyfunction]
pub fn set_sender_ctx(ctx: &Bound<'_, PyAny>, raw: PyRef<'_, PySessionContext>) {
    set(Which::Sender, ctx, &raw);
}

#[pyfunction]
pub fn get_sender_ctx(py: Python<'_>) -> Option<Py<PyAny>> {
    get(py, Which::Sender)
}

#[pyfunction]
pub fn clear_sender_ctx() {
    clear(Which::Sender);
}

/// Installs `ctx` (a `dfship.SessionContext`, whose handle is `raw`) in this
/// thread's worker slot.
#[pyfunction]
pub fn set_worker_ctx(ctx: &Bound<'_, PyAny>, raw: PyRef<'_, PySessionContext>) {
    set(Which::Worker, ctx, &raw);
}

#[pyfunction]
pub fn get_worker_ctx(py: Python<'_>) -> Option<Py<PyAny>> {
    get(py, Which::Worker)
}

#[pyfunction]
pub fn clear_worker_ctx() {
    clear(Which::Worker);
}
