//! Scalar UDFs backed by a Python function over `pyarrow` arrays.

use datafusion::arrow::datatypes::DataType;
use datafusion::error::Result as DfResult;
use datafusion::logical_expr::{
    ColumnarValue, ScalarFunctionArgs, ScalarUDF, ScalarUDFImpl, Signature, Volatility,
};
use pyo3::prelude::*;

use super::failure::udf_error;
use super::{PyObjectRef, UdfSignature, array_from_py, arrays_to_py_tuple, check_result};

/// A scalar UDF that calls `func(*arrays) -> array` once per batch.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct PythonScalarUDF {
    name: String,
    func: PyObjectRef,
    shape: UdfSignature,
    signature: Signature,
}

impl PythonScalarUDF {
    pub fn new(name: impl Into<String>, func: Py<PyAny>, shape: UdfSignature) -> Self {
        let signature = shape.datafusion_signature();
        Self { name: name.into(), func: PyObjectRef(func), shape, signature }
    }

    /// The Python callable.
    pub fn func(&self) -> &Py<PyAny> {
        &self.func.0
    }

    /// Declared input types, return type and volatility.
    pub fn shape(&self) -> &UdfSignature {
        &self.shape
    }

    pub fn volatility(&self) -> Volatility {
        self.shape.volatility
    }

    pub fn into_udf(self) -> ScalarUDF {
        ScalarUDF::new_from_impl(self)
    }
}

impl ScalarUDFImpl for PythonScalarUDF {
    fn name(&self) -> &str {
        &self.name
    }

    fn signature(&self) -> &Signature {
        &self.signature
    }

    fn return_type(&self, _arg_types: &[DataType]) -> DfResult<DataType> {
        Ok(self.shape.return_type.clone())
    }

    fn invoke_with_args(&self, args: ScalarFunctionArgs) -> DfResult<ColumnarValue> {
        let rows = args.number_rows;
        let arrays = args.args.into_iter().map(|arg| arg.into_array(rows)).collect::<DfResult<Vec<_>>>()?;
        let result = Python::attach(|py| {
            let call = || -> PyResult<_> {
                let py_args = arrays_to_py_tuple(py, &arrays)?;
                let out = self.func.bind(py).call1(py_args)?;
                array_from_py(&out, &self.shape.return_type)
            };
            call().map_err(|e| udf_error(py, &self.name, e))
        })?;
        check_result(&self.name, result, &self.shape.return_type, Some(rows)).map(ColumnarValue::Array)
    }
}
