//! Full expression decode with Python UDF inlining off: the input is a
//! frame body, framed here (a valid check) so that the fuzzer reaches the
//! decoder instead of the checksum. No input may panic, and nothing is ever
//! unpickled (inlining is off: no Python runs).
#![no_main]

mod common;

use common::{REGISTRY, framed, quiet_panics};
use dfship_core::codec::{PythonLogicalCodec, WireLimits, decode_logical_expr};
use dfship_wire as wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: quiet_panics(), |data: &[u8]| {
    let codec = PythonLogicalCodec::new().with_python_udf_inlining(false);
    if let Some(frame) = framed(wire::MAGIC_LOGICAL_EXPR, data, None) {
        let _ = decode_logical_expr(&frame, &REGISTRY, &codec, &WireLimits::default());
    }
    let _ = decode_logical_expr(data, &REGISTRY, &codec, &WireLimits::default());
});
