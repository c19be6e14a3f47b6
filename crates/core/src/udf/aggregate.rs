//! Aggregate UDFs backed by a Python `Accumulator` class.

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::function::{AccumulatorArgs, StateFieldsArgs};
use datafusion::logical_expr::{Accumulator, AggregateUDF, AggregateUDFImpl, Signature};
use pyo3::prelude::*;
use pyo3::types::PyTuple;

use super::failure::udf_error;
use super::{PyObjectRef, UdfSignature, arrays_to_py, arrays_to_py_tuple};
use crate::convert::scalar_from_python;

/// An aggregate UDF: `factory()` makes one Python accumulator per group, which
/// receives `update(*arrays)`, `merge(list_of_state_arrays)`, `state()` and
/// `evaluate()` calls.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonAggregateUDF {
    name: String,
    factory: PyObjectRef,
    shape: UdfSignature,
    state_types: Vec<DataType>,
    signature: Signature,
}

impl PythonAggregateUDF {
    pub fn new(
        name: impl Into<String>,
        factory: Py<PyAny>,
        shape: UdfSignature,
        state_types: Vec<DataType>,
    ) -> Self {
        let signature = shape.datafusion_signature();
        Self { name: name.into(), factory: PyObjectRef(factory), shape, state_types, signature }
    }

    /// The accumulator factory (usually the `Accumulator` subclass).
    pub fn factory(&self) -> &Py<PyAny> {
        &self.factory.0
    }

    pub fn shape(&self) -> &UdfSignature {
        &self.shape
    }

    pub fn state_types(&self) -> &[DataType] {
        &self.state_types
    }

    pub fn into_udaf(self) -> AggregateUDF {
        AggregateUDF::new_from_impl(self)
    }
}

impl AggregateUDFImpl for PythonAggregateUDF {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.shape.return_type.clone())
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> DfResult<Box<dyn Accumulator>> {
        let instance = Python::attach(|py| {
            self.factory.bind(py).call0().map(Bound::unbind).map_err(|e| udf_error(py, &self.name, e))
        })?;
        Ok(Box::new(PythonAccumulator {
            udf: self.name.clone(),
            instance,
            state_types: self.state_types.clone(),
            return_type: self.shape.return_type.clone(),
        }))
    }

    fn state_fields(&self, args: StateFieldsArgs) -> DfResult<Vec<FieldRef>> {
        Ok(self
            .state_types
            .iter()
            .enumerate()
            .map(|(i, t)| Field::new(format!("{}[state_{i}]", args.name), t.clone(), true).into())
            .collect())
    }
}

/// One group's Python accumulator.
#[derive(Debug)]
struct PythonAccumulator {
    udf: String,
    instance: Py<PyAny>,
    state_types: Vec<DataType>,
    return_type: DataType,
}

impl PythonAccumulator {
    fn call<T>(&self, f: impl FnOnce(Python<'_>, &Bound<'_, PyAny>) -> PyResult<T>) -> DfResult<T> {
        Python::attach(|py| f(py, self.instance.bind(py)).map_err(|e| udf_error(py, &self.udf, e)))
    }
}

impl Accumulator for PythonAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> DfResult<()> {
        self.call(|py, acc| {
            acc.call_method1("update", arrays_to_py_tuple(py, values)?)?;
            Ok(())
        })
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> DfResult<()> {
        self.call(|py, acc| {
            acc.call_method1("merge", PyTuple::new(py, [arrays_to_py(py, states)?])?)?;
            Ok(())
        })
    }

    fn state(&mut self) -> DfResult<Vec<ScalarValue>> {
        let values = self.call(|_py, acc| {
            let state = acc.call_method0("state")?;
            state.try_iter()?.collect::<PyResult<Vec<_>>>().and_then(|items| {
                if items.len() != self.state_types.len() {
                    return Err(pyo3::exceptions::PyValueError::new_err(format!(
                        "state() returned {} values, but the UDF declares {} state types",
                        items.len(),
                        self.state_types.len()
                    )));
                }
                items
                    .iter()
                    .zip(&self.state_types)
                    .map(|(item, t)| scalar_from_python(item, Some(t)))
                    .collect()
            })
        })?;
        Ok(values)
    }

    fn evaluate(&mut self) -> DfResult<ScalarValue> {
        self.call(|_py, acc| scalar_from_python(&acc.call_method0("evaluate")?, Some(&self.return_type)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}
