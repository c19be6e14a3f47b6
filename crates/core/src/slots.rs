//! The sender and worker slots: per-thread sessions that an encode (sender)
//! or a decode (worker) follows when it is given none, and the rule that
//! chooses between an explicit session, a slot and the defaults.
//!
//! Slots are thread-locals of the OS thread, so each Python thread has its
//! own; a forked child keeps the forking thread's values (memory is copied),
//! while spawn and forkserver children start with empty slots. A slot holds
//! the session and, opaque to Rust, the object it was installed as (the
//! Python `SessionContext`), which is what reading the slot returns.

use std::cell::RefCell;

use pyo3::prelude::*;

use crate::session::{ShipSession, ShipSettings};

struct Slot {
    installed_as: Py<PyAny>,
    session: ShipSession,
}

thread_local! {
    static SENDER: RefCell<Option<Slot>> = const { RefCell::new(None) };
    static WORKER: RefCell<Option<Slot>> = const { RefCell::new(None) };
}

/// Which slot.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Which {
    /// Consulted by encodes given no session.
    Sender,
    /// Consulted by decodes given no session.
    Worker,
}

fn with_slot<R>(which: Which, f: impl FnOnce(&RefCell<Option<Slot>>) -> R) -> R {
    match which {
        Which::Sender => SENDER.with(f),
        Which::Worker => WORKER.with(f),
    }
}

/// Installs `session` in this thread's slot; reading the slot returns
/// `installed_as`.
pub fn set(which: Which, installed_as: Py<PyAny>, session: ShipSession) {
    let slot = Slot { installed_as, session };
    // Drop the previous occupant after the borrow ends: its destructor may
    // run Python code.
    let previous = with_slot(which, |cell| cell.borrow_mut().replace(slot));
    drop(previous);
}

/// The object this thread's slot was installed as.
pub fn get(py: Python<'_>, which: Which) -> Option<Py<PyAny>> {
    with_slot(which, |cell| cell.borrow().as_ref().map(|s| s.installed_as.clone_ref(py)))
}

/// Empties this thread's slot.
pub fn clear(which: Which) {
    let previous = with_slot(which, |cell| cell.borrow_mut().take());
    drop(previous);
}

/// The session in this thread's slot.
pub fn session(which: Which) -> Option<ShipSession> {
    with_slot(which, |cell| cell.borrow().as_ref().map(|s| s.session.clone()))
}

/// What an encode follows: the settings of `explicit` when given, else of
/// this thread's sender slot, else the defaults, signed when the process has
/// a payload key (`DFSHIP_PAYLOAD_KEY`).
pub fn encode_settings(explicit: Option<&ShipSession>) -> ShipSettings {
    if let Some(session) = explicit {
        return session.settings.clone();
    }
    with_slot(Which::Sender, |cell| cell.borrow().as_ref().map(|s| s.session.settings.clone()))
        .unwrap_or_else(|| {
            ShipSettings::default().with_keys(ShipSession::global().settings.limits.keys.clone())
        })
}

/// The session a decode resolves functions through and whose settings it
/// follows: `explicit` when given, else this thread's worker slot, else the
/// global session.
pub fn decode_session(explicit: Option<&ShipSession>) -> ShipSession {
    explicit.cloned().or_else(|| session(Which::Worker)).unwrap_or_else(|| ShipSession::global().clone())
}
