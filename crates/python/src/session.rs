//! The `SessionContext` handle: a dfship session ([`ShipSession`]) as a
//! Python object. Its methods are in `context.rs`; this module holds only the
//! type, so that every module taking a session as an argument can name it
//! without depending on what the methods return.

use datafusion::execution::context::SessionContext;
use pyo3::prelude::*;

use dfship_core::session::ShipSession;

/// A handle on a session, with this handle's settings: several handles (see
/// `with_python_udf_inlining`) can share one session, its tables and
/// functions, with different settings.
#[pyclass(name = "SessionContext", module = "dfship._internal", frozen, skip_from_py_object)]
#[derive(Clone)]
pub struct PySessionContext {
    pub session: ShipSession,
}

impl PySessionContext {
    pub fn from_session(ctx: SessionContext) -> Self {
        Self { session: ShipSession::new(ctx) }
    }

    /// The process-wide session behind `SessionContext.global_ctx()`, the
    /// module-level `read_*` helpers and the last step of decode resolution.
    pub fn global() -> Self {
        Self { session: ShipSession::global().clone() }
    }
}

impl From<ShipSession> for PySessionContext {
    fn from(session: ShipSession) -> Self {
        Self { session }
    }
}
