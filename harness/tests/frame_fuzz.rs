//! The decoders never panic: arbitrary bytes, and valid frames damaged at
//! random (bit flips, truncations, insertions, overwrites), with the check
//! left stale or re-sealed so the damage reaches the body and the inline
//! UDF payloads, through every frame and payload reader. Each input gives a
//! value or an error; a panic fails the property.

use datafusion::prelude::SessionContext;
use dfship::codec::PythonLogicalCodec;
use dfship::codec::expr::{WireLimits, decode_logical_expr, encode_logical_expr};
use dfship::wire::{
    MAGIC_AGGREGATE_UDF, MAGIC_LOGICAL_EXPR, MAGIC_PHYSICAL_EXPR, MAGIC_SCALAR_UDF, MAGIC_WINDOW_UDF,
    UdfHeader, protobuf_depth, read_frame, write_frame,
};
use dfship_harness::render::RustBuilder;
use dfship_harness::strategies::{Config, case};
use dfship_harness::{cases, proptest_config, python};
use proptest::prelude::*;
use proptest::test_runner::TestRunner;

const ALL_MAGICS: [[u8; 4]; 5] =
    [MAGIC_LOGICAL_EXPR, MAGIC_PHYSICAL_EXPR, MAGIC_SCALAR_UDF, MAGIC_AGGREGATE_UDF, MAGIC_WINDOW_UDF];

/// Every reader on `bytes`; returns how many accepted them.
fn read_everything(bytes: &[u8], ctx: &SessionContext) -> usize {
    let mut accepted = 0;
    let limits = WireLimits::default();
    accepted += usize::from(read_frame(bytes, &ALL_MAGICS, 1 << 20).is_ok());
    accepted += usize::from(UdfHeader::read(bytes, &ALL_MAGICS[2..]).is_ok());
    let _ = protobuf_depth(bytes);
    for inlining in [false, true] {
        let codec = PythonLogicalCodec::new().with_python_udf_inlining(inlining);
        accepted += usize::from(decode_logical_expr(bytes, &ctx.task_ctx(), &codec, &limits).is_ok());
    }
    accepted += usize::from(dfship::codec::payload::decode_scalar("fuzz", bytes).is_ok());
    accepted += usize::from(dfship::codec::payload::decode_aggregate("fuzz", bytes).is_ok());
    accepted += usize::from(dfship::codec::payload::decode_window("fuzz", bytes).is_ok());
    accepted
}

#[derive(Debug, Clone)]
enum Damage {
    Flip(usize, u8),
    Truncate(usize),
    Insert(usize, u8),
    Overwrite(usize, u8),
}

fn damage() -> impl Strategy<Value = Damage> {
    prop_oneof![
        (any::<usize>(), 0_u8..8).prop_map(|(p, bit)| Damage::Flip(p, bit)),
        any::<usize>().prop_map(Damage::Truncate),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Damage::Insert(p, b)),
        (any::<usize>(), any::<u8>()).prop_map(|(p, b)| Damage::Overwrite(p, b)),
    ]
}

fn apply(bytes: &mut Vec<u8>, d: &Damage) {
    if bytes.is_empty() {
        return;
    }
    let at = |p: usize| p % bytes.len();
    match *d {
        Damage::Flip(p, bit) => {
            let i = at(p);
            bytes[i] ^= 1 << bit;
        }
        Damage::Truncate(p) => bytes.truncate(at(p)),
        Damage::Insert(p, b) => {
            let i = at(p);
            bytes.insert(i, b);
        }
        Damage::Overwrite(p, b) => {
            let i = at(p);
            bytes[i] = b;
        }
    }
}

fn runner(name: &str, n: u32) -> TestRunner {
    let config = proptest_config(name, n);
    TestRunner::new(config)
}

#[test]
fn arbitrary_bytes_never_panic() {
    python::init();
    let ctx = SessionContext::new();
    let n = cases(32);
    let inputs = prop_oneof![
        prop::collection::vec(any::<u8>(), 0..256),
        // Plausible starts: a known magic, then noise.
        (prop::sample::select(ALL_MAGICS.to_vec()), prop::collection::vec(any::<u8>(), 0..256)).prop_map(
            |(m, rest)| {
                let mut v = m.to_vec();
                v.extend(rest);
                v
            }
        ),
    ];
    let result = runner("frame_fuzz_arbitrary", n).run(&inputs, |bytes| {
        read_everything(&bytes, &ctx);
        Ok(())
    });
    dfship_harness::report(&format!(
        "harness frame fuzz: {n} arbitrary inputs through every reader, no panic"
    ));
    if let Err(e) = result {
        panic!("{e}");
    }
}

#[test]
fn damaged_frames_never_panic() {
    let ctx = SessionContext::new();
    let n = cases(8);
    let strategy = (
        case(Config { ffi: false, ..Config::default() }),
        prop::collection::vec(damage(), 1..4),
        any::<bool>(),
    );
    let accepted = std::sync::atomic::AtomicUsize::new(0);
    let result = runner("frame_fuzz_damaged", n).run(&strategy, |(c, damages, reseal)| {
        let udfs = python::build_udfs(&c).map_err(|e| TestCaseError::fail(format!("UDFs: {e}")))?;
        let expr = RustBuilder { registry: &ctx.state(), udfs: &udfs }
            .root(&c)
            .map_err(|e| TestCaseError::fail(format!("expression: {e}")))?;
        let codec = PythonLogicalCodec::new();
        let frame = encode_logical_expr(&expr, &codec, &WireLimits::default())
            .map_err(|e| TestCaseError::fail(format!("encode: {e}")))?;
        let mut bytes = if reseal {
            // Damage the body only, then seal it again: the check passes and
            // the damage reaches the protobuf and the UDF payloads.
            let parsed = read_frame(&frame, &[MAGIC_LOGICAL_EXPR], usize::MAX).expect("own frame");
            let mut body = parsed.body.to_vec();
            for d in &damages {
                apply(&mut body, d);
            }
            write_frame(MAGIC_LOGICAL_EXPR, parsed.flags, &body, None)
        } else {
            let mut bytes = frame.clone();
            for d in &damages {
                apply(&mut bytes, d);
            }
            bytes
        };
        accepted.fetch_add(read_everything(&bytes, &ctx), std::sync::atomic::Ordering::Relaxed);
        // Whatever decodes must encode again.
        if let Ok(back) = decode_logical_expr(&bytes, &ctx.task_ctx(), &codec, &WireLimits::default()) {
            let _ = encode_logical_expr(&back, &codec, &WireLimits::default());
        }
        bytes.clear();
        Ok(())
    });
    dfship_harness::report(&format!(
        "harness frame fuzz: {n} damaged frames (some re-sealed) through every reader, no panic ({} accepted)",
        accepted.into_inner()
    ));
    if let Err(e) = result {
        panic!("{e}");
    }
}
