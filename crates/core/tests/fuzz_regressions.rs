//! Inputs the fuzz targets (fuzz/) found, kept as tests: each must be
//! refused with an error, never a panic.

use datafusion::execution::TaskContext;
use datafusion::prelude::SessionContext;
use dfship_core::codec::{
    CodecError, PythonLogicalCodec, PythonPhysicalCodec, WireLimits, decode_logical_expr,
    decode_physical_plan,
};
use dfship_wire::{self as wire, FLAG_INLINE_PYTHON};

/// A `physical_strict` input: one flags byte, then a frame body.
fn physical_strict(input: &[u8]) -> Result<(), CodecError> {
    let (&flags, body) = input.split_first().expect("an input has its flags byte");
    let frame = wire::write_frame(wire::MAGIC_PHYSICAL_PLAN, flags & FLAG_INLINE_PYTHON, body, None);
    let codec = PythonPhysicalCodec::new().with_python_udf_inlining(false);
    decode_physical_plan(&frame, &TaskContext::default(), &codec, &WireLimits::default()).map(drop)
}

#[test]
fn an_in_memory_batch_with_a_buffer_outside_its_body_is_refused() {
    // A hash join over an in-memory scan whose Arrow IPC batch places a
    // buffer 2^55 bytes into a 320-byte body: Arrow's reader panicked.
    let input = include_bytes!("../../../fuzz/corpus/physical_strict/regression-ipc-buffer-outside-body");
    let err = physical_strict(input).expect_err("refused");
    assert!(err.to_string().contains("outside its body"), "{err}");
}

/// An `expr_strict` input: one flags byte, then a frame body.
fn expr_strict(input: &[u8]) -> Result<(), CodecError> {
    let (&flags, body) = input.split_first().expect("an input has its flags byte");
    let frame = wire::write_frame(wire::MAGIC_LOGICAL_EXPR, flags & FLAG_INLINE_PYTHON, body, None);
    let codec = PythonLogicalCodec::new().with_python_udf_inlining(false);
    decode_logical_expr(&frame, &SessionContext::new().task_ctx(), &codec, &WireLimits::default()).map(drop)
}

#[test]
fn an_arrow_schema_without_fields_is_refused() {
    // Arrow's IPC schema reader unwraps the fields of a schema message and
    // panicked; the decoder reports the panic as corrupt input.
    let input = include_bytes!("../../../fuzz/corpus/physical_strict/regression-ipc-schema-without-fields");
    let err = physical_strict(input).expect_err("refused");
    assert!(matches!(err, CodecError::Malformed(_)), "{err}");
}

#[test]
fn a_decimal_literal_of_the_wrong_byte_length_is_refused() {
    // datafusion-proto-common asserts a 16-byte decimal value and panicked.
    let input = include_bytes!("../../../fuzz/corpus/expr_strict/regression-decimal-value-length");
    let err = expr_strict(input).expect_err("refused");
    assert!(matches!(err, CodecError::Malformed(_)), "{err}");
    assert!(err.to_string().contains("could not be decoded"), "{err}");
}
