//! DataFusion UDFs whose behaviour is a Python callable.
//!
//! The three families mirror DataFusion's: [`scalar::PythonScalarUDF`] calls a
//! function on whole columns, [`aggregate::PythonAggregateUDF`] builds one
//! Python `Accumulator` per group, [`window::PythonWindowUDF`] builds one
//! Python `WindowEvaluator` per partition. Python sees `pyarrow` arrays and
//! scalars; results are converted back and checked against the declared type.
//!
//! Each type keeps the callable, the declared input and return types and the
//! volatility as plain fields so that the codec can write them out and rebuild
//! an identical UDF on another process.

pub mod aggregate;
pub mod failure;
pub mod ffi;
pub mod scalar;
pub mod window;

use std::hash::{Hash, Hasher};

use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use datafusion::arrow::array::{Array, ArrayData, ArrayRef, make_array};
use datafusion::arrow::datatypes::DataType;
use datafusion::error::{DataFusionError, Result as DfResult};
use datafusion::logical_expr::{Signature, Volatility};
use pyo3::prelude::*;

use crate::convert::pyarrow;
use pyo3::types::{PyList, PyTuple};

/// A Python object compared and hashed by identity, so that UDFs holding one
/// can satisfy DataFusion's `DynEq + DynHash` requirements.
pub struct PyObjectRef(pub Py<PyAny>);

impl PyObjectRef {
    pub fn bind<'py>(&self, py: Python<'py>) -> &Bound<'py, PyAny> {
        self.0.bind(py)
    }
}

impl std::fmt::Debug for PyObjectRef {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "<python object at {:p}>", self.0.as_ptr())
    }
}

impl PartialEq for PyObjectRef {
    fn eq(&self, other: &Self) -> bool {
        self.0.as_ptr() == other.0.as_ptr()
    }
}

impl Eq for PyObjectRef {}

impl Hash for PyObjectRef {
    fn hash<H: Hasher>(&self, state: &mut H) {
        (self.0.as_ptr() as usize).hash(state);
    }
}

/// The declared shape of a Python UDF: what the codec writes and reads.
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct UdfSignature {
    pub input_types: Vec<DataType>,
    pub return_type: DataType,
    pub volatility: Volatility,
}

impl UdfSignature {
    pub fn datafusion_signature(&self) -> Signature {
        if self.input_types.is_empty() {
            Signature::nullary(self.volatility)
        } else {
            Signature::exact(self.input_types.clone(), self.volatility)
        }
    }
}

/// Parses `"immutable" | "stable" | "volatile"` (any case).
pub fn parse_volatility(text: &str) -> Option<Volatility> {
    match text.to_ascii_lowercase().as_str() {
        "immutable" => Some(Volatility::Immutable),
        "stable" => Some(Volatility::Stable),
        "volatile" => Some(Volatility::Volatile),
        _ => None,
    }
}

pub fn volatility_name(volatility: Volatility) -> &'static str {
    match volatility {
        Volatility::Immutable => "immutable",
        Volatility::Stable => "stable",
        Volatility::Volatile => "volatile",
    }
}

/// Arrow arrays to a Python list of `pyarrow.Array`.
pub(crate) fn arrays_to_py<'py>(py: Python<'py>, arrays: &[ArrayRef]) -> PyResult<Bound<'py, PyList>> {
    let items = arrays.iter().map(|a| a.to_data().to_pyarrow(py)).collect::<PyResult<Vec<_>>>()?;
    PyList::new(py, items)
}

/// Arrow arrays as a Python tuple, for `f(*arrays)` calls.
pub(crate) fn arrays_to_py_tuple<'py>(py: Python<'py>, arrays: &[ArrayRef]) -> PyResult<Bound<'py, PyTuple>> {
    Ok(arrays_to_py(py, arrays)?.to_tuple())
}

/// A value returned by Python as an Arrow array of `expected` type. Accepts
/// anything exporting the Arrow C data interface, or a plain sequence, which
/// `pyarrow.array` converts with the declared type.
pub(crate) fn array_from_py(value: &Bound<'_, PyAny>, expected: &DataType) -> PyResult<ArrayRef> {
    let py = value.py();
    let data = if value.hasattr("__arrow_c_array__")? || value.hasattr("_export_to_c")? {
        let value = if value.hasattr("combine_chunks")? {
            value.call_method0("combine_chunks")?
        } else {
            value.clone()
        };
        ArrayData::from_pyarrow_bound(&value)?
    } else {
        let typ = expected.to_pyarrow(py)?;
        let array = pyarrow(py)?.call_method1("array", (value, typ))?;
        ArrayData::from_pyarrow_bound(&array)?
    };
    Ok(make_array(data))
}

/// Checks a UDF result against its declared type and the expected length.
pub(crate) fn check_result(
    udf: &str,
    array: ArrayRef,
    expected: &DataType,
    rows: Option<usize>,
) -> DfResult<ArrayRef> {
    if array.data_type() != expected {
        return Err(DataFusionError::Execution(format!(
            "Python UDF '{udf}' returned an array of type {}, but it was declared to return {expected}",
            array.data_type()
        )));
    }
    if let Some(rows) = rows
        && array.len() != rows
    {
        return Err(DataFusionError::Execution(format!(
            "Python UDF '{udf}' returned {} values for {rows} input rows",
            array.len()
        )));
    }
    Ok(array)
}

#[cfg(test)]
mod layer_tests {
    /// The UDF layer sits below the codec: it must not reach the codec, the
    /// crate-wide error (which holds codec errors) or the runtime. (The
    /// bindings are another crate above this one: Cargo keeps them out.)
    #[test]
    fn udf_layer_depends_on_nothing_above_it() {
        let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("src/udf");
        for entry in std::fs::read_dir(dir).expect("udf sources") {
            let path = entry.expect("entry").path();
            let text = std::fs::read_to_string(&path).expect("source");
            for above in ["codec", "error", "runtime"].map(|layer| format!("crate::{layer}")) {
                assert!(!text.contains(&above), "{} uses {above}", path.display());
            }
        }
    }
}
