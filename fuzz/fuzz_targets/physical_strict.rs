//! Physical plan and physical expression decode with inlining off, on a
//! frame built around the input (see `expr_strict`).
#![no_main]

mod common;

use common::{REGISTRY, framed, quiet_panics};
use datafusion::arrow::datatypes::{DataType, Field, Schema};
use dfship_core::codec::{PythonPhysicalCodec, WireLimits, decode_physical_expr, decode_physical_plan};
use dfship_wire as wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: quiet_panics(), |data: &[u8]| {
    let codec = PythonPhysicalCodec::new().with_python_udf_inlining(false);
    let limits = WireLimits::default();
    if let Some(plan) = framed(wire::MAGIC_PHYSICAL_PLAN, data, None) {
        let _ = decode_physical_plan(&plan, &REGISTRY, &codec, &limits);
    }
    let schema = Schema::new(vec![Field::new("a", DataType::Int64, true), Field::new("b", DataType::Utf8, true)]);
    if let Some(expr) = framed(wire::MAGIC_PHYSICAL_EXPR, data, None) {
        let _ = decode_physical_expr(&expr, &REGISTRY, &schema, &codec, &limits);
    }
});
