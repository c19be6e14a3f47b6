//! The one place where Rust errors become Python exceptions.
//!
//! It sits in the core, beside the error types, because Rust lets a crate
//! implement `From<DfshipError> for PyErr` only where one of the two types is
//! defined; the bindings and the UDF runtime both raise through it.
//!
//! Exception classes live in `dfship/exceptions.py` (so that they can also
//! derive from built-ins such as `ValueError`, and pickle by reference); which
//! error becomes which class is the table in `dfship_core::exceptions`, and
//! this module looks the classes up by its names.

use datafusion::error::DataFusionError;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::PyType;

use crate::codec::CodecError;
use crate::error::{DfshipError, find_in_chain, find_udf_failure};
use crate::exceptions::Exception;

fn exceptions_module(py: Python<'_>) -> PyResult<&Bound<'_, PyModule>> {
    static MODULE: PyOnceLock<Py<PyModule>> = PyOnceLock::new();
    MODULE.get_or_try_init(py, || py.import("dfship.exceptions").map(Bound::unbind)).map(|m| m.bind(py))
}

/// The class of `dfship.exceptions` for `exception`.
pub fn exception_type(py: Python<'_>, exception: Exception) -> PyResult<Bound<'_, PyType>> {
    exceptions_module(py)?.getattr(exception.name())?.cast_into::<PyType>().map_err(Into::into)
}

/// A new `dfship.exceptions.<class>(message)`.
pub fn new_error(py: Python<'_>, exception: Exception, message: impl Into<String>) -> PyErr {
    match exception_type(py, exception) {
        Ok(t) => PyErr::from_type(t, message.into()),
        Err(e) => e,
    }
}

impl From<CodecError> for PyErr {
    fn from(err: CodecError) -> Self {
        DfshipError::from(err).into()
    }
}

impl From<DfshipError> for PyErr {
    fn from(err: DfshipError) -> Self {
        Python::attach(|py| to_pyerr(py, err))
    }
}

fn to_pyerr(py: Python<'_>, err: DfshipError) -> PyErr {
    match err {
        DfshipError::Codec(e) => codec_exception(py, &e),
        DfshipError::Python(e) => e,
        DfshipError::Udf(failure) => udf_exception(
            py,
            &failure.to_string(),
            &failure.udf,
            &failure.type_name,
            failure.error.clone_ref(py),
        ),
        DfshipError::Panic(msg) => {
            new_error(py, Exception::Internal, format!("internal error (a Rust panic): {msg}"))
        }
        DfshipError::Invalid(msg) => new_error(py, Exception::Execution, msg),
        DfshipError::InvalidArgument(msg) => PyValueError::new_err(msg),
        err @ DfshipError::TooDeep { depth, limit } => {
            let error = new_error(py, Exception::ExpressionTooDeep, err.to_string());
            let value = error.value(py);
            let _ = value.setattr("depth", depth).and_then(|()| value.setattr("limit", limit));
            error
        }
        DfshipError::Arrow(e) => new_error(py, Exception::Execution, e.to_string()),
        DfshipError::DataFusion(e) => datafusion_exception(py, &e),
    }
}

fn udf_exception(py: Python<'_>, message: &str, udf: &str, type_name: &str, cause: PyErr) -> PyErr {
    let build = || -> PyResult<PyErr> {
        let cls = exception_type(py, Exception::Udf)?;
        let value = cls.call1((message, udf, type_name))?;
        let err = PyErr::from_value(value);
        err.set_cause(py, Some(cause));
        Ok(err)
    };
    build().unwrap_or_else(|e| e)
}

/// The exception for a codec error: its class, message and attributes, with
/// the original Python exception as the cause where there is one.
fn codec_exception(py: Python<'_>, err: &CodecError) -> PyErr {
    if let CodecError::Query(e) = err {
        return datafusion_exception(py, e);
    }
    let message = err.to_string();
    let class = err.kind().exception();
    let cause = match err {
        CodecError::Pickle { error, .. } | CodecError::Unpickle { error, .. } => Some(error.clone_ref(py)),
        _ => None,
    };
    let error = new_error(py, class, message);
    let value = error.value(py);
    // Attributes that let callers react without parsing the message; an
    // attribute that cannot be set only costs that convenience.
    let _ = if let Some((sender, receiver)) = err.python_versions() {
        value.setattr("sender", sender).and_then(|()| value.setattr("receiver", receiver))
    } else {
        match err {
            CodecError::InliningDisabled { udf, family }
            | CodecError::ForeignPayload { udf, family }
            | CodecError::Pickle { udf, family, .. }
            | CodecError::Unpickle { udf, family, .. } => {
                value.setattr("udf", udf).and_then(|()| value.setattr("family", family.name()))
            }
            CodecError::UnknownFunction { name, family } => {
                value.setattr("name", name).and_then(|()| value.setattr("family", family.name()))
            }
            CodecError::TooDeep { depth, limit, .. }
            | CodecError::NestedTooDeep { levels: depth, limit, .. } => {
                value.setattr("depth", *depth).and_then(|()| value.setattr("limit", *limit))
            }
            _ => Ok(()),
        }
    };
    if let Some(cause) = cause {
        error.set_cause(py, Some(cause));
    }
    error
}

fn datafusion_exception(py: Python<'_>, err: &DataFusionError) -> PyErr {
    if let Some(codec) = find_in_chain::<CodecError>(err) {
        return codec_exception(py, codec);
    }
    if let Some(failure) = find_udf_failure(err) {
        return udf_exception(
            py,
            &failure.to_string(),
            &failure.udf,
            &failure.type_name,
            failure.error.clone_ref(py),
        );
    }
    let message = strip_backtrace(&err.to_string());
    if let Some(class) = Exception::find_tag(&message) {
        return new_error(py, class, message);
    }
    let class = match err.find_root() {
        DataFusionError::Plan(_)
        | DataFusionError::SQL(..)
        | DataFusionError::SchemaError(..)
        | DataFusionError::NotImplemented(_)
        | DataFusionError::Configuration(_) => Exception::Plan,
        DataFusionError::ResourcesExhausted(_) => Exception::ResourcesExhausted,
        _ => Exception::Execution,
    };
    new_error(py, class, message)
}

fn strip_backtrace(message: &str) -> String {
    message.split("\n\nbacktrace:").next().unwrap_or(message).trim_end().to_owned()
}
