//! Three UDFs implemented in Rust and exported through DataFusion's FFI
//! (`__datafusion_scalar_udf__`, `__datafusion_aggregate_udf__`,
//! `__datafusion_window_udf__`): `ffi_is_even(int64) -> bool`,
//! `ffi_count_even(int64) -> int64` and `ffi_row_index() -> uint64`.

use std::sync::Arc;

use datafusion::arrow::array::{ArrayRef, AsArray, BooleanArray, UInt64Array};
use datafusion::arrow::datatypes::{DataType, Field, FieldRef, Int64Type};
use datafusion::common::{ScalarValue, exec_err};
use datafusion::error::Result;
use datafusion::logical_expr::function::{AccumulatorArgs, PartitionEvaluatorArgs, WindowUDFFieldArgs};
use datafusion::logical_expr::{
    Accumulator, AggregateUDF, AggregateUDFImpl, ColumnarValue, PartitionEvaluator, ScalarFunctionArgs,
    ScalarUDF, ScalarUDFImpl, Signature, Volatility, WindowUDF, WindowUDFImpl,
};
use datafusion_ffi::udaf::FFI_AggregateUDF;
use datafusion_ffi::udf::FFI_ScalarUDF;
use datafusion_ffi::udwf::FFI_WindowUDF;
use pyo3::prelude::*;
use pyo3::types::PyCapsule;

#[derive(Debug, PartialEq, Eq, Hash)]
struct IsEvenImpl {
    signature: Signature,
}

impl ScalarUDFImpl for IsEvenImpl {
    fn name(&self) -> &'static str {
        "ffi_is_even"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Boolean)
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        let [arg] = args.args.as_slice() else { return exec_err!("ffi_is_even takes one argument") };
        let values = arg.to_array(args.number_rows)?;
        let values = values.as_primitive::<Int64Type>();
        let out: BooleanArray = values.iter().map(|v| v.map(|v| v % 2 == 0)).collect();
        Ok(ColumnarValue::Array(Arc::new(out)))
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct CountEvenImpl {
    signature: Signature,
}

#[derive(Debug, Default)]
struct CountEvenAccumulator {
    count: i64,
}

impl Accumulator for CountEvenAccumulator {
    fn update_batch(&mut self, values: &[ArrayRef]) -> Result<()> {
        let values = values[0].as_primitive::<Int64Type>();
        self.count += values.iter().flatten().filter(|v| v % 2 == 0).map(|_| 1).sum::<i64>();
        Ok(())
    }

    fn merge_batch(&mut self, states: &[ArrayRef]) -> Result<()> {
        self.count += states[0].as_primitive::<Int64Type>().iter().flatten().sum::<i64>();
        Ok(())
    }

    fn state(&mut self) -> Result<Vec<ScalarValue>> {
        Ok(vec![ScalarValue::Int64(Some(self.count))])
    }

    fn evaluate(&mut self) -> Result<ScalarValue> {
        Ok(ScalarValue::Int64(Some(self.count)))
    }

    fn size(&self) -> usize {
        size_of_val(self)
    }
}

impl AggregateUDFImpl for CountEvenImpl {
    fn name(&self) -> &'static str {
        "ffi_count_even"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> Result<DataType> {
        Ok(DataType::Int64)
    }

    fn accumulator(&self, _args: AccumulatorArgs) -> Result<Box<dyn Accumulator>> {
        Ok(Box::new(CountEvenAccumulator::default()))
    }

    fn state_fields(
        &self,
        args: datafusion::logical_expr::function::StateFieldsArgs,
    ) -> Result<Vec<FieldRef>> {
        Ok(vec![Field::new(format!("{}[count]", args.name), DataType::Int64, true).into()])
    }
}

#[derive(Debug, PartialEq, Eq, Hash)]
struct RowIndexImpl {
    signature: Signature,
}

#[derive(Debug)]
struct RowIndexEvaluator;

impl PartitionEvaluator for RowIndexEvaluator {
    fn evaluate_all(&mut self, _values: &[ArrayRef], num_rows: usize) -> Result<ArrayRef> {
        Ok(Arc::new((0..num_rows as u64).collect::<UInt64Array>()))
    }
}

impl WindowUDFImpl for RowIndexImpl {
    fn name(&self) -> &'static str {
        "ffi_row_index"
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn partition_evaluator(&self, _args: PartitionEvaluatorArgs) -> Result<Box<dyn PartitionEvaluator>> {
        Ok(Box::new(RowIndexEvaluator))
    }

    fn field(&self, field_args: WindowUDFFieldArgs) -> Result<FieldRef> {
        Ok(Field::new(field_args.name(), DataType::UInt64, false).into())
    }
}

/// `ffi_is_even(int64) -> bool`.
#[pyclass(frozen)]
struct IsEven;

#[pymethods]
#[allow(clippy::unused_self)] // the protocol is a method
impl IsEven {
    #[new]
    fn new() -> Self {
        Self
    }

    fn __datafusion_scalar_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let udf = ScalarUDF::new_from_impl(IsEvenImpl {
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        });
        PyCapsule::new_with_value(py, FFI_ScalarUDF::from(Arc::new(udf)), c"datafusion_scalar_udf")
    }
}

/// `ffi_count_even(int64) -> int64`: how many values are even.
#[pyclass(frozen)]
struct CountEven;

#[pymethods]
#[allow(clippy::unused_self)] // the protocol is a method
impl CountEven {
    #[new]
    fn new() -> Self {
        Self
    }

    fn __datafusion_aggregate_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let udaf = AggregateUDF::new_from_impl(CountEvenImpl {
            signature: Signature::exact(vec![DataType::Int64], Volatility::Immutable),
        });
        PyCapsule::new_with_value(py, FFI_AggregateUDF::from(Arc::new(udaf)), c"datafusion_aggregate_udf")
    }
}

/// `ffi_row_index() -> uint64`: 0, 1, 2, ... within each partition.
#[pyclass(frozen)]
struct RowIndex;

#[pymethods]
#[allow(clippy::unused_self)] // the protocol is a method
impl RowIndex {
    #[new]
    fn new() -> Self {
        Self
    }

    fn __datafusion_window_udf__<'py>(&self, py: Python<'py>) -> PyResult<Bound<'py, PyCapsule>> {
        let udwf =
            WindowUDF::new_from_impl(RowIndexImpl { signature: Signature::nullary(Volatility::Immutable) });
        PyCapsule::new_with_value(py, FFI_WindowUDF::from(Arc::new(udwf)), c"datafusion_window_udf")
    }
}

#[pymodule]
#[pyo3(name = "_native")]
fn native(m: &Bound<'_, PyModule>) -> PyResult<()> {
    m.add_class::<IsEven>()?;
    m.add_class::<CountEven>()?;
    m.add_class::<RowIndex>()?;
    Ok(())
}
