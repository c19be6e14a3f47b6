//! Built-in functions by name: `dfship.functions` calls these with
//! DataFusion's own function names, so the whole built-in library is reachable
//! without a Rust binding per function.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::expr::{AggregateFunction, NullTreatment, ScalarFunction, WindowFunction};
use datafusion::logical_expr::{AggregateUDF, Expr, ScalarUDF, WindowFunctionDefinition, WindowUDF};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::expr::{PyExpr, PySortExpr, exprs, sorts};

/// DataFusion's default functions, by name and alias, built once.
pub struct Builtins {
    pub scalar: HashMap<String, Arc<ScalarUDF>>,
    pub aggregate: HashMap<String, Arc<AggregateUDF>>,
    pub window: HashMap<String, Arc<WindowUDF>>,
}

fn by_name<T: ?Sized>(items: Vec<Arc<T>>, names: impl Fn(&T) -> Vec<String>) -> HashMap<String, Arc<T>> {
    let mut map = HashMap::new();
    for item in items {
        for name in names(&item) {
            map.entry(name).or_insert_with(|| Arc::clone(&item));
        }
    }
    map
}

pub static BUILTINS: LazyLock<Builtins> = LazyLock::new(|| Builtins {
    scalar: by_name(SessionStateDefaults::default_scalar_functions(), |f| {
        std::iter::once(f.name().to_owned()).chain(f.aliases().iter().cloned()).collect()
    }),
    aggregate: by_name(SessionStateDefaults::default_aggregate_functions(), |f| {
        std::iter::once(f.name().to_owned()).chain(f.aliases().iter().cloned()).collect()
    }),
    window: by_name(SessionStateDefaults::default_window_functions(), |f| {
        std::iter::once(f.name().to_owned()).chain(f.aliases().iter().cloned()).collect()
    }),
});

fn unknown(kind: &str, name: &str) -> PyErr {
    PyValueError::new_err(format!("there is no built-in {kind} function named {name:?}"))
}

/// `name(args...)` for a built-in scalar function.
#[pyfunction]
pub fn scalar_function(name: &str, args: Vec<PyRef<'_, PyExpr>>) -> PyResult<PyExpr> {
    let func = BUILTINS.scalar.get(name).ok_or_else(|| unknown("scalar", name))?;
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
    let func = BUILTINS.aggregate.get(name).ok_or_else(|| unknown("aggregate", name))?;
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
    let func = BUILTINS.window.get(name).ok_or_else(|| unknown("window", name))?;
    let window = WindowFunction::new(WindowFunctionDefinition::WindowUDF(Arc::clone(func)), exprs(&args));
    PyExpr::new(Expr::WindowFunction(Box::new(window)))
}

/// The names of every built-in function, by kind, for introspection and tests.
#[pyfunction]
pub fn builtin_function_names() -> (Vec<String>, Vec<String>, Vec<String>) {
    let sorted = |mut v: Vec<String>| {
        v.sort();
        v
    };
    (
        sorted(BUILTINS.scalar.keys().cloned().collect()),
        sorted(BUILTINS.aggregate.keys().cloned().collect()),
        sorted(BUILTINS.window.keys().cloned().collect()),
    )
}
