//! Window UDFs backed by a Python `WindowEvaluator` class.

use std::ops::Range;

use datafusion::arrow::array::ArrayRef;
use datafusion::arrow::datatypes::{DataType, Field, FieldRef};
use datafusion::common::ScalarValue;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::function::{PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::window_state::WindowAggState;
use datafusion::logical_expr::{PartitionEvaluator, Signature, WindowUDF, WindowUDFImpl};
use pyo3::prelude::*;
use pyo3::types::PyList;

use super::failure::udf_error;
use super::{PyObjectRef, UdfSignature, array_from_py, arrays_to_py, check_result};
use crate::convert::scalar_from_python;

/// A window UDF: `factory()` makes one Python evaluator per partition.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonWindowUDF {
    name: String,
    factory: PyObjectRef,
    shape: UdfSignature,
    signature: Signature,
}

impl PythonWindowUDF {
    pub fn new(name: impl Into<String>, factory: Py<PyAny>, shape: UdfSignature) -> Self {
        let signature = shape.datafusion_signature();
        Self { name: name.into(), factory: PyObjectRef(factory), shape, signature }
    }

    /// The evaluator factory (usually the `WindowEvaluator` subclass).
    pub fn factory(&self) -> &Py<PyAny> {
        &self.factory.0
    }

    pub fn shape(&self) -> &UdfSignature {
        &self.shape
    }

    pub fn into_udwf(self) -> WindowUDF {
        WindowUDF::new_from_impl(self)
    }
}

impl WindowUDFImpl for PythonWindowUDF {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(&self, _args: PartitionEvaluatorArgs) -> DfResult<Box<dyn PartitionEvaluator>> {
        Python::attach(|py| {
            let make = || -> PyResult<PythonPartitionEvaluator> {
                let instance = self.factory.bind(py).call0()?;
                let flag = |name: &str| -> PyResult<bool> { instance.call_method0(name)?.extract() };
                Ok(PythonPartitionEvaluator {
                    udf: self.name.clone(),
                    return_type: self.shape.return_type.clone(),
                    bounded: flag("supports_bounded_execution")?,
                    uses_window_frame: flag("uses_window_frame")?,
                    include_rank: flag("include_rank")?,
                    causal: flag("is_causal")?,
                    instance: instance.unbind(),
                })
            };
            make()
                .map(|e| Box::new(e) as Box<dyn PartitionEvaluator>)
                .map_err(|e| udf_error(py, &self.name, e))
        })
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> DfResult<FieldRef> {
        Ok(Field::new(field_args.name(), self.shape.return_type.clone(), true).into())
    }
}

/// One partition's Python evaluator. The capability flags are read once.
#[derive(Debug)]
struct PythonPartitionEvaluator {
    udf: String,
    instance: Py<PyAny>,
    return_type: DataType,
    bounded: bool,
    uses_window_frame: bool,
    include_rank: bool,
    causal: bool,
}

impl PythonPartitionEvaluator {
    fn call<T>(&self, f: impl FnOnce(Python<'_>, &Bound<'_, PyAny>) -> PyResult<T>) -> DfResult<T> {
        Python::attach(|py| f(py, self.instance.bind(py)).map_err(|e| udf_error(py, &self.udf, e)))
    }
}

impl PartitionEvaluator for PythonPartitionEvaluator {
    fn memoize(&mut self, _state: &mut WindowAggState) -> DfResult<()> {
        self.call(|_py, ev| ev.call_method0("memoize").map(drop))
    }

    fn get_range(&self, idx: usize, n_rows: usize) -> DfResult<Range<usize>> {
        let (start, end): (usize, usize) =
            self.call(|_py, ev| ev.call_method1("get_range", (idx, n_rows))?.extract())?;
        Ok(start..end)
    }

    fn is_causal(&self) -> bool {
        self.causal
    }

    fn evaluate_all(&mut self, values: &[ArrayRef], num_rows: usize) -> DfResult<ArrayRef> {
        let out = self.call(|py, ev| {
            let out = ev.call_method1("evaluate_all", (arrays_to_py(py, values)?, num_rows))?;
            array_from_py(&out, &self.return_type)
        })?;
        check_result(&self.udf, out, &self.return_type, Some(num_rows))
    }

    fn evaluate(&mut self, values: &[ArrayRef], range: &Range<usize>) -> DfResult<ScalarValue> {
        self.call(|py, ev| {
            let out = ev.call_method1("evaluate", (arrays_to_py(py, values)?, (range.start, range.end)))?;
            scalar_from_python(&out, Some(&self.return_type))
        })
    }

    fn evaluate_all_with_rank(
        &self,
        num_rows: usize,
        ranks_in_partition: &[Range<usize>],
    ) -> DfResult<ArrayRef> {
        let out = self.call(|py, ev| {
            let ranks = PyList::new(py, ranks_in_partition.iter().map(|r| (r.start, r.end)))?;
            let out = ev.call_method1("evaluate_all_with_rank", (num_rows, ranks))?;
            array_from_py(&out, &self.return_type)
        })?;
        check_result(&self.udf, out, &self.return_type, Some(num_rows))
    }

    fn supports_bounded_execution(&self) -> bool {
        self.bounded
    }

    fn uses_window_frame(&self) -> bool {
        self.uses_window_frame
    }

    fn include_rank(&self) -> bool {
        self.include_rank
    }
}
