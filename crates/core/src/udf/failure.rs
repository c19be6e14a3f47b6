//! How a Python UDF's exception travels through DataFusion.

use std::fmt;

use datafusion::error::DataFusionError;
use pyo3::prelude::*;

/// A Python exception raised by a Python UDF during execution. It travels
/// through DataFusion as [`DataFusionError::External`].
pub struct UdfFailure {
    /// The UDF's name.
    pub udf: String,
    /// The Python type name of the exception (`ValueError`, ...).
    pub type_name: String,
    /// `str(exception)`.
    pub message: String,
    /// The exception itself.
    pub error: PyErr,
}

impl UdfFailure {
    pub fn new(py: Python<'_>, udf: &str, error: PyErr) -> Self {
        let type_name = error.get_type(py).name().map_or_else(|_| "Exception".to_owned(), |n| n.to_string());
        let message = error.value(py).to_string();
        Self { udf: udf.to_owned(), type_name, message, error }
    }

    /// Wraps the failure for transport through DataFusion.
    pub fn into_datafusion(self) -> DataFusionError {
        DataFusionError::External(Box::new(self))
    }
}

impl fmt::Debug for UdfFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "UdfFailure({self})")
    }
}

impl fmt::Display for UdfFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Python UDF '{}' raised {}: {}", self.udf, self.type_name, self.message)
    }
}

impl std::error::Error for UdfFailure {}

/// Turns a Python error raised by a UDF into a DataFusion error.
pub fn udf_error(py: Python<'_>, udf: &str, error: PyErr) -> DataFusionError {
    UdfFailure::new(py, udf, error).into_datafusion()
}
