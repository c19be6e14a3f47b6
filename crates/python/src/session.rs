//! The `SessionContext` handle: a dfship session ([`ShipSession`]) as a
//! Python object. Its methods are in `context.rs`; this module holds only the
//! type, so that every module taking a session as an argument can name it
//! without depending on what the methods return.

use datafusion::execution::context::SessionContext;
use pyo3::prelude::*;
use pyo3::types::PyBytes;

use super::errors::guard;
use dfship_core::codec::CodecError;
use dfship_core::session::{ShipSession, ShipSettings};
use dfship_core::slots;

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

/// What every `to_bytes` does: encode with the settings of `ctx`, else of
/// this thread's sender slot, else the defaults.
pub fn to_frame<'py>(
    py: Python<'py>,
    ctx: Option<&PySessionContext>,
    encode: impl FnOnce(&ShipSettings) -> Result<Vec<u8>, CodecError>,
) -> PyResult<Bound<'py, PyBytes>> {
    guard(|| {
        let settings = slots::encode_settings(ctx.map(|c| &c.session));
        Ok(PyBytes::new(py, &encode(&settings)?))
    })
}

/// What every `from_bytes` does: decode with the session of `ctx`, else of
/// this thread's worker slot, else the global one, under its settings.
pub fn from_frame<T>(
    ctx: Option<&PySessionContext>,
    decode: impl FnOnce(&ShipSession) -> Result<T, CodecError>,
) -> PyResult<T> {
    guard(|| Ok(decode(&slots::decode_session(ctx.map(|c| &c.session)))?))
}
