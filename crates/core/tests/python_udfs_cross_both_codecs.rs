//! The codecs from Rust, as another pyo3 host would use them: a Python UDF
//! crosses the logical and the physical codec inline and still computes the
//! same result; a strict codec refuses it without loading it.

use std::sync::Arc;

use datafusion::arrow::array::{Array, Int64Array};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use datafusion::arrow::record_batch::RecordBatch;
use datafusion::common::DFSchema;
use datafusion::execution::context::SessionContext;
use datafusion::logical_expr::physical_planning_context::PhysicalPlanningContext;
use datafusion::logical_expr::{ColumnarValue, Expr, Volatility, col, lit};
use datafusion::physical_expr::create_physical_expr;
use datafusion::physical_expr::execution_props::ExecutionProps;
use datafusion_proto::logical_plan::from_proto::parse_expr;
use datafusion_proto::logical_plan::to_proto::serialize_expr;
use datafusion_proto::physical_plan::from_proto::parse_physical_expr;
use datafusion_proto::physical_plan::to_proto::serialize_physical_expr;
use datafusion_proto::protobuf::FromProtoError;
use dfship_core::codec::{CodecError, PythonLogicalCodec, PythonPhysicalCodec};
use dfship_core::error::find_in_chain;
use dfship_core::udf::UdfSignature;
use dfship_core::udf::scalar::PythonScalarUDF;
use pyo3::prelude::*;

/// `a * 3 + 1` as a Python UDF (pyarrow.compute), with its closure's `3`.
fn python_udf() -> Expr {
    Python::initialize();
    let func = Python::attach(|py| -> PyResult<Py<PyAny>> {
        // The embedded interpreter does not know the project's virtualenv.
        if let Ok(venv) = std::env::var("VIRTUAL_ENV") {
            let site = py.import("site")?;
            let version = py.version_info();
            site.call_method1(
                "addsitedir",
                (format!("{venv}/lib/python{}.{}/site-packages", version.major, version.minor),),
            )?;
        }
        let locals = pyo3::types::PyDict::new(py);
        py.run(
            c"import pyarrow.compute as pc\nfactor = 3\nf = lambda a: pc.add(pc.multiply(a, factor), 1)",
            Some(&locals),
            None,
        )?;
        Ok(locals.get_item("f")?.expect("defined").unbind())
    })
    .expect("python available");
    let shape = UdfSignature {
        input_types: vec![DataType::Int64],
        return_type: DataType::Int64,
        volatility: Volatility::Immutable,
    };
    let udf = PythonScalarUDF::new("times_three_plus_one", func, shape).into_udf();
    udf.call(vec![col("a")]) + lit(0_i64)
}

fn batch() -> RecordBatch {
    let schema = Arc::new(Schema::new(vec![Field::new("a", DataType::Int64, true)]));
    RecordBatch::try_new(schema, vec![Arc::new(Int64Array::from(vec![Some(1), None, Some(5)]))])
        .expect("batch")
}

fn evaluate(expr: &Expr) -> Vec<Option<i64>> {
    let batch = batch();
    let df_schema = DFSchema::try_from(batch.schema().as_ref().clone()).expect("schema");
    let physical =
        create_physical_expr(expr, &df_schema, &ExecutionProps::new(), &PhysicalPlanningContext::default())
            .expect("plan");
    match physical.evaluate(&batch).expect("evaluate") {
        ColumnarValue::Array(a) => a.as_any().downcast_ref::<Int64Array>().expect("int64").iter().collect(),
        ColumnarValue::Scalar(s) => panic!("unexpected scalar {s}"),
    }
}

#[test]
fn python_udf_crosses_the_logical_codec() {
    let expr = python_udf();
    let ctx = SessionContext::new();
    let node = serialize_expr(&expr, &PythonLogicalCodec::new()).expect("encode");
    let back = parse_expr(&node, &ctx.task_ctx(), &PythonLogicalCodec::new()).expect("decode");
    assert_eq!(evaluate(&back), vec![Some(4), None, Some(16)]);
    assert_eq!(evaluate(&back), evaluate(&expr));

    let strict = PythonLogicalCodec::new().with_python_udf_inlining(false);
    let err = parse_expr(&node, &ctx.task_ctx(), &strict).expect_err("strict refuses");
    // datafusion-proto flattens errors from nested nodes into text (dfship's
    // own decode keeps them whole); the refusal is still what is reported.
    let FromProtoError::DataFusionError(err) = err else { panic!("unexpected error {err}") };
    assert!(err.to_string().contains("InliningDisabled"), "{err}");
    assert!(err.to_string().contains("times_three_plus_one"), "{err}");
}

#[test]
fn python_udf_crosses_the_physical_codec() {
    let expr = python_udf();
    let batch = batch();
    let df_schema = DFSchema::try_from(batch.schema().as_ref().clone()).expect("schema");
    let physical =
        create_physical_expr(&expr, &df_schema, &ExecutionProps::new(), &PhysicalPlanningContext::default())
            .expect("plan");
    let ctx = SessionContext::new();

    let node = serialize_physical_expr(&physical, &PythonPhysicalCodec::new()).expect("encode");
    let back =
        parse_physical_expr(&node, &ctx.task_ctx(), batch.schema().as_ref(), &PythonPhysicalCodec::new())
            .expect("decode");
    let ColumnarValue::Array(out) = back.evaluate(&batch).expect("evaluate") else { panic!("scalar") };
    let out: Vec<Option<i64>> = out.as_any().downcast_ref::<Int64Array>().expect("int64").iter().collect();
    assert_eq!(out, vec![Some(4), None, Some(16)]);

    let strict = PythonPhysicalCodec::new().with_python_udf_inlining(false);
    let err =
        parse_physical_expr(&node, &ctx.task_ctx(), batch.schema().as_ref(), &strict).expect_err("refused");
    let codec_err = find_in_chain::<CodecError>(&err).expect("a codec error in the chain");
    assert!(matches!(codec_err, CodecError::InliningDisabled { udf, .. } if udf == "times_three_plus_one"));
}
