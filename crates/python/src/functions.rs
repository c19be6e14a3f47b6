//! Built-in functions by name (`dfship_core::builtins`): `dfship.functions`
//! calls these with DataFusion's own function names, so the whole built-in
//! library is reachable without a Rust binding per function.

use std::sync::Arc;

use datafusion::logical_expr::expr::{AggregateFunction, NullTreatment, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{AggregateUDF, Expr, WindowFunctionDefinition};
use pyo3::prelude::*;

use super::expr::{PyExpr, PySortExpr, exprs, sorts};
use dfship_core::builtins;

/// `name(args...)` for a scalar function of `library` (`"datafusion"`, the
/// default, or `"spark"`).
#[pyfunction]
#[pyo3(signature = (name, args, library="datafusion"))]
pub fn scalar_function(name: &str, args: Vec<PyRef<'_, PyExpr>>, library: &str) -> PyResult<PyExpr> {
    let func = builtins::library(library)?.scalar(name)?;
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

/// `name(args...)` for an aggregate function of `library`.
#[pyfunction]
#[pyo3(signature = (name, args, distinct=false, filter=None, order_by=vec![], ignore_nulls=None, library="datafusion"))]
pub fn aggregate_function(
    name: &str,
    args: Vec<PyRef<'_, PyExpr>>,
    distinct: bool,
    filter: Option<PyRef<'_, PyExpr>>,
    order_by: Vec<PyRef<'_, PySortExpr>>,
    ignore_nulls: Option<bool>,
    library: &str,
) -> PyResult<PyExpr> {
    let func = builtins::library(library)?.aggregate(name)?;
    PyExpr::new(aggregate_call(
        Arc::clone(func),
        exprs(&args),
        distinct,
        filter.as_deref(),
        order_by,
        ignore_nulls,
    ))
}

/// `name(args...)` for a window function of `library`, with an empty
/// `OVER ()`; `RawExpr.over` fills in partitioning, ordering and frame.
#[pyfunction]
#[pyo3(signature = (name, args, library="datafusion"))]
pub fn window_function(name: &str, args: Vec<PyRef<'_, PyExpr>>, library: &str) -> PyResult<PyExpr> {
    let func = builtins::library(library)?.window(name)?;
    let window = WindowFunction::new(WindowFunctionDefinition::WindowUDF(Arc::clone(func)), exprs(&args));
    PyExpr::new(Expr::WindowFunction(Box::new(window)))
}

/// The names of every function of `library`, by kind, for introspection and tests.
#[pyfunction]
#[pyo3(signature = (library="datafusion"))]
pub fn builtin_function_names(library: &str) -> PyResult<(Vec<String>, Vec<String>, Vec<String>)> {
    Ok(builtins::library(library)?.names())
}

/// A grouping set for `DataFrame.aggregate`'s keys: `kind` is `"rollup"` or
/// `"cube"` (over the expressions of the one list given) or `"sets"`
/// (`GROUPING SETS`, one list per set).
#[pyfunction]
pub fn grouping_set(kind: &str, lists: Vec<Vec<PyRef<'_, PyExpr>>>) -> PyResult<PyExpr> {
    use datafusion::logical_expr::GroupingSet;
    let mut lists: Vec<Vec<Expr>> = lists.iter().map(|l| exprs(l)).collect();
    let single = |lists: &mut Vec<Vec<Expr>>| match lists.len() {
        1 => Ok(lists.pop().unwrap_or_default()),
        n => Err(pyo3::exceptions::PyValueError::new_err(format!(
            "{kind} takes one list of expressions, got {n}"
        ))),
    };
    let set = match kind {
        "rollup" => GroupingSet::Rollup(single(&mut lists)?),
        "cube" => GroupingSet::Cube(single(&mut lists)?),
        "sets" => GroupingSet::GroupingSets(lists),
        other => {
            return Err(pyo3::exceptions::PyValueError::new_err(format!(
                "unknown grouping set kind {other:?}: expected rollup, cube or sets"
            )));
        }
    };
    PyExpr::new(Expr::GroupingSet(set))
}

/// A variable of a lambda (`v` in `v -> v * 2`), typed when the expression
/// is planned.
#[pyfunction]
pub fn lambda_variable(name: &str) -> PyResult<PyExpr> {
    PyExpr::new(datafusion::logical_expr::expr_fn::lambda_var(name))
}

/// `(params) -> body`: an argument of a higher-order function.
#[pyfunction]
pub fn lambda_function(params: Vec<String>, body: &PyExpr) -> PyResult<PyExpr> {
    use datafusion::logical_expr::expr::Lambda;
    PyExpr::new(Expr::Lambda(Lambda::new(params, body.cloned())))
}

/// `name(args...)` for a built-in higher-order function (`array_transform`,
/// `array_filter`, `array_any_match`, `array_first`, or an alias), whose
/// lambda arguments are [`lambda_function`]s.
#[pyfunction]
pub fn higher_order_function(name: &str, args: Vec<PyRef<'_, PyExpr>>) -> PyResult<PyExpr> {
    use datafusion::logical_expr::expr::HigherOrderFunction;
    let func = datafusion::functions_nested::all_default_higher_order_functions()
        .into_iter()
        .find(|f| f.name() == name || f.aliases().iter().any(|a| a == name))
        .ok_or_else(|| {
            pyo3::exceptions::PyValueError::new_err(format!("no higher-order function named {name:?}"))
        })?;
    PyExpr::new(Expr::HigherOrderFunction(HigherOrderFunction::new(func, exprs(&args))))
}
