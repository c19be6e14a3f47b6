//! Python values as DataFusion scalars, for every layer that needs them: the
//! UDFs (what an accumulator or a window evaluator returns) and the bindings
//! (literals).

use arrow_pyarrow::{FromPyArrow, ToPyArrow};
use datafusion::arrow::array::{ArrayData, make_array};
use datafusion::arrow::datatypes::DataType;
use datafusion::common::ScalarValue;
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;
use pyo3::sync::PyOnceLock;
use pyo3::types::{PyBool, PyBytes, PyFloat, PyInt, PyString};

/// The `pyarrow` module, imported once.
pub fn pyarrow(py: Python<'_>) -> PyResult<&Bound<'_, PyAny>> {
    static PYARROW: PyOnceLock<Py<PyAny>> = PyOnceLock::new();
    PYARROW.get_or_try_init(py, || py.import("pyarrow").map(|m| m.into_any().unbind())).map(|m| m.bind(py))
}

/// A plain `bool`, `int` (within i64), `float`, `str`, `bytes` or `None`
/// as the scalar DataFusion would give its literal; `None` for anything else.
fn plain_scalar(value: &Bound<'_, PyAny>) -> PyResult<Option<ScalarValue>> {
    Ok(Some(if value.is_none() {
        ScalarValue::Null
    } else if let Ok(b) = value.cast::<PyBool>() {
        ScalarValue::Boolean(Some(b.is_true()))
    } else if let Some(i) = value.is_instance_of::<PyInt>().then(|| value.extract::<i64>().ok()).flatten() {
        ScalarValue::Int64(Some(i))
    } else if let Ok(f) = value.cast::<PyFloat>() {
        ScalarValue::Float64(Some(f.value()))
    } else if let Ok(s) = value.cast::<PyString>() {
        ScalarValue::Utf8(Some(s.to_str()?.to_owned()))
    } else if let Ok(b) = value.cast::<PyBytes>() {
        ScalarValue::Binary(Some(b.as_bytes().to_vec()))
    } else {
        return Ok(None);
    }))
}

/// A Python value (a `pyarrow.Scalar` or anything `pyarrow` can convert) as
/// a [`ScalarValue`]: of type `expected` when given, else of the type a
/// literal gets (plain values directly, anything else through
/// `pyarrow.scalar`, which knows dates, decimals, lists and more).
pub fn scalar_from_python(value: &Bound<'_, PyAny>, expected: Option<&DataType>) -> PyResult<ScalarValue> {
    if expected.is_none()
        && let Some(plain) = plain_scalar(value)?
    {
        return Ok(plain);
    }
    let py = value.py();
    let pa = pyarrow(py)?;
    let is_scalar = value.is_instance(&pa.getattr("Scalar")?)?;
    let array = if let Some(t) = expected {
        let plain = if is_scalar { value.call_method0("as_py")? } else { value.clone() };
        pa.call_method1("array", (vec![plain], t.to_pyarrow(py)?))?
    } else {
        let scalar = if is_scalar { value.clone() } else { pa.call_method1("scalar", (value,))? };
        pa.call_method1("array", (vec![scalar.call_method0("as_py")?], scalar.getattr("type")?))?
    };
    let array = make_array(ArrayData::from_pyarrow_bound(&array)?);
    ScalarValue::try_from_array(&array, 0).map_err(|e| PyValueError::new_err(e.to_string()))
}
