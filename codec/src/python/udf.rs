//! Python-facing handles on user-defined functions.

use std::sync::Arc;

use arrow_pyarrow::PyArrowType;
use datafusion::arrow::datatypes::DataType;
use datafusion::logical_expr::expr::ScalarFunction;
use datafusion::logical_expr::expr::WindowFunction;
use datafusion::logical_expr::{AggregateUDF, Expr, ScalarUDF, WindowFunctionDefinition, WindowUDF};
use pyo3::exceptions::PyValueError;
use pyo3::prelude::*;

use super::expr::{PyExpr, PySortExpr, exprs};
use super::functions::aggregate_call;
use crate::udf::aggregate::PythonAggregateUDF;
use crate::udf::scalar::PythonScalarUDF;
use crate::udf::window::PythonWindowUDF;
use crate::udf::{UdfSignature, parse_volatility};

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

    #[getter]
    fn name(&self) -> &str {
        self.udf.name()
    }

    #[pyo3(signature = (*args))]
    fn __call__(&self, args: Vec<PyRef<'_, PyExpr>>) -> PyExpr {
        Expr::ScalarFunction(ScalarFunction::new_udf(Arc::clone(&self.udf), exprs(args))).into()
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
    ) -> PyExpr {
        aggregate_call(
            Arc::clone(&self.udaf),
            exprs(args),
            distinct,
            filter.as_deref(),
            order_by,
            ignore_nulls,
        )
        .into()
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

    #[getter]
    fn name(&self) -> &str {
        self.udwf.name()
    }

    #[pyo3(signature = (*args))]
    fn __call__(&self, args: Vec<PyRef<'_, PyExpr>>) -> PyExpr {
        let window =
            WindowFunction::new(WindowFunctionDefinition::WindowUDF(Arc::clone(&self.udwf)), exprs(args));
        Expr::WindowFunction(Box::new(window)).into()
    }
}
