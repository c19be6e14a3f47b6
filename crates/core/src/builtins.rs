//! DataFusion's built-in functions by name and alias, so that a host can
//! call any of them without a binding per function.

use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};

use crate::error::{DfshipError, Result};

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

/// The built-in functions.
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

fn unknown(kind: &str, name: &str) -> DfshipError {
    DfshipError::InvalidArgument(format!("there is no built-in {kind} function named {name:?}"))
}

/// The built-in scalar function `name` (or one of its aliases).
pub fn scalar(name: &str) -> Result<&'static Arc<ScalarUDF>> {
    BUILTINS.scalar.get(name).ok_or_else(|| unknown("scalar", name))
}

/// The built-in aggregate function `name` (or one of its aliases).
pub fn aggregate(name: &str) -> Result<&'static Arc<AggregateUDF>> {
    BUILTINS.aggregate.get(name).ok_or_else(|| unknown("aggregate", name))
}

/// The built-in window function `name` (or one of its aliases).
pub fn window(name: &str) -> Result<&'static Arc<WindowUDF>> {
    BUILTINS.window.get(name).ok_or_else(|| unknown("window", name))
}

/// Every name (and alias) of the scalar, aggregate and window built-ins, sorted.
pub fn names() -> (Vec<String>, Vec<String>, Vec<String>) {
    fn sorted(mut names: Vec<String>) -> Vec<String> {
        names.sort();
        names
    }
    (
        sorted(BUILTINS.scalar.keys().cloned().collect()),
        sorted(BUILTINS.aggregate.keys().cloned().collect()),
        sorted(BUILTINS.window.keys().cloned().collect()),
    )
}
