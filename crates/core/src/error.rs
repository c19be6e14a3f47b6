//! The crate's single error type.
//!
//! Errors that started as a Python exception keep the original [`PyErr`] in
//! their own variant ([`DfshipError::Python`], [`UdfFailure`]) so that nothing
//! is lost when they travel through DataFusion (wrapped in
//! [`DataFusionError::External`]) and back out to Python.

use datafusion::arrow::error::ArrowError;
use datafusion::error::DataFusionError;
use pyo3::prelude::*;

pub use crate::chain::find_in_chain;
pub use crate::udf::failure::{UdfFailure, udf_error};

pub type Result<T, E = DfshipError> = std::result::Result<T, E>;

#[derive(Debug, thiserror::Error)]
pub enum DfshipError {
    /// Planning or execution failed inside DataFusion.
    #[error(transparent)]
    DataFusion(#[from] DataFusionError),
    /// An Arrow operation failed.
    #[error(transparent)]
    Arrow(#[from] ArrowError),
    /// A Python exception, kept whole.
    #[error("{0}")]
    Python(PyErr),
    /// A Python UDF raised while a query ran.
    #[error(transparent)]
    Udf(UdfFailure),
    /// The codec refused bytes or could not (de)serialize.
    #[error(transparent)]
    Codec(#[from] crate::codec::error::CodecError),
    /// An expression would nest deeper than the process-wide limit.
    #[error(
        "expression would be nested {depth} levels deep, over the limit of {limit}; raise it with \
         dfship.set_max_expression_depth() if this is expected"
    )]
    TooDeep { depth: usize, limit: usize },
    /// A Rust panic caught at the boundary to Python.
    #[error("internal error: {0}")]
    Panic(String),
    /// The caller asked for something that cannot be done.
    #[error("{0}")]
    Invalid(String),
    /// An argument is out of its range or malformed (Python: `ValueError`).
    #[error("{0}")]
    InvalidArgument(String),
}

impl From<PyErr> for DfshipError {
    fn from(err: PyErr) -> Self {
        Self::Python(err)
    }
}

/// Finds a [`UdfFailure`] anywhere in a DataFusion error chain.
pub fn find_udf_failure(err: &DataFusionError) -> Option<&UdfFailure> {
    find_in_chain(err)
}
