//! Scalar UDFs from another library, through DataFusion's FFI.
//!
//! datafusion-ffi 55 hands a foreign scalar UDF the session's options as
//! key-value pairs and rebuilds them on the other side, where a key of a
//! config extension it does not know (such as datafusion-distributed's
//! `distributed.*` options, present in every distributed task) fails the
//! call. [`BaseOptionsOnly`] passes the base options alone; a foreign UDF
//! cannot read this process's extensions in any case.

use std::sync::Arc;

use datafusion::arrow::datatypes::{DataType, FieldRef};
use datafusion::common::config::Extensions;
use datafusion::error::Result;
use datafusion::logical_expr::simplify::{ExprSimplifyResult, SimplifyContext};
use datafusion::logical_expr::sort_properties::{ExprProperties, SortProperties};
use datafusion::logical_expr::udf_eq::UdfEq;
use datafusion::logical_expr::{
    ColumnarValue, Documentation, Expr, ReturnFieldArgs, ScalarFunctionArgs, ScalarUDFImpl, Signature,
};

/// A scalar UDF called with the session's base options only.
#[derive(Debug, PartialEq, Eq, Hash)]
pub struct BaseOptionsOnly {
    inner: UdfEq<Arc<dyn ScalarUDFImpl>>,
}

impl BaseOptionsOnly {
    pub fn new(inner: Arc<dyn ScalarUDFImpl>) -> Self {
        Self { inner: inner.into() }
    }
}

impl ScalarUDFImpl for BaseOptionsOnly {
    fn name(&self) -> &str {
        self.inner.name()
    }

    fn aliases(&self) -> &[String] {
        self.inner.aliases()
    }

    fn schema_name(&self, args: &[Expr]) -> Result<String> {
        self.inner.schema_name(args)
    }

    fn signature(&self) -> &Signature {
        self.inner.signature()
    }

    fn return_type(&self, arg_types: &[DataType]) -> Result<DataType> {
        self.inner.return_type(arg_types)
    }

    fn return_field_from_args(&self, args: ReturnFieldArgs) -> Result<FieldRef> {
        self.inner.return_field_from_args(args)
    }

    fn is_strict(&self) -> bool {
        self.inner.is_strict()
    }

    fn invoke_with_args(&self, mut args: ScalarFunctionArgs) -> Result<ColumnarValue> {
        if args.config_options.extensions.iter().next().is_some() {
            let mut base = args.config_options.as_ref().clone();
            base.extensions = Extensions::new();
            args.config_options = Arc::new(base);
        }
        self.inner.invoke_with_args(args)
    }

    fn simplify(&self, args: Vec<Expr>, info: &SimplifyContext) -> Result<ExprSimplifyResult> {
        self.inner.simplify(args, info)
    }

    fn short_circuits(&self) -> bool {
        self.inner.short_circuits()
    }

    fn output_ordering(&self, inputs: &[ExprProperties]) -> Result<SortProperties> {
        self.inner.output_ordering(inputs)
    }

    fn coerce_types(&self, arg_types: &[DataType]) -> Result<Vec<DataType>> {
        self.inner.coerce_types(arg_types)
    }

    fn documentation(&self) -> Option<&Documentation> {
        self.inner.documentation()
    }
}
