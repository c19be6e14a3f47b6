//! The embedded interpreter of the Rust-level properties: Python UDFs are
//! built here from the same bodies the driver uses, as dfship's Rust UDF
//! types, so the codecs can be exercised without the Python package.
//!
//! (The matrix cannot use an embedded interpreter: it forks and spawns.)

use std::sync::{Arc, Once};

use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::Volatility as DfVolatility;
use dfship_core::udf::UdfSignature;
use dfship_core::udf::aggregate::PythonAggregateUDF;
use dfship_core::udf::scalar::PythonScalarUDF;
use dfship_core::udf::window::PythonWindowUDF;
use pyo3::prelude::*;
use pyo3::types::PyDict;

use datafusion::execution::FunctionRegistry;
use datafusion::logical_expr::Expr;

use crate::render::{BuiltUdf, RustBuilder, data_type, python_udf_body};
use crate::spec::{Case, Family, Volatility};

/// Starts the interpreter once, with the project's virtualenv and the
/// driver's directory (for by-reference UDF bodies) on its path.
pub fn init() {
    static INIT: Once = Once::new();
    INIT.call_once(|| {
        Python::initialize();
        Python::attach(|py| -> PyResult<()> {
            let site = py.import("site")?;
            let venv = std::env::var("VIRTUAL_ENV")
                .unwrap_or_else(|_| crate::workspace_root().join(".venv").display().to_string());
            let version = py.version_info();
            site.call_method1(
                "addsitedir",
                (format!("{venv}/lib/python{}.{}/site-packages", version.major, version.minor),),
            )?;
            let driver_dir = crate::workspace_root().join("harness").join("driver");
            py.import("sys")?
                .getattr("path")?
                .call_method1("insert", (0, driver_dir.display().to_string()))?;
            Ok(())
        })
        .expect("the embedded interpreter starts with the project's virtualenv");
    });
}

fn volatility(v: Volatility) -> DfVolatility {
    match v {
        Volatility::Immutable => DfVolatility::Immutable,
        Volatility::Stable => DfVolatility::Stable,
        Volatility::Volatile => DfVolatility::Volatile,
    }
}

/// The case's Python UDFs built in this process (FFI UDFs are not built
/// here: cases for the Rust-level properties have none).
pub fn build_udfs(case: &Case) -> PyResult<Vec<BuiltUdf>> {
    init();
    Python::attach(|py| {
        case.udfs
            .iter()
            .enumerate()
            .map(|(i, u)| {
                assert!(!u.is_ffi(), "Rust-level cases have no FFI UDFs");
                let namespace = PyDict::new(py);
                namespace.set_item("__name__", "harness_case")?;
                let source = std::ffi::CString::new(python_udf_body(u)).expect("no NUL in generated source");
                py.run(&source, Some(&namespace), None)?;
                let body = namespace.get_item("body")?.expect("the source defines body").unbind();
                let shape = UdfSignature {
                    input_types: vec![data_type(u.input)],
                    return_type: data_type(u.output()),
                    volatility: volatility(u.volatility),
                };
                let name = case.udf_name(i);
                Ok(match u.family {
                    Family::Scalar => {
                        BuiltUdf::Scalar(Arc::new(PythonScalarUDF::new(name, body, shape).into_udf()))
                    }
                    Family::Aggregate => BuiltUdf::Aggregate(Arc::new(
                        PythonAggregateUDF::new(name, body, shape, vec![DataType::Int64]).into_udaf(),
                    )),
                    Family::Window => {
                        BuiltUdf::Window(Arc::new(PythonWindowUDF::new(name, body, shape).into_udwf()))
                    }
                })
            })
            .collect()
    })
}

/// The case's root expression in this process: its Python UDFs built here,
/// built-in functions from `registry`.
pub fn build_root(case: &Case, registry: &dyn FunctionRegistry) -> Result<Expr, String> {
    let udfs = build_udfs(case).map_err(|e| format!("building the UDFs: {e}"))?;
    RustBuilder { registry, udfs: &udfs }.root(case).map_err(|e| format!("building the expression: {e}"))
}
