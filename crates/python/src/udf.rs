//! Python-facing handles on user-defined functions.

use std::sync::Arc;

use arrow_pyarrow::PyArrowType;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{AggregateUDF, Expr, ScalarUDF, WindowFunctionDefinition, WindowUDF};
use std::ffi::CStr;

use datafusion::logical_expr::{AggregateUDFImpl, ScalarUDFImpl, WindowUDFImpl};
use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use datafusion_ffi::udwf::FFI_WindowUDF;
use pyo3::exceptions::{PyTypeError, PyValueError};
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

use super::expr::{PyExpr, PySortExpr, exprs};
use super::functions::aggregate_call;
use dfship_core::udf::aggregate::PythonAggregateUDF;
use dfship_core::udf::scalar::PythonScalarUDF;
use dfship_core::udf::window::PythonWindowUDF;
use dfship_core::udf::{UdfSignature, parse_volatility};

/// The FFI struct behind `obj`: a DataFusion FFI capsule, or an object whose
/// `method()` returns one (the `__datafusion_*_udf__` protocol).
///
/// # Safety
/// The capsule's name vouches for its contents: a capsule named `name` holds
/// a `T` written by datafusion-ffi 55, alive as long as the capsule is.
unsafe fn ffi_struct<T: Clone>(obj: &Bound<'_, PyAny>, method: &str, name: &CStr) -> PyResult<T> {
    let capsule = if obj.hasattr(method)? { obj.call_method0(method)? } else { obj.clone() };
    let capsule = capsule.cast_into::<PyCapsule>().map_err(|_| {
        PyTypeError::new_err(format!("expected an object with {method}() or a PyCapsule named {name:?}"))
    })?;
    if !capsule.is_valid_checked(Some(name)) {
        return Err(PyValueError::new_err(format!(
            "expected a PyCapsule named {:?} from {method}(), got a capsule of another kind",
            name.to_string_lossy()
        )));
    }
    let ptr = capsule.pointer_checked(Some(name))?;
    // SAFETY: see the function's contract; the value is cloned out while the
    // capsule is alive.
    Ok(unsafe { ptr.cast::<T>().as_ref() }.clone())
}

fn shape(
    input_types: Vec<PyArrowType<DataType>>,
    return_type: PyArrowType<DataType>,
    volatility: &str,
) -> PyResult<UdfSignature> {
    let volatility = parse_volatility(volatility).ok_or_else(|| {
        PyValueError::new_err(format!(
            "volatility must be 'immutable', 'stable' or 'volatile', not {volatility:?}"
        ))
    })?;
    Ok(UdfSignature {
        input_types: input_types.into_iter().map(|t| t.0).collect(),
        return_type: return_type.0,
        volatility,
    })
}

#[pyclass(name = "ScalarUDF", module = "dfship._internal", frozen)]
pub struct PyScalarUDF {
    pub udf: Arc<ScalarUDF>,
}

#[pymethods]
impl PyScalarUDF {
    #[new]
    fn new(
        name: &str,
        func: Py<PyAny>,
        input_types: Vec<PyArrowType<DataType>>,
        return_type: PyArrowType<DataType>,
        volatility: &str,
    ) -> PyResult<Self> {
        let udf = PythonScalarUDF::new(name, func, shape(input_types, return_type, volatility)?);
        Ok(Self { udf: Arc::new(udf.into_udf()) })
    }

    /// A UDF exported by another library through DataFusion's FFI: an object
    /// with `__datafusion_scalar_udf__()`, or the capsule it returns. Such a
    /// UDF always travels by name.
    #[staticmethod]
    fn from_ffi(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        // SAFETY: the capsule name is checked against datafusion-ffi's.
        let ffi: FFI_ScalarUDF =
            unsafe { ffi_struct(obj, "__datafusion_scalar_udf__", c"datafusion_scalar_udf")? };
        let inner: Arc<dyn ScalarUDFImpl> = (&ffi).into();
        let udf = ScalarUDF::new_from_impl(dfship_core::udf::ffi::BaseOptionsOnly::new(inner));
        Ok(Self { udf: Arc::new(udf) })
    }

    #[getter]
    fn name(&self) -> &str {
        self.udf.name()
    }

    #[pyo3(signature = (*args))]
    fn __call__(&self, args: Vec<PyRef<'_, PyExpr>>) -> PyResult<PyExpr> {
        PyExpr::new(Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&self.udf), exprs(&args))))
    }
}

#[pyclass(name = "AggregateUDF", module = "dfship._internal", frozen)]
pub struct PyAggregateUDF {
    pub udaf: Arc<AggregateUDF>,
}

#[pymethods]
impl PyAggregateUDF {
    #[new]
    fn new(
        name: &str,
        accumulator: Py<PyAny>,
        input_types: Vec<PyArrowType<DataType>>,
        return_type: PyArrowType<DataType>,
        state_types: Vec<PyArrowType<DataType>>,
        volatility: &str,
    ) -> PyResult<Self> {
        let udaf = PythonAggregateUDF::new(
            name,
            accumulator,
            shape(input_types, return_type, volatility)?,
            state_types.into_iter().map(|t| t.0).collect(),
        );
        Ok(Self { udaf: Arc::new(udaf.into_udaf()) })
    }

    /// An aggregate UDF exported through DataFusion's FFI (see `ScalarUDF.from_ffi`).
    #[staticmethod]
    fn from_ffi(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        // SAFETY: the capsule name is checked against datafusion-ffi's.
        let ffi: FFI_AggregateUDF =
            unsafe { ffi_struct(obj, "__datafusion_aggregate_udf__", c"datafusion_aggregate_udf")? };
        let inner: Arc<dyn AggregateUDFImpl> = (&ffi).into();
        Ok(Self { udaf: Arc::new(AggregateUDF::new_from_shared_impl(inner)) })
    }

    #[getter]
    fn name(&self) -> &str {
        self.udaf.name()
    }

    #[pyo3(signature = (args, distinct=false, filter=None, order_by=vec![], ignore_nulls=None))]
    fn call(
        &self,
        args: Vec<PyRef<'_, PyExpr>>,
        distinct: bool,
        filter: Option<PyRef<'_, PyExpr>>,
        order_by: Vec<PyRef<'_, PySortExpr>>,
        ignore_nulls: Option<bool>,
    ) -> PyResult<PyExpr> {
        PyExpr::new(aggregate_call(
            Arc::clone(&self.udaf),
            exprs(&args),
            distinct,
            filter.as_deref(),
            order_by,
            ignore_nulls,
        ))
    }
}

#[pyclass(name = "WindowUDF", module = "dfship._internal", frozen)]
pub struct PyWindowUDF {
    pub udwf: Arc<WindowUDF>,
}

#[pymethods]
impl PyWindowUDF {
    #[new]
    fn new(
        name: &str,
        evaluator: Py<PyAny>,
        input_types: Vec<PyArrowType<DataType>>,
        return_type: PyArrowType<DataType>,
        volatility: &str,
    ) -> PyResult<Self> {
        let udwf = PythonWindowUDF::new(name, evaluator, shape(input_types, return_type, volatility)?);
        Ok(Self { udwf: Arc::new(udwf.into_udwf()) })
    }

    /// A window UDF exported through DataFusion's FFI (see `ScalarUDF.from_ffi`).
    #[staticmethod]
    fn from_ffi(obj: &Bound<'_, PyAny>) -> PyResult<Self> {
        // SAFETY: the capsule name is checked against datafusion-ffi's.
        let ffi: FFI_WindowUDF =
            unsafe { ffi_struct(obj, "__datafusion_window_udf__", c"datafusion_window_udf")? };
        let inner: Arc<dyn WindowUDFImpl> = (&ffi).into();
        Ok(Self { udwf: Arc::new(WindowUDF::new_from_shared_impl(inner)) })
    }

    #[getter]
    fn name(&self) -> &str {
        self.udwf.name()
    }

    #[pyo3(signature = (*args))]
    fn __call__(&self, args: Vec<PyRef<'_, PyExpr>>) -> PyResult<PyExpr> {
        let window =
            WindowFunction::new(WindowFunctionDefinition::WindowUDF(Arc::clone(&self.udwf)), exprs(&args));
        PyExpr::new(Expr::WindowFunction(Box::new(window)))
    }
}
