//! Built-in functions by name (`dfship_core::builtins`): `dfship.functions`
//! calls these with DataFusion's own function names, so the whole built-in
//! library is reachable without a Rust binding per function.

use std::sync::Arc;

use datafusion::logical_expr::expr::{AggregateFunction, NullTreatment, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{AggregateUDF, Expr, WindowFunctionDefinition};
use pyo3::prelude::*;

use super::expr::{PyExpr, PySortExpr, exprs, sorts};
use dfship_core::builtins;

/// `name(args...)` for a built-in scalar function.
#[pyfunction]
pub fn scalar_function(name: &str, args: Vec<PyRef<'_, PyExpr>>) -> PyResult<PyExpr> {
    let func = builtins::scalar(name)?;
    PyExpr::new(Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(func), exprs(&args))))
}

pub fn aggregate_call(
    func: Arc<AggregateUDF>,
    args: Vec<Expr>,
    distinct: bool,
    filter: Option<&PyExpr>,
    order_by: Vec<PyRef<'_, PySortExpr>>,
    ignore_nulls: Option<bool>,
) -> Expr {
    Expr::AggregateFunction(AggregateFunction::new_udf(
        func,
        args,
        distinct,
        filter.map(|f| Box::new(f.cloned())),
        sorts(&order_by),
        ignore_nulls.map(|i| if i { NullTreatment::IgnoreNulls } else { NullTreatment::RespectNulls }),
    ))
}

/// `name(args...)` for a built-in aggregate function.
#[pyfunction]
#[pyo3(signature = (name, args, distinct=false, filter=None, order_by=vec![], ignore_nulls=None))]
pub fn aggregate_function(
    name: &str,
    args: Vec<PyRef<'_, PyExpr>>,
    distinct: bool,
    filter: Option<PyRef<'_, PyExpr>>,
    order_by: Vec<PyRef<'_, PySortExpr>>,
    ignore_nulls: Option<bool>,
) -> PyResult<PyExpr> {
    let func = builtins::aggregate(name)?;
    PyExpr::new(aggregate_call(
        Arc::clone(func),
        exprs(&args),
        distinct,
        filter.as_deref(),
        order_by,
        ignore_nulls,
    ))
}

/// `name(args...)` for a built-in window function, with an empty `OVER ()`;
/// `RawExpr.over` fills in partitioning, ordering and frame.
#[pyfunction]
pub fn window_function(name: &str, args: Vec<PyRef<'_, PyExpr>>) -> PyResult<PyExpr> {
    let func = builtins::window(name)?;
    let window = WindowFunction::new(WindowFunctionDefinition::WindowUDF(Arc::clone(func)), exprs(&args));
    PyExpr::new(Expr::WindowFunction(Box::new(window)))
}

/// The names of every built-in function, by kind, for introspection and tests.
#[pyfunction]
pub fn builtin_function_names() -> (Vec<String>, Vec<String>, Vec<String>) {
    builtins::names()
}
