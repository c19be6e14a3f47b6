//! Signed mode. Raw input: a keyed session must refuse anything whose tag
//! does not verify, so nothing gets past the signature check unless it
//! carries a tag made with the key (the signed seeds do; the fuzzer cannot
//! forge one). Signed input:
//! the body is framed and signed here, so that the decoder behind the
//! signature check is reached too (inlining off).
#![no_main]

mod common;

use common::{REGISTRY, framed, quiet_panics};
use dfship_core::codec::signing::PayloadKeys;
use dfship_core::codec::{CodecError, PythonLogicalCodec, WireLimits, decode_logical_expr};
use dfship_wire as wire;
use libfuzzer_sys::fuzz_target;

fuzz_target!(init: quiet_panics(), |data: &[u8]| {
    let keys = PayloadKeys::new(b"dfship fuzzing key", &[b"the previous key"]).expect("a valid key");
    let limits = WireLimits { keys: Some(keys.clone()), ..WireLimits::default() };
    let codec = PythonLogicalCodec::new().with_python_udf_inlining(false);
    match decode_logical_expr(data, &REGISTRY, &codec, &limits) {
        Err(CodecError::Unsigned { .. } | CodecError::UnknownKey { .. } | CodecError::BadSignature { .. }) => {}
        Err(CodecError::Wire(_)) => {}
        // Past the signature check: only a frame really signed with one of
        // the keys (a seed) may get here.
        other => {
            let frame = wire::read_frame(data, &[wire::MAGIC_LOGICAL_EXPR], usize::MAX)
                .expect("a frame that got past the check parses");
            assert!(keys.verify(&frame).is_ok(), "a frame without a valid tag got past the signature check: {other:?}");
        }
    }
    let sign = |signed: &[u8]| keys.tag(signed);
    if let Some(frame) = framed(wire::MAGIC_LOGICAL_EXPR, data, Some(&sign)) {
        let _ = decode_logical_expr(&frame, &REGISTRY, &codec, &limits);
    }
});
