//! The `dfship._internal` extension module: thin handles over the Rust core.
//! Everything public is wrapped by the Python package `dfship`.

pub mod dataframe;
pub mod errors;
pub mod expr;
pub mod functions;
pub mod runtime;
pub mod session;
pub mod udf;

use pyo3::prelude::*;

#[pymodule]
#[pyo3(name = "_internal")]
fn internal(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add("__version__", env!("CARGO_PKG_VERSION"))?;
    m.add_class::<session::PySessionContext>()?;
    m.add_class::<session::PySessionConfig>()?;
    m.add_class::<dataframe::PyDataFrame>()?;
    m.add_class::<expr::PyExpr>()?;
    m.add_class::<expr::PySortExpr>()?;
    m.add_class::<udf::PyScalarUDF>()?;
    m.add_class::<udf::PyAggregateUDF>()?;
    m.add_class::<udf::PyWindowUDF>()?;
    m.add_function(wrap_pyfunction!(functions::scalar_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::aggregate_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::window_function, m)?)?;
    m.add_function(wrap_pyfunction!(functions::builtin_function_names, m)?)?;
    Ok(())
}
