//! DataFusion's built-in functions, and the Spark-compatible ones of
//! `datafusion-spark`, by name and alias, so that a host can call any of
//! them without a binding per function.

use std::any::{Any, TypeId};
use std::collections::HashMap;
use std::sync::{Arc, LazyLock};

use datafusion::execution::SessionStateDefaults;
use datafusion::logical_expr::{AggregateUDF, ScalarUDF, WindowUDF};

use crate::error::{DfshipError, Result};

/// One library of functions, by name and alias, built once.
pub struct Builtins {
    /// What the library is called in error messages.
    pub library: &'static str,
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

impl Builtins {
    fn new(
        library: &'static str,
        scalar: Vec<Arc<ScalarUDF>>,
        aggregate: Vec<Arc<AggregateUDF>>,
        window: Vec<Arc<WindowUDF>>,
    ) -> Self {
        Self {
            library,
            scalar: by_name(scalar, |f| {
                std::iter::once(f.name().to_owned()).chain(f.aliases().iter().cloned()).collect()
            }),
            aggregate: by_name(aggregate, |f| {
                std::iter::once(f.name().to_owned()).chain(f.aliases().iter().cloned()).collect()
            }),
            window: by_name(window, |f| {
                std::iter::once(f.name().to_owned()).chain(f.aliases().iter().cloned()).collect()
            }),
        }
    }

    fn unknown(&self, kind: &str, name: &str) -> DfshipError {
        DfshipError::InvalidArgument(format!("there is no {} {kind} function named {name:?}", self.library))
    }

    /// The scalar function `name` (or one of its aliases).
    pub fn scalar(&'static self, name: &str) -> Result<&'static Arc<ScalarUDF>> {
        self.scalar.get(name).ok_or_else(|| self.unknown("scalar", name))
    }

    /// The aggregate function `name` (or one of its aliases).
    pub fn aggregate(&'static self, name: &str) -> Result<&'static Arc<AggregateUDF>> {
        self.aggregate.get(name).ok_or_else(|| self.unknown("aggregate", name))
    }

    /// The window function `name` (or one of its aliases).
    pub fn window(&'static self, name: &str) -> Result<&'static Arc<WindowUDF>> {
        self.window.get(name).ok_or_else(|| self.unknown("window", name))
    }

    /// Every name (and alias) of the scalar, aggregate and window functions, sorted.
    pub fn names(&self) -> (Vec<String>, Vec<String>, Vec<String>) {
        fn sorted(mut names: Vec<String>) -> Vec<String> {
            names.sort();
            names
        }
        (
            sorted(self.scalar.keys().cloned().collect()),
            sorted(self.aggregate.keys().cloned().collect()),
            sorted(self.window.keys().cloned().collect()),
        )
    }
}

/// DataFusion's default functions.
pub static BUILTINS: LazyLock<Builtins> = LazyLock::new(|| {
    Builtins::new(
        "built-in",
        SessionStateDefaults::default_scalar_functions(),
        SessionStateDefaults::default_aggregate_functions(),
        SessionStateDefaults::default_window_functions(),
    )
});

/// The Spark-compatible functions of `datafusion-spark`. Many share a name
/// with a DataFusion built-in but not its semantics (`concat` propagates
/// NULL, `round` rounds half up): the codecs tag them on the wire (see
/// [`is_spark_scalar`]) so a receiver never swaps one for the other.
pub static SPARK: LazyLock<Builtins> = LazyLock::new(|| {
    Builtins::new(
        "Spark",
        datafusion_spark::all_default_scalar_functions(),
        datafusion_spark::all_default_aggregate_functions(),
        datafusion_spark::all_default_window_functions(),
    )
});

/// The library called `name`: `"datafusion"` or `"spark"`.
pub fn library(name: &str) -> Result<&'static Builtins> {
    match name {
        "datafusion" => Ok(&BUILTINS),
        "spark" => Ok(&SPARK),
        other => Err(DfshipError::InvalidArgument(format!(
            "there is no function library named {other:?} (expected \"datafusion\" or \"spark\")"
        ))),
    }
}

/// The built-in scalar function `name` (or one of its aliases).
pub fn scalar(name: &str) -> Result<&'static Arc<ScalarUDF>> {
    BUILTINS.scalar(name)
}

/// The built-in aggregate function `name` (or one of its aliases).
pub fn aggregate(name: &str) -> Result<&'static Arc<AggregateUDF>> {
    BUILTINS.aggregate(name)
}

/// The built-in window function `name` (or one of its aliases).
pub fn window(name: &str) -> Result<&'static Arc<WindowUDF>> {
    BUILTINS.window(name)
}

/// Every name (and alias) of the scalar, aggregate and window built-ins, sorted.
pub fn names() -> (Vec<String>, Vec<String>, Vec<String>) {
    BUILTINS.names()
}

/// True when `found` is the implementation Spark has under a name, and the
/// DataFusion built-in of that name (if any) is a different one: such a
/// function must travel tagged as Spark's, since a receiver resolving the
/// bare name would pick the built-in.
fn spark_only<T: ?Sized>(
    found: TypeId,
    spark: Option<&Arc<T>>,
    builtin: Option<&Arc<T>>,
    inner: impl Fn(&T) -> TypeId,
) -> bool {
    spark.is_some_and(|s| inner(s) == found) && builtin.is_none_or(|b| inner(b) != found)
}

/// The concrete type behind a function's trait object.
fn implementation(inner: &dyn Any) -> TypeId {
    Any::type_id(inner)
}

/// Whether `udf` is a Spark function that a receiver could not find by name
/// among DataFusion's built-ins (see [`SPARK`]).
pub fn is_spark_scalar(udf: &ScalarUDF) -> bool {
    let name = udf.name();
    spark_only(implementation(udf.inner().as_ref()), SPARK.scalar.get(name), BUILTINS.scalar.get(name), |f| {
        implementation(f.inner().as_ref())
    })
}

/// As [`is_spark_scalar`], for aggregate functions.
pub fn is_spark_aggregate(udf: &AggregateUDF) -> bool {
    let name = udf.name();
    spark_only(
        implementation(udf.inner().as_ref()),
        SPARK.aggregate.get(name),
        BUILTINS.aggregate.get(name),
        |f| implementation(f.inner().as_ref()),
    )
}

/// As [`is_spark_scalar`], for window functions.
pub fn is_spark_window(udf: &WindowUDF) -> bool {
    let name = udf.name();
    spark_only(implementation(udf.inner().as_ref()), SPARK.window.get(name), BUILTINS.window.get(name), |f| {
        implementation(f.inner().as_ref())
    })
}
