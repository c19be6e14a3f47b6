//! Table functions written in Python: `SELECT * FROM f(1, 'x')` calls a
//! Python callable while the query is planned, and scans the table it
//! returns.

use std::fmt;
use std::sync::Arc;

use datafusion::catalog::{TableFunctionArgs, TableFunctionImpl};
use datafusion::datasource::TableProvider;
use datafusion::error::{DataFusionError, Result};
use datafusion::execution::SessionState;
use datafusion::execution::context::SessionContext;
use pyo3::prelude::*;

use super::catalog::PyTable;
use super::expr::PyExpr;
use super::session::PySessionContext;
use dfship_core::udf::failure::udf_error;

/// The callable behind a table function. `dfship.user_defined.TableFunction`
/// passes a trampoline that takes the argument expressions (and the calling
/// session, or `None`) and returns a `Table`.
struct PythonTableFunction {
    name: String,
    call: Py<PyAny>,
    with_session: bool,
}

impl fmt::Debug for PythonTableFunction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("PythonTableFunction").field("name", &self.name).finish_non_exhaustive()
    }
}

impl TableFunctionImpl for PythonTableFunction {
    fn call_with_args(&self, args: TableFunctionArgs) -> Result<Arc<dyn TableProvider>> {
        let session = if self.with_session {
            let state = args.session().as_any().downcast_ref::<SessionState>().ok_or_else(|| {
                DataFusionError::Plan(format!(
                    "table function '{}' asks for its session, but it is called from a session dfship did not make",
                    self.name
                ))
            })?;
            Some(PySessionContext::from_session(SessionContext::new_with_state(state.clone())))
        } else {
            None
        };
        Python::attach(|py| {
            let exprs = args.exprs().iter().map(|e| PyExpr::new(e.clone())).collect::<PyResult<Vec<_>>>();
            let returned = exprs.and_then(|exprs| self.call.bind(py).call1((exprs, session)));
            let table = returned.and_then(|t| Ok(Arc::clone(&t.cast::<PyTable>()?.get().provider)));
            table.map_err(|e| udf_error(py, &self.name, e))
        })
    }
}

/// A table function: a name and the Python callable that makes its table.
#[pyclass(name = "TableFunction", module = "dfship._internal", frozen)]
pub struct PyTableFunction {
    name: String,
    function: Arc<PythonTableFunction>,
}

impl PyTableFunction {
    pub fn name(&self) -> &str {
        &self.name
    }

    pub fn function(&self) -> Arc<dyn TableFunctionImpl> {
        Arc::clone(&self.function) as Arc<dyn TableFunctionImpl>
    }
}

#[pymethods]
impl PyTableFunction {
    /// `call(exprs, session)` returns a `dfship._internal.Table`; `session`
    /// is the calling `SessionContext` when `with_session`, else `None`.
    #[new]
    fn new(name: String, call: Py<PyAny>, with_session: bool) -> Self {
        let function = Arc::new(PythonTableFunction { name: name.clone(), call, with_session });
        Self { name, function }
    }

    #[getter(name)]
    fn py_name(&self) -> &str {
        &self.name
    }

    #[getter]
    fn with_session(&self) -> bool {
        self.function.with_session
    }

    fn __repr__(&self) -> String {
        format!("TableFunction({:?})", self.name)
    }
}
